# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt
"""A batch scan survives a killed worker (real RQ workers, in a real site):

CI=1 bench --site SITE run-tests --module crm_dedup.scans.test_worker_kill

The test starts two ``bench worker --queue long`` processes of its own (besides whatever workers the bench
runs), queues a chunked scan of 22,000 customers, kills one of its workers (SIGKILL to the worker and its work
horse) while it computes the keys of a chunk, lets the killed job's heartbeat expire, resumes the scan as the
scheduler does (``scans.jobs.resume_stalled``) and checks that the scan completes with exactly the duplicate
sets of an undisturbed run: none lost, none doubled. Takes about three minutes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import frappe
from frappe.utils import now_datetime
from rq import Worker

from crm_dedup.core.sets import delete_sets
from crm_dedup.scans.jobs import _blob_key, resume
from crm_dedup.scans.queue import QUEUE, job_id
from crm_dedup.scans.start import enqueue_scan
from crm_dedup.testing import DedupTestCase, random_mobile

RECORDS = 20000
CHUNK = 2000  # key jobs of a second or two: the kill lands while one works


class TestScanSurvivesAKilledWorker(DedupTestCase):
	def setUp(self) -> None:
		super().setUp()
		self.prefix = f"DDKILL-{self.sfx}"
		self.workers: list[subprocess.Popen] = []
		self.addCleanup(self._stop_workers)
		self.addCleanup(self._remove_records)

	def _stop_workers(self) -> None:
		for p in self.workers:
			try:
				os.killpg(p.pid, signal.SIGKILL)
			except ProcessLookupError:
				pass
			p.wait(timeout=10)

	def _remove_records(self) -> None:
		frappe.db.rollback()
		sets = frappe.get_all(
			"Duplicate Set Member",
			{"member_name": ["like", f"{self.prefix}%"]},
			pluck="parent",
			distinct=True,
		)
		delete_sets(sets)
		frappe.db.delete("Customer", {"name": ["like", f"{self.prefix}%"]})
		frappe.db.commit()

	def _seed(self) -> None:
		now = now_datetime()
		rows = []
		base = int(random_mobile("13")[2:]) % 10**8
		for i in range(RECORDS):
			phone = (
				f"136{(base + i) % 10**8:08d}"  # distinct numbers: the only duplicates are the planted ones
			)
			rows.append(
				(
					f"{self.prefix}-{i:05d}",
					f"{self.prefix} 客户 {i}",
					"Company",
					phone,
					now,
					now,
					"Administrator",
				)
			)
			if i % 10 == 0:  # a duplicate typed the +86 way
				rows.append(
					(
						f"{self.prefix}-{i:05d}-d",
						f"{self.prefix} 客户 {i} 分公司",
						"Company",
						f"+86 {phone[:3]} {phone[3:7]} {phone[7:]}",
						now,
						now,
						"Administrator",
					)
				)
		frappe.db.bulk_insert(
			"Customer",
			["name", "customer_name", "customer_type", "mobile_no", "creation", "modified", "owner"],
			rows,
			chunk_size=5000,
		)
		frappe.db.commit()

	def _sets(self) -> set[frozenset[str]]:
		members = frappe.get_all(
			"Duplicate Set Member",
			{"member_name": ["like", f"{self.prefix}%"]},
			["parent", "member_name"],
		)
		by_set: dict[str, set[str]] = {}
		for m in members:
			by_set.setdefault(m.parent, set()).add(m.member_name)
		return {frozenset(v) for v in by_set.values()}

	def _spawn_worker(self) -> subprocess.Popen:
		sites = os.path.abspath(frappe.local.sites_path)
		p = subprocess.Popen(
			[sys.executable, "-m", "frappe.utils.bench_helper", "frappe", "worker", "--queue", QUEUE],
			cwd=sites,
			start_new_session=True,  # its own process group: the kill takes the work horse too
			stdout=subprocess.DEVNULL,
			stderr=subprocess.DEVNULL,
		)
		self.workers.append(p)
		return p

	def test_killed_worker_mid_scan_same_sets(self):
		rule = self.make_rule(
			"kill phones", "Customer", "Block", [{"fields": "mobile_no", "match_type": "Phone"}]
		)
		frappe.db.commit()  # the workers must see the rule
		self._seed()

		# the undisturbed run, in this process
		ref = self.run_scan("Customer", rule)
		frappe.db.commit()
		expected = self._sets()
		self.assertEqual(len(expected), RECORDS // 10)
		delete_sets(frappe.get_all("Duplicate Set", {"scan": ref.name}, pluck="name"))
		frappe.db.commit()
		self.assertEqual(self._sets(), set())

		# the same scan on real workers, one of which is killed in the middle of a job of the scan
		mine = [self._spawn_worker(), self._spawn_worker()]
		time.sleep(6)  # the workers register
		doc = frappe.get_doc(
			{"doctype": "Dedup Scan", "scan_doctype": "Customer", "rule": rule, "chunk_size": CHUNK}
		).insert()
		self.cleanup.append(("Dedup Scan", doc.name))
		frappe.db.commit()
		enqueue_scan(doc)
		frappe.db.commit()
		prefix = f"{frappe.local.site}::{job_id(doc.name)}"
		pids = {p.pid for p in mine}
		killed_job = None
		deadline = time.time() + 120
		conn = frappe.utils.background_jobs.get_redis_conn()
		while killed_job is None and time.time() < deadline:
			for w in Worker.all(connection=conn):
				jid = w.get_current_job_id()
				if w.pid not in pids or not jid or not jid.startswith(prefix + "::0::keys::"):
					continue
				blob = _blob_key(doc.name, 0, f"keys:{jid.rsplit('::', 1)[1]}")
				if conn.exists(blob):
					continue  # this job has done its work already
				_kill_worker(w.pid)
				pids.discard(w.pid)
				if not conn.exists(blob):  # killed before its keys were stored
					killed_job = jid
				break
			time.sleep(0.01)
		self.assertIsNotNone(killed_job, "none of the test's workers ran a job of the scan")

		# the killed job's heartbeat expires; the scheduler's resume queues what is missing
		resumed = None
		deadline = time.time() + 240
		while resumed is None and time.time() < deadline:
			frappe.db.rollback()
			self.assertNotEqual(
				frappe.db.get_value("Dedup Scan", doc.name, "status"),
				"Completed",
				f"finished without the killed job {killed_job}",
			)
			resumed = resume(doc.name)
			time.sleep(3)
		self.assertIsNotNone(resumed, "the scan was never seen stalled")
		deadline = time.time() + 240
		while time.time() < deadline:
			frappe.db.rollback()
			status = frappe.db.get_value("Dedup Scan", doc.name, "status")
			if status in ("Completed", "Failed"):
				break
			time.sleep(1)
		doc.reload()
		self.assertEqual(doc.status, "Completed", (killed_job, resumed, doc.error, doc.progress_message))
		got = self._sets()
		self.assertEqual(got, expected, (killed_job, resumed))  # none lost
		self.assertEqual(
			len(frappe.get_all("Duplicate Set Member", {"member_name": ["like", f"{self.prefix}%"]})),
			sum(len(s) for s in expected),
		)  # none doubled
		self.assertIn("nothing to resume", doc.resume())  # the form's Resume button on a finished scan
		print(f"killed {killed_job}; resumed: {resumed}; {len(got)} sets as undisturbed")


def _children(pid: int) -> list[int]:
	out = []
	for entry in os.listdir("/proc"):
		if entry.isdigit():
			try:
				with open(f"/proc/{entry}/stat") as f:
					stat = f.read()
			except OSError:
				continue
			if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
				out.append(int(entry))
	return out


def _kill_worker(pid: int) -> None:
	"""SIGKILL to a worker and its work horse (RQ starts the horse in a session of its own, so killing the
	worker's process group would leave the horse running)."""
	for child in _children(pid):
		os.kill(child, signal.SIGKILL)
	os.killpg(pid, signal.SIGKILL)
