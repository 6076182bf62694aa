# Copyright (c) 2026, crm_dedup contributors
# For license information, please see license.txt
"""Integration tests of the merge (crm_dedup.merge): what a merge carries besides the bundle of
``test_merge.py``. A Lead merged into a Customer is converted (comments copied, tasks moved, contacts
linked) and back on undo; contacts keep one row per e-mail and phone; shares, tags and follows are not
doubled; the key index follows the merge and its undo.
"""

import frappe
from frappe.desk.doctype.tag.tag import add_tag
from frappe.desk.form.assign_to import add as assign_to
from frappe.share import add_docshare as share

from crm_dedup.core.config import clear_cache
from crm_dedup.merge.api import get_merge_preview, merge_records, undo_merge
from crm_dedup.merge.fixtures import MergeTestCase
from crm_dedup.testing import suffix


class TestMergeLinks(MergeTestCase):
	def test_lead_into_customer(self):
		a = self.make_customer("A")
		uid = suffix()
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
		uid = suffix()
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

	def test_key_index_follows_merge(self):
		uid = suffix()
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
			clear_cache()

	def test_shares_tags_follows_and_lead_link(self):
		a = self.make_customer("A")
		uid = suffix()
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
