"""Job ids, the one enqueue site of batch scans, and which scans are still in flight.

Every job of a scan has a job id derived from the scan (``crm_dedup_scan::DSCAN-00001[::part]``) and is
enqueued on the ``long`` queue with ``deduplicate=True`` after commit, so a scan never runs twice at once.
"""

from __future__ import annotations

import json
from typing import Any

import frappe
from frappe.utils.background_jobs import get_job_status, get_queue, is_job_enqueued
from rq.job import JobStatus

QUEUE = "long"
JOB_PREFIX = "crm_dedup_scan"
JOB_TIMEOUT = 6 * 3600


def job_id(scan: str, part: str = "") -> str:
	return f"{JOB_PREFIX}::{scan}" + (f"::{part}" if part else "")


def enqueue(method: str, jid: str, **kwargs: Any) -> None:
	"""The one enqueue site. ``frappe.flags.crm_dedup_scan_now`` (tests, benchmark) runs the job inline."""
	if frappe.flags.crm_dedup_scan_now:
		frappe.get_attr(method)(**kwargs)
		return
	frappe.enqueue(
		method,
		queue=QUEUE,
		timeout=JOB_TIMEOUT,
		job_id=jid,
		deduplicate=True,
		enqueue_after_commit=True,
		**kwargs,
	)


def job_active(jid: str) -> bool:
	try:
		return bool(is_job_enqueued(jid))
	except Exception:
		return False


def scan_alive(scan: str) -> bool:
	"""Whether any job of the scan is queued or running (a scan left Running by a killed worker is not)."""
	try:
		q = get_queue(QUEUE)
		started = q.started_job_registry
		# a job whose worker was killed stays "started" until its heartbeat expires (about 90 s)
		expired = set(started.get_expired_job_ids())
		ids = list(q.get_job_ids()) + [i for i in started.get_job_ids() if i not in expired]
	except Exception:
		return True
	prefix = f"{frappe.local.site}::{job_id(scan)}"
	if any(i == prefix or i.startswith(prefix + "::") for i in ids):
		return True
	# a job that a worker has just taken off the queue is in neither list for a moment: its status is still
	# "queued" (a killed worker's job says "started" for ever, so that status proves nothing)
	try:
		return get_job_status(job_id(scan)) == JobStatus.QUEUED
	except Exception:
		return False


def busy_scans(doctypes: set[str], exclude: str) -> str | None:
	"""A scan other than ``exclude`` that covers one of ``doctypes`` and is still in flight."""
	for row in frappe.get_all(
		"Dedup Scan",
		filters={"status": ["in", ["Queued", "Running"]], "name": ["!=", exclude]},
		fields=["name", "scan_doctype", "state"],
	):
		try:
			steps = json.loads(row.state or "{}").get("steps") or []
		except ValueError:
			steps = []
		theirs = {s.get("doctype") for s in steps} or {row.scan_doctype}
		if theirs & doctypes and scan_alive(row.name):
			return row.name
	return None
