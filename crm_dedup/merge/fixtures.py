# Copyright (c) 2026, crm_dedup contributors
# For license information, please see license.txt
"""Data of the merge's integration tests (``test_merge.py``, ``test_merge_links.py``).

``MergeTestCase`` makes customers each with a contact, an address, a quotation, a sales order, a comment, a
communication, a file and an assignment, and says where each of them points. Nothing in these tests may
commit (the site is shared): ``frappe.db.commit`` is replaced by a recorder for the whole class, and every
test checks it was not called.
"""

from __future__ import annotations

import os
from unittest.mock import patch

import frappe
from frappe.desk.form.assign_to import add as assign_to
from frappe.tests.utils import FrappeTestCase
from frappe.utils import add_days, nowdate

from crm_dedup.testing import random_mobile, suffix

COMPANY = "Test Company"
# ERPNext links Call Logs to every new Contact with a phone number and commits while doing so
# (call_log.link_existing_conversations); that would make the test data outlive the test.
CALL_LOG_HOOK = "erpnext.telephony.doctype.call_log.call_log.link_existing_conversations"
NO_CALL_LOG_COMMIT = patch(CALL_LOG_HOOK)


def leaf(doctype: str, preferred: tuple[str, ...]) -> str:
	for name in preferred:
		if frappe.db.exists(doctype, {"name": name, "is_group": 0}):
			return name
	return frappe.get_all(doctype, filters={"is_group": 0}, pluck="name", limit=1)[0]


class MergeTestCase(FrappeTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		# nothing in these tests may commit: the shared site must not keep their data
		cls.commits = []
		cls._patches = [
			NO_CALL_LOG_COMMIT,
			patch.object(frappe.db, "commit", lambda *a, **k: cls.commits.append(a)),
		]
		for p in cls._patches:
			p.start()
		frappe.set_user("Administrator")
		if not frappe.db.exists("Role", "Dedup Manager"):
			frappe.get_doc({"doctype": "Role", "role_name": "Dedup Manager", "desk_access": 1}).insert(
				ignore_permissions=True
			)
		cls.company = (
			COMPANY if frappe.db.exists("Company", COMPANY) else frappe.get_all("Company", pluck="name")[0]
		)
		cls.customer_group = leaf("Customer Group", ("Commercial", "Individual"))
		cls.territory = leaf("Territory", ("China", "Rest Of The World"))
		cls.item = f"_MERGE-ITEM-{suffix()}"
		frappe.get_doc(
			{
				"doctype": "Item",
				"item_code": cls.item,
				"item_name": cls.item,
				"item_group": leaf("Item Group", ("Services", "Products")),
				"stock_uom": "Nos"
				if frappe.db.exists("UOM", "Nos")
				else frappe.get_all("UOM", pluck="name")[0],
				"is_stock_item": 0,
			}
		).insert(ignore_permissions=True)
		cls.files_on_disk = []

	@classmethod
	def tearDownClass(cls):
		for p in reversed(cls._patches):
			p.stop()
		for path in cls.files_on_disk:
			if os.path.exists(path):
				os.remove(path)
		super().tearDownClass()

	def tearDown(self):
		frappe.set_user("Administrator")
		self.assertEqual(self.commits, [], "a test tried to commit")

	# ---- data ---------------------------------------------------------------------------------------
	def make_customer(self, label: str, ignore_dedup: bool = True, **extra) -> frappe._dict:
		"""A customer with a contact, an address, a quotation, a sales order, a comment, a communication,
		a file and an assignment."""
		uid = suffix()
		customer = frappe.get_doc(
			{
				"doctype": "Customer",
				"customer_name": f"_Merge Test {label} {uid}",
				"customer_type": "Company",
				"customer_group": self.customer_group,
				"territory": self.territory,
				**extra,
			}
		)
		customer.flags.ignore_dedup = ignore_dedup
		customer.insert(ignore_permissions=True)
		bundle = frappe._dict(name=customer.name)
		bundle.update(self._contact_and_address(label, uid, customer.name))
		bundle.update(self._sales_documents(customer.name, bundle.contact, bundle.address))
		bundle.update(self._activity(label, uid, customer))
		return bundle

	def _contact_and_address(self, label: str, uid: str, customer: str) -> dict:
		contact = frappe.get_doc(
			{
				"doctype": "Contact",
				"first_name": f"Contact {label} {uid}",
				"email_ids": [{"email_id": f"merge.{uid.lower()}@example.com", "is_primary": 1}],
				"phone_nos": [{"phone": f"+86 {random_mobile('138')}"}],
				"links": [{"link_doctype": "Customer", "link_name": customer}],
			}
		)
		contact.flags.ignore_dedup = True
		contact.insert(ignore_permissions=True)
		address = frappe.get_doc(
			{
				"doctype": "Address",
				"address_title": f"Address {label} {uid}",
				"address_type": "Billing",
				"address_line1": f"{label} Road 1",
				"city": "Shanghai",
				"country": "China",
				"links": [{"link_doctype": "Customer", "link_name": customer}],
			}
		).insert(ignore_permissions=True)
		return {"contact": contact.name, "address": address.name}

	def _sales_documents(self, customer: str, contact: str, address: str) -> dict:
		quotation = frappe.get_doc(
			{
				"doctype": "Quotation",
				"quotation_to": "Customer",
				"party_name": customer,
				"company": self.company,
				"transaction_date": nowdate(),
				"valid_till": add_days(nowdate(), 30),
				"contact_person": contact,
				"customer_address": address,
				"items": [{"item_code": self.item, "qty": 1, "rate": 100}],
			}
		).insert(ignore_permissions=True)
		sales_order = frappe.get_doc(
			{
				"doctype": "Sales Order",
				"customer": customer,
				"company": self.company,
				"transaction_date": nowdate(),
				"delivery_date": add_days(nowdate(), 7),
				"contact_person": contact,
				"customer_address": address,
				"items": [
					{"item_code": self.item, "qty": 2, "rate": 50, "delivery_date": add_days(nowdate(), 7)}
				],
			}
		).insert(ignore_permissions=True)
		return {"quotation": quotation.name, "sales_order": sales_order.name}

	def _activity(self, label: str, uid: str, customer) -> dict:
		"""A comment, a communication, a file and an assignment on the customer."""
		name = customer.name
		comment = customer.add_comment("Comment", f"Follow-up note {label} {uid}")
		communication = frappe.get_doc(
			{
				"doctype": "Communication",
				"communication_type": "Communication",
				"communication_medium": "Email",
				"sent_or_received": "Received",
				"subject": f"Enquiry {label} {uid}",
				"content": "Please send a quote.",
				"sender": f"buyer.{uid.lower()}@example.com",
				"reference_doctype": "Customer",
				"reference_name": name,
			}
		).insert(ignore_permissions=True)
		file = frappe.get_doc(
			{
				"doctype": "File",
				"file_name": f"merge-contract-{uid.lower()}.txt",
				"content": f"contract {label}",
				"attached_to_doctype": "Customer",
				"attached_to_name": name,
				"is_private": 1,
			}
		).insert(ignore_permissions=True)
		self.files_on_disk.append(file.get_full_path())
		assign_to(
			{
				"assign_to": [self.assignee(label)],
				"doctype": "Customer",
				"name": name,
				"description": f"Call back {label}",
			}
		)
		todo = frappe.get_all(
			"ToDo", filters={"reference_type": "Customer", "reference_name": name}, pluck="name"
		)[0]
		return {"comment": comment.name, "communication": communication.name, "file": file.name, "todo": todo}

	def assignee(self, label: str) -> str:
		email = f"_merge_assignee_{label.lower()}@example.com"
		if not frappe.db.exists("User", email):
			frappe.get_doc(
				{
					"doctype": "User",
					"email": email,
					"first_name": f"Assignee {label}",
					"send_welcome_email": 0,
					"roles": [{"role": "Sales User"}],
				}
			).insert(ignore_permissions=True)
		return email

	def user_with_roles(self, *roles: str) -> str:
		email = f"_merge_user_{suffix().lower()}@example.com"
		frappe.get_doc(
			{
				"doctype": "User",
				"email": email,
				"first_name": "Merge Tester",
				"send_welcome_email": 0,
				"roles": [{"role": r} for r in roles],
			}
		).insert(ignore_permissions=True)
		return email

	def where(self, bundle: frappe._dict) -> dict:
		"""Which customer each item of a bundle points at now."""
		return {
			"contact": sorted(
				frappe.get_all(
					"Dynamic Link",
					filters={"parenttype": "Contact", "parent": bundle.contact, "link_doctype": "Customer"},
					pluck="link_name",
				)
			),
			"address": sorted(
				frappe.get_all(
					"Dynamic Link",
					filters={"parenttype": "Address", "parent": bundle.address, "link_doctype": "Customer"},
					pluck="link_name",
				)
			),
			"quotation": frappe.db.get_value("Quotation", bundle.quotation, "party_name"),
			"sales_order": frappe.db.get_value("Sales Order", bundle.sales_order, "customer"),
			"comment": frappe.db.get_value("Comment", bundle.comment, "reference_name"),
			"communication": frappe.db.get_value("Communication", bundle.communication, "reference_name"),
			"file": frappe.db.get_value("File", bundle.file, "attached_to_name"),
			"todo": frappe.db.get_value("ToDo", bundle.todo, "reference_name"),
		}

	def counts(self, customer: str) -> dict:
		"""What hangs on a customer."""

		def n(doctype, filters):
			return frappe.db.count(doctype, filters)

		return {
			"contacts": n(
				"Dynamic Link", {"parenttype": "Contact", "link_doctype": "Customer", "link_name": customer}
			),
			"addresses": n(
				"Dynamic Link", {"parenttype": "Address", "link_doctype": "Customer", "link_name": customer}
			),
			"quotations": n("Quotation", {"quotation_to": "Customer", "party_name": customer}),
			"sales_orders": n("Sales Order", {"customer": customer}),
			"comments": n(
				"Comment",
				{"reference_doctype": "Customer", "reference_name": customer, "comment_type": "Comment"},
			),
			"communications": n(
				"Communication", {"reference_doctype": "Customer", "reference_name": customer}
			),
			"files": n("File", {"attached_to_doctype": "Customer", "attached_to_name": customer}),
			"open_todos": n(
				"ToDo", {"reference_type": "Customer", "reference_name": customer, "status": "Open"}
			),
		}

	def make_pair(self):
		a = self.make_customer("A")
		b = self.make_customer("B", website="https://b.example.com", customer_details="VIP from B")
		shared = frappe.get_doc(
			{
				"doctype": "Contact",
				"first_name": f"Shared {suffix()}",
				"links": [
					{"link_doctype": "Customer", "link_name": a.name},
					{"link_doctype": "Customer", "link_name": b.name},
				],
			}
		)
		shared.flags.ignore_dedup = True
		shared.insert(ignore_permissions=True)
		return a, b, shared.name
