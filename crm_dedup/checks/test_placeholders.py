# Copyright (c) 2026, crm_dedup contributors
# License: MIT. See license.txt
"""Placeholders in a real site: fillers such as 无 or 13800138000 never block a genuine new customer.

CI=1 bench --site SITE run-tests --module crm_dedup.checks.test_placeholders
"""

from __future__ import annotations

import frappe

from crm_dedup.collision_query.api import collision_query
from crm_dedup.core.config import placeholder_reason
from crm_dedup.core.errors import DedupDuplicateError
from crm_dedup.merge.survivorship import default_values
from crm_dedup.testing import DedupTestCase, han_suffix, random_mobile


class TestPlaceholders(DedupTestCase):
	def setUp(self) -> None:
		super().setUp()
		self.settings_rows = [r.as_dict() for r in frappe.get_single("Dedup Settings").placeholders]

	def tearDown(self) -> None:
		settings = frappe.get_single("Dedup Settings")
		settings.set(
			"placeholders",
			[{k: r[k] for k in ("match_type", "field_path", "value")} for r in self.settings_rows],
		)
		settings.flags.crm_dedup_no_rebuild = True
		settings.save()
		frappe.db.commit()
		super().tearDown()

	def block_rules(self) -> list[str]:
		return [
			self.make_rule("uscc", "Customer", "Block", [{"fields": "tax_id", "match_type": "ID Code"}]),
			self.make_rule(
				"phones",
				"Customer",
				"Block",
				[{"fields": "mobile_no, phone_1, phone_2, phone_3", "match_type": "Phone"}],
			),
		]

	def test_two_customers_with_filler_tax_id_and_phone_both_save(self):
		rules = self.block_rules()
		a = self.customer(f"南京甲{han_suffix()}公司", tax_id="无", phone_1="13800138000")
		b = self.customer(f"北京乙{han_suffix()}公司", tax_id="无", phone_1="138-0013-8000")
		c = self.customer(f"上海丙{han_suffix()}公司", tax_id="N/A", phone_2="+86 13800138000")
		for doc in (a, b, c):
			self.assertTrue(frappe.db.exists("Customer", doc.name))
			# the fillers never reach the key index
			self.assertFalse(
				frappe.db.exists(
					"Dedup Key", {"ref_doctype": "Customer", "ref_name": doc.name, "rule": ["in", rules]}
				)
			)
		self.assertFalse(frappe.db.exists("Dedup Collision Log", {"rule": ["in", rules]}))

	def test_real_values_still_block(self):
		self.block_rules()
		phone = random_mobile()
		self.customer(f"南京丁{han_suffix()}公司", tax_id="无", phone_1=phone)
		with self.assertRaises(DedupDuplicateError):
			self.customer(f"北京戊{han_suffix()}公司", tax_id="无", phone_1=phone)

	def test_collision_query_explains_a_placeholder(self):
		self.block_rules()
		self.customer(f"南京己{han_suffix()}公司", tax_id="无")
		answer = collision_query("Customer", {"tax_id": "无"})
		self.assertEqual(answer["results"], [])
		self.assertEqual(len(answer["placeholders"]), 1)
		self.assertEqual(answer["placeholders"][0]["value"], "无")
		self.assertIn("placeholder", answer["message"].lower())

	def test_admin_placeholder_from_settings(self):
		rules = self.block_rules()
		settings = frappe.get_single("Dedup Settings")
		settings.append("placeholders", {"match_type": "Phone", "value": "+86 400 800 1234"})
		settings.flags.crm_dedup_no_rebuild = True
		settings.save()
		self.customer(f"南京庚{han_suffix()}公司", phone_1="4008001234")
		self.customer(f"北京辛{han_suffix()}公司", phone_1="400-800-1234")
		self.assertFalse(frappe.db.exists("Dedup Collision Log", {"rule": ["in", rules]}))
		self.assertIsNotNone(placeholder_reason("Customer", "phone_1", "400 800 1234"))
		self.assertIsNone(placeholder_reason("Customer", "phone_1", random_mobile()))

	def test_merge_never_picks_a_placeholder_over_a_real_value(self):
		self.block_rules()
		a = self.customer(f"南京壬{han_suffix()}公司", tax_id="无")
		b = self.customer(f"南京癸{han_suffix()}公司", tax_id="91320100MA1MXXXX0A")
		values = default_values(frappe.get_meta("Customer"), a, [a, b])
		self.assertEqual(values["tax_id"], "91320100MA1MXXXX0A")
