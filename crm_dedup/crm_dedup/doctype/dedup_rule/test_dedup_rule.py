# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt
"""Integration tests of the save-time checks, run in a real site:

CI=1 bench --site SITE run-tests --module crm_dedup.crm_dedup.doctype.dedup_rule.test_dedup_rule

Records are uniquely named per run and removed afterwards. Note: ERPNext commits when a Contact with a phone
is inserted (call_log.link_existing_conversations), so tests clean up what they create explicitly instead of
relying on the test transaction's rollback.
"""

from __future__ import annotations

import random
import string
import threading
from unittest.mock import patch

import frappe
from frappe.custom.doctype.custom_field.custom_field import create_custom_fields
from frappe.tests.utils import FrappeTestCase

from crm_dedup import bridge, key_index, sidedb
from crm_dedup.events import DedupDuplicateError, DedupWarning

OWNER_A = "dedup.rep.a@example.com"
REP_B = "dedup.rep.b@example.com"
MANAGER = "dedup.manager@example.com"
HAN = "东南西北春夏秋冬梅兰竹菊松柏杨柳山水云海星月"


def suffix(n: int = 6) -> str:
	return "".join(random.choices(string.ascii_uppercase + string.digits, k=n))


def han_suffix(n: int = 3) -> str:
	return "".join(random.choices(HAN, k=n))


def random_mobile(prefix: str = "139") -> str:
	return prefix + "".join(random.choices(string.digits, k=8))


def ensure_fixtures() -> None:
	"""Custom fields Phone 1/2/3 on Customer (a field group across custom fields) and three users."""
	create_custom_fields(
		{
			"Customer": [
				{
					"fieldname": f"phone_{i}",
					"label": f"Phone {i}",
					"fieldtype": "Data",
					"options": "Phone",
					"insert_after": "mobile_no" if i == 1 else f"phone_{i - 1}",
				}
				for i in (1, 2, 3)
			]
		}
	)
	for email, first, roles in (
		(OWNER_A, "Rep A", ["Sales User"]),
		(REP_B, "Rep B", ["Sales User"]),
		(MANAGER, "Dedup Mgr", ["Sales User", "Sales Manager"]),
	):
		if not frappe.db.exists("User", email):
			user = frappe.get_doc(
				{"doctype": "User", "email": email, "first_name": first, "send_welcome_email": 0}
			)
			user.insert(ignore_permissions=True)
			user.add_roles(*roles)
	frappe.db.commit()


class DedupTestCase(FrappeTestCase):
	@classmethod
	def setUpClass(cls) -> None:
		super().setUpClass()
		ensure_fixtures()

	def setUp(self) -> None:
		frappe.set_user("Administrator")
		self.sfx = suffix()
		self.cleanup: list[tuple[str, str]] = []
		self.rules: list[str] = []
		# the site is shared: other people's enabled rules must not take part in these tests
		frappe.flags.crm_dedup_only_rules = self.rules

	def tearDown(self) -> None:
		frappe.flags.crm_dedup_only_rules = None
		frappe.set_user("Administrator")
		frappe.db.rollback()
		# what was committed on the way (ERPNext commits on Contact insert; logs are committed on purpose);
		# retried because the shared site may deadlock us with someone else's transaction
		for attempt in range(3):
			try:
				self._cleanup()
				break
			except frappe.QueryDeadlockError:
				frappe.db.rollback()
				if attempt == 2:
					raise
		bridge.clear_cache()

	def _cleanup(self) -> None:
		for doctype, name in reversed(self.cleanup):
			if frappe.db.exists(doctype, name):
				frappe.delete_doc(doctype, name, force=1, ignore_permissions=True)
		for rule in self.rules:
			frappe.db.delete("Dedup Collision Log", {"rule": rule})
			frappe.db.delete("Dedup Key", {"rule": rule})
			if frappe.db.exists("Dedup Rule", rule):
				frappe.delete_doc("Dedup Rule", rule, force=1, ignore_permissions=True)
		frappe.db.commit()
		for name in frappe.get_all(
			"Notification Log", filters={"for_user": ["in", [OWNER_A, REP_B, MANAGER]]}, pluck="name"
		):
			frappe.db.delete("Notification Log", {"name": name})
		frappe.db.commit()

	# helpers
	def make_rule(self, label: str, target: str, action: str, conditions: list[dict], **extra) -> str:
		rule = frappe.get_doc(
			{
				"doctype": "Dedup Rule",
				"rule_name": f"test {label} {self.sfx}",
				"target_doctype": target,
				"action": action,
				"priority": 1,
				"conditions": conditions,
				**extra,
			}
		)
		# isolate the rule from whatever else the shared site holds: only records made by this test are
		# indexed under it (no rebuild over the site's records)
		rule.flags.crm_dedup_no_rebuild = True
		rule.insert()
		self.rules.append(rule.name)
		return rule.name

	def customer(self, name: str, **fields) -> frappe.Document:
		doc = frappe.get_doc({"doctype": "Customer", "customer_name": name, **fields})
		doc.insert()
		self.cleanup.append(("Customer", doc.name))
		return doc


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
			patch("crm_dedup.events.can_read", return_value=False),
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
		self.assertEqual(bridge.owner_of("Contact", contact.name), OWNER_A)

	def test_update_without_rule_field_change_is_not_rechecked(self):
		self.phone_rule()
		a = self.customer(f"甲{self.sfx}", phone_1="13612345678")
		b = self.customer(f"乙{self.sfx}", phone_1="13800000000")
		# make B a duplicate behind the rules' back (as old data would be)
		frappe.db.set_value("Customer", b.name, "phone_2", "13612345678")
		b.reload()
		with patch("crm_dedup.bridge.find_duplicates", wraps=bridge.find_duplicates) as spy:
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
		bridge.clear_cache()
		a = self.customer(f"癸{self.sfx}", phone_1="13644445555")
		with self.assertRaises(DedupDuplicateError) as ctx:
			self.customer(f"子{self.sfx}", phone_1="13644445555")
		self.assertIn(block_rule, str(ctx.exception))
		self.assertIn(a.name, str(ctx.exception))
		hits = bridge.find_duplicates({"doctype": "Customer", "phone_1": "13644445555"}, "Customer")
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
		key_index.rebuild(rule, commit=False, progress=False)
		self.assertEqual(sorted(keys(d.name)), before)

	def test_rule_validation_messages(self):
		def bad(conditions, **extra):
			return frappe.get_doc(
				{
					"doctype": "Dedup Rule",
					"rule_name": f"test bad {suffix()}",
					"target_doctype": "Customer",
					"action": "Block",
					"conditions": conditions,
					**extra,
				}
			)

		with self.assertRaisesRegex(frappe.ValidationError, "no field nonexistent_field"):
			bad([{"fields": "nonexistent_field", "match_type": "Exact"}]).insert()
		with self.assertRaisesRegex(frappe.ValidationError, "a Phone match needs"):
			bad([{"fields": "is_frozen", "match_type": "Phone"}]).insert()
		with self.assertRaisesRegex(frappe.ValidationError, "holds an Email"):
			bad([{"fields": "email_id", "match_type": "Phone"}], target_doctype="Contact").insert()
		with self.assertRaisesRegex(frappe.ValidationError, "is not a child table"):
			bad([{"fields": "customer_name.x", "match_type": "Exact"}]).insert()
		with self.assertRaisesRegex(frappe.ValidationError, "not a field of any condition"):
			bad(
				[{"fields": "phone_1", "match_type": "Phone"}],
				cross_checks=[{"other_doctype": "Contact", "field_map": "mobile_no = phone_nos.phone"}],
			).insert()
		ok = frappe.get_doc(
			{
				"doctype": "Dedup Rule",
				"rule_name": f"test ok {self.sfx}",
				"target_doctype": "Contact",
				"action": "Warn",
				"conditions": [
					{"fields": "phone_nos.phone, mobile_no", "match_type": "Phone"},
					{"fields": "email_ids.email_id", "match_type": "Email", "blank_handling": "Ignore"},
				],
			}
		).insert()
		self.rules.append(ok.name)

	def test_form_check_api(self):
		from crm_dedup import api

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

	def test_field_options_and_presets(self):
		from crm_dedup import api

		contact_fields = {o["value"] for o in api.field_options("Contact")}
		self.assertTrue(
			{"phone_nos.phone", "email_ids.email_id", "first_name", "mobile_no"} <= contact_fields
		)
		customer_fields = {o["value"]: o for o in api.field_options("Customer")}
		self.assertEqual(customer_fields["phone_1"]["custom"], 1)
		presets = {p["preset"]: p for p in api.get_presets("Customer")}
		self.assertEqual(set(presets), {"b2b", "b2c", "dealer", "ecommerce"})
		b2b = {r["rule_name"]: r for r in presets["b2b"]["rules"]}
		uscc = b2b["Customer B2B 统一社会信用代码"]
		self.assertEqual(uscc["conditions"][0]["fields"], "tax_id")
		phones = b2b["Customer B2B phone"]["conditions"][0]["fields"]
		self.assertTrue({"mobile_no", "phone_1", "phone_2", "phone_3"} <= set(bridge.split_fields(phones)))
		# e-commerce needs a member id field Customer does not have: reported, not invented
		ecommerce = {r["rule_name"]: r for r in presets["ecommerce"]["rules"]}
		self.assertEqual(ecommerce["Customer ECOMMERCE member id"]["missing"], ["member_id"])
		contact_b2c = {r["rule_name"]: r for r in api.get_presets("Contact")[1]["rules"]}
		self.assertIn("phone_nos.phone", contact_b2c["Contact B2C mobile"]["conditions"][0]["fields"])
		for name in ("Customer B2B 统一社会信用代码", "Customer B2B phone", "Customer B2B company name"):
			if frappe.db.exists("Dedup Rule", name):
				self.skipTest("B2B preset rules exist in this site already")
		frappe.flags.crm_dedup_no_rebuild = True
		try:
			created = api.create_preset("b2b", "Customer")
		finally:
			frappe.flags.crm_dedup_no_rebuild = False
		self.rules.extend(created)
		self.assertEqual(len(created), 3)
		self.assertEqual(frappe.db.get_value("Dedup Rule", created[0], "action"), "Block")

	def test_doctypes_without_rules_pay_nothing(self):
		self.phone_rule()
		with patch("crm_dedup.bridge.find_duplicates") as spy:
			todo = frappe.get_doc({"doctype": "ToDo", "description": f"dedup {self.sfx}"}).insert()
			todo.delete()
		self.assertEqual(spy.call_count, 0)
		self.assertNotIn("ToDo", bridge.config()["touching"])


def _insert_in_thread(
	site: str, sites_path: str, i: int, sfx: str, phone: str, rules: list[str], barrier, results
) -> None:
	frappe.init(site=site, sites_path=sites_path)
	try:
		frappe.connect()
		frappe.set_user("Administrator")
		frappe.flags.crm_dedup_only_rules = rules
		barrier.wait(timeout=60)
		try:
			doc = frappe.get_doc(
				{"doctype": "Customer", "customer_name": f"并发{sfx} {i:02d}", "phone_1": phone}
			)
			doc.insert()
			frappe.db.commit()
			results[i] = ("ok", doc.name)
		except Exception as e:
			frappe.db.rollback()
			results[i] = (type(e).__name__, str(e)[:200])
	finally:
		sidedb.close()
		frappe.destroy()


class TestConcurrentInserts(DedupTestCase):
	def test_twenty_parallel_inserts_leave_one(self):
		rule = self.make_rule(
			"race", "Customer", "Block", [{"fields": "phone_1, phone_2, phone_3", "match_type": "Phone"}]
		)
		frappe.db.commit()  # the rule must be visible to the other connections
		phone = random_mobile("137")
		n = 20
		barrier = threading.Barrier(n)
		results: dict[int, tuple[str, str]] = {}
		threads = [
			threading.Thread(
				target=_insert_in_thread,
				args=(
					frappe.local.site,
					frappe.local.sites_path,
					i,
					self.sfx,
					phone,
					[rule],
					barrier,
					results,
				),
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
