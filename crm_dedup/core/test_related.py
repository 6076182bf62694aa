# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt
"""Integration tests: Customer rules on the phones of the Customer's Contacts and Addresses, in a real site.

CI=1 bench --site SITE run-tests --module crm_dedup.core.test_related

ERPNext keeps most phones on Contacts (Dynamic Link to the Customer) and Addresses. A Customer rule reads them
as ``contacts.phone_nos.phone`` / ``addresses.phone``; the key index follows a Contact's phone change, a link
added or removed and a Contact deleted; the Collision Query asks for them.
"""

from __future__ import annotations

import frappe

from crm_dedup.collision_query import api as collision_api
from crm_dedup.core.errors import DedupDuplicateError
from crm_dedup.core.keys import TABLE
from crm_dedup.core.lookup import find_duplicates
from crm_dedup.rules.fields import field_options
from crm_dedup.rules.rebuild import rebuild
from crm_dedup.testing import DedupTestCase, han_suffix, random_mobile, spaced_phone


class TestRelatedFields(DedupTestCase):
	def setUp(self) -> None:
		super().setUp()
		self.rule = self.make_rule(
			"contact phones",
			"Customer",
			"Block",
			[{"fields": "mobile_no, contacts.phone_nos.phone, addresses.phone", "match_type": "Phone"}],
		)

	def contact(self, customer: str | None, phone: str) -> frappe.Document:
		doc = frappe.get_doc(
			{
				"doctype": "Contact",
				"first_name": f"联系人{han_suffix(2)}",
				"phone_nos": [{"phone": phone, "is_primary_phone": 1}],
				"links": [{"link_doctype": "Customer", "link_name": customer}] if customer else [],
			}
		)
		doc.flags.ignore_dedup = True  # Contact rules of the shared site are not what this test is about
		doc.insert(ignore_permissions=True)
		self.cleanup.insert(0, ("Contact", doc.name))  # before the customer
		return doc

	def hits(self, phone: str) -> list[str]:
		return [
			h.name
			for h in find_duplicates({"doctype": "Customer", "mobile_no": phone}, "Customer")
			if h.doctype == "Customer"
		]

	def test_a_contact_phone_finds_its_customer_and_the_index_follows_the_contact(self):
		phone, other = random_mobile(), random_mobile()
		a = self.customer(f"金陵{han_suffix(4)}科技有限公司")
		c = self.contact(a.name, spaced_phone(phone))
		self.assertEqual(self.hits(f"+86 {phone}"), [a.name])
		# a new customer with that number is blocked, naming the customer whose contact holds it
		with self.assertRaises(DedupDuplicateError) as ctx:
			self.customer(f"华东{han_suffix(4)}贸易有限公司", mobile_no=phone)
		self.assertIn(a.name, str(ctx.exception))

		# the contact's number changes: the customer's keys follow
		c.reload()
		c.phone_nos[0].phone = other
		c.flags.ignore_dedup = True
		c.save(ignore_permissions=True)
		self.assertEqual(self.hits(phone), [])
		self.assertEqual(self.hits(other), [a.name])

		# unlinked from the customer: its numbers are no longer the customer's
		c.reload()
		c.links = []
		c.flags.ignore_dedup = True
		c.save(ignore_permissions=True)
		self.assertEqual(self.hits(other), [])

		# linked again, then deleted
		c.reload()
		c.append("links", {"link_doctype": "Customer", "link_name": a.name})
		c.flags.ignore_dedup = True
		c.save(ignore_permissions=True)
		self.assertEqual(self.hits(other), [a.name])
		frappe.delete_doc("Contact", c.name, force=1, ignore_permissions=True)
		self.assertEqual(self.hits(other), [])
		self.assertFalse(
			frappe.db.sql(
				f"select 1 from `{TABLE}` where rule=%s and ref_name=%s and blocking_key like %s",
				(self.rule, a.name, f"%{other[-8:]}%"),
			)
		)

	def test_an_address_phone_and_a_rebuild(self):
		phone = random_mobile()
		a = self.customer(f"星辰{han_suffix(4)}物流有限公司")
		addr = frappe.get_doc(
			{
				"doctype": "Address",
				"address_title": a.name,
				"address_type": "Billing",
				"address_line1": "中山路1号",
				"city": "南京",
				"country": frappe.db.get_single_value("System Settings", "country") or "China",
				"phone": phone,
				"links": [{"link_doctype": "Customer", "link_name": a.name}],
			}
		).insert(ignore_permissions=True)
		self.cleanup.insert(0, ("Address", addr.name))
		self.assertEqual(self.hits(phone), [a.name])
		# a rebuild reads the linked addresses too
		frappe.db.sql(f"delete from `{TABLE}` where rule=%s", self.rule)
		self.assertEqual(self.hits(phone), [])
		rebuild(self.rule, commit=False, progress=False)
		self.assertEqual(self.hits(phone), [a.name])

	def test_rule_form_and_collision_query_offer_the_linked_fields(self):
		values = {o["value"]: o for o in field_options("Customer")}
		self.assertIn("contacts.phone_nos.phone", values)
		self.assertIn("Phone", values["contacts.phone_nos.phone"]["fits"])
		self.assertIn("addresses.phone", values)
		with self.assertRaises(frappe.ValidationError):
			self.make_rule(
				"bad linked field",
				"Customer",
				"Block",
				[{"fields": "contacts.no_such_field", "match_type": "Phone"}],
			)

		phone = random_mobile()
		a = self.customer(f"鼎盛{han_suffix(4)}电子有限公司")
		self.contact(a.name, phone)
		layout = collision_api.get_query_fields()
		group = next(
			i for i in layout["inputs"]["Customer"] if "contacts.phone_nos.phone" in i["fields"]["Customer"]
		)
		self.assertIn("Contact", group["description"])
		answer = collision_api.collision_query(doctype="Customer", inputs={group["key"]: phone})
		row = next(r for r in answer["results"] if r["name"] == a.name)
		self.assertEqual(row["rule"], self.rule)
		self.assertIn("contacts.phone_nos.phone", [m["field"] for m in row["matched_fields"]])
