# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt
"""The protection period and the public pool (保护期 / 公海).

A record of a DocType with an ownership policy is protected for ``protection_days`` after its latest qualifying
activity (or its creation, when it has none; a claim counts as activity). ``refresh`` (daily, and on demand)
writes each record's Protected Until and Last Qualifying Activity, releases lapsed records to the public pool
(nothing is released while a dispute on it is open), warns owners ``warn_days`` before, and takes records with
new activity back out of the pool. It writes with SQL in batches: no document hooks, no ``modified`` change.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import frappe
from frappe import _
from frappe.utils import get_datetime, getdate, today

from crm_dedup.core.activity import last_activity
from crm_dedup.core.owners import owners_of
from crm_dedup.ownership.alerts import alert
from crm_dedup.ownership.log import log
from crm_dedup.ownership.policy import ACTIVITY_FIELD, POOL_FIELD, UNTIL_FIELD, Policy, policies

BATCH = 5000


def run_daily() -> None:
	"""Scheduler (daily): refresh every DocType with an ownership policy; never raises."""
	for doctype, policy in policies().items():
		try:
			refresh(doctype, policy)
			frappe.db.commit()
		except Exception:
			frappe.db.rollback()
			frappe.log_error(title=f"crm_dedup: public pool refresh of {doctype} failed")


def open_disputes(doctype: str) -> set[str]:
	"""Records of ``doctype`` with an open dispute (never released while it is open)."""
	if not frappe.db.table_exists("Dedup Dispute"):
		return set()
	out = set()
	for row in frappe.get_all(
		"Dedup Dispute",
		filters={"status": "Open"},
		fields=["ref_doctype", "ref_name", "existing_doctype", "existing_name"],
	):
		if row.ref_doctype == doctype and row.ref_name:
			out.add(row.ref_name)
		if row.existing_doctype == doctype and row.existing_name:
			out.add(row.existing_name)
	return out


def protected_until(policy: Policy, created: Any, activity: Any) -> date:
	base = max(get_datetime(created), get_datetime(activity)) if activity else get_datetime(created)
	return (base + timedelta(days=policy.days)).date()


def refresh(doctype: str, policy: Policy, names: list[str] | None = None, on: date | None = None) -> dict:
	"""Recomputes protection of ``names`` (default: every record) as of ``on`` (default: today).
	Returns {records, released, warned, back, held_by_dispute}."""
	on = getdate(on or today())
	table = frappe.qb.DocType(doctype)
	counts = {"records": 0, "released": 0, "warned": 0, "back": 0, "held_by_dispute": 0}
	disputed = open_disputes(doctype)
	after = ""
	while True:
		q = frappe.qb.from_(table).select(table.name, table.creation, getattr(table, POOL_FIELD))
		if names is not None:
			q = q.where(table.name.isin(names or [""]))
		rows = q.where(table.name > after).orderby(table.name).limit(BATCH).run()
		if not rows:
			break
		after = rows[-1][0]
		_refresh_batch(doctype, policy, rows, on, disputed, counts)
		if names is not None:
			break
	return counts


def _refresh_batch(doctype, policy, rows, on, disputed, counts) -> None:
	batch = [r[0] for r in rows]
	acts = last_activity(doctype, batch, policy.activity)
	released, warned, back = [], [], []
	updates = []
	for name, created, in_pool in rows:
		act = acts.get(name)
		until = protected_until(policy, created, act)
		pool = policy.pools and until < on
		if pool and name in disputed:
			pool = False
			counts["held_by_dispute"] += 1
		if pool and not in_pool:
			released.append(name)
		elif not pool and in_pool:
			back.append(name)
		elif (
			not pool and policy.pools and policy.warn_days and until - timedelta(days=policy.warn_days) == on
		):
			warned.append((name, until))
		updates.append((int(pool), until, act, name))
	for start in range(0, len(updates), 1000):
		_write(doctype, updates[start : start + 1000])
	counts["records"] += len(rows)
	counts["released"] += len(released)
	counts["back"] += len(back)
	counts["warned"] += len(warned)
	_notify(doctype, released, warned)


def _write(doctype: str, chunk: list[tuple]) -> None:
	"""One UPDATE for a chunk of (pool, until, activity, name): CASE by name per column."""
	case = "case name " + " ".join(["when %s then %s"] * len(chunk)) + " end"
	values: list = []
	for col in range(3):
		values += [v for u in chunk for v in (u[3], u[col])]
	values += [u[3] for u in chunk]
	frappe.db.sql(
		f"update `tab{doctype}` set `{POOL_FIELD}` = {case}, `{UNTIL_FIELD}` = {case},"
		f" `{ACTIVITY_FIELD}` = {case} where name in ({', '.join(['%s'] * len(chunk))})",
		values,
	)


def _notify(doctype: str, released: list[str], warned: list[tuple[str, date]]) -> None:
	owners = owners_of(doctype, released + [n for n, _u in warned])
	for name in released:
		owner = (owners.get(name) or {}).get("owner")
		log("Released", doctype, name, previous_owner=owner)
		alert(
			"release",
			owner,
			doctype,
			name,
			_(
				"{0} {1} went back to the public pool: no qualifying activity in its protection period."
			).format(_(doctype), name),
		)
	for name, until in warned:
		owner = (owners.get(name) or {}).get("owner")
		log("Release Warned", doctype, name, previous_owner=owner, detail=str(until))
		alert(
			"release",
			owner,
			doctype,
			name,
			_("{0} {1} goes back to the public pool after {2} unless there is new activity.").format(
				_(doctype), name, frappe.format(until, {"fieldtype": "Date"})
			),
		)


def status(doctype: str, name: str) -> dict:
	"""{in_pool, protected_until, last_activity} of one record as stored."""
	row = frappe.db.get_value(doctype, name, [POOL_FIELD, UNTIL_FIELD, ACTIVITY_FIELD], as_dict=True) or {}
	return {
		"in_pool": bool(row.get(POOL_FIELD)),
		"protected_until": row.get(UNTIL_FIELD),
		"last_activity": row.get(ACTIVITY_FIELD),
	}
