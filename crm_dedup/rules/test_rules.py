# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt
"""Integration tests of the rule form helpers, run in a real site:

CI=1 bench --site SITE run-tests --module crm_dedup.rules.test_rules
"""

from __future__ import annotations

import frappe

from crm_dedup.core.config import split_fields
from crm_dedup.core.errors import DedupDuplicateError
from crm_dedup.crm_dedup.report.dedup_common_values.dedup_common_values import execute as execute_report
from crm_dedup.rules import api
from crm_dedup.rules.rebuild import rebuild
from crm_dedup.testing import (
	REP_B,
	DedupTestCase,
	han_suffix,
	random_mobile,
	restore_settings_rows,
	settings_rows,
	suffix,
)


class TestRuleForm(DedupTestCase):
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

	def test_field_options_and_presets(self):
		contact_fields = {o["value"] for o in api.field_options("Contact")}
		self.assertTrue(
			{"phone_nos.phone", "email_ids.email_id", "first_name", "mobile_no"} <= contact_fields
		)
		customer_fields = {o["value"]: o for o in api.field_options("Customer")}
		self.assertEqual(customer_fields["phone_1"]["custom"], 1)
		presets = {p["preset"]: p for p in api.get_presets("Customer")}
		self.assertEqual(set(presets), {"b2b", "b2c", "dealer", "ecommerce", "project"})
		b2b = {r["rule_name"]: r for r in presets["b2b"]["rules"]}
		uscc = b2b["Customer B2B 统一社会信用代码"]
		self.assertEqual(uscc["conditions"][0]["fields"], "tax_id")
		phones = b2b["Customer B2B phone"]["conditions"][0]["fields"]
		self.assertTrue({"mobile_no", "phone_1", "phone_2", "phone_3"} <= set(split_fields(phones)))
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


class TestCommonValues(DedupTestCase):
	"""The Dedup Common Values report finds a filler of this site's own data; "Add to placeholders" makes it
	count as blank, and a real value still blocks."""

	def setUp(self) -> None:
		super().setUp()
		self.settings_rows = settings_rows("placeholders", ("match_type", "field_path", "value"))

	def tearDown(self) -> None:
		frappe.flags.crm_dedup_no_rebuild = None
		restore_settings_rows("placeholders", self.settings_rows)
		super().tearDown()

	def test_report_finds_a_filler_and_adding_it_makes_it_blank(self):
		self.make_rule("phones", "Customer", "Log only", [{"fields": "phone_1", "match_type": "Phone"}])
		self.make_rule("uscc", "Customer", "Log only", [{"fields": "tax_id", "match_type": "ID Code"}])
		filler = random_mobile("135")
		sharing = [
			self.customer(
				f"南京{han_suffix()}{suffix(3)}公司", phone_1=filler, tax_id=f"9132{random_mobile('01')[:14]}"
			).name
			for _i in range(6)
		]
		_columns, rows = execute_report({"doctype": "Customer", "min_records": 5})
		found = [r for r in rows if r["field"] == "phone_1" and r["value"] == filler]
		self.assertEqual(len(found), 1, rows[:5])
		self.assertGreaterEqual(found[0]["records"], 6)

		frappe.flags.crm_dedup_no_rebuild = True  # the test rebuilds its own rule below
		self.assertEqual(
			api.add_placeholders("Customer", [{"field": "phone_1", "value": filler}]), {"added": 1}
		)
		self.assertEqual(
			api.add_placeholders("Customer", [{"field": "phone_1", "value": filler}]), {"added": 0}
		)
		self.assertTrue(
			any(
				r.field_path == "phone_1" and r.value == filler
				for r in frappe.get_single("Dedup Settings").placeholders
			)
		)
		block = self.make_rule(
			"block phones", "Customer", "Block", [{"fields": "phone_1", "match_type": "Phone"}]
		)
		rebuild(block, commit=False, progress=False)
		# the filler never reaches the index (the rebuild indexed the whole site: only ours are looked at)
		self.assertFalse(frappe.db.exists("Dedup Key", {"rule": block, "ref_name": ["in", sharing]}))
		late = self.customer(
			f"北京{han_suffix()}{suffix(3)}公司", phone_1=filler
		)  # saves: the filler is blank
		self.assertFalse(frappe.db.exists("Dedup Key", {"rule": block, "ref_name": late.name}))
		real = random_mobile("136")
		self.customer(f"上海{han_suffix()}{suffix(3)}公司", phone_1=real)
		with self.assertRaises(DedupDuplicateError):
			self.customer(f"广州{han_suffix()}{suffix(3)}公司", phone_1=real)

	def test_only_managers_add_placeholders(self):
		frappe.set_user(REP_B)
		with self.assertRaises(frappe.PermissionError):
			api.add_placeholders("Customer", [{"field": "phone_1", "value": "13500000000"}])
