# Copyright (c) 2025, crm_dedup contributors
# For license information, please see license.txt
"""Integration tests of the collision query API (crm_dedup.collision_query) on a real site.

CI=1 bench --site SITE run-tests --module crm_dedup.collision_query.test_collision_query


Rules, records and user permissions are created inside the test transaction (rolled back at the end);
the test users persist (created once, committed); query logs are written on the side connection, so they
are committed at once and deleted again in tearDownClass.
"""

import json
import random
from unittest.mock import patch

import frappe
from frappe.tests.utils import FrappeTestCase

from crm_dedup.collision_query import access, api
from crm_dedup.core import display, sidedb
from crm_dedup.core.config import clear_cache
from crm_dedup.core.lookup import find_duplicates
from crm_dedup.testing import OWNER_A, DedupTestCase, han_suffix, random_mobile

PASSWORD = "Cq-test-pass-1"
REP_A = "cq_rep_a@example.com"  # owns the customer the other rep runs into
REP_B = "cq_rep_b@example.com"  # may read only her own customer (User Permission)
NO_ROLE = "cq_norole@example.com"  # desk user without read on Customer / Lead / Contact
MANAGER = "cq_manager@example.com"  # Dedup Manager
CHARS = "华东星辰锦绣鼎盛恒通瑞丰嘉禾宏图远景天成永泰金源汇德明"


def _ensure_user(email: str, roles: list[str]) -> None:
	if not frappe.db.exists("User", email):
		user = frappe.get_doc(
			{
				"doctype": "User",
				"email": email,
				"first_name": email.split("@")[0].replace("cq_", "").replace("_", " ").title(),
				"send_welcome_email": 0,
				"user_type": "System User",
				"new_password": PASSWORD,
			}
		)
		user.flags.no_welcome_mail = True
		user.insert(ignore_permissions=True)
	user = frappe.get_doc("User", email)
	missing = [r for r in roles if r not in {d.role for d in user.roles}]
	if missing:
		user.add_roles(*missing)


def _uid_name(core_len: int = 4) -> str:
	return "".join(random.sample(CHARS, core_len))


def _phone() -> str:
	return "139" + "".join(random.choice("0123456789") for _ in range(8))


def _delete_committed_logs(rules: list[str]) -> None:
	"""Runs after the test transaction is rolled back (a class cleanup registered before FrappeTestCase's).

	Removes what was committed on the side connection on purpose: the test users' query logs (every query is
	logged, whatever happens to the request) and the collision logs the save-time checks wrote for the test
	rules. Done on the main connection once it holds no locks: a delete on the side connection would wait
	for the open test transaction.
	"""
	frappe.db.rollback()
	frappe.db.sql(
		"delete from `tabDedup Query Log` where user in %(users)s",
		{"users": (REP_A, REP_B, NO_ROLE, MANAGER)},
	)
	if rules:
		frappe.db.sql("delete from `tabDedup Collision Log` where rule in %(rules)s", {"rules": tuple(rules)})
	frappe.db.commit()
	# the rolled-back rules and user permission must not linger in the shared caches
	clear_cache()
	frappe.cache.hdel("user_permissions", REP_B)
	for user in (REP_A, REP_B, NO_ROLE, MANAGER):
		access.reset_rate_limit(user)


# ERPNext links Call Logs to every new Contact with a phone number and commits while doing so
# (call_log.link_existing_conversations); that would make the test data outlive the test.
NO_CALL_LOG_COMMIT = patch("erpnext.telephony.doctype.call_log.call_log.link_existing_conversations")


class TestCollisionQuery(FrappeTestCase):
	tag = ""

	@classmethod
	def setUpClass(cls):
		cls.tag = _uid_name(3)
		cls.rules = []
		# registered first, so it runs last: after FrappeTestCase's rollback
		cls.addClassCleanup(lambda: _delete_committed_logs([*cls.rules, f"_CQ {cls.tag} lead website"]))
		super().setUpClass()
		_ensure_user(REP_A, ["Sales User"])
		_ensure_user(REP_B, ["Sales User"])
		_ensure_user(NO_ROLE, ["Blogger"])
		_ensure_user(MANAGER, ["Sales User", "Dedup Manager"])
		frappe.db.commit()  # the users only; everything below is rolled back

		frappe.db.set_single_value("Dedup Settings", "enabled", 1)
		for name, target, conditions in (
			(f"_CQ {cls.tag} customer name", "Customer", [("customer_name", "Company Name", 90)]),
			(f"_CQ {cls.tag} lead phone", "Lead", [("phone, mobile_no", "Phone", None)]),
			(f"_CQ {cls.tag} lead company", "Lead", [("company_name", "Company Name", 90)]),
			(
				f"_CQ {cls.tag} contact phone",
				"Contact",
				[("phone, mobile_no, phone_nos.phone", "Phone", None)],
			),
		):
			rule = frappe.get_doc(
				{
					"doctype": "Dedup Rule",
					"rule_name": name,
					"target_doctype": target,
					"enabled": 1,
					"action": "Log only",
					"priority": 1,
					"conditions": [
						{"fields": f, "match_type": m, "threshold": t, "blank_handling": "Not a Match"}
						for f, m, t in conditions
					],
				}
			).insert(ignore_permissions=True)
			cls.rules.append(rule.name)

		# two customers: A owned by rep A (rep B may not read it), B owned by rep B (readable to her)
		cls.name_a = f"金陵{_uid_name()}贸易有限公司"
		cls.name_b = f"姑苏{_uid_name()}科技有限公司"
		cls.cust_a = cls._customer(cls.name_a, REP_A)
		cls.cust_b = cls._customer(cls.name_b, REP_B)
		frappe.get_doc(
			{"doctype": "User Permission", "user": REP_B, "allow": "Customer", "for_value": cls.cust_b}
		).insert(ignore_permissions=True)

		# one phone on a Lead and on a Contact: one "All" query must find both
		cls.phone = _phone()
		with NO_CALL_LOG_COMMIT:
			cls._lead_and_contact()
		clear_cache()

	@classmethod
	def _lead_and_contact(cls):
		cls.lead = (
			frappe.get_doc(
				{
					"doctype": "Lead",
					"first_name": f"测试{cls.tag}",
					"company_name": f"秦淮{_uid_name()}实业有限公司",
					"mobile_no": cls.phone,
					"lead_owner": REP_A,
				}
			)
			.insert(ignore_permissions=True)
			.name
		)
		cls.contact = (
			frappe.get_doc(
				{
					"doctype": "Contact",
					"first_name": f"联系人{cls.tag}",
					"phone_nos": [{"phone": cls.phone, "is_primary_phone": 1}],
				}
			)
			.insert(ignore_permissions=True)
			.name
		)

	@classmethod
	def tearDownClass(cls):
		frappe.set_user("Administrator")
		super().tearDownClass()

	@staticmethod
	def _customer(customer_name: str, manager: str) -> str:
		return (
			frappe.get_doc(
				{
					"doctype": "Customer",
					"customer_name": customer_name,
					"customer_type": "Company",
					"account_manager": manager,
				}
			)
			.insert(ignore_permissions=True)
			.name
		)

	def setUp(self):
		clear_cache()
		frappe.db.set_single_value("Dedup Settings", "query_rate_limit", 60)
		for user in (REP_A, REP_B, NO_ROLE, MANAGER):
			access.reset_rate_limit(user)

	def tearDown(self):
		frappe.set_user("Administrator")

	def row(self, answer, doctype, name_or_title):
		for r in answer["results"]:
			if r["doctype"] == doctype and name_or_title in (r["name"], r["title"]):
				return r
		return None

	def test_fixtures_stay_uncommitted(self):
		# guards the shared site: nothing above may commit the rules or records (see NO_CALL_LOG_COMMIT)
		seen = sidedb.fresh_sql(
			"select count(*) from `tabDedup Rule` where name like %s", (f"_CQ {self.tag}%",)
		)
		self.assertEqual(seen[0][0], 0)

	# ---- permission --------------------------------------------------------------------------------
	def test_guest_is_refused(self):
		frappe.set_user("Guest")
		with self.assertRaises(frappe.PermissionError):
			api.collision_query(doctype="All", inputs={"company_name": self.name_a})
		with self.assertRaises(frappe.PermissionError):
			api.get_query_fields()

	def test_user_without_read_on_any_target_is_refused(self):
		frappe.set_user(NO_ROLE)
		with self.assertRaises(frappe.PermissionError):
			api.collision_query(doctype="All", inputs={"company_name": self.name_a})
		with self.assertRaises(frappe.PermissionError):
			api.get_query_fields()
		# refused before anything is counted or logged
		self.assertEqual(access.remaining_queries(NO_ROLE), 60)

	def test_unreadable_hit_shows_only_existence_owner_and_date(self):
		frappe.set_user(REP_B)
		self.assertFalse(frappe.has_permission("Customer", "read", doc=self.cust_a, user=REP_B))
		answer = api.collision_query(doctype="Customer", inputs={"customer_name": self.name_a})
		masked = [r for r in answer["results"] if r["doctype"] == "Customer" and not r["can_read"]]
		self.assertTrue(masked, answer)
		row = next(r for r in masked if r["owner"] == REP_A)
		self.assertIsNone(row["name"])
		self.assertIsNone(row["url"])
		self.assertIsNone(row["status"])
		self.assertIsNone(row["last_activity"])
		self.assertTrue(row["created"])
		# the best rule that fired: ours, unless another Customer rule on the shared site ties with it
		customer_rules = frappe.get_all(
			"Dedup Rule", filters={"target_doctype": "Customer", "enabled": 1}, pluck="name"
		)
		self.assertIn(self.rules[0], customer_rules)
		self.assertIn(row["rule"], customer_rules)
		self.assertIn("**", row["title"])
		self.assertTrue(row["title"].startswith("金陵") and row["title"].endswith("有限公司"))
		self.assertEqual(row["score"], 100.0)
		# neither the name nor the matched value leaks anywhere in the row
		dumped = json.dumps(row, ensure_ascii=False, default=str)
		self.assertNotIn(self.name_a, dumped)
		self.assertNotIn(self.cust_a, dumped)
		self.assertNotIn(self.name_a[2:6], dumped)
		self.assertTrue(all("**" in m["value"] for m in row["matched_fields"]))

	def test_save_dialog_and_collision_query_mask_alike(self):
		"""One masking policy: the save dialog (and its error message) and the Collision Query show the same
		text for the same record the user may not read, and neither reveals its name."""
		frappe.set_user(REP_B)
		answer = api.collision_query(doctype="Customer", inputs={"customer_name": self.name_a})
		row = next(r for r in answer["results"] if not r["can_read"] and r["owner"] == REP_A)
		hit = next(
			h
			for h in find_duplicates(
				{"doctype": "Customer", "customer_name": self.name_a}, "Customer", event=None
			)
			if h.name == self.cust_a
		)
		view = display.hit_view("Customer", hit, user=REP_B)
		self.assertFalse(view["readable"])
		self.assertEqual(view["display"], row["title"])
		self.assertEqual(
			[f["existing_value"] for f in view["fields"] if not f["skipped"]],
			[m["value"] for m in row["matched_fields"]],
		)
		title, message = display.describe(frappe._dict(doctype="Customer"), [hit])
		self.assertIn(row["title"], title)
		self.assertIn(f"<b>{row['title']}</b>", message)
		self.assertNotIn(self.name_a, title)
		self.assertNotIn(self.cust_a, title)
		# the message repeats what the rep typed (name_a here, which is also the record's name) once, as the
		# typed value; the existing record's name and values only appear masked
		self.assertEqual(message.count(self.name_a), 1)
		self.assertIn(f"<b>{self.name_a}</b> matches", message)

	def test_readable_hit_shows_the_record(self):
		frappe.set_user(REP_B)
		answer = api.collision_query(doctype="Customer", inputs={"customer_name": self.name_b})
		row = self.row(answer, "Customer", self.cust_b)
		self.assertIsNotNone(row, answer)
		self.assertTrue(row["can_read"])
		self.assertEqual(row["title"], self.name_b)
		self.assertIn("/app/customer/", row["url"])
		self.assertEqual(row["owner"], REP_B)
		self.assertEqual(row["status"], frappe._("Enabled"))
		self.assertTrue(row["last_activity"])
		self.assertEqual(row["matched_fields"][0]["value"], self.name_b)

	def test_manager_reads_what_the_rep_may_not(self):
		frappe.set_user(MANAGER)
		answer = api.collision_query(doctype="Customer", inputs={"customer_name": self.name_a})
		row = self.row(answer, "Customer", self.cust_a)
		self.assertTrue(row and row["can_read"])

	def test_query_log_is_for_managers_only(self):
		self.assertFalse(frappe.has_permission("Dedup Query Log", "read", user=REP_B))
		self.assertTrue(frappe.has_permission("Dedup Query Log", "read", user=MANAGER))

	# ---- rate limit and log ------------------------------------------------------------------------
	def test_rate_limit_per_user_and_every_query_logged(self):
		frappe.db.set_single_value("Dedup Settings", "query_rate_limit", 3)
		frappe.set_user(REP_B)
		remaining = []
		for _i in range(3):
			remaining.append(
				api.collision_query(doctype="All", inputs={"company_name": self.name_a})["remaining"]
			)
		self.assertEqual(remaining, [2, 1, 0])
		with self.assertRaises(frappe.TooManyRequestsError):
			api.collision_query(doctype="All", inputs={"company_name": self.name_a})
		# other users have their own budget
		frappe.set_user(REP_A)
		self.assertEqual(
			api.collision_query(doctype="All", inputs={"company_name": self.name_b})["remaining"], 2
		)

		rows = sidedb.fresh_sql(
			"select status, hit_count, masked_hits, inputs, hits_summary, query_doctype"
			" from `tabDedup Query Log` where user=%s and inputs like %s order by creation, name",
			(REP_B, f"%{self.name_a}%"),
			as_dict=True,
		)
		self.assertEqual([r.status for r in rows][-4:], ["Answered", "Answered", "Answered", "Rate Limited"])
		answered = rows[-2]
		self.assertEqual(json.loads(answered.inputs), {"company_name": self.name_a})
		self.assertEqual(answered.query_doctype, "All")
		self.assertGreaterEqual(answered.hit_count, 1)
		self.assertGreaterEqual(answered.masked_hits, 1)
		summary = json.loads(answered.hits_summary)
		# managers see the real record in the log
		self.assertIn(
			{"doctype": "Customer", "name": self.cust_a, "owner": REP_A, "can_read": False},
			[{k: h[k] for k in ("doctype", "name", "owner", "can_read")} for h in summary],
		)

	def test_rate_counter_survives_cache_clear(self):
		# hooks.persistent_cache_keys: `bench clear-cache` must not hand out a fresh budget
		frappe.set_user(REP_B)
		answer = api.collision_query(doctype="Customer", inputs={"customer_name": self.name_b})
		self.assertEqual(answer["remaining"], 59)
		frappe.clear_cache()
		self.assertEqual(access.remaining_queries(REP_B), 59)

	def test_rate_limit_zero_means_unlimited(self):
		frappe.db.set_single_value("Dedup Settings", "query_rate_limit", 0)
		frappe.set_user(REP_B)
		answer = api.collision_query(doctype="Customer", inputs={"customer_name": self.name_b})
		self.assertIsNone(answer["remaining"])

	# ---- inputs and answers ------------------------------------------------------------------------
	def test_all_mode_phone_typed_once_checks_every_doctype(self):
		frappe.set_user(MANAGER)
		layout = api.get_query_fields()
		phone = next(i for i in layout["inputs"]["All"] if i["key"] == "phone")
		self.assertIn("Lead", phone["fields"])
		self.assertIn("Contact", phone["fields"])
		self.assertIn("phone_nos.phone", phone["fields"]["Contact"])
		answer = api.collision_query(doctype="All", inputs={"phone": self.phone})
		found = {(r["doctype"], r["name"]) for r in answer["results"]}
		self.assertIn(("Lead", self.lead), found)
		self.assertIn(("Contact", self.contact), found)
		self.assertEqual(
			set(answer["searched"]) & {"Customer", "Lead", "Contact"}, {"Customer", "Lead", "Contact"}
		)

	def test_field_group_is_one_input_labelled_from_meta(self):
		frappe.set_user(MANAGER)
		inputs = api.get_query_fields()["inputs"]["Contact"]
		group = [i for i in inputs if "phone_nos.phone" in i["fields"]["Contact"]]
		self.assertEqual(len(group), 1)
		self.assertEqual(group[0]["label"], frappe._(frappe.get_meta("Contact").get_label(group[0]["key"])))
		self.assertTrue({"phone", "mobile_no", "phone_nos.phone"} <= set(group[0]["fields"]["Contact"]))
		# the group may be addressed by any of its fields
		answer = api.collision_query(doctype="Contact", inputs={"phone_nos.phone": self.phone})
		self.assertIn(self.contact, [r["name"] for r in answer["results"]])

	def test_rule_change_shows_up_without_code_change(self):
		frappe.set_user("Administrator")
		rule = frappe.get_doc(
			{
				"doctype": "Dedup Rule",
				"rule_name": f"_CQ {self.tag} lead website",
				"target_doctype": "Lead",
				"enabled": 1,
				"action": "Log only",
				"priority": 9,
				"conditions": [
					{"fields": "website", "match_type": "Normalized", "blank_handling": "Not a Match"}
				],
			}
		).insert(ignore_permissions=True)
		keys = [i["key"] for i in api.get_query_fields()["inputs"]["Lead"]]
		self.assertIn("website", keys)
		rule.enabled = 0
		rule.save(ignore_permissions=True)
		keys = [i["key"] for i in api.get_query_fields()["inputs"]["Lead"]]
		self.assertNotIn("website", keys)

	def test_empty_answer_says_so(self):
		frappe.set_user(REP_B)
		answer = api.collision_query(doctype="Lead", inputs={"company_name": f"无锡{_uid_name(6)}无此公司"})
		self.assertEqual(answer["results"], [])
		self.assertEqual(answer["count"], 0)
		self.assertIn("No duplicate found under the current rules", answer["message"])

	def test_bad_requests(self):
		frappe.set_user(REP_B)
		with self.assertRaises(frappe.ValidationError):
			api.collision_query(doctype="All", inputs={})
		with self.assertRaises(frappe.ValidationError):
			api.collision_query(doctype="All", inputs={"no_such_input": "x"})
		with self.assertRaises(frappe.ValidationError):
			api.collision_query(doctype="ToDo", inputs={"description": "x"})
		# inputs may come as a JSON string (form-encoded requests)
		answer = api.collision_query(
			doctype="Customer", inputs=json.dumps({"customer_name": self.name_b}, ensure_ascii=False)
		)
		self.assertTrue(answer["results"])


class TestCollisionQueryWithERPNextHooksLive(DedupTestCase):
	"""The "All" phone query of TestCollisionQuery with ERPNext's Contact hook live, as a site runs it: it commits
	in the middle of the Contact's insert (``call_log.link_existing_conversations``, patched out above only so that
	those fixtures can be rolled back). The records are found, and everything the test made, committed on the
	way, is removed afterwards (``DedupTestCase``'s cleanup), checked on a fresh connection."""

	@staticmethod
	def _contacts_of(lead: str) -> list[str]:
		return frappe.get_all(
			"Dynamic Link",
			filters={"parenttype": "Contact", "link_doctype": "Lead", "link_name": lead},
			pluck="parent",
		)

	def test_phone_on_a_lead_and_a_committed_contact_is_found_and_nothing_is_left(self):
		phone = random_mobile()
		self.make_rule(
			"cq live lead phone",
			"Lead",
			"Log only",
			[{"fields": "phone, mobile_no", "match_type": "Phone", "blank_handling": "Not a Match"}],
		)
		self.make_rule(
			"cq live contact phone",
			"Contact",
			"Log only",
			[
				{
					"fields": "phone, mobile_no, phone_nos.phone",
					"match_type": "Phone",
					"blank_handling": "Not a Match",
				}
			],
		)
		lead = frappe.get_doc(
			{
				"doctype": "Lead",
				"first_name": f"测试{han_suffix()}",
				"company_name": f"秦淮{han_suffix()}实业有限公司 {self.sfx}",
				"mobile_no": phone,
				"lead_owner": OWNER_A,
			}
		).insert(ignore_permissions=True)
		self.cleanup.append(("Lead", lead.name))
		lead_contacts = self._contacts_of(lead.name)  # CRM Settings "auto creation of contact"
		self.cleanup += [("Contact", c) for c in lead_contacts]
		contact = frappe.get_doc(
			{
				"doctype": "Contact",
				"first_name": f"联系人{han_suffix()} {self.sfx}",
				"phone_nos": [{"phone": phone, "is_primary_phone": 1}],
			}
		).insert(ignore_permissions=True)
		self.cleanup.append(("Contact", contact.name))
		# the hook ran for real: the Contact is committed (another connection sees it)
		seen = sidedb.fresh_sql("select count(*) from `tabContact` where name = %s", (contact.name,))
		self.assertEqual(seen[0][0], 1)

		frappe.set_user(OWNER_A)
		answer = api.collision_query(doctype="All", inputs={"phone": phone})
		found = {(r["doctype"], r["name"]) for r in answer["results"]}
		self.assertIn(("Lead", lead.name), found)
		self.assertIn(("Contact", contact.name), found)

		frappe.set_user("Administrator")
		frappe.db.rollback()
		self._cleanup()
		frappe.db.sql("delete from `tabDedup Query Log` where user = %s", (OWNER_A,))
		frappe.db.commit()
		for table, column, value in (
			("tabContact", "name", contact.name),
			("tabLead", "name", lead.name),
			("tabDedup Key", "ref_name", contact.name),
			("tabDedup Key", "ref_name", lead.name),
			("tabDedup Query Log", "user", OWNER_A),
			*(("tabContact", "name", c) for c in lead_contacts),
			*(("tabDedup Rule", "name", rule) for rule in self.rules),
		):
			left = sidedb.fresh_sql(f"select count(*) from `{table}` where `{column}` = %s", (value,))
			self.assertEqual(left[0][0], 0, f"{table} {value} left behind")


class TestMask(FrappeTestCase):
	def test_mask(self):
		self.assertEqual(display.mask("金陵华东贸易有限公司"), "金陵**有限公司")
		self.assertEqual(display.mask("金陵有限公司"), "金**有限公司")
		self.assertEqual(display.mask("Acme Trading Co., Ltd."), "Ac** Co., Ltd.")
		self.assertEqual(display.mask("张三"), "张**")  # never the length
		self.assertEqual(display.mask("13912345678"), "13**78")
		self.assertEqual(display.mask("张三丰"), "张**")
		self.assertEqual(display.mask("金陵华东贸易"), "金**易")  # six to nine: first and last only
		self.assertEqual(display.mask("long.name@example.com"), "lo**om")
		self.assertEqual(display.mask(""), "")
