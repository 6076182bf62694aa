# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt
"""Integration tests of the newer match types and company aliases in a real site:

CI=1 bench --site SITE run-tests --module crm_dedup.rules.test_match_types

- the Project 报备 preset on Opportunity (project address words in any order + item overlap + within 30 days,
  Warn, needs review);
- company aliases (Dedup Alias): 工行 ≡ 中国工商银行 blocks through the company-name rule and its keys.
"""

from __future__ import annotations

import frappe
from frappe.utils import add_days, today

from crm_dedup.core.config import clear_cache
from crm_dedup.core.errors import DedupDuplicateError
from crm_dedup.core.lookup import find_duplicates
from crm_dedup.rules.api import create_preset
from crm_dedup.testing import DedupTestCase, han_suffix


class TestNewMatchTypes(DedupTestCase):
	def item(self, code: str) -> str:
		if not frappe.db.exists("Item", code):
			frappe.get_doc(
				{
					"doctype": "Item",
					"item_code": code,
					"item_name": code,
					"item_group": frappe.db.get_value("Item Group", {"is_group": 0}) or "All Item Groups",
					"stock_uom": "Nos",
					"is_stock_item": 0,
				}
			).insert(ignore_permissions=True)
			self.cleanup.insert(0, ("Item", code))
		return code

	def opportunity(self, address: str, items: list[str], on: str) -> dict:
		if not getattr(self, "party", None):
			lead = frappe.get_doc({"doctype": "Lead", "first_name": f"Project {self.sfx}"}).insert()
			self.cleanup.append(("Lead", lead.name))
			self.party = lead.name
		return {
			"doctype": "Opportunity",
			"opportunity_from": "Lead",
			"party_name": self.party,
			"title": address,
			"address_display": address,
			"transaction_date": on,
			"items": [{"item_code": i, "qty": 1} for i in items],
		}

	def test_project_preset_on_opportunity(self):
		created = create_preset("project", "Opportunity")
		self.rules.extend(created)
		(rule,) = created
		doc = frappe.get_doc("Dedup Rule", rule)
		self.assertEqual(doc.needs_review, 1)
		self.assertEqual(
			[c.match_type for c in doc.conditions], ["Fuzzy Tokens", "Set Overlap", "Date Within"]
		)
		self.assertEqual(doc.conditions[2].days, 30)
		sfx = han_suffix(3)
		items = [self.item(f"DD-{self.sfx}-{n}") for n in range(5)]
		self.party = None
		existing = frappe.get_doc(self.opportunity(f"中山路1号{sfx}金陵大厦", items[:4], today()))
		existing.flags.ignore_dedup = True
		existing.insert(ignore_permissions=True, ignore_mandatory=True)
		self.cleanup.append(("Opportunity", existing.name))
		frappe.get_doc("Dedup Rule", rule).schedule_rebuild()
		# words reordered, 3 of 5 items shared (Jaccard 0.6), 10 days later: the same project
		same = self.opportunity(f"{sfx}金陵大厦 中山路1号", items[1:5], add_days(today(), 10))
		hits = find_duplicates(same, "Opportunity")
		self.assertEqual([(h.name, h.action) for h in hits], [(existing.name, "warn")])
		# 40 days later: not within the window
		self.assertEqual(
			find_duplicates({**same, "transaction_date": add_days(today(), 40)}, "Opportunity"), []
		)
		# other items: no overlap
		other = self.opportunity(f"{sfx}金陵大厦 中山路1号", [items[4]], today())
		self.assertEqual(find_duplicates(other, "Opportunity"), [])

	def test_company_alias_blocks_through_the_keys(self):
		rule = self.make_rule(
			"company",
			"Customer",
			"Block",
			[{"fields": "customer_name", "match_type": "Company Name", "threshold": 92}],
		)
		short, full = f"工{self.sfx}行", f"中国工商{self.sfx}银行"
		alias = frappe.get_doc({"doctype": "Dedup Alias", "alias": short, "canonical": full}).insert()
		self.cleanup.insert(0, ("Dedup Alias", alias.name))
		clear_cache()
		bank = self.customer(f"{full}股份有限公司")
		with self.assertRaises(DedupDuplicateError) as ctx:
			self.customer(short)
		self.assertIn(bank.name, str(ctx.exception))
		self.assertIn(rule, str(ctx.exception))
		with self.assertRaises(frappe.ValidationError):
			frappe.get_doc({"doctype": "Dedup Alias", "alias": full, "canonical": full}).insert()
