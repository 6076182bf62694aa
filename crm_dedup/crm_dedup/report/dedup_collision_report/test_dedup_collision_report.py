# Copyright (c) 2025, crm_dedup contributors
# For license information, please see license.txt
import json

import frappe
from frappe.tests.utils import FrappeTestCase
from frappe.utils import add_days, getdate, now_datetime

from crm_dedup.crm_dedup.report.dedup_collision_report import dedup_collision_report as report

OWNER = "cq_report_owner@example.com"
REP = "cq_report_rep@example.com"


class TestDedupCollisionReport(FrappeTestCase):
	"""Rows are inserted in the test transaction (rolled back); users that are not real are fine for logs."""

	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		now = now_datetime()
		cls.today = getdate(now)
		log = frappe.get_doc(
			{
				"doctype": "Dedup Collision Log",
				"attempted_by": REP,
				"attempted_at": now,
				"outcome": "Blocked",
				"existing_owner": OWNER,
				"ref_doctype": "Customer",
				"existing_doctype": "Customer",
			}
		)
		log.flags.ignore_links = True
		log.insert(ignore_permissions=True)
		for can_read in (True, False):
			q = frappe.get_doc(
				{
					"doctype": "Dedup Query Log",
					"user": REP,
					"queried_at": now,
					"query_doctype": "All",
					"status": "Answered",
					"hit_count": 1,
					"inputs": "{}",
					"hits_summary": json.dumps(
						[{"doctype": "Lead", "name": "X", "owner": OWNER, "can_read": can_read}]
					),
				}
			)
			q.flags.ignore_links = True
			q.insert(ignore_permissions=True)

	def run_report(self, **filters):
		filters = {"from_date": add_days(self.today, -1), "to_date": self.today, **filters}
		columns, data, _msg, chart, summary = report.execute(filters)
		return columns, data, chart, summary

	def test_by_owner(self):
		columns, data, chart, summary = self.run_report(group_by="Owner")
		row = next(r for r in data if r["group"] == OWNER)
		self.assertEqual((row["blocked"], row["query_hits"], row["masked_hits"], row["total"]), (1, 2, 1, 3))
		self.assertEqual(columns[0]["options"], "User")
		self.assertEqual(chart["type"], "bar")
		self.assertEqual(len(chart["data"]["datasets"]), 2)
		self.assertGreaterEqual(summary[0]["value"], 1)

	def test_by_rep_and_source(self):
		_c, data, _chart, _s = self.run_report(group_by="Rep", source="Queries")
		row = next(r for r in data if r["group"] == REP)
		self.assertEqual((row["blocked"], row["query_hits"]), (0, 2))
		_c, data, _chart, _s = self.run_report(group_by="Rep", source="Save Attempts", user=REP)
		self.assertEqual([(r["group"], r["blocked"], r["query_hits"]) for r in data], [(REP, 1, 0)])

	def test_by_week(self):
		_c, data, chart, _s = self.run_report(group_by="Week", user=OWNER)
		week = report.week_of(self.today)
		row = next(r for r in data if r["group"] == week)
		self.assertEqual(row["total"], 3)
		self.assertEqual(chart["type"], "line")

	def test_bad_filters(self):
		with self.assertRaises(frappe.ValidationError):
			self.run_report(group_by="Planet")
		with self.assertRaises(frappe.ValidationError):
			report.execute({"from_date": self.today, "to_date": add_days(self.today, -3)})
