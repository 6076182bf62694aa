# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt
"""The one owner resolver, single and bulk, in a real site:

CI=1 bench --site SITE run-tests --module crm_dedup.core.test_owners
"""

from __future__ import annotations

import frappe

from crm_dedup.core.config import clear_cache
from crm_dedup.core.owners import owner_of, owners_of
from crm_dedup.testing import OWNER_A, REP_B, DedupTestCase, restore_settings_rows, settings_rows


class TestOwners(DedupTestCase):
	def setUp(self) -> None:
		super().setUp()
		self.owner_rows = settings_rows("owner_fields", ("ref_doctype", "owner_field"))

	def tearDown(self) -> None:
		restore_settings_rows("owner_fields", self.owner_rows)
		super().tearDown()

	def set_owner_field(self, doctype: str, field: str) -> None:
		settings = frappe.get_single("Dedup Settings")
		rows = [r for r in self.owner_rows if r["ref_doctype"] != doctype]
		settings.set("owner_fields", [*rows, {"ref_doctype": doctype, "owner_field": field}])
		settings.flags.crm_dedup_no_rebuild = True
		settings.save()
		clear_cache()

	def contact_of(self, customer: str, **fields) -> str:
		doc = frappe.get_doc(
			{
				"doctype": "Contact",
				"first_name": f"王{self.sfx}",
				"links": [{"link_doctype": "Customer", "link_name": customer}],
				**fields,
			}
		).insert()
		self.cleanup.append(("Contact", doc.name))
		return doc.name

	def test_bulk_and_single_agree(self):
		"""owners_of (bulk, the save path's hits and duplicate sets) answers as owner_of (one record) for: an owner
		field naming a user, an empty owner field falling back to the linked party's owner, no owner field."""
		cust = self.customer(f"客户{self.sfx}", account_manager=OWNER_A)
		other = self.customer(f"客户乙{self.sfx}")
		self.set_owner_field("Contact", "user")
		with_user = self.contact_of(cust.name, user=REP_B)
		empty = self.contact_of(cust.name)  # owner field empty: the Customer's account manager owns it
		plain = self.contact_of(other.name)  # nobody anywhere: the creator
		bulk = owners_of("Contact", [with_user, empty, plain])
		self.assertEqual(bulk[with_user]["owner"], REP_B)
		self.assertEqual(bulk[empty]["owner"], OWNER_A)
		self.assertEqual(bulk[plain]["owner"], "Administrator")
		for name in (with_user, empty, plain):
			self.assertEqual(bulk[name]["owner"], owner_of("Contact", name), name)
		self.assertEqual(owners_of("Customer", [cust.name])[cust.name]["title"], cust.customer_name)
