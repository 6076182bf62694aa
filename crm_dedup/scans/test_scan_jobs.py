# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt
"""Integration tests of the scan's jobs on the real ``long`` queue and of the scheduler, in a real site:

CI=1 bench --site SITE run-tests --module crm_dedup.scans.test_scan_jobs
"""

from __future__ import annotations

import threading
import time

import frappe
import pymysql
from frappe.utils.background_jobs import get_job

from crm_dedup.core.sets import delete_sets
from crm_dedup.scans.queue import job_id
from crm_dedup.scans.seed import ScanTestCase
from crm_dedup.scans.start import enqueue_scan, run_scheduled_daily, run_scheduled_weekly


def _hold_row_lock(conf, scan: str, held: threading.Event, release: threading.Event, me: list) -> None:
	"""Takes the Dedup Scan row lock on a connection of its own and keeps it until ``release`` is set;
	``me`` receives the connection id first, so the caller can see it wait for the lock."""
	conn = pymysql.connect(
		host=conf.db_host or "127.0.0.1",
		port=int(conf.db_port or 3306),
		user=conf.db_name,
		password=conf.db_password,
		database=conf.db_name,
		charset="utf8mb4",
	)
	try:
		with conn.cursor() as cur:
			cur.execute("set session innodb_lock_wait_timeout = 20")
			cur.execute("select connection_id()")
			me.append(cur.fetchone()[0])
			cur.execute("begin")
			cur.execute("select name from `tabDedup Scan` where name = %s for update", (scan,))
			held.set()
			release.wait(30)
		conn.rollback()
	finally:
		conn.close()


def _wait_until_blocked(me: list, timeout: float = 20) -> None:
	"""Returns once the holder's connection is inside its ``select ... for update`` (waiting for our lock)."""
	deadline = time.time() + timeout
	while time.time() < deadline:
		if me and frappe.db.sql(
			"select 1 from information_schema.processlist where id=%s and command='Query'"
			" and info like 'select name from `tabDedup Scan`%%'",
			me[0],
		):
			return
		time.sleep(0.05)
	raise AssertionError("the lock holder never started waiting for the scan's row lock")


def _wait_for_scan(scan: str, timeout: float = 60) -> None:
	"""Waits until the worker is done with the scan, so that tearDown does not delete under a running job."""
	deadline = time.time() + timeout
	while time.time() < deadline:
		frappe.db.rollback()
		if frappe.db.get_value("Dedup Scan", scan, "status") not in ("Queued", "Running"):
			return
		time.sleep(0.5)


class TestScanJobs(ScanTestCase):
	def test_one_job_per_scan(self):
		"""Queued for real on the long queue: the same scan cannot be queued (or run) twice."""
		frappe.flags.crm_dedup_scan_now = False
		rule = self.make_rule("phone", "Block", [{"fields": "mobile_no", "match_type": "Phone"}])
		doc = frappe.get_doc({"doctype": "Dedup Scan", "scan_doctype": "Customer", "rule": rule}).insert()
		self.scans.append(doc.name)
		enqueue_scan(doc)
		# The live worker would pick the job up and could finish it before the assertions below run. A second
		# connection queues for the scan's row lock now, gets it when our commit enqueues the job, and holds it
		# while we look: the job's first write ("Running") waits behind it, so the job stays in flight.
		held, release = threading.Event(), threading.Event()
		me: list = []
		holder = threading.Thread(
			target=_hold_row_lock, args=(frappe.local.conf, doc.name, held, release, me)
		)
		holder.start()
		_wait_until_blocked(me)  # the holder waits for the row lock before our commit hands it over
		frappe.db.commit()  # enqueue_after_commit
		self.assertTrue(held.wait(10), "the lock holder did not get the scan's row lock")
		try:
			job = get_job(job_id(doc.name))
			self.assertIsNotNone(job)
			self.assertTrue(job.origin.endswith("long"), job.origin)
			doc.reload()
			self.assertEqual(doc.status, "Queued")
			with self.assertRaises(frappe.ValidationError):
				enqueue_scan(doc)
			# a second scan of the same DocType waits for this one
			other = frappe.get_doc(
				{"doctype": "Dedup Scan", "scan_doctype": "Customer", "rule": rule}
			).insert()
			self.scans.append(other.name)
			with self.assertRaises(frappe.ValidationError):
				enqueue_scan(other)
		finally:
			release.set()
			holder.join(10)
			job = get_job(job_id(doc.name))
			if job and job.get_status() == "queued":
				job.cancel()
				job.delete()
			_wait_for_scan(doc.name)

	def test_scheduled_scan_follows_settings(self):
		rule = self.make_rule("phone", "Block", [{"fields": "mobile_no", "match_type": "Phone"}])
		settings = frappe.get_single("Dedup Settings")
		old = (settings.scan_frequency, settings.scan_doctypes)
		try:
			frappe.db.set_single_value(
				"Dedup Settings", {"scan_frequency": "Never", "scan_doctypes": "Customer"}
			)
			before = frappe.db.count("Dedup Scan", {"triggered_by": "Schedule"})
			run_scheduled_daily()
			self.assertEqual(frappe.db.count("Dedup Scan", {"triggered_by": "Schedule"}), before)
			frappe.db.set_single_value("Dedup Settings", "scan_frequency", "Weekly")
			run_scheduled_daily()
			self.assertEqual(frappe.db.count("Dedup Scan", {"triggered_by": "Schedule"}), before)
			run_scheduled_weekly()
			new = frappe.get_all(
				"Dedup Scan",
				filters={"triggered_by": "Schedule"},
				fields=["name", "status", "scan_doctype"],
				order_by="creation desc",
				limit=1,
			)
			self.scans += [n.name for n in new]
			self.assertEqual(new[0].scan_doctype, "Customer")
			self.assertEqual(new[0].status, "Completed")
			self.assertIn(rule, frappe.db.get_value("Dedup Scan", new[0].name, "summary"))
		finally:
			frappe.db.set_single_value("Dedup Settings", {"scan_frequency": old[0], "scan_doctypes": old[1]})
			# a full scan of the shared site may have found other people's duplicates: remove those sets
			made = frappe.get_all("Duplicate Set", filters={"scan": ["in", self.scans or [""]]}, pluck="name")
			if made:
				delete_sets(made)
			frappe.db.commit()
