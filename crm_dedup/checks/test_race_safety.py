# Copyright (c) 2026, crm_dedup contributors
# License: MIT. See license.txt
"""Race safety of Block rules with ERPNext's hooks live (nothing of ERPNext or Frappe is patched here).

A Customer saved with ``mobile_no`` gets its primary Contact from ``Customer.on_update``; that Contact's
``after_insert`` hook (``call_log.link_existing_conversations``) commits once per phone number, in the middle of
the Customer's save. A Lead creates its Contact in ``before_insert`` when CRM Settings "auto creation of
contact" is on, and that commits too. These tests prove the guarantees with those commits happening:
20 parallel inserts leave exactly one record and 19 clear duplicate errors; key locks outlive a mid-save
commit; a committed row always has its keys; a refused save leaves nothing behind.

CI=1 bench --site SITE run-tests --module crm_dedup.checks.test_race_safety
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import frappe

from crm_dedup.core.config import compiled
from crm_dedup.core.errors import DedupDuplicateError
from crm_dedup.core.guard import held_locks
from crm_dedup.core.keys import index_keys, stored_key
from crm_dedup.core.records import load_records
from crm_dedup.testing import DedupTestCase, han_suffix, insert_in_thread, random_mobile

N = 20
# 20 spellings of one company: region prefixes x legal forms (the company-name rule folds all of them)
PREFIXES = ("", "南京", "南京市", "江苏")
FORMS = ("有限公司", "有限责任公司", "(南京)有限公司", "股份有限公司", "（南京）有限责任公司")
LATE_FAILURE = "crm_dedup test: a later hook failed"


def wait_for_jobs(timeout: float = 180) -> None:
	"""Waits until the site's workers have run what the race queued (each deleted Contact queues Frappe's
	delete_dynamic_links), so that those jobs do not run into the tests that follow."""
	from frappe.utils.background_jobs import get_queue
	from rq.registry import StartedJobRegistry

	deadline = time.monotonic() + timeout
	while time.monotonic() < deadline:
		busy = 0
		for name in ("default", "short", "long"):
			queue = get_queue(name)
			busy += queue.count + StartedJobRegistry(queue=queue).count
		if not busy:
			return
		time.sleep(0.5)


def late_failure(doc, method=None) -> None:
	"""A hook of "another app" that runs after ERPNext's mid-save commit and fails the save."""
	if not doc.flags.get("crm_dedup_test_fail_late"):
		return
	held = held_locks()
	mine = frappe.db.sql("select connection_id()")[0][0]
	owners = [frappe.db.sql("select is_used_lock(%s)", name)[0][0] for name in held]
	doc.flags.crm_dedup_test_seen = {"held": held, "mine": all(o == mine for o in owners) and bool(held)}
	raise frappe.ValidationError(LATE_FAILURE)


class RaceTestCase(DedupTestCase):
	def setUp(self) -> None:
		super().setUp()
		self.crm_auto_contact = frappe.db.get_single_value("CRM Settings", "auto_creation_of_contact")

	def tearDown(self) -> None:
		frappe.db.set_single_value("CRM Settings", "auto_creation_of_contact", self.crm_auto_contact)
		frappe.db.commit()
		super().tearDown()
		wait_for_jobs()

	def customer_rules(self) -> list[str]:
		"""The issue's three rules: Block phones group, Block company name >= 90, Warn name >= 85 + city."""
		return [
			self.make_rule(
				"phones",
				"Customer",
				"Block",
				[{"fields": "mobile_no, phone_1, phone_2, phone_3", "match_type": "Phone"}],
			),
			self.make_rule(
				"company",
				"Customer",
				"Block",
				[{"fields": "customer_name", "match_type": "Company Name", "threshold": 90}],
			),
			self.make_rule(
				"name city",
				"Customer",
				"Warn",
				[
					{"fields": "customer_name", "match_type": "Company Name", "threshold": 85},
					{"fields": "territory", "match_type": "Normalized"},
				],
			),
		]

	def race(self, make: Callable, rules: list[str]) -> tuple[list[str], dict[int, tuple[str, str]]]:
		frappe.db.commit()  # the rules must be visible to the other connections
		barrier = threading.Barrier(N)
		results: dict[int, tuple[str, str]] = {}
		args = (frappe.local.site, frappe.local.sites_path)
		threads = [
			threading.Thread(target=insert_in_thread, args=(*args, i, make, rules, barrier, results))
			for i in range(N)
		]
		for t in threads:
			t.start()
		for t in threads:
			t.join(timeout=300)
		frappe.db.rollback()  # a fresh snapshot for the assertions
		ok = [v[1] for v in results.values() if v[0] == "ok"]
		counts: dict[str, int] = {}
		for v in results.values():
			counts[v[0]] = counts.get(v[0], 0) + 1
		print(f"\n{self.id()}: {counts}")
		return ok, results

	def assert_one_and_clear_errors(self, ok: list[str], results: dict, doctype: str) -> None:
		self.assertEqual(len(results), N)
		self.assertEqual(len(ok), 1, f"{len(ok)} inserts succeeded: {results}")
		errors = [v for v in results.values() if v[0] != "ok"]
		self.assertEqual({e[0] for e in errors}, {"DedupDuplicateError"}, results)
		for e in errors:
			self.assertIn(ok[0], e[1])  # the message names the survivor
			self.assertIn("Administrator", e[1])  # and its owner
		self.assertTrue(frappe.db.exists(doctype, ok[0]))

	def assert_keys_match_row(self, doctype: str, name: str, rules: list[str]) -> None:
		comp = compiled()
		rec = load_records(doctype, [name], comp.index_fields(doctype))[name]
		want = {(r, stored_key(k)) for r, ks in index_keys(doctype, rec).items() if r in rules for k in ks}
		have = set(
			frappe.db.sql(
				"select rule, blocking_key from `tabDedup Key` where ref_doctype=%s and ref_name=%s",
				(doctype, name),
			)
		)
		self.assertTrue(want, "the record has keys to index")
		self.assertEqual(have, want)


class TestParallelInserts(RaceTestCase):
	def test_customers_with_mobile_no(self):
		rules = self.customer_rules()
		phone = random_mobile("135")
		base = "金陵" + han_suffix(4)

		def make(i: int):
			name = f"{PREFIXES[i % 4]}{base}科技{FORMS[i // 4]}"
			return frappe.get_doc({"doctype": "Customer", "customer_name": name, "mobile_no": phone})

		ok, results = self.race(make, rules)
		for name in ok:
			self.cleanup.append(("Customer", name))
		survivor = frappe.get_doc("Customer", ok[0]) if ok else None
		if survivor and survivor.customer_primary_contact:
			self.cleanup.append(("Contact", survivor.customer_primary_contact))
		self.assert_one_and_clear_errors(ok, results, "Customer")
		self.assertEqual(frappe.db.count("Customer", {"mobile_no": phone}), 1)
		# ERPNext's primary contact exists, and it is the only Contact with that number (nothing left behind)
		self.assertTrue(survivor.customer_primary_contact)
		contacts = frappe.get_all("Contact Phone", filters={"phone": phone}, pluck="parent")
		self.assertEqual(contacts, [survivor.customer_primary_contact])
		self.assert_keys_match_row("Customer", survivor.name, rules)
		self.assertEqual(
			frappe.db.count("Dedup Collision Log", {"rule": ["in", rules], "outcome": "Blocked"}), N - 1
		)

	def test_contacts_with_phone_numbers(self):
		rule = self.make_rule(
			"contact phones", "Contact", "Block", [{"fields": "phone_nos.phone", "match_type": "Phone"}]
		)
		phone = random_mobile("134")
		spellings = (phone, f"+86 {phone}", f"{phone[:3]}-{phone[3:7]}-{phone[7:]}", f"0086{phone}")

		def make(i: int):
			return frappe.get_doc(
				{
					"doctype": "Contact",
					"first_name": f"并发{self.sfx}{i:02d}",
					"phone_nos": [{"phone": spellings[i % 4], "is_primary_mobile_no": 1}],
				}
			)

		ok, results = self.race(make, [rule])
		for name in ok:
			self.cleanup.append(("Contact", name))
		self.assert_one_and_clear_errors(ok, results, "Contact")
		self.assertEqual(frappe.db.count("Contact", {"first_name": ["like", f"并发{self.sfx}%"]}), 1)
		self.assert_keys_match_row("Contact", ok[0], [rule])

	def test_leads_with_mobile_no_and_auto_contact(self):
		frappe.db.set_single_value("CRM Settings", "auto_creation_of_contact", 1)
		rule = self.make_rule(
			"lead phones", "Lead", "Block", [{"fields": "mobile_no, phone", "match_type": "Phone"}]
		)
		phone = random_mobile("133")

		def make(i: int):
			return frappe.get_doc(
				{"doctype": "Lead", "first_name": f"并发{self.sfx}{i:02d}", "mobile_no": phone}
			)

		ok, results = self.race(make, [rule])
		for name in ok:
			self.cleanup.append(("Lead", name))
		contacts = frappe.get_all("Contact Phone", filters={"phone": phone}, pluck="parent")
		for name in contacts:
			self.cleanup.append(("Contact", name))
		self.assert_one_and_clear_errors(ok, results, "Lead")
		self.assertEqual(frappe.db.count("Lead", {"mobile_no": phone}), 1)
		self.assert_keys_match_row("Lead", ok[0], [rule])
		# each refused Lead had its Contact created (and committed) by ERPNext before the check; it is gone
		linked = frappe.get_all(
			"Dynamic Link",
			filters={"parenttype": "Contact", "link_doctype": "Lead", "link_name": ok[0]},
			pluck="parent",
		)
		self.assertEqual(len(contacts), 1, contacts)
		self.assertEqual(contacts, linked)


class TestMidSaveCommit(RaceTestCase):
	def setUp(self) -> None:
		super().setUp()
		hooks = frappe.get_doc_hooks()
		self.saved_hooks = hooks.get("Customer")
		customer = {k: list(v) for k, v in (self.saved_hooks or {}).items()}
		path = f"{__name__}.late_failure"
		customer.setdefault("on_update", []).append(path)
		hooks["Customer"] = customer

	def tearDown(self) -> None:
		hooks = frappe.get_doc_hooks()
		if self.saved_hooks is None:
			hooks.pop("Customer", None)
		else:
			hooks["Customer"] = self.saved_hooks
		super().tearDown()

	def test_locks_outlive_the_mid_save_commit_and_keys_follow_the_committed_row(self):
		rules = self.customer_rules()
		phone = random_mobile("132")
		name = f"金陵{han_suffix(4)}科技有限公司"
		doc = frappe.get_doc({"doctype": "Customer", "customer_name": name, "mobile_no": phone})
		doc.flags.crm_dedup_test_fail_late = True
		with self.assertRaisesRegex(frappe.ValidationError, LATE_FAILURE):
			doc.insert()
		seen = doc.flags.crm_dedup_test_seen
		self.assertTrue(seen["mine"], "the Block-rule key locks were held by this session after the commit")
		frappe.db.rollback()  # what a failed request does
		self.cleanup.append(("Customer", doc.name))
		if doc.customer_primary_contact:
			self.cleanup.append(("Contact", doc.customer_primary_contact))
		# ERPNext's commit made the row durable: its keys are there, and they are its keys
		self.assertTrue(frappe.db.exists("Customer", doc.name))
		self.assert_keys_match_row("Customer", doc.name, rules)
		# and the locks are free again
		for lock in seen["held"]:
			self.assertEqual(frappe.db.sql("select is_free_lock(%s)", lock)[0][0], 1)
		self.assertFalse(held_locks())
		# a second save of the same company now finds it (keys committed with the row)
		with self.assertRaises(DedupDuplicateError):
			frappe.get_doc(
				{"doctype": "Customer", "customer_name": f"南京{name}", "mobile_no": phone}
			).insert()

	def test_locks_released_after_a_successful_save(self):
		self.customer_rules()
		doc = self.customer(f"金陵{han_suffix(4)}科技有限公司", mobile_no=random_mobile("131"))
		if doc.customer_primary_contact:
			self.cleanup.append(("Contact", doc.customer_primary_contact))
		held = held_locks()
		self.assertTrue(held, "a save under Block rules holds its key locks until its transaction ends")
		frappe.db.commit()
		self.assertFalse(held_locks())
		for lock in held:
			self.assertEqual(frappe.db.sql("select is_free_lock(%s)", lock)[0][0], 1)
