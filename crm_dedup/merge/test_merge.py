# Copyright (c) 2026, crm_dedup contributors
# For license information, please see license.txt
"""Integration tests of the merge (crm_dedup.merge) in a real ERPNext site.

Two customers, each with a contact, an address, a quotation, a sales order, a comment, a communication, a
file and an assignment (plus a contact linked to both) are merged; everything is found on the survivor;
the merge is undone and everything is found back on the originals. A failure injected mid-merge leaves
everything as it was; users without Dedup Manager / System Manager are refused. Lead conversion, contacts,
shares, tags and the key index: ``test_merge_links.py``.
"""

import json
from unittest.mock import patch

import frappe

from crm_dedup.merge import api as merge_api
from crm_dedup.merge import run as merge_run
from crm_dedup.merge.api import get_merge_preview, merge_records, run_merge_job, undo_merge
from crm_dedup.merge.fixtures import CALL_LOG_HOOK, NO_CALL_LOG_COMMIT, MergeTestCase
from crm_dedup.testing import random_mobile

# the items of a customer's bundle that follow the customer
BUNDLE_ITEMS = ("quotation", "sales_order", "comment", "communication", "file", "todo")


class TestMerge(MergeTestCase):
	def all_on(self, owner: str) -> dict:
		return {"contact": [owner], "address": [owner], **{key: owner for key in BUNDLE_ITEMS}}

	def test_merge_and_undo(self):
		a, b, shared = self.make_pair()
		b_doc = frappe.get_doc("Customer", b.name)
		b_doc.append("credit_limits", {"company": self.company, "credit_limit": 5000})
		b_doc.flags.ignore_dedup = True
		b_doc.save(ignore_permissions=True)
		before = {
			"a": frappe.get_doc("Customer", a.name).as_dict(),
			"b": frappe.get_doc("Customer", b.name).as_dict(),
			"counts": {"A": self.counts(a.name), "B": self.counts(b.name)},
		}
		print("\ncounts before merge:", json.dumps(before["counts"]))

		preview = get_merge_preview("Customer", [a.name, b.name])
		self.assertEqual(preview["survivor"], a.name)
		self.assertEqual(preview["defaults"]["website"], "https://b.example.com")  # survivor empty: B's
		self.assertEqual(preview["defaults"]["customer_name"], before["a"].customer_name)  # survivor's wins
		self.assertGreaterEqual({r["name"]: r["linked"] for r in preview["records"]}[b.name], 8)

		result = merge_records("Customer", a.name, [b.name], {"customer_details": "chosen in the dialog"})
		log = frappe.get_doc("Dedup Merge Log", result["log"])
		self.assertEqual(log.status, "Merged")
		self.assertFalse(frappe.db.exists("Customer", b.name))
		self.check_merged(a, b, shared, before)
		self.check_log(log, b)

		report = undo_merge(log.name)
		self.assertEqual(report["restored"], [b.name])
		self.check_undone(a, b, shared, before)
		self.assertEqual(frappe.db.get_value("Dedup Merge Log", log.name, "status"), "Undone")
		# a second undo is refused
		self.assertRaises(frappe.ValidationError, undo_merge, log.name)

	def check_merged(self, a, b, shared: str, before: dict) -> None:
		"""Everything of B is on A: links, counts, the shared contact once, copies, values, rows, columns."""
		a_title = before["a"].customer_name
		self.assertEqual(self.where(b), self.all_on(a.name))
		self.assertEqual(self.where(a)["sales_order"], a.name)
		counts_after = self.counts(a.name)
		print("counts after merge (survivor A):", json.dumps(counts_after))
		for key, value in counts_after.items():
			expected = before["counts"]["A"][key] + before["counts"]["B"][key] - (key == "contacts")
			self.assertEqual(value, expected, key)
		# the contact linked to both customers keeps one link
		self.assertEqual(self.where(frappe._dict(a, contact=shared))["contact"], [a.name])
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

	def check_log(self, log, b) -> None:
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

	def check_undone(self, a, b, shared: str, before: dict) -> None:
		"""Everything back on the originals."""
		self.assertTrue(frappe.db.exists("Customer", b.name))
		for bundle in (a, b):
			self.assertEqual(self.where(bundle), self.all_on(bundle.name))
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
		self.assertEqual(counts_undone, before["counts"])
		self.assertEqual(
			frappe.db.get_value("Sales Order", b.sales_order, "customer_name"), before["b"].customer_name
		)
		a_after = frappe.get_doc("Customer", a.name)
		b_after = frappe.get_doc("Customer", b.name)
		for field in ("customer_name", "website", "customer_details", "customer_group", "territory"):
			self.assertEqual(a_after.get(field), before["a"].get(field), field)
			self.assertEqual(b_after.get(field), before["b"].get(field), field)
		self.assertEqual(len(a_after.credit_limits), 0)
		self.assertEqual([r.credit_limit for r in b_after.credit_limits], [5000])
		for bundle, label in ((a, "A"), (b, "B")):
			assigned = json.loads(frappe.db.get_value("Customer", bundle.name, "_assign") or "[]")
			self.assertEqual(assigned, [self.assignee(label)])

	def test_failure_mid_merge_changes_nothing(self):
		a, b, shared = self.make_pair()
		state_before = {"A": self.where(a), "B": self.where(b), "counts_a": self.counts(a.name)}
		a_doc_before = frappe.get_doc("Customer", a.name).as_dict()
		logs_before = frappe.db.count("Dedup Merge Log")

		def boom(*args, **kwargs):
			raise RuntimeError("injected failure after relinking")

		for step in ("refresh_copies", "merge_hidden_columns", "index_doc"):
			with self.subTest(step=step), patch.object(merge_run, step, boom):
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
		mobile = f"+86 {random_mobile()}"
		frappe.db.set_value("Customer", a.name, {"mobile_no": mobile, "customer_primary_contact": None})
		contacts_before = frappe.db.count("Contact")
		logs_before = frappe.db.count("Dedup Merge Log")

		with patch(CALL_LOG_HOOK, hook), patch.object(merge_run, "index_doc", boom):
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
		with patch(CALL_LOG_HOOK, hook):
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
		with patch.object(merge_api, "BACKGROUND_THRESHOLD", 0):
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
