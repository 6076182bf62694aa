# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt
"""Integration tests of the save-time checks, run in a real site:

CI=1 bench --site SITE run-tests --module crm_dedup.checks.test_checks

Records are uniquely named per run and removed afterwards. Note: ERPNext commits when a Contact with a phone
is inserted (call_log.link_existing_conversations), so tests clean up what they create explicitly instead of
relying on the test transaction's rollback.
"""

from __future__ import annotations

import threading
from unittest.mock import patch

import frappe

from crm_dedup.checks import api
from crm_dedup.core.config import clear_cache, config
from crm_dedup.core.errors import DedupDuplicateError, DedupWarning
from crm_dedup.core.lookup import find_duplicates
from crm_dedup.core.owners import owner_of
from crm_dedup.rules.rebuild import rebuild
from crm_dedup.testing import (
	MANAGER,
	OWNER_A,
	REP_B,
	DedupTestCase,
	han_suffix,
	insert_in_thread,
	random_mobile,
)


class TestSaveChecks(DedupTestCase):
	def phone_rule(self) -> str:
		return self.make_rule(
			"phones",
			"Customer",
			"Block",
			[{"fields": "phone_1, phone_2, phone_3", "match_type": "Phone"}],
		)

	def test_seed_scenario_blocked_naming_owner(self):
		rule = self.phone_rule()
		a = self.customer(f"金陵科技有限公司{self.sfx}", phone_1="13612345678", account_manager=OWNER_A)
		with self.assertRaises(DedupDuplicateError) as ctx:
			self.customer(f"金陵{self.sfx}贸易", phone_2="+86 136 1234 5678")
		self.assertIsInstance(ctx.exception, frappe.DuplicateEntryError)
		message = str(ctx.exception)
		self.assertIn(a.name, message)
		self.assertIn("Rep A", message)  # A's owner (account_manager), by full name
		self.assertIn(rule, message)
		self.assertIn("13612345678", message)
		self.assertIn("+86 136 1234 5678", message)
		self.assertIn("100", message)  # score
		self.assertFalse(frappe.db.exists("Customer", {"customer_name": f"金陵{self.sfx}贸易"}))

	def test_masked_name_for_user_who_cannot_read(self):
		self.phone_rule()
		a = self.customer(f"金陵科技有限公司{self.sfx}", phone_1="13612345678", account_manager=OWNER_A)
		frappe.set_user(REP_B)
		with (
			patch("crm_dedup.core.display.can_read", return_value=False),
			self.assertRaises(DedupDuplicateError) as ctx,
		):
			frappe.get_doc(
				{"doctype": "Customer", "customer_name": f"X{self.sfx}", "phone_3": "136-1234-5678"}
			).insert(ignore_permissions=True)
		message = str(ctx.exception)
		self.assertNotIn(a.name, message)
		self.assertIn("金陵", message)
		self.assertIn("*", message)

	def test_company_name_variant_warned_and_override(self):
		base = f"金陵{han_suffix()}科技"
		rule = self.make_rule(
			"company",
			"Customer",
			"Warn",
			[{"fields": "customer_name", "match_type": "Company Name", "threshold": 90}],
		)
		a = self.customer(f"{base}有限公司", account_manager=OWNER_A)
		variant = f"南京{base}有限责任公司"
		with self.assertRaises(DedupWarning) as ctx:
			self.customer(variant)
		self.assertIn(a.name, str(ctx.exception))
		self.assertIn(rule, str(ctx.exception))

		# a user without an override role cannot save past the warning, even with the flag
		frappe.set_user(REP_B)
		doc = frappe.get_doc({"doctype": "Customer", "customer_name": variant, "__dedup_override": 1})
		with self.assertRaises(DedupWarning):
			doc.insert(ignore_permissions=True)

		# a Sales Manager (allowed in Dedup Settings) can, and the override is recorded
		frappe.set_user(MANAGER)
		doc = frappe.get_doc({"doctype": "Customer", "customer_name": variant, "__dedup_override": 1})
		doc.insert(ignore_permissions=True)
		self.cleanup.append(("Customer", doc.name))
		log = frappe.get_all(
			"Dedup Collision Log",
			filters={"rule": rule, "outcome": "Saved Anyway"},
			fields=["attempted_by", "existing_name", "ref_name"],
		)
		self.assertEqual(log[0].attempted_by, MANAGER)
		self.assertEqual(log[0].existing_name, a.name)
		self.assertEqual(log[0].ref_name, doc.name)

	def test_lead_blocked_by_customer_contact_phone(self):
		phone = random_mobile()
		rule = self.make_rule(
			"lead phone",
			"Lead",
			"Block",
			[{"fields": "phone, mobile_no", "match_type": "Phone"}],
			cross_checks=[{"other_doctype": "Contact", "field_map": "mobile_no = phone_nos.phone"}],
		)
		cust = self.customer(f"客户{self.sfx}", account_manager=OWNER_A)
		contact = frappe.get_doc(
			{
				"doctype": "Contact",
				"first_name": f"张{self.sfx}",
				"phone_nos": [{"phone": phone, "is_primary_mobile_no": 1}],
				"links": [{"link_doctype": "Customer", "link_name": cust.name}],
			}
		).insert()
		self.cleanup.append(("Contact", contact.name))
		self.assertTrue(
			frappe.db.exists("Dedup Key", {"rule": rule, "ref_doctype": "Contact", "ref_name": contact.name})
		)
		spaced = f"+86 {phone[:3]} {phone[3:7]} {phone[7:]}"
		with self.assertRaises(DedupDuplicateError) as ctx:
			lead = frappe.get_doc({"doctype": "Lead", "first_name": f"李{self.sfx}", "mobile_no": spaced})
			lead.insert()
			self.cleanup.append(("Lead", lead.name))
		message = str(ctx.exception)
		self.assertIn(contact.name, message)
		self.assertIn("Rep A", message)  # the Contact's owner is its Customer's account manager
		self.assertEqual(owner_of("Contact", contact.name), OWNER_A)

	def test_update_without_rule_field_change_is_not_rechecked(self):
		self.phone_rule()
		a = self.customer(f"甲{self.sfx}", phone_1="13612345678")
		b = self.customer(f"乙{self.sfx}", phone_1="13800000000")
		# make B a duplicate behind the rules' back (as old data would be)
		frappe.db.set_value("Customer", b.name, "phone_2", "13612345678")
		b.reload()
		with patch("crm_dedup.checks.events.find_duplicates", wraps=find_duplicates) as spy:
			b.customer_details = "only a note changed"
			b.save()
			self.assertEqual(spy.call_count, 0)
			# touching a rule field re-checks it (and finds A), excluding B itself
			b.phone_3 = "13900000000"
			with self.assertRaises(DedupDuplicateError) as ctx:
				b.save()
			self.assertEqual(spy.call_count, 1)
		self.assertIn(a.name, str(ctx.exception))
		self.assertNotIn(f">{b.name}<", str(ctx.exception))

	def test_update_does_not_match_itself(self):
		self.phone_rule()
		c = self.customer(f"丙{self.sfx}", phone_1="13611112222")
		c.phone_2 = "+86 136 1111 2222"  # same number again, on itself
		c.save()

	def test_collision_log_and_notification_survive_rollback(self):
		rule = self.phone_rule()
		a = self.customer(f"丁{self.sfx}", phone_1="13612345678", account_manager=OWNER_A)
		frappe.set_user(REP_B)
		with self.assertRaises(DedupDuplicateError):
			frappe.get_doc(
				{"doctype": "Customer", "customer_name": f"戊{self.sfx}", "phone_2": "+86 13612345678"}
			).insert(ignore_permissions=True)
		frappe.set_user("Administrator")
		frappe.db.rollback()  # what a failed request does; A is gone too
		self.assertFalse(frappe.db.exists("Customer", a.name))
		logs = frappe.get_all(
			"Dedup Collision Log",
			filters={"rule": rule},
			fields=[
				"outcome",
				"attempted_by",
				"existing_name",
				"existing_owner",
				"ref_title",
				"score",
				"action",
			],
		)
		self.assertEqual(len(logs), 1)
		self.assertEqual(logs[0].outcome, "Blocked")
		self.assertEqual(logs[0].attempted_by, REP_B)
		self.assertEqual(logs[0].existing_name, a.name)
		self.assertEqual(logs[0].existing_owner, OWNER_A)
		self.assertEqual(logs[0].ref_title, f"戊{self.sfx}")
		self.assertEqual(logs[0].action, "Block")
		self.assertEqual(logs[0].score, 100)
		notes = frappe.get_all(
			"Notification Log",
			filters={"for_user": OWNER_A, "document_name": a.name},
			fields=["type", "from_user", "subject"],
		)
		self.assertEqual(len(notes), 1)
		self.assertEqual(notes[0].type, "Alert")
		self.assertEqual(notes[0].from_user, REP_B)

	def test_log_only_rule_records_and_saves(self):
		rule = self.make_rule("log", "Customer", "Log only", [{"fields": "phone_1", "match_type": "Phone"}])
		self.customer(f"己{self.sfx}", phone_1="13655556666")
		b = self.customer(f"庚{self.sfx}", phone_1="136 5555 6666")
		self.assertTrue(frappe.db.exists("Customer", b.name))
		self.assertEqual(
			frappe.get_all("Dedup Collision Log", filters={"rule": rule}, pluck="outcome"), ["Logged"]
		)

	def test_log_rule_with_lower_priority_number_does_not_hide_block(self):
		log_rule = self.make_rule(
			"log first", "Customer", "Log only", [{"fields": "phone_1", "match_type": "Phone"}]
		)
		block_rule = self.phone_rule()
		frappe.db.set_value("Dedup Rule", block_rule, "priority", 50)
		clear_cache()
		a = self.customer(f"癸{self.sfx}", phone_1="13644445555")
		with self.assertRaises(DedupDuplicateError) as ctx:
			self.customer(f"子{self.sfx}", phone_1="13644445555")
		self.assertIn(block_rule, str(ctx.exception))
		self.assertIn(a.name, str(ctx.exception))
		hits = find_duplicates({"doctype": "Customer", "phone_1": "13644445555"}, "Customer")
		self.assertEqual([(h.name, h.action) for h in hits], [(a.name, "block"), (a.name, "log")])
		self.assertEqual(hits[1].match.rule, log_rule)

	def test_index_follows_insert_update_rename_delete(self):
		rule = self.phone_rule()
		c = self.customer(f"辛{self.sfx}", phone_1="13677778888")

		def keys(name):
			return frappe.get_all(
				"Dedup Key", filters={"rule": rule, "ref_name": name}, pluck="blocking_key", order_by="name"
			)

		self.assertEqual(keys(c.name), ["0|ph:+8613677778888"])
		c.phone_1 = "13677779999"
		c.save()
		self.assertEqual(keys(c.name), ["0|ph:+8613677779999"])
		new_name = frappe.rename_doc("Customer", c.name, f"辛{self.sfx} 新", force=True)
		self.cleanup.append(("Customer", new_name))
		self.assertEqual(keys(c.name), [])
		self.assertEqual(keys(new_name), ["0|ph:+8613677779999"])
		frappe.delete_doc("Customer", new_name, force=1)
		self.assertEqual(keys(new_name), [])
		# rebuilding the rule finds the same keys as the events wrote
		d = self.customer(f"壬{self.sfx}", phone_1="13677770000", phone_2="13677770001")
		before = sorted(keys(d.name))
		rebuild(rule, commit=False, progress=False)
		self.assertEqual(sorted(keys(d.name)), before)

	def test_form_check_api(self):
		self.phone_rule()
		a = self.customer(f"寅{self.sfx}", phone_1="13622223333", account_manager=OWNER_A)
		res = api.check_duplicates(
			{"doctype": "Customer", "__islocal": 1, "name": "new-customer-1", "phone_3": "+8613622223333"}
		)
		self.assertEqual(res["action"], "block")
		self.assertFalse(res["can_override"])
		self.assertEqual(res["matches"][0]["name"], a.name)
		self.assertEqual(res["matches"][0]["owner"], OWNER_A)
		# an edit that changes no rule field is not checked
		res = api.check_duplicates({**a.as_dict(), "customer_details": "x"})
		self.assertEqual(res["matches"], [])

	def test_doctypes_without_rules_pay_nothing(self):
		self.phone_rule()
		with patch("crm_dedup.checks.events.find_duplicates") as spy:
			todo = frappe.get_doc({"doctype": "ToDo", "description": f"dedup {self.sfx}"}).insert()
			todo.delete()
		self.assertEqual(spy.call_count, 0)
		self.assertNotIn("ToDo", config()["touching"])


class TestConcurrentInserts(DedupTestCase):
	def test_twenty_parallel_inserts_leave_one(self):
		rule = self.make_rule(
			"race", "Customer", "Block", [{"fields": "phone_1, phone_2, phone_3", "match_type": "Phone"}]
		)
		frappe.db.commit()  # the rule must be visible to the other connections
		phone = random_mobile("137")
		n = 20
		barrier = threading.Barrier(n)

		def make(i: int):
			return frappe.get_doc(
				{"doctype": "Customer", "customer_name": f"并发{self.sfx} {i:02d}", "phone_1": phone}
			)

		results: dict[int, tuple[str, str]] = {}
		threads = [
			threading.Thread(
				target=insert_in_thread,
				args=(frappe.local.site, frappe.local.sites_path, i, make, [rule], barrier, results),
			)
			for i in range(n)
		]
		for t in threads:
			t.start()
		for t in threads:
			t.join(timeout=180)
		ok = [v[1] for v in results.values() if v[0] == "ok"]
		for name in ok:
			self.cleanup.append(("Customer", name))
		errors = sorted({v[0] for v in results.values() if v[0] != "ok"})
		self.assertEqual(len(results), n)
		self.assertEqual(len(ok), 1, f"{len(ok)} inserts succeeded: {results}")
		self.assertEqual(errors, ["DedupDuplicateError"], results)
		frappe.db.rollback()  # fresh snapshot
		self.assertEqual(frappe.db.count("Customer", {"phone_1": phone}), 1)
		self.assertEqual(frappe.db.count("Dedup Collision Log", {"rule": rule, "outcome": "Blocked"}), n - 1)
