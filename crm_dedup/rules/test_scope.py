# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt
"""Integration tests of rule scope (core rules, branch rules, Applies when, Search within), in a real site:

CI=1 bench --site SITE run-tests --module crm_dedup.rules.test_scope

Two territories hold customers of the same chain store; rules scoped by territory block within one and not
across, on save, in the Collision Query, in cross-doctype checks and in batch scans.
"""

from __future__ import annotations

import json

import frappe

from crm_dedup.checks import data_import
from crm_dedup.collision_query.api import collision_query
from crm_dedup.core.errors import DedupDuplicateError, DedupWarning
from crm_dedup.core.lookup import find_duplicates
from crm_dedup.rules.api import create_preset
from crm_dedup.testing import MANAGER, DedupTestCase, han_suffix, random_mobile

NAME = [{"fields": "customer_name", "match_type": "Company Name", "threshold": 90}]
WITHIN_TERRITORY = {"search_within": "Same values of fields", "scope_fields": "territory"}


class TestRuleScope(DedupTestCase):
	def setUp(self) -> None:
		super().setUp()
		self.sh = self.territory("Shanghai")
		self.bj = self.territory("Beijing")
		self.chain = f"鼎盛{han_suffix(4)}连锁超市有限公司"

	def territory(self, label: str) -> str:
		name = f"Dedup {label} {self.sfx}"
		if not frappe.db.exists("Territory", name):
			frappe.get_doc(
				{"doctype": "Territory", "territory_name": name, "parent_territory": "All Territories"}
			).insert(ignore_permissions=True)
		self.cleanup.insert(0, ("Territory", name))  # removed after the customers
		return name

	def store(self, territory: str, **fields) -> frappe.Document:
		return self.customer(self.chain, territory=territory, **fields)

	# ---- save-time checks --------------------------------------------------------------------------------
	def test_same_chain_store_blocked_within_a_territory_not_across(self):
		rule = self.make_rule("store", "Customer", "Block", NAME, **WITHIN_TERRITORY)
		first = self.store(self.sh)
		other = self.store(self.bj)  # another branch's customer: no collision
		self.assertTrue(other.name)
		with self.assertRaises(DedupDuplicateError) as ctx:
			self.store(self.sh)
		self.assertIn(first.name, str(ctx.exception))
		self.assertIn(rule, str(ctx.exception))
		# without a scope the same rule blocks across territories as well (the keys are rebuilt on save)
		doc = frappe.get_doc("Dedup Rule", rule)
		doc.search_within = "All records"
		doc.save()
		hits = find_duplicates({"doctype": "Customer", "customer_name": self.chain, "territory": self.bj})
		self.assertEqual({h.name for h in hits}, {first.name, other.name})

	def test_scope_change_rebuilds_the_keys(self):
		rule = self.make_rule("store", "Customer", "Block", NAME)
		self.store(self.sh)
		frappe.flags.ignore_dedup = True  # old data: the same store in both territories
		try:
			self.store(self.bj)
		finally:
			frappe.flags.ignore_dedup = False
		frappe.get_doc("Dedup Rule", rule).schedule_rebuild()
		keys_before = set(frappe.get_all("Dedup Key", {"rule": rule}, pluck="blocking_key"))
		doc = frappe.get_doc("Dedup Rule", rule)
		doc.search_within, doc.scope_fields = "Same values of fields", "territory"
		doc.save()
		keys_after = set(frappe.get_all("Dedup Key", {"rule": rule}, pluck="blocking_key"))
		self.assertTrue(keys_after and not (keys_before & keys_after))
		self.assertTrue(any(self.sh.casefold() in k for k in keys_after))
		self.assertEqual(doc.index_status, frappe._("Indexed"))  # stored in the saving user's language
		self.assertIn("territory", doc.scope_summary)

	def test_applies_when_limits_the_records_checked(self):
		self.make_rule(
			"store",
			"Customer",
			"Block",
			NAME,
			applies_when=json.dumps([["Customer", "territory", "=", self.sh, False]]),
		)
		self.store(self.sh)
		self.assertTrue(self.store(self.bj).name)  # the rule does not apply to Beijing's new records
		with self.assertRaises(DedupDuplicateError):
			self.store(self.sh)  # a new Shanghai record is checked against all records

	def test_tree_operator_in_applies_when(self):
		child = f"Dedup Pudong {self.sfx}"
		frappe.get_doc({"doctype": "Territory", "territory_name": child, "parent_territory": self.sh}).insert(
			ignore_permissions=True
		)
		self.cleanup.insert(0, ("Territory", child))
		self.make_rule(
			"store",
			"Customer",
			"Block",
			NAME,
			applies_when=json.dumps([["Customer", "territory", "descendants of (inclusive)", self.sh]]),
		)
		self.store(self.bj)
		with self.assertRaises(DedupDuplicateError):
			self.store(child)

	def test_search_within_a_filter(self):
		rule = self.make_rule(
			"store",
			"Customer",
			"Block",
			NAME,
			search_within="Records matching a filter",
			search_filter=json.dumps([["Customer", "territory", "=", self.sh]]),
		)
		beijing = self.store(self.bj)
		self.assertFalse(frappe.db.exists("Dedup Key", {"rule": rule, "ref_name": beijing.name}))
		self.store(self.bj)  # the Beijing record is not searched
		shanghai = self.store(self.sh)  # nor are the Beijing ones for a Shanghai record
		self.assertTrue(frappe.db.exists("Dedup Key", {"rule": rule, "ref_name": shanghai.name}))
		with self.assertRaises(DedupDuplicateError) as ctx:
			self.store(self.bj)
		self.assertIn(shanghai.name, str(ctx.exception))

	def test_smart_rule_honours_applies_when_and_a_search_filter(self):
		smart = {
			"kind": "Smart",
			"comparisons": [
				{"comparison_name": "name", "fields": "customer_name", "compare": "Company Name"}
			],
			"block_probability": 0.5,
		}
		rule = self.make_rule(
			"smart store",
			"Customer",
			"Block",
			[],
			search_within="Records matching a filter",
			search_filter=json.dumps([["Customer", "territory", "=", self.sh]]),
			applies_when=json.dumps([["Customer", "territory", "in", [self.sh, self.bj], False]]),
			**smart,
		)
		beijing = self.store(self.bj)
		self.assertFalse(frappe.db.exists("Dedup Key", {"rule": rule, "ref_name": beijing.name}))
		self.store(self.bj)  # the Beijing record is not searched
		shanghai = self.store(self.sh)
		self.assertTrue(frappe.db.exists("Dedup Key", {"rule": rule, "ref_name": shanghai.name}))
		with self.assertRaises(DedupDuplicateError) as ctx:
			self.store(self.bj)
		self.assertIn(shanghai.name, str(ctx.exception))
		self.assertTrue(self.store(self.territory("Elsewhere")).name)  # "Applies when" leaves it out
		# not yet for smart rules: the same values of fields
		with self.assertRaises(frappe.ValidationError):
			self.make_rule("smart same values", "Customer", "Block", [], **WITHIN_TERRITORY, **smart)

	def test_overlapping_scopes_strictest_action_wins(self):
		self.make_rule("warn everywhere", "Customer", "Warn", NAME)
		self.make_rule("block in territory", "Customer", "Block", NAME, **WITHIN_TERRITORY)
		self.store(self.sh)
		with self.assertRaises(DedupWarning):
			self.store(self.bj)  # only the group-wide Warn rule applies across territories
		with self.assertRaises(DedupDuplicateError):
			self.store(self.sh)  # both apply: Block wins

	def test_cross_doctype_check_honours_the_scope(self):
		rule = self.make_rule(
			"lead vs customer",
			"Lead",
			"Block",
			[{"fields": "company_name", "match_type": "Company Name", "threshold": 90}],
			search_within="Same values of fields",
			scope_fields="territory",
			cross_checks=[
				{
					"other_doctype": "Customer",
					"field_map": "company_name = customer_name\nterritory = territory",
					"enabled": 1,
				}
			],
		)
		customer = self.store(self.sh)
		frappe.get_doc("Dedup Rule", rule).schedule_rebuild()
		lead = {"doctype": "Lead", "first_name": "Wang", "company_name": self.chain}
		self.assertEqual(find_duplicates({**lead, "territory": self.bj}, "Lead"), [])
		hits = find_duplicates({**lead, "territory": self.sh}, "Lead")
		self.assertEqual([(h.doctype, h.name) for h in hits], [("Customer", customer.name)])

	def test_data_import_honours_the_scope(self):
		self.make_rule("store", "Customer", "Block", NAME, **WITHIN_TERRITORY)
		self.store(self.sh)
		base = self.chain.removesuffix("有限公司")  # three names of one store (legal forms differ)
		rows = [(base, self.bj), (base + "股份有限公司", self.sh), (base + "有限责任公司", self.bj)]
		content = "customer_name,customer_type,territory\n" + "".join(f"{n},Company,{t}\n" for n, t in rows)
		di = self.data_import("Customer", content, "scope")
		dry = data_import.dry_run(di.name)
		self.assertEqual(dry["counts"]["Block"], 2)  # row 2 (Shanghai's customer) and row 3 (row 1, Beijing)
		self.assertEqual(sorted(r["row"] for r in dry["rows"]), [3, 4])
		di.start_import()
		logs = frappe.get_all(
			"Data Import Log",
			{"data_import": di.name},
			["success", "docname", "row_indexes", "messages"],
			order_by="log_index asc",
		)
		for log in logs:
			if log.docname:
				self.cleanup.append(("Customer", log.docname))
		self.assertEqual([bool(log.success) for log in logs], [True, False, False], logs)
		self.assertEqual(frappe.db.get_value("Customer", logs[0].docname, "territory"), self.bj)

	# ---- Collision Query ----------------------------------------------------------------------------------
	def test_collision_query_answers_within_the_scope_typed(self):
		self.make_rule("store", "Customer", "Block", NAME, **WITHIN_TERRITORY)
		sh = self.store(self.sh)
		bj = self.store(self.bj)
		fields = collision_query("Customer", {"customer_name": self.chain, "territory": self.sh})
		self.assertEqual([r["name"] for r in fields["results"]], [sh.name])
		other = collision_query("Customer", {"customer_name": self.chain, "territory": self.bj})
		self.assertEqual([r["name"] for r in other["results"]], [bj.name])

	# ---- batch scans -----------------------------------------------------------------------------------------
	def test_scan_of_both_scopes_gives_sets_only_within_scope(self):
		rule = self.make_rule("store", "Customer", "Block", NAME, **WITHIN_TERRITORY)
		frappe.flags.ignore_dedup = True  # seed duplicates directly, as old data would hold them
		try:
			docs = [self.store(t) for t in (self.sh, self.sh, self.bj, self.bj, self.bj)]
		finally:
			frappe.flags.ignore_dedup = False
		self.run_scan(rule=rule)
		by_territory = {d.name: d.territory for d in docs}
		sets = [s for s in self.rows_of(rule) if set(s) & set(by_territory)]
		self.assertEqual(len(sets), 2)
		for members in sets:
			self.assertEqual(len({by_territory[m] for m in members}), 1)
		self.assertEqual(sorted(len(s) for s in sets), [2, 3])

	def test_scan_with_a_search_filter_pairs_only_what_a_save_would(self):
		rule = self.make_rule(
			"store",
			"Customer",
			"Block",
			NAME,
			applies_when=json.dumps([["Customer", "territory", "=", self.bj]]),
			search_within="Records matching a filter",
			search_filter=json.dumps([["Customer", "territory", "=", self.sh]]),
		)
		frappe.flags.ignore_dedup = True
		try:
			sh = [self.store(self.sh) for _ in range(2)]
			bj = [self.store(self.bj) for _ in range(2)]
		finally:
			frappe.flags.ignore_dedup = False
		self.run_scan(rule=rule)
		pairs = {
			tuple(sorted((p.name_a, p.name_b)))
			for s in frappe.get_all("Duplicate Set", {"status": "Open"}, pluck="name")
			for p in frappe.get_doc("Duplicate Set", s).pairs
			if p.rule == rule
		}
		want = {tuple(sorted((a.name, b.name))) for a in bj for b in sh}  # a Beijing record vs Shanghai ones
		self.assertEqual(pairs, want)

	def rows_of(self, rule: str) -> list[list[str]]:
		out = []
		for s in frappe.get_all("Duplicate Set", {"status": "Open"}, pluck="name"):
			doc = frappe.get_doc("Duplicate Set", s)
			if any(p.rule == rule for p in doc.pairs):
				out.append(sorted(m.member_name for m in doc.members))
		return out

	# ---- core and branch rules ------------------------------------------------------------------------------
	def test_core_rule_cannot_be_disabled_by_a_territory_manager(self):
		core = self.make_rule("core", "Customer", "Block", NAME, is_core=1)
		frappe.set_user(MANAGER)  # Sales Manager, not Dedup Manager
		doc = frappe.get_doc("Dedup Rule", core)
		doc.enabled = 0
		with self.assertRaises(frappe.PermissionError):
			doc.save()
		with self.assertRaises(frappe.PermissionError):
			frappe.delete_doc("Dedup Rule", core)
		# a group-wide (unscoped) rule is not a branch rule
		unscoped = frappe.get_doc(
			{
				"doctype": "Dedup Rule",
				"rule_name": f"test branch wide {self.sfx}",
				"target_doctype": "Customer",
				"action": "Warn",
				"conditions": NAME,
			}
		)
		with self.assertRaises(frappe.PermissionError):
			unscoped.insert()
		branch = frappe.get_doc(
			{
				"doctype": "Dedup Rule",
				"rule_name": f"test branch {self.sfx}",
				"target_doctype": "Customer",
				"action": "Warn",
				"conditions": NAME,
				"applies_when": json.dumps([["Customer", "territory", "=", self.sh]]),
			}
		)
		branch.flags.crm_dedup_no_rebuild = True
		branch.insert()
		self.rules.append(branch.name)
		branch.is_core = 1  # nor can a branch rule be promoted
		with self.assertRaises(frappe.PermissionError):
			branch.save()
		frappe.set_user("Administrator")
		self.assertEqual(frappe.db.get_value("Dedup Rule", core, "enabled"), 1)
		# the core rule still blocks in the branch's territory, next to the branch rule
		self.store(self.sh)
		with self.assertRaises(DedupDuplicateError):
			self.store(self.sh)

	def test_preset_applied_to_one_scope(self):
		scope = {**WITHIN_TERRITORY, "label": f"territory {self.sfx}"}
		created = create_preset("b2b", "Customer", json.dumps(scope))
		self.rules.extend(created)
		self.assertTrue(created)
		for name in created:
			doc = frappe.get_doc("Dedup Rule", name)
			self.assertIn(f"territory {self.sfx}", name)
			self.assertEqual((doc.search_within, doc.scope_fields), ("Same values of fields", "territory"))
		again = create_preset("b2b", "Customer", json.dumps(scope))  # the scoped rules exist now
		self.assertEqual(again, [])

	# ---- bad input -----------------------------------------------------------------------------------------
	def test_bad_scope_is_refused_with_a_clear_message(self):
		bad = [
			({"applies_when": json.dumps([["Customer", "no_such_field", "=", "x"]])}, "no_such_field"),
			({"applies_when": "[[1, 2"}, "JSON"),
			({"search_within": "Same values of fields", "scope_fields": "nowhere"}, "nowhere"),
			({"search_within": "Same values of fields", "scope_fields": ""}, "scope field"),
			({"search_within": "Records matching a filter", "search_filter": "[]"}, "filter"),
			(
				{"applies_when": json.dumps([["Customer", "territory", "between", ["a", "b"]]])},
				"between",
			),
		]
		for extra, text in bad:
			with self.subTest(extra=extra), self.assertRaises(frappe.ValidationError) as ctx:
				self.make_rule(f"bad {text}", "Customer", "Block", NAME, **extra)
			self.assertIn(text, str(ctx.exception))


class TestSetsFromStrongLinks(DedupTestCase):
	def test_weak_links_are_shown_as_possible_links_and_merge_nothing(self):
		phone = random_mobile()
		sfx = han_suffix(3)
		phone_rule = self.make_rule(
			"phone", "Customer", "Block", [{"fields": "phone_1, phone_2", "match_type": "Phone"}]
		)
		name_rule = self.make_rule(
			"name",
			"Customer",
			"Warn",
			[{"fields": "customer_name", "match_type": "Company Name", "threshold": 90}],
		)
		frappe.flags.ignore_dedup = True
		try:
			a = self.customer(f"金陵{sfx}餐饮有限公司", phone_1=phone)
			b = self.customer(f"东方{sfx}物流有限公司", phone_2=phone)  # the same phone: a strong link
			c = self.customer(f"金陵{sfx}销售餐饮有限公司")  # words inserted: a weak link to a (92 < 95)
		finally:
			frappe.flags.ignore_dedup = False
		for rule in (phone_rule, name_rule):  # one scan per rule: partial scans must not chain sets
			self.run_scan(rule=rule)
		sets = {
			s.parent
			for s in frappe.get_all(
				"Duplicate Set Member", {"member_name": ["in", [a.name, b.name, c.name]]}, ["parent"]
			)
		}
		for s in sets:
			self.cleanup.append(("Duplicate Set", s))
		doc = frappe.get_doc(
			"Duplicate Set", frappe.db.get_value("Duplicate Set Member", {"member_name": a.name}, "parent")
		)
		self.assertEqual(sorted(m.member_name for m in doc.members), sorted([a.name, b.name]))
		links = json.loads(doc.possible_links or "[]")
		self.assertIn((a.name, c.name, name_rule), [(x["member"], x["other"], x["rule"]) for x in links])
