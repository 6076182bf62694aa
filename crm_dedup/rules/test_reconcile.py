# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt
"""Integration tests of the index reconcile in a real site (writes that bypass doc events):

CI=1 bench --site SITE run-tests --module crm_dedup.rules.test_reconcile

Each bypass path leaves the key index stale (a check misses the new value and still finds the old one);
verify reports it without changing anything; the incremental run (by ``modified``) or the full run fixes it.
Data Import "Update Existing Records" runs doc events and is covered in checks/test_data_import.py.
"""

from __future__ import annotations

from datetime import timedelta

import frappe
from frappe.utils import now_datetime

from crm_dedup.core.keys import TABLE
from crm_dedup.core.lookup import find_duplicates
from crm_dedup.rules.reconcile import reconcile
from crm_dedup.testing import DedupTestCase, han_suffix, random_mobile


class TestReconcile(DedupTestCase):
	def setUp(self) -> None:
		super().setUp()
		self.rule = self.make_rule(
			"reconcile phones",
			"Customer",
			"Block",
			[{"fields": "phone_1, phone_2, phone_3", "match_type": "Phone"}],
		)
		self.t0 = now_datetime() - timedelta(seconds=1)

	def found(self, phone: str) -> list[str]:
		return [h.name for h in find_duplicates({"doctype": "Customer", "phone_2": phone}, "Customer")]

	def keys_of(self, name: str) -> set[tuple[str, str]]:
		return set(
			frappe.db.sql(
				f"select rule, blocking_key from `{TABLE}` where ref_doctype='Customer' and ref_name=%s", name
			)
		)

	def assert_stale_then_fixed(self, name: str, old: str, new: str, full: bool = False) -> None:
		self.assertEqual(self.found(new), [])  # the index does not know the new value yet
		# the old key leads to the record, whose value no longer matches
		self.assertEqual(self.found(old), [])
		before = self.keys_of(name)

		def run(verify: bool) -> dict:
			# the full runs are narrowed to the test's records (the shared site may hold many customers)
			return reconcile(
				verify=verify,
				full=full,
				since=None if full else self.t0,
				doctypes=["Customer"],
				commit=False,
				names=[name] if full else None,
			)

		report = run(verify=True)
		self.assertGreaterEqual(report["drifted_records"], 1, report)
		self.assertGreaterEqual(report["missing_keys"], 1, report)
		self.assertGreaterEqual(report["stale_keys"], 1, report)
		self.assertIn(name, [e["name"] for e in report["examples"]])
		self.assertEqual(self.keys_of(name), before)  # verify changes nothing
		fixed = run(verify=False)
		self.assertEqual(fixed["drifted_records"], report["drifted_records"])
		self.assertEqual(self.found(new), [name])
		self.assertEqual(self.found(old), [])
		again = run(verify=True)
		self.assertEqual((again["drifted_records"], again["orphan_keys"]), (0, 0), again)

	def test_set_value_is_caught_by_the_incremental_run(self):
		old, new = random_mobile(), random_mobile()
		a = self.customer(f"金陵{han_suffix(4)}科技有限公司", phone_1=old)
		frappe.db.set_value("Customer", a.name, "phone_1", new)
		self.assert_stale_then_fixed(a.name, old, new)

	def test_db_set_is_caught_by_the_incremental_run(self):
		old, new = random_mobile(), random_mobile()
		a = self.customer(f"华东{han_suffix(4)}贸易有限公司", phone_3=old)
		a.db_set("phone_3", new)
		self.assert_stale_then_fixed(a.name, old, new)

	def test_sql_without_modified_needs_the_full_run(self):
		old, new = random_mobile(), random_mobile()
		a = self.customer(f"星辰{han_suffix(4)}物流有限公司", phone_1=old)
		frappe.db.sql("update `tabCustomer` set phone_1=%s where name=%s", (new, a.name))  # a patch, bulk SQL
		later = now_datetime() + timedelta(seconds=1)
		missed = reconcile(since=later, doctypes=["Customer"], commit=False)
		self.assertEqual(missed["records"], 0)  # `modified` did not move: the incremental run cannot see it
		self.assertEqual(self.found(new), [])
		self.assert_stale_then_fixed(a.name, old, new, full=True)

	def test_rows_deleted_by_sql_leave_orphan_keys_until_the_full_run(self):
		phone = random_mobile()
		a = self.customer(f"鼎盛{han_suffix(4)}电子有限公司", phone_1=phone)
		frappe.db.sql("delete from `tabCustomer` where name=%s", a.name)
		self.assertTrue(self.keys_of(a.name))
		report = reconcile(verify=True, full=True, doctypes=["Customer"], commit=False, names=[a.name])
		self.assertEqual(report["orphan_keys"], len(self.keys_of(a.name)))
		self.assertTrue(self.keys_of(a.name))
		reconcile(full=True, doctypes=["Customer"], commit=False, names=[a.name])
		self.assertEqual(self.keys_of(a.name), set())

	def test_bulk_insert_is_caught_by_the_incremental_run(self):
		phone = random_mobile()
		name = f"DDRECON-{self.sfx}"
		now = now_datetime()
		frappe.db.bulk_insert(
			"Customer",
			[
				"name",
				"customer_name",
				"customer_type",
				"phone_1",
				"creation",
				"modified",
				"owner",
				"modified_by",
			],
			[
				(
					name,
					f"恒通{han_suffix(4)}实业有限公司",
					"Company",
					phone,
					now,
					now,
					"Administrator",
					"Administrator",
				)
			],
		)
		self.cleanup.append(("Customer", name))
		self.assertEqual(self.found(phone), [])
		report = reconcile(since=self.t0, doctypes=["Customer"], commit=False)
		self.assertGreaterEqual(report["missing_keys"], 1)
		self.assertEqual(self.found(phone), [name])

	def test_last_run_is_remembered(self):
		frappe.db.set_global("crm_dedup_last_reconcile", str(now_datetime() - timedelta(minutes=1)))
		reconcile(commit=False)
		last = frappe.db.get_global("crm_dedup_last_reconcile")
		self.assertTrue(last)
		report = reconcile(verify=True, commit=False)
		self.assertTrue(report["scope"].startswith("modified since"), report["scope"])
