# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt
"""Integration tests of smart rules (智能匹配) in a real site:

CI=1 bench --site SITE run-tests --module crm_dedup.rules.test_smart_rules

A rule of kind Smart works before training (default weights), explains every hit per comparison, trains from
the site's records and labelled pairs ("not a duplicate" decisions) into a versioned model stored with the
rule, and takes part in save checks and batch scans.
"""

from __future__ import annotations

import json

import frappe

from crm_dedup.collision_query import api as collision_api
from crm_dedup.core.config import clear_cache
from crm_dedup.core.display import hit_view
from crm_dedup.core.errors import DedupDuplicateError
from crm_dedup.core.lookup import find_duplicates
from crm_dedup.core.pairs import add_not_duplicate
from crm_dedup.rules import training
from crm_dedup.testing import REP_B, DedupTestCase, han_suffix, random_mobile, spaced_phone

COMPARISONS = [
	{"comparison_name": "phone", "fields": "phone_1, phone_2, phone_3", "compare": "Phone"},
	{
		"comparison_name": "name",
		"fields": "customer_name",
		"compare": "Company Name",
		"bands": "92, 80",
		"key_threshold": 90,
	},
]


class TestSmartRules(DedupTestCase):
	def smart_rule(self) -> str:
		return self.make_rule(
			"smart",
			"Customer",
			"Block",
			[],
			kind="Smart",
			comparisons=COMPARISONS,
			block_probability=0.999,
			warn_probability=0.95,
			log_probability=0.8,
		)

	def test_smart_rule_blocks_explains_and_trains(self):
		rule = self.smart_rule()
		phone = random_mobile()
		name = f"金陵{han_suffix(3)}科技有限公司"
		first = self.customer(name, phone_1=phone)
		# before training: default weights
		(hit,) = find_duplicates(
			{"doctype": "Customer", "customer_name": name, "phone_2": spaced_phone(phone)}
		)
		self.assertEqual((hit.name, hit.match.rule, hit.action), (first.name, rule, "block"))
		smart = hit.match.to_dict()["smart"]
		self.assertEqual(
			{c["comparison"] for c in smart["comparisons"]} if "comparisons" in smart else set(),
			{"phone", "name"},
		)
		# the save dialog gets the waterfall: prior, each comparison's level and weight, the total
		view = hit_view("Customer", hit)
		self.assertEqual({c["comparison"] for c in view["smart"]["comparisons"]}, {"phone", "name"})
		self.assertAlmostEqual(
			view["smart"]["prior"] + sum(c["weight"] for c in view["smart"]["comparisons"]),
			view["smart"]["total"],
			delta=0.05,
		)
		with self.assertRaises(DedupDuplicateError):
			self.customer(f"南京{name}", phone_2=phone)

		# data to learn from: duplicate pairs written differently, singles, and a reviewer's decision
		frappe.flags.ignore_dedup = True
		try:
			for _ in range(8):
				m, n = random_mobile(), f"{han_suffix(3)}{han_suffix(2)}贸易有限公司"
				self.customer(n, phone_1=m)
				self.customer(f"上海{n}", phone_2=spaced_phone(m))
			others = [
				self.customer(f"{han_suffix(3)}{han_suffix(2)}实业有限公司", phone_1=random_mobile())
				for _ in range(16)
			]
		finally:
			frappe.flags.ignore_dedup = False
		add_not_duplicate("Customer", others[0].name, "Customer", others[1].name, reason="test")
		self.addCleanup(
			frappe.db.delete, "Dedup Not Duplicate", {"name_a": ["in", [others[0].name, others[1].name]]}
		)
		frappe.db.commit()
		result = training.train(rule)
		self.assertGreaterEqual(result["records"], 33)
		self.assertEqual(result["labels"], 1)
		doc = frappe.get_doc("Dedup Rule", rule)
		model = json.loads(doc.model)
		self.assertTrue(model.get("format") and model.get("rule_hash"), model.keys())
		self.assertIn(str(result["records"]), doc.model_info)
		clear_cache()
		(again,) = find_duplicates({"doctype": "Customer", "customer_name": name, "phone_2": phone})
		self.assertEqual(again.name, first.name)
		trained = again.match.to_dict()["smart"]
		self.assertNotEqual(trained, smart)  # the learned weights, not the defaults

	def test_smart_rule_in_a_batch_scan(self):
		rule = self.smart_rule()
		phone = random_mobile()
		name = f"鼎盛{han_suffix(3)}物流有限公司"
		frappe.flags.ignore_dedup = True
		try:
			a = self.customer(name, phone_1=phone)
			b = self.customer(f"{name}(南京)", phone_3=spaced_phone(phone))
		finally:
			frappe.flags.ignore_dedup = False
		self.run_scan(rule=rule)
		sets = frappe.get_all(
			"Duplicate Set Member", {"member_name": ["in", [a.name, b.name]]}, ["parent", "member_name"]
		)
		self.assertEqual(len({s.parent for s in sets}), 1, sets)
		self.assertEqual({s.member_name for s in sets}, {a.name, b.name})
		# the set's pair explains itself: the waterfall, comparison by comparison
		(pair,) = frappe.get_all(
			"Duplicate Set Pair", {"parent": sets[0].parent}, ["rule", "explanation", "score"]
		)
		self.assertEqual(pair.rule, rule)
		self.assertIn("smart rule", pair.explanation)
		self.assertIn("phone:", pair.explanation)
		self.assertIn("name:", pair.explanation)
		for s in {s.parent for s in sets}:
			self.cleanup.append(("Duplicate Set", s))

	def test_smart_rule_in_the_collision_query(self):
		"""The page asks for the smart rule's fields and answers with its waterfall; a rep who may not read the
		record sees the weights but not the record's values."""
		rule = self.smart_rule()
		phone = random_mobile()
		name = f"恒通{han_suffix(3)}电子有限公司"
		first = self.customer(name, phone_1=phone)
		layout = collision_api.get_query_fields()
		inputs = {i["key"]: i for i in layout["inputs"]["Customer"]}
		phone_input = next(i for i in inputs.values() if "phone_2" in i["fields"]["Customer"])
		self.assertEqual(phone_input["fields"]["Customer"], ["phone_1", "phone_2", "phone_3"])
		self.assertIn(rule, phone_input["rules"])
		self.assertIn(rule, inputs["customer_name"]["rules"])
		self.assertIn("company_name", inputs["customer_name"]["match_types"])

		answer = collision_api.collision_query(
			doctype="Customer", inputs={phone_input["key"]: spaced_phone(phone), "customer_name": name}
		)
		row = next(r for r in answer["results"] if r["name"] == first.name)
		self.assertEqual(row["rule"], rule)
		waterfall = row["smart"]
		self.assertEqual({c["comparison"] for c in waterfall["comparisons"]}, {"phone", "name"})
		self.assertAlmostEqual(
			waterfall["prior"] + sum(c["weight"] for c in waterfall["comparisons"]),
			waterfall["total"],
			delta=0.05,
		)
		self.assertGreaterEqual(waterfall["probability"], 0.999)
		self.assertIn(name, [c["value_b"] for c in waterfall["comparisons"]])

		# another rep limited to one customer of her own: the weights, not the values
		own = self.customer(f"星河{han_suffix(3)}贸易有限公司")
		perm = frappe.get_doc(
			{"doctype": "User Permission", "user": REP_B, "allow": "Customer", "for_value": own.name}
		).insert(ignore_permissions=True)
		self.cleanup.append(("User Permission", perm.name))
		frappe.cache.hdel("user_permissions", REP_B)
		frappe.set_user(REP_B)
		try:
			masked = collision_api.collision_query(
				doctype="Customer", inputs={phone_input["key"]: phone, "customer_name": name}
			)
		finally:
			frappe.set_user("Administrator")
			frappe.cache.hdel("user_permissions", REP_B)
		row = next(r for r in masked["results"] if r["owner"] == "Administrator" and not r["can_read"])
		self.assertEqual({c["comparison"] for c in row["smart"]["comparisons"]}, {"phone", "name"})
		# what the rep typed comes back as typed; the stored record's values are masked
		for c in row["smart"]["comparisons"]:
			self.assertIn("**", c["value_b"], c)
		self.assertIn("**", row["title"])
		self.assertIsNone(row["name"])
		self.assertIsNone(row["url"])

	def test_bad_smart_rules_are_refused(self):
		with self.assertRaises(frappe.ValidationError):
			self.make_rule("no comparisons", "Customer", "Block", [], kind="Smart")
		with self.assertRaises(frappe.ValidationError):
			self.make_rule(
				"bad field",
				"Customer",
				"Block",
				[],
				kind="Smart",
				comparisons=[{"comparison_name": "x", "fields": "no_such_field", "compare": "Exact"}],
			)
		with self.assertRaises(frappe.ValidationError):
			self.make_rule(
				"bad probability",
				"Customer",
				"Block",
				[],
				kind="Smart",
				comparisons=COMPARISONS,
				block_probability=1.5,
			)
