"""Starting a batch scan: the Start button of a Dedup Scan, the Scan button of a Dedup Rule, the scheduler.

A scan's **plan** lists the DocTypes it covers with their rules (``full`` when every enabled rule of the
DocType is used: only such a scan may resolve sets it no longer finds). ``enqueue_scan`` checks the plan,
refuses a scan that is already running or whose DocType another scan is still scanning, resets the scan's
figures and queues its first job (``crm_dedup.scans.jobs.run_scan``).
"""

from __future__ import annotations

import json
from typing import Any

import frappe
from frappe import _
from frappe.utils import cint

from crm_dedup.core.config import compiled, config, split_fields
from crm_dedup.core.roles import require_manager
from crm_dedup.scans.queue import busy_scans, enqueue, job_id, scan_alive

DEFAULT_CHUNK = 200_000  # one job is fastest below this (100k customers: 8 s, 0.4 GB); above, memory
RESET = {
	"progress": 0,
	"error": "",
	"started_at": None,
	"finished_at": None,
	"duration": 0,
	"records": 0,
	"compared": 0,
	"pairs": 0,
	"sets_found": 0,
	"sets_new": 0,
	"sets_updated": 0,
	"sets_resolved": 0,
	"skipped_pairs": 0,
	"jobs": 0,
	"summary": "",
}


@frappe.whitelist()
def start_scan(scan: str) -> dict:
	"""Queues the scan (the Start button of a Dedup Scan)."""
	require_manager(_("scan for duplicates"))
	frappe.has_permission("Dedup Scan", "write", scan, throw=True)
	return enqueue_scan(frappe.get_doc("Dedup Scan", scan))


@frappe.whitelist()
def scan_rule(rule: str) -> str:
	"""Creates and queues a scan of one rule's DocType with that rule only (button on the Dedup Rule form)."""
	require_manager(_("scan for duplicates"))
	frappe.has_permission("Dedup Scan", "create", throw=True)
	frappe.has_permission("Dedup Rule", "read", rule, throw=True)
	values = frappe.db.get_value("Dedup Rule", rule, ["target_doctype", "enabled"], as_dict=True)
	if not values:
		frappe.throw(_("Dedup Rule {0} does not exist").format(rule), frappe.DoesNotExistError)
	if not cint(values.enabled):
		frappe.throw(
			_("Rule {0} is disabled; enable it before scanning.").format(rule), title=_("Rule disabled")
		)
	doc = frappe.get_doc(
		{"doctype": "Dedup Scan", "scan_doctype": values.target_doctype, "rule": rule, "triggered_by": "Rule"}
	).insert()
	enqueue_scan(doc)
	return doc.name


@frappe.whitelist()
def scan_doctype(doctype: str | None = None) -> str:
	"""Creates and queues a scan of one DocType with all its rules (or of every DocType with rules)."""
	require_manager(_("scan for duplicates"))
	frappe.has_permission("Dedup Scan", "create", throw=True)
	doc = frappe.get_doc({"doctype": "Dedup Scan", "scan_doctype": doctype or None, "triggered_by": "Manual"})
	doc.insert()
	enqueue_scan(doc)
	return doc.name


def plan(scan_doctype: str | None, rule: str | None) -> list[dict]:
	"""[{doctype, rules, full}] a scan covers; ``full`` when every enabled rule of the DocType is used."""
	comp = compiled()
	if not comp.enabled:
		frappe.throw(_("Duplicate checks are disabled in Dedup Settings."), title=_("Dedup disabled"))
	if rule:
		return [_rule_step(comp, scan_doctype, rule)]
	doctypes = [scan_doctype] if scan_doctype else sorted(comp.cfg["targets"])
	out = []
	for dt in doctypes:
		names = list(comp.target_rules(dt))
		if names:
			out.append({"doctype": dt, "rules": names, "full": True})
	if not out:
		what = _(scan_doctype) if scan_doctype else _("any DocType")
		frappe.throw(_("No enabled Dedup Rule targets {0}.").format(what), title=_("Nothing to scan"))
	return out


def _rule_step(comp: Any, scan_doctype: str | None, rule: str) -> dict:
	if rule not in comp.rules:
		frappe.throw(_("Rule {0} is not an enabled, valid rule.").format(rule), title=_("Nothing to scan"))
	target = comp.rules[rule]["target"]
	if scan_doctype and scan_doctype != target:
		frappe.throw(
			_("Rule {0} checks {1}, not {2}.").format(rule, _(target), _(scan_doctype)),
			title=_("Wrong DocType"),
		)
	return {"doctype": target, "rules": [rule], "full": comp.target_rules(target) == (rule,)}


def enqueue_scan(doc: Any) -> dict:
	"""Validates the plan, marks the scan Queued and enqueues its first job (once: deduplicated job id)."""
	if doc.status in ("Queued", "Running") and scan_alive(doc.name):
		frappe.throw(_("Scan {0} is already running.").format(doc.name), title=_("Already running"))
	steps = plan(doc.scan_doctype, doc.rule)
	busy = busy_scans({s["doctype"] for s in steps}, exclude=doc.name)
	if busy:
		frappe.throw(
			_("Scan {0} of the same DocType is still running; wait for it to finish.").format(busy),
			title=_("Already running"),
		)
	state = {"steps": steps, "step": 0, "done": [], "jobs": 0}
	doc.db_set(
		{
			**RESET,
			"status": "Queued",
			"progress_message": _("Waiting for a worker"),
			"job_id": job_id(doc.name),
			"state": json.dumps(state),
		}
	)
	enqueue("crm_dedup.scans.jobs.run_scan", job_id(doc.name), scan=doc.name)
	return {"scan": doc.name, "status": "Queued", "doctypes": [s["doctype"] for s in steps]}


# ==== scheduler ===========================================================================================
def run_scheduled_daily() -> None:
	_run_scheduled("Daily")


def run_scheduled_weekly() -> None:
	_run_scheduled("Weekly")


def _run_scheduled(frequency: str) -> None:
	"""Queues one scan per configured DocType when Dedup Settings asks for scans at this frequency."""
	try:
		if not frappe.db.table_exists("Dedup Scan"):
			return
		settings = frappe.db.get_singles_dict("Dedup Settings")
		if (settings.get("scan_frequency") or "Never") != frequency or not cint(settings.get("enabled", 1)):
			return
		wanted = split_fields(settings.get("scan_doctypes"))
		targets = sorted(config()["targets"])
		for dt in [d for d in wanted if d in targets] if wanted else targets:
			if busy_scans({dt}, exclude=""):
				continue
			doc = frappe.get_doc({"doctype": "Dedup Scan", "scan_doctype": dt, "triggered_by": "Schedule"})
			doc.insert(ignore_permissions=True)
			enqueue_scan(doc)
		frappe.db.commit()
	except Exception:
		frappe.db.rollback()
		frappe.log_error(title=f"crm_dedup: scheduled {frequency.lower()} scan failed")
