# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt
"""Integration tests of batch scans and duplicate sets, run in a real site:

CI=1 bench --site SITE run-tests --module crm_dedup.scans.test_scans

A seeded dataset of customers with planted duplicate clusters plus unrelated customers (``seed.py``) is
bulk-inserted, scanned with rules made for the test, and compared with the truth (pairwise precision / recall).
Everything is uniquely named per run and removed afterwards.
"""

from __future__ import annotations

import json
import random
import string

import frappe
from frappe.utils import now_datetime

from crm_dedup.core import records
from crm_dedup.core.config import clear_cache
from crm_dedup.core.display import mask
from crm_dedup.core.guard import reindex_committed
from crm_dedup.core.lookup import find_duplicates
from crm_dedup.core.pairs import is_not_duplicate, not_duplicate_pairs
from crm_dedup.scans import indicators, load, review
from crm_dedup.scans.seed import ScanTestCase, pairwise_scores, seed_customers
from crm_dedup.testing import spaced_phone


class TestScan(ScanTestCase):
	def test_planted_clusters_precision_recall_and_rerun(self):
		rules = self.standard_rules()
		data = seed_customers(self.prefix, clusters=40, singles=160, rng=random.Random(7))
		docs = self.scan_all_rules(rules)
		found = list(self.my_sets().values())
		score = pairwise_scores(data["truth"], found)
		print(f"\nscan of seeded customers: {score}")
		self.assertGreaterEqual(score["recall"], 0.99, score)
		self.assertGreaterEqual(score["precision"], 0.95, score)
		# one set per planted cluster, no set mixes two clusters
		for members in found:
			self.assertEqual(len({data["truth"][m] for m in members}), 1, members)
		self.assertEqual(len(found), 40)

		# summary on the scan record
		phone = docs[0]
		self.assertGreater(phone.records, len(data["names"]) - 1)
		self.assertGreater(phone.pairs, 0)
		self.assertTrue(phone.started_at and phone.finished_at)
		self.assertIn("compare_seconds", phone.summary)

		# set content: members with owner and title, pairs with rule, fields and explanation
		set_name = next(iter(self.my_sets()))
		sd = frappe.get_doc("Duplicate Set", set_name)
		self.assertEqual(sd.ref_doctype, "Customer")
		self.assertTrue(all(m.record_owner == "Administrator" for m in sd.members))
		self.assertTrue(all(m.member_title for m in sd.members))
		self.assertTrue(sd.pairs and all(p.rule in rules and p.explanation for p in sd.pairs))

		# re-running updates the open sets instead of adding new ones
		before = self.my_sets()
		again = self.scan_all_rules(rules)
		self.assertEqual(sum(d.sets_new for d in again), 0)
		self.assertEqual(self.my_sets(), before)

	def test_chunked_scan_finds_the_same_sets(self):
		rule = self.make_rule("phone", "Block", [{"fields": "mobile_no", "match_type": "Phone"}])
		data = seed_customers(self.prefix, clusters=15, singles=40, rng=random.Random(11))
		inline = self.run_scan(rule=rule, chunk_size=0)
		first = self.my_sets()
		chunked = self.run_scan(rule=rule, chunk_size=25)
		self.assertGreater(chunked.jobs, 2)  # several key jobs + the compare job
		self.assertEqual(chunked.pairs, inline.pairs)
		self.assertEqual(chunked.sets_new, 0)
		self.assertEqual(self.my_sets(), first)
		phone_truth = {n: c for n, c in data["truth"].items()}
		self.assertTrue(first and all(len({phone_truth[m] for m in s}) == 1 for s in first.values()))
		# condition rules without a scope filter: the key jobs keyed the records for the engine (key_chunk)
		# and the compare job judged them without loading them again (scan_keyed)
		self.assertEqual([x["keyed_apart"] for x in json.loads(chunked.summary)], [True])
		self.assertEqual(json.loads(chunked.summary)[0]["records"], json.loads(inline.summary)[0]["records"])
		# a rule with "Applies when": key hashes only, the records sharing one loaded by the compare job
		frappe.db.set_value(
			"Dedup Rule",
			rule,
			"applies_when",
			json.dumps([["Customer", "customer_type", "=", "Company", False]]),
		)
		clear_cache()
		gated = self.run_scan(rule=rule, chunk_size=25)
		self.assertEqual([x["keyed_apart"] for x in json.loads(gated.summary)], [False])
		self.assertEqual((gated.pairs, gated.sets_new), (inline.pairs, 0))
		self.assertEqual(self.my_sets(), first)

	def test_not_duplicate_is_remembered(self):
		rule = self.make_rule("phone", "Block", [{"fields": "mobile_no", "match_type": "Phone"}])
		now = now_datetime()
		mob = "13" + "".join(random.choices(string.digits, k=9))
		names = [f"{self.prefix}-A", f"{self.prefix}-B"]
		frappe.db.bulk_insert(
			"Customer",
			[
				"name",
				"customer_name",
				"customer_type",
				"mobile_no",
				"creation",
				"modified",
				"owner",
				"modified_by",
			],
			[
				(names[0], f"{self.prefix} 甲", "Company", mob, now, now, "Administrator", "Administrator"),
				(
					names[1],
					f"{self.prefix} 乙",
					"Company",
					spaced_phone(mob),
					now,
					now,
					"Administrator",
					"Administrator",
				),
			],
		)
		frappe.db.commit()
		self.run_scan(rule=rule)
		(set_name,) = self.my_sets()
		self.assertFalse(is_not_duplicate("Customer", names[0], "Customer", names[1]))

		# the save-time check finds the pair as long as it is not marked
		frappe.db.set_value("Dedup Rule", rule, "apply_on_edit", 1)
		frappe.db.commit()
		clear_cache()
		for n in names:
			reindex_committed("Customer", n)
		frappe.db.commit()
		a = frappe.get_doc("Customer", names[0])
		self.assertEqual([h.name for h in find_duplicates(a, "Customer", event="edit")], [names[1]])

		review.mark_not_duplicate(set_name, reason="two branches sharing a phone")
		frappe.db.commit()
		self.assertEqual(frappe.db.get_value("Duplicate Set", set_name, "status"), "Not Duplicate")
		self.assertTrue(is_not_duplicate("Customer", names[1], "Customer", names[0]))
		self.assertIn((names[0], names[1]), not_duplicate_pairs("Customer"))

		# a later scan skips the pair: no new open set
		doc = self.run_scan(rule=rule)
		self.assertEqual(self.my_sets(), {})
		self.assertGreaterEqual(doc.skipped_pairs, 1)

		# the save-time check ignores it too (core.lookup.find_duplicates asks core.pairs.is_not_duplicate)
		self.assertEqual(find_duplicates(a, "Customer", event="edit"), [])

		# reopening forgets it
		review.reopen_set(set_name)
		frappe.db.commit()
		self.assertFalse(is_not_duplicate("Customer", names[0], "Customer", names[1]))

	def test_one_pair_not_duplicate_splits_the_set(self):
		rule = self.make_rule("phone", "Block", [{"fields": "mobile_no", "match_type": "Phone"}])
		email = self.make_rule("email", "Block", [{"fields": "email_id", "match_type": "Email"}], 2)
		now = now_datetime()
		mob = "13" + "".join(random.choices(string.digits, k=9))
		mail = f"{self.prefix.lower()}@jinling-trade.cn"
		# A-B share the phone, B-C share the e-mail: one set {A, B, C}
		a, b, c = (f"{self.prefix}-{x}" for x in "ABC")
		frappe.db.bulk_insert(
			"Customer",
			["name", "customer_name", "customer_type", "mobile_no", "email_id", "creation", "modified"],
			[
				(a, f"{self.prefix} 甲", "Company", mob, None, now, now),
				(b, f"{self.prefix} 乙", "Company", mob, mail, now, now),
				(c, f"{self.prefix} 丙", "Company", None, mail.upper(), now, now),
			],
		)
		frappe.db.commit()
		self.run_scan(rule=rule)
		self.run_scan(rule=email)
		sets = self.my_sets()
		self.assertEqual(len(sets), 1)
		set_name, members = next(iter(sets.items()))
		self.assertEqual(sorted(members), [a, b, c])
		doc = frappe.get_doc("Duplicate Set", set_name)
		pair = next(p for p in doc.pairs if {p.name_a, p.name_b} == {b, c})
		review.mark_not_duplicate(set_name, pair=pair.name)
		frappe.db.commit()
		self.assertEqual(sorted(self.my_sets()[set_name]), [a, b])
		self.assertTrue(is_not_duplicate("Customer", c, "Customer", b))

	def test_merge_closes_the_set(self):
		"""A completed Dedup Merge Log (as the merge writes it) drops the merged-away record from its set."""
		rule = self.make_rule("tax", "Block", [{"fields": "tax_id", "match_type": "ID Code"}])
		now = now_datetime()
		tax = "91320100" + "".join(random.choices(string.ascii_uppercase + string.digits, k=10))
		a, b = f"{self.prefix}-A", f"{self.prefix}-B"
		frappe.db.bulk_insert(
			"Customer",
			[
				"name",
				"customer_name",
				"customer_type",
				"tax_id",
				"creation",
				"modified",
				"owner",
				"modified_by",
			],
			[
				(a, f"{self.prefix} 甲", "Company", tax, now, now, "Administrator", "Administrator"),
				(b, f"{self.prefix} 乙", "Company", tax.lower(), now, now, "Administrator", "Administrator"),
			],
		)
		frappe.db.commit()
		self.run_scan(rule=rule)
		(set_name,) = self.my_sets()
		flag = {"set": set_name, "possible": 0}
		self.assertEqual(indicators.get_duplicate_flags("Customer", [a, b]), {a: flag, b: flag})
		frappe.db.delete("Customer", {"name": b})
		log = frappe.get_doc(
			{
				"doctype": "Dedup Merge Log",
				"merged_doctype": "Customer",
				"survivor": a,
				"status": "Merged",
				"merged_records": json.dumps([["Customer", b]]),
			}
		).insert(ignore_permissions=True, ignore_links=True)  # on_update: review.on_merge_log
		frappe.db.commit()
		self.assertEqual(frappe.db.get_value("Duplicate Set", set_name, "status"), "Merged")
		self.assertEqual(frappe.db.get_value("Duplicate Set", set_name, "merge_log"), log.name)
		self.assertEqual(indicators.get_duplicate_flags("Customer", [a]), {})

	def test_deleted_member_is_dropped_on_refresh(self):
		rule = self.make_rule("phone", "Block", [{"fields": "mobile_no", "match_type": "Phone"}])
		now = now_datetime()
		mob = "13" + "".join(random.choices(string.digits, k=9))
		names = [f"{self.prefix}-{x}" for x in "ABC"]
		frappe.db.bulk_insert(
			"Customer",
			["name", "customer_name", "customer_type", "mobile_no", "creation", "modified"],
			[(n, f"{n} co", "Company", mob, now, now) for n in names],
		)
		frappe.db.commit()
		self.run_scan(rule=rule)
		(set_name,) = self.my_sets()
		frappe.db.delete("Customer", {"name": names[2]})
		frappe.db.commit()
		self.assertTrue(review.refresh_set(set_name)["changed"])
		self.assertEqual(sorted(self.my_sets()[set_name]), names[:2])
		self.assertEqual(frappe.db.get_value("Duplicate Set", set_name, "status"), "Open")
		frappe.db.delete("Customer", {"name": names[1]})
		frappe.db.commit()
		self.assertEqual(review.refresh_set(set_name)["status"], "Resolved")

	def test_record_indicator(self):
		rule = self.make_rule("phone", "Block", [{"fields": "mobile_no", "match_type": "Phone"}])
		now = now_datetime()
		mob = "13" + "".join(random.choices(string.digits, k=9))
		a, b = f"{self.prefix}-A", f"{self.prefix}-B"
		frappe.db.bulk_insert(
			"Customer",
			["name", "customer_name", "customer_type", "mobile_no", "creation", "modified", "owner"],
			[
				(a, f"{self.prefix} 甲", "Company", mob, now, now, "Administrator"),
				(b, f"{self.prefix} 乙", "Company", mob, now, now, "Administrator"),
			],
		)
		frappe.db.commit()
		self.run_scan(rule=rule)
		(set_name,) = self.my_sets()
		info = indicators.get_record_sets("Customer", a)
		self.assertEqual(len(info), 1)
		self.assertEqual(info[0]["set"], set_name)
		self.assertEqual([o["name"] for o in info[0]["others"]], [b])
		self.assertEqual(info[0]["why"][0]["rule"], rule)
		self.assertIn("Customer", indicators.indicator_doctypes())
		# a member the user may not read: no name, the title masked as everywhere else, the set's title too
		doc = frappe.get_doc("Duplicate Set", set_name)
		member = next(m for m in doc.members if m.member_name == b)
		view = indicators._member_view(member, readable=False)
		self.assertIsNone(view["name"])
		self.assertEqual(view["title"], mask(f"{self.prefix} 乙"))
		self.assertNotIn(self.prefix, indicators._set_title(doc, readable={}))

	def test_a_name_link_on_one_field_is_a_possible_pair_not_a_set(self):
		"""Issue #17: 富航隆 ~ 富航龙 (same reading, company name 92) with nothing else compared is kept as a set of
		confidence Possible, apart from the duplicate sets; a shared phone makes a Likely set; a re-run changes
		nothing; the markers tell the two apart."""
		phone = self.make_rule("phone", "Block", [{"fields": "mobile_no", "match_type": "Phone"}], 1)
		name = self.make_rule(
			"name", "Warn", [{"fields": "customer_name", "match_type": "Company Name", "threshold": 90}], 2
		)
		now = now_datetime()
		mobiles = ["13" + "".join(random.choices(string.digits, k=9)) for _ in range(3)]
		a, b, c, d = (f"{self.prefix}-{x}" for x in "ABCD")
		rows = [
			(a, "富航隆科技有限公司", mobiles[0]),
			(b, "富航龙科技有限公司", mobiles[1]),
			(c, f"{self.prefix} 甲", mobiles[2]),
			(d, f"{self.prefix} 乙", spaced_phone(mobiles[2])),
		]
		frappe.db.bulk_insert(
			"Customer",
			["name", "customer_name", "customer_type", "mobile_no", "creation", "modified", "owner"],
			[(n, t, "Company", m, now, now, "Administrator") for n, t, m in rows],
		)
		frappe.db.commit()
		docs = self.scan_all_rules([phone, name])
		sets = self.my_sets()
		kind = {
			tuple(sorted(v)): frappe.db.get_value("Duplicate Set", k, "confidence") for k, v in sets.items()
		}
		self.assertEqual(kind, {(a, b): "Possible", (c, d): "Likely"})
		(possible,) = [k for k, v in sets.items() if a in v]
		pair = frappe.get_doc("Duplicate Set", possible).pairs[0]
		self.assertEqual((pair.rule, pair.action), (name, "Warn"))
		self.assertEqual(json.loads(docs[1].summary)[0]["possible_pairs"], 1)
		flags = indicators.get_duplicate_flags("Customer", [a, c])
		self.assertEqual((flags[a]["possible"], flags[c]["possible"]), (1, 0))
		self.assertEqual(indicators.get_record_sets("Customer", b)[0]["possible"], 1)
		self.assertEqual(indicators.get_record_sets("Customer", d)[0]["possible"], 0)
		# the same scan again: the same sets, nothing new
		again = self.scan_all_rules([phone, name])
		self.assertEqual(sum(x.sets_new for x in again), 0)
		self.assertEqual(self.my_sets(), sets)
		# the two companies share a phone now: a Block link, and the pair becomes a Likely set
		frappe.db.set_value("Customer", b, "mobile_no", mobiles[0])
		frappe.db.commit()
		self.run_scan(rule=phone)
		self.assertEqual(frappe.db.get_value("Duplicate Set", possible, "confidence"), "Likely")

	def test_table_loader_reads_what_load_records_reads(self):
		"""The scan's keyset loader gives the same records as core.records.load_records (child paths as lists)."""
		paths = ["first_name", "company_name", "phone_nos.phone", "email_ids.email_id", "mobile_no"]
		old_page = load.PAGE
		load.PAGE = 7  # several pages
		try:
			loaded = dict(load.iter_table("Contact", paths))
		finally:
			load.PAGE = old_page
		self.assertEqual(len(loaded), frappe.db.count("Contact"))
		names = list(loaded)[:60]
		self.assertEqual({n: loaded[n] for n in names}, records.load_records("Contact", names, paths))
		if len(names) > 3:
			first, last = names[1], names[3]
			self.assertEqual([n for n, _r in load.iter_table("Contact", paths, first, last)], names[1:4])
