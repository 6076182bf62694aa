# Copyright (c) 2026, crm_dedup contributors
# For license information, please see license.txt
"""Integration tests of crm_dedup.merge in a real ERPNext site.

Two customers, each with a contact, an address, a quotation, a sales order, a comment, a communication, a
file and an assignment (plus a contact linked to both) are merged; everything is found on the survivor;
the merge is undone and everything is found back on the originals. A failure injected mid-merge leaves
everything as it was; users without Dedup Manager / System Manager are refused.
"""

import json
import os
import random
from unittest.mock import patch

import frappe
from frappe.desk.form.assign_to import add as assign_to
from frappe.utils import add_days, nowdate

try:  # Frappe 16
	from frappe.tests import IntegrationTestCase as _TestCase
except ImportError:  # Frappe 15
	from frappe.tests.utils import FrappeTestCase as _TestCase

from crm_dedup import merge as merge_module
from crm_dedup.merge import get_merge_preview, merge_records, run_merge_job, undo_merge

COMPANY = "Test Company"
# ERPNext links Call Logs to every new Contact with a phone number and commits while doing so
# (call_log.link_existing_conversations); that would make the test data outlive the test.
NO_CALL_LOG_COMMIT = patch("erpnext.telephony.doctype.call_log.call_log.link_existing_conversations")


def _uid() -> str:
	return frappe.generate_hash(length=6).upper()


def _leaf(doctype: str, preferred: tuple[str, ...]) -> str:
	for name in preferred:
		if frappe.db.exists(doctype, {"name": name, "is_group": 0}):
			return name
	return frappe.get_all(doctype, filters={"is_group": 0}, pluck="name", limit=1)[0]


class TestDedupMergeLog(_TestCase):
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
		cls.customer_group = _leaf("Customer Group", ("Commercial", "Individual"))
		cls.territory = _leaf("Territory", ("China", "Rest Of The World"))
		cls.item = f"_MERGE-ITEM-{_uid()}"
		frappe.get_doc(
			{
				"doctype": "Item",
				"item_code": cls.item,
				"item_name": cls.item,
				"item_group": _leaf("Item Group", ("Services", "Products")),
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
		uid = _uid()
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
		name = customer.name

		contact = frappe.get_doc(
			{
				"doctype": "Contact",
				"first_name": f"Contact {label} {uid}",
				"email_ids": [{"email_id": f"merge.{uid.lower()}@example.com", "is_primary": 1}],
				"phone_nos": [{"phone": f"+86 138{random.randint(10000000, 99999999)}"}],
				"links": [{"link_doctype": "Customer", "link_name": name}],
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
				"links": [{"link_doctype": "Customer", "link_name": name}],
			}
		).insert(ignore_permissions=True)
		quotation = frappe.get_doc(
			{
				"doctype": "Quotation",
				"quotation_to": "Customer",
				"party_name": name,
				"company": self.company,
				"transaction_date": nowdate(),
				"valid_till": add_days(nowdate(), 30),
				"contact_person": contact.name,
				"customer_address": address.name,
				"items": [{"item_code": self.item, "qty": 1, "rate": 100}],
			}
		).insert(ignore_permissions=True)
		sales_order = frappe.get_doc(
			{
				"doctype": "Sales Order",
				"customer": name,
				"company": self.company,
				"transaction_date": nowdate(),
				"delivery_date": add_days(nowdate(), 7),
				"contact_person": contact.name,
				"customer_address": address.name,
				"items": [
					{"item_code": self.item, "qty": 2, "rate": 50, "delivery_date": add_days(nowdate(), 7)}
				],
			}
		).insert(ignore_permissions=True)
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
		return frappe._dict(
			name=name,
			contact=contact.name,
			address=address.name,
			quotation=quotation.name,
			sales_order=sales_order.name,
			comment=comment.name,
			communication=communication.name,
			file=file.name,
			todo=todo,
		)

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
		email = f"_merge_user_{_uid().lower()}@example.com"
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
				"first_name": f"Shared {_uid()}",
				"links": [
					{"link_doctype": "Customer", "link_name": a.name},
					{"link_doctype": "Customer", "link_name": b.name},
				],
			}
		)
		shared.flags.ignore_dedup = True
		shared.insert(ignore_permissions=True)
		return a, b, shared.name

	# ---- tests --------------------------------------------------------------------------------------
	def test_merge_and_undo(self):
		a, b, shared = self.make_pair()
		b_doc = frappe.get_doc("Customer", b.name)
		b_doc.append("credit_limits", {"company": self.company, "credit_limit": 5000})
		b_doc.flags.ignore_dedup = True
		b_doc.save(ignore_permissions=True)
		a_before = frappe.get_doc("Customer", a.name).as_dict()
		b_before = frappe.get_doc("Customer", b.name).as_dict()
		a_title = frappe.db.get_value("Customer", a.name, "customer_name")
		b_title = frappe.db.get_value("Customer", b.name, "customer_name")
		counts_before = {"A": self.counts(a.name), "B": self.counts(b.name)}
		print("\ncounts before merge:", json.dumps(counts_before))

		preview = get_merge_preview("Customer", [a.name, b.name])
		self.assertEqual(preview["survivor"], a.name)
		self.assertEqual(preview["defaults"]["website"], "https://b.example.com")  # survivor empty: B's
		self.assertEqual(preview["defaults"]["customer_name"], a_title)  # survivor's value wins
		self.assertGreaterEqual({r["name"]: r["linked"] for r in preview["records"]}[b.name], 8)

		result = merge_records("Customer", a.name, [b.name], {"customer_details": "chosen in the dialog"})
		log = frappe.get_doc("Dedup Merge Log", result["log"])
		self.assertEqual(log.status, "Merged")
		self.assertFalse(frappe.db.exists("Customer", b.name))

		# everything of B is on A now
		self.assertEqual(
			self.where(b),
			{
				"contact": [a.name],
				"address": [a.name],
				"quotation": a.name,
				"sales_order": a.name,
				"comment": a.name,
				"communication": a.name,
				"file": a.name,
				"todo": a.name,
			},
		)
		self.assertEqual(self.where(a)["sales_order"], a.name)
		counts_after = self.counts(a.name)
		print("counts after merge (survivor A):", json.dumps(counts_after))
		for key, value in counts_after.items():
			self.assertEqual(
				value, counts_before["A"][key] + counts_before["B"][key] - (key == "contacts"), key
			)
		# the contact linked to both customers keeps one link
		self.assertEqual(
			self.where(
				frappe._dict(
					contact=shared,
					address=a.address,
					quotation=a.quotation,
					sales_order=a.sales_order,
					comment=a.comment,
					communication=a.communication,
					file=a.file,
					todo=a.todo,
				)
			)["contact"],
			[a.name],
		)
		# fetched copies refreshed, values survived, child rows unioned, hidden columns merged
		self.assertEqual(frappe.db.get_value("Sales Order", b.sales_order, "customer_name"), a_title)
		self.assertEqual(frappe.db.get_value("Quotation", b.quotation, "customer_name"), a_title)
		survivor = frappe.get_doc("Customer", a.name)
		self.assertEqual(survivor.website, "https://b.example.com")
		self.assertEqual(survivor.customer_details, "chosen in the dialog")
		self.assertEqual([r.credit_limit for r in survivor.credit_limits], [5000])
		assigned = json.loads(frappe.db.get_value("Customer", a.name, "_assign") or "[]")
		self.assertIn(self.assignee("A"), assigned)
		self.assertIn(self.assignee("B"), assigned)
		comments = json.loads(frappe.db.get_value("Customer", a.name, "_comments") or "[]")
		self.assertIn(b.comment, [c["name"] for c in comments])
		snapshot = json.loads(log.snapshot)
		self.assertEqual(snapshot["merged"][0]["name"], b.name)
		self.assertEqual(snapshot["merged"][0]["credit_limits"][0]["credit_limit"], 5000)
		changes = json.loads(log.changes)
		relinked = {
			(c["dt"], c["dn"])
			for c in changes
			if c["op"] == "set" and c["kind"] in ("link", "dynamic", "data")
		}
		self.assertIn(("Sales Order", b.sales_order), relinked)
		self.assertIn(("File", b.file), relinked)
		self.assertTrue(any(c["op"] == "del" and c["kind"] == "dedupe" for c in changes))

		# undo: everything back on the originals
		report = undo_merge(log.name)
		self.assertEqual(report["restored"], [b.name])
		self.assertEqual(frappe.db.get_value("Dedup Merge Log", log.name, "status"), "Undone")
		self.assertTrue(frappe.db.exists("Customer", b.name))
		for bundle, owner in ((a, a.name), (b, b.name)):
			self.assertEqual(
				self.where(bundle),
				{
					"contact": [owner],
					"address": [owner],
					"quotation": owner,
					"sales_order": owner,
					"comment": owner,
					"communication": owner,
					"file": owner,
					"todo": owner,
				},
			)
		self.assertEqual(
			sorted(
				frappe.get_all(
					"Dynamic Link", filters={"parenttype": "Contact", "parent": shared}, pluck="link_name"
				)
			),
			sorted([a.name, b.name]),
		)
		counts_undone = {"A": self.counts(a.name), "B": self.counts(b.name)}
		print("counts after undo:", json.dumps(counts_undone))
		self.assertEqual(counts_undone, counts_before)
		self.assertEqual(frappe.db.get_value("Sales Order", b.sales_order, "customer_name"), b_title)
		a_after = frappe.get_doc("Customer", a.name)
		b_after = frappe.get_doc("Customer", b.name)
		for field in ("customer_name", "website", "customer_details", "customer_group", "territory"):
			self.assertEqual(a_after.get(field), a_before.get(field), field)
			self.assertEqual(b_after.get(field), b_before.get(field), field)
		self.assertEqual(len(a_after.credit_limits), 0)
		self.assertEqual([r.credit_limit for r in b_after.credit_limits], [5000])
		self.assertEqual(
			json.loads(frappe.db.get_value("Customer", a.name, "_assign") or "[]"), [self.assignee("A")]
		)
		self.assertEqual(
			json.loads(frappe.db.get_value("Customer", b.name, "_assign") or "[]"), [self.assignee("B")]
		)
		# a second undo is refused
		self.assertRaises(frappe.ValidationError, undo_merge, log.name)

	def test_failure_mid_merge_changes_nothing(self):
		a, b, shared = self.make_pair()
		state_before = {"A": self.where(a), "B": self.where(b), "counts_a": self.counts(a.name)}
		a_doc_before = frappe.get_doc("Customer", a.name).as_dict()
		logs_before = frappe.db.count("Dedup Merge Log")

		def boom(*args, **kwargs):
			raise RuntimeError("injected failure after relinking")

		for step in ("_refresh_copies", "_merge_hidden_columns", "_index"):
			with self.subTest(step=step), patch.object(merge_module, step, boom):
				with self.assertRaises(RuntimeError):
					merge_records("Customer", a.name, [b.name])
				self.assertTrue(frappe.db.exists("Customer", b.name))
				self.assertEqual(
					{"A": self.where(a), "B": self.where(b), "counts_a": self.counts(a.name)}, state_before
				)
				a_doc = frappe.get_doc("Customer", a.name).as_dict()
				for field in ("customer_name", "website", "customer_details", "modified"):
					self.assertEqual(str(a_doc.get(field)), str(a_doc_before.get(field)), field)
				self.assertEqual(
					len(frappe.get_all("Dynamic Link", filters={"parenttype": "Contact", "parent": shared})),
					2,
				)
				self.assertEqual(frappe.db.count("Dedup Merge Log"), logs_before)

	def test_hook_commit_does_not_end_the_merge(self):
		"""A survivor with a mobile number and no primary Contact gets one from ERPNext when saved; the
		Contact's after_insert hook (call_log.link_existing_conversations) commits. The merge must survive
		that commit and still roll back as a whole."""
		real_hook = NO_CALL_LOG_COMMIT.temp_original
		ran = []

		def hook(doc, state):
			ran.append(doc.name)
			real_hook(doc, state)  # commits: frappe.db.commit() inside the merge

		def boom(*args, **kwargs):
			raise RuntimeError("injected failure after the survivor was saved")

		a = self.make_customer("A")
		b = self.make_customer("B")
		mobile = f"+86 139{random.randint(10000000, 99999999)}"
		frappe.db.set_value("Customer", a.name, {"mobile_no": mobile, "customer_primary_contact": None})
		contacts_before = frappe.db.count("Contact")
		logs_before = frappe.db.count("Dedup Merge Log")

		target = "erpnext.telephony.doctype.call_log.call_log.link_existing_conversations"
		with patch(target, hook), patch.object(merge_module, "_index", boom):
			with self.assertRaises(RuntimeError):
				merge_records("Customer", a.name, [b.name])
		self.assertTrue(ran, "no Contact was created while saving the survivor")
		self.assertEqual(self.commits, [], "the hook's commit reached the database")
		self.assertEqual(frappe.db.count("Contact"), contacts_before)
		self.assertFalse(frappe.db.exists("Contact", ran[0]))
		self.assertFalse(frappe.db.get_value("Customer", a.name, "customer_primary_contact"))
		self.assertTrue(frappe.db.exists("Customer", b.name))
		self.assertEqual(frappe.db.count("Dedup Merge Log"), logs_before)

		ran.clear()
		with patch(target, hook):
			merge_records("Customer", a.name, [b.name])
		self.assertTrue(ran)
		self.assertEqual(self.commits, [])
		self.assertFalse(frappe.db.exists("Customer", b.name))
		self.assertEqual(frappe.db.get_value("Customer", a.name, "customer_primary_contact"), ran[0])
		self.assertEqual(frappe.db.get_value("Customer", a.name, "mobile_no"), mobile)
		frappe.db.commit()  # the merge put the previous commit (this class's recorder) back
		self.assertEqual(len(self.commits), 1)
		self.commits.clear()

	def test_permission(self):
		a = self.make_customer("A")
		b = self.make_customer("B")
		frappe.set_user(self.user_with_roles("Sales User", "Sales Manager"))
		self.assertRaises(frappe.PermissionError, get_merge_preview, "Customer", [a.name, b.name])
		self.assertRaises(frappe.PermissionError, merge_records, "Customer", a.name, [b.name])
		frappe.set_user("Administrator")
		self.assertTrue(frappe.db.exists("Customer", b.name))

		# a Dedup Manager who may write customers (Sales User) can merge and undo
		frappe.set_user(self.user_with_roles("Sales User", "Dedup Manager"))
		log = merge_records("Customer", a.name, [b.name])["log"]
		self.assertFalse(frappe.db.exists("Customer", b.name))
		frappe.set_user(self.user_with_roles("Sales User"))
		self.assertRaises(frappe.PermissionError, undo_merge, log)
		frappe.set_user(self.user_with_roles("Sales User", "Dedup Manager"))
		undo_merge(log)
		self.assertTrue(frappe.db.exists("Customer", b.name))

	def test_lead_into_customer(self):
		a = self.make_customer("A")
		uid = _uid()
		lead = frappe.get_doc(
			{
				"doctype": "Lead",
				"first_name": f"Lead {uid}",
				"company_name": f"_Merge Lead Co {uid}",
				"status": "Open",
			}
		)
		lead.flags.ignore_dedup = True
		lead.insert(ignore_permissions=True)
		comment = lead.add_comment("Comment", f"Lead note {uid}")
		assign_to(
			{"assign_to": [self.assignee("L")], "doctype": "Lead", "name": lead.name, "description": "call"}
		)
		todo = frappe.get_all(
			"ToDo", filters={"reference_type": "Lead", "reference_name": lead.name}, pluck="name"
		)[0]
		contact = frappe.get_doc(
			{
				"doctype": "Contact",
				"first_name": f"Lead Contact {uid}",
				"links": [{"link_doctype": "Lead", "link_name": lead.name}],
			}
		)
		contact.flags.ignore_dedup = True
		contact.insert(ignore_permissions=True)

		preview = get_merge_preview("Customer", [a.name, {"doctype": "Lead", "name": lead.name}])
		self.assertEqual(preview["carried"][lead.name]["comments"], 1)
		log = merge_records("Customer", a.name, [{"doctype": "Lead", "name": lead.name}])["log"]

		self.assertEqual(frappe.db.get_value("Lead", lead.name, "status"), "Converted")
		self.assertEqual(frappe.db.get_value("Customer", a.name, "lead_name"), lead.name)
		self.assertTrue(
			frappe.db.exists(
				"Comment",
				{
					"reference_doctype": "Customer",
					"reference_name": a.name,
					"content": ("like", f"%Lead note {uid}%"),
				},
			)
		)
		self.assertEqual(
			frappe.db.get_value("ToDo", todo, ["reference_type", "reference_name"]), ("Customer", a.name)
		)
		self.assertTrue(
			frappe.db.exists(
				"Dynamic Link", {"parent": contact.name, "link_doctype": "Customer", "link_name": a.name}
			)
		)
		self.assertTrue(frappe.db.exists("Lead", lead.name))  # the Lead is kept

		undo_merge(log)
		self.assertEqual(frappe.db.get_value("Lead", lead.name, "status"), "Open")
		self.assertFalse(frappe.db.get_value("Customer", a.name, "lead_name"))
		self.assertFalse(
			frappe.db.exists(
				"Comment",
				{
					"reference_doctype": "Customer",
					"reference_name": a.name,
					"content": ("like", f"%Lead note {uid}%"),
				},
			)
		)
		self.assertTrue(frappe.db.exists("Comment", comment.name))
		self.assertEqual(
			frappe.db.get_value("ToDo", todo, ["reference_type", "reference_name"]), ("Lead", lead.name)
		)
		self.assertFalse(
			frappe.db.exists(
				"Dynamic Link", {"parent": contact.name, "link_doctype": "Customer", "link_name": a.name}
			)
		)

	def test_contacts_union_and_primary_contact(self):
		uid = _uid()
		a = self.make_customer("A")
		c1 = frappe.get_doc("Contact", a.contact)
		phone = c1.phone_nos[0].phone
		c2 = frappe.get_doc(
			{
				"doctype": "Contact",
				"first_name": f"Dup {uid}",
				"email_ids": [
					{"email_id": c1.email_ids[0].email_id.upper(), "is_primary": 1},
					{"email_id": f"other.{uid.lower()}@example.com"},
				],
				"phone_nos": [{"phone": phone.replace(" ", ""), "is_primary_phone": 1}],
				"links": [{"link_doctype": "Customer", "link_name": a.name}],
			}
		)
		c2.flags.ignore_dedup = True
		c2.insert(ignore_permissions=True)
		frappe.db.set_value("Customer", a.name, "customer_primary_contact", c2.name)

		log = merge_records("Contact", c1.name, [c2.name])["log"]
		merged = frappe.get_doc("Contact", c1.name)
		self.assertEqual(
			sorted(e.email_id.lower() for e in merged.email_ids),
			sorted([c1.email_ids[0].email_id.lower(), f"other.{uid.lower()}@example.com"]),
		)
		self.assertEqual(len(merged.phone_nos), 1)  # the same number once
		self.assertEqual(sum(e.is_primary for e in merged.email_ids), 1)
		self.assertEqual(
			[(link.link_doctype, link.link_name) for link in merged.links], [("Customer", a.name)]
		)
		self.assertEqual(frappe.db.get_value("Customer", a.name, "customer_primary_contact"), c1.name)

		undo_merge(log)
		self.assertEqual(len(frappe.get_doc("Contact", c1.name).email_ids), 1)
		self.assertEqual(len(frappe.get_doc("Contact", c2.name).email_ids), 2)
		self.assertEqual(frappe.db.get_value("Customer", a.name, "customer_primary_contact"), c2.name)

	def test_undo_refused_when_rows_are_gone(self):
		a, b, _shared = self.make_pair()
		log = merge_records("Customer", a.name, [b.name])["log"]
		frappe.delete_doc("Quotation", b.quotation, ignore_permissions=True, force=True)
		with self.assertRaises(frappe.ValidationError) as ctx:
			undo_merge(log)
		self.assertIn(b.quotation, str(ctx.exception))
		self.assertEqual(frappe.db.get_value("Dedup Merge Log", log, "status"), "Merged")
		self.assertFalse(frappe.db.exists("Customer", b.name))

	def test_large_merge_runs_as_background_job(self):
		a, b, _shared = self.make_pair()
		with patch.object(merge_module, "BACKGROUND_THRESHOLD", 0):
			result = merge_records("Customer", a.name, [b.name])
		self.assertTrue(result["queued"])
		self.assertEqual(frappe.db.get_value("Dedup Merge Log", result["log"], "status"), "Queued")
		self.assertTrue(frappe.db.exists("Customer", b.name))
		run_merge_job(result["log"])  # its commit is swallowed by the class-wide guard
		self.assertEqual(len(self.commits), 1)
		self.commits.clear()
		self.assertEqual(frappe.db.get_value("Dedup Merge Log", result["log"], "status"), "Merged")
		self.assertFalse(frappe.db.exists("Customer", b.name))
		self.assertEqual(frappe.db.get_value("Sales Order", b.sales_order, "customer"), a.name)

	def test_key_index_follows_merge(self):
		from crm_dedup import bridge

		uid = _uid()
		rule = frappe.get_doc(
			{
				"doctype": "Dedup Rule",
				"rule_name": f"_merge test {uid}",
				"target_doctype": "Customer",
				"action": "Log only",
				"enabled": 1,
				"apply_on_insert": 1,
				"apply_on_edit": 1,
				"priority": 99,
				"conditions": [{"fields": "customer_details", "match_type": "Exact"}],
			}
		).insert(ignore_permissions=True)
		try:
			a = self.make_customer("A", ignore_dedup=False, customer_details=f"key-a-{uid}")
			b = self.make_customer("B", ignore_dedup=False, customer_details=f"key-b-{uid}")

			def keys(name):
				return set(
					frappe.get_all(
						"Dedup Key",
						filters={"rule": rule.name, "ref_doctype": "Customer", "ref_name": name},
						pluck="blocking_key",
					)
				)

			a_keys, b_keys = keys(a.name), keys(b.name)
			self.assertTrue(a_keys and b_keys and a_keys != b_keys)
			log = merge_records("Customer", a.name, [b.name], {"customer_details": f"key-b-{uid}"})["log"]
			self.assertEqual(keys(b.name), set())  # unindexed
			self.assertEqual(keys(a.name), b_keys)  # the survivor now holds B's value
			undo_merge(log)
			self.assertEqual(keys(b.name), b_keys)
			self.assertEqual(keys(a.name), a_keys)
		finally:
			frappe.db.delete("Dedup Key", {"rule": rule.name})
			frappe.delete_doc("Dedup Rule", rule.name, force=True, ignore_permissions=True)
			bridge.clear_cache()

	def test_shares_tags_follows_and_lead_link(self):
		from frappe.desk.doctype.tag.tag import add_tag
		from frappe.share import add_docshare as share

		a = self.make_customer("A")
		uid = _uid()
		lead = frappe.get_doc(
			{"doctype": "Lead", "first_name": f"Lead {uid}", "company_name": f"_Merge Lead Co {uid}"}
		)
		lead.flags.ignore_dedup = True
		lead.insert(ignore_permissions=True)
		b = self.make_customer("B", lead_name=lead.name)
		self.assertEqual(frappe.db.get_value("Lead", lead.name, "status"), "Converted")
		user = self.assignee("S")
		share("Customer", a.name, user, read=1, write=0, flags={"ignore_share_permission": True})
		share("Customer", b.name, user, read=1, write=1, flags={"ignore_share_permission": True})
		tag = f"merge-tag-{uid.lower()}"
		add_tag(tag, "Customer", a.name)
		add_tag(tag, "Customer", b.name)
		for name in (a.name, b.name):
			frappe.get_doc(
				{"doctype": "Document Follow", "ref_doctype": "Customer", "ref_docname": name, "user": user}
			).insert(ignore_permissions=True)

		log = merge_records("Customer", a.name, [b.name])["log"]

		shares = frappe.get_all(
			"DocShare",
			filters={"share_doctype": "Customer", "share_name": a.name, "user": user},
			fields=["write"],
		)
		self.assertEqual([s.write for s in shares], [1])  # one share, with B's write right
		self.assertEqual(
			frappe.db.count("Tag Link", {"document_type": "Customer", "document_name": a.name, "tag": tag}), 1
		)
		self.assertEqual(
			frappe.db.count(
				"Document Follow", {"ref_doctype": "Customer", "ref_docname": a.name, "user": user}
			),
			1,
		)
		self.assertIn(tag, frappe.db.get_value("Customer", a.name, "_user_tags") or "")
		# no Customer.on_trash: the Lead stays Converted and now belongs to the survivor
		self.assertEqual(frappe.db.get_value("Lead", lead.name, "status"), "Converted")
		self.assertEqual(frappe.db.get_value("Customer", a.name, "lead_name"), lead.name)

		undo_merge(log)
		for name, write in ((a.name, 0), (b.name, 1)):
			shares = frappe.get_all(
				"DocShare",
				filters={"share_doctype": "Customer", "share_name": name, "user": user},
				fields=["write"],
			)
			self.assertEqual([s.write for s in shares], [write])
			self.assertEqual(
				frappe.db.count("Tag Link", {"document_type": "Customer", "document_name": name, "tag": tag}),
				1,
			)
			self.assertEqual(
				frappe.db.count(
					"Document Follow", {"ref_doctype": "Customer", "ref_docname": name, "user": user}
				),
				1,
			)
		self.assertFalse(frappe.db.get_value("Customer", a.name, "lead_name"))
		self.assertEqual(frappe.db.get_value("Customer", b.name, "lead_name"), lead.name)
		self.assertEqual(frappe.db.get_value("Lead", lead.name, "status"), "Converted")
