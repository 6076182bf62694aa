# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt
"""Reconcile the key index with the records: writes that bypass doc events leave it stale.

``frappe.db.set_value``, ``doc.db_set``, bulk SQL, ``frappe.db.bulk_insert`` and patches change records
without running the doc events that keep the Dedup Key rows current (``core.guard``); until the index is
reconciled, a save-time check cannot see the new values and still sees the old ones.

- **Incremental** (scheduled every 10 minutes, ``reconcile()``): the records of every indexed doctype whose
  ``modified`` is at or after the previous run's start (less a margin for transactions that were open then)
  get their keys recomputed; only the differences are written. ``set_value``/``db_set`` update ``modified`` by
  default, so they are caught within one period.
- **Full** (scheduled daily, ``reconcile(full=True)``): every record, plus the keys of records that no longer
  exist (deleted by SQL). This also catches writes that left ``modified`` alone (``update_modified=False``,
  bulk SQL, patches).
- **Verify** (``verify=True``): the same comparison, nothing written; reports the drift (records with
  missing or stale keys, orphan keys) and a few examples.

Longest staleness: a bypassing write that updates ``modified`` waits for the next incremental run (at most
10 minutes plus the run); one that does not waits for the daily full run.

``bench --site SITE execute crm_dedup.rules.reconcile.reconcile --kwargs "{'verify': True, 'full': True}"``
"""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import timedelta
from typing import Any

import frappe
from frappe import _
from frappe.utils import get_datetime, now_datetime

from crm_dedup.core.config import compiled
from crm_dedup.core.keys import BATCH, TABLE, index_keys, insert_rows, stored_key
from crm_dedup.core.records import load_records
from crm_dedup.core.roles import require_manager

LAST_RUN = "crm_dedup_last_reconcile"  # global default: start of the last incremental or full run
MARGIN = timedelta(minutes=5)  # a transaction open when the last run started may commit older `modified`
EXAMPLES = 20


def indexed_doctypes() -> list[str]:
	"""Every doctype with keys in the index: rule targets and cross-checked doctypes."""
	comp = compiled()
	out: dict[str, None] = {}
	for r in comp.cfg["rules"]:
		out[r["target"]] = None
		out.update(dict.fromkeys(r["cross"]))
	return [dt for dt in out if frappe.db.exists("DocType", dt)]


def reconcile(
	full: bool = False,
	verify: bool = False,
	since: Any = None,
	doctypes: list[str] | None = None,
	commit: bool = True,
	names: list[str] | None = None,
) -> dict:
	"""Makes the key index match the records (or, ``verify``, reports how far it is off); see the module.
	``doctypes`` and ``names`` narrow it to some records (a spot check; the last-run time is then kept)."""
	started = now_datetime()
	t0 = time.monotonic()
	comp = compiled()
	if since is None and not full:
		last = frappe.db.get_global(LAST_RUN)
		since = get_datetime(last) - MARGIN if last else None  # never run: everything
	report: dict[str, Any] = {
		"mode": "verify" if verify else "fix",
		"scope": "full" if full or since is None else f"modified since {since}",
		"records": 0,
		"drifted_records": 0,
		"missing_keys": 0,
		"stale_keys": 0,
		"orphan_keys": 0,
		"examples": [],
		"per_doctype": {},
	}
	for dt in doctypes or indexed_doctypes():
		if not comp.index_plan(dt):
			continue
		counts = _reconcile_doctype(comp, dt, None if full else since, verify, commit, report, names)
		report["per_doctype"][dt] = counts
	if not verify and not doctypes and not names:
		frappe.db.set_global(LAST_RUN, str(started))
		if commit:
			frappe.db.commit()
	report["seconds"] = round(time.monotonic() - t0, 2)
	return report


def _names(doctype: str, since: Any, after: str, only: list[str] | None) -> list[str]:
	t = frappe.qb.DocType(doctype)
	q = frappe.qb.from_(t).select(t.name).where(t.name > after).orderby(t.name).limit(BATCH)
	if since is not None:
		q = q.where(t.modified >= since)
	if only is not None:
		q = q.where(t.name.isin(only or [""]))
	return [r[0] for r in q.run()]


def _reconcile_doctype(
	comp: Any, doctype: str, since: Any, verify: bool, commit: bool, report: dict, only: list[str] | None
) -> dict[str, int]:
	paths = comp.index_fields(doctype)
	counts = {"records": 0, "drifted": 0, "missing": 0, "stale": 0, "orphans": 0}
	after = ""
	while names := _names(doctype, since, after, only):
		after = names[-1]
		recs = load_records(doctype, names, paths)
		have: dict[str, dict[tuple[str, str], list[int]]] = defaultdict(lambda: defaultdict(list))
		for row_name, rule, key, ref in frappe.db.sql(
			f"select name, rule, blocking_key, ref_name from `{TABLE}` where ref_doctype=%s and ref_name in %s",
			(doctype, tuple(names)),
		):
			have[ref][(rule, key)].append(row_name)
		to_delete: list[int] = []
		to_insert: list[tuple[str, str, str, str]] = []
		for name in names:
			rec = recs.get(name)
			want = (
				{(rule, stored_key(k)) for rule, ks in index_keys(doctype, rec).items() for k in ks}
				if rec is not None
				else set()
			)
			got = have.get(name, {})
			stale = [n for rk, ns in got.items() for n in (ns if rk not in want else ns[1:])]
			missing = sorted(want - set(got))
			if stale or missing:
				counts["drifted"] += 1
				counts["missing"] += len(missing)
				counts["stale"] += len(stale)
				if len(report["examples"]) < EXAMPLES:
					report["examples"].append(
						{
							"doctype": doctype,
							"name": name,
							"missing": [f"{r}: {k}" for r, k in missing[:5]],
							"stale": len(stale),
						}
					)
				to_delete += stale
				to_insert += [(rule, key, doctype, name) for rule, key in missing]
		counts["records"] += len(names)
		if not verify:
			if to_delete:
				frappe.db.sql(f"delete from `{TABLE}` where name in %(n)s", {"n": tuple(to_delete)})
			if to_insert:
				insert_rows(to_insert)
			if commit:
				frappe.db.commit()
	if since is None:  # full: keys of records that are gone (deleted by SQL)
		orphans = frappe.db.sql(
			f"""select k.name from `{TABLE}` k left join `tab{doctype}` d on d.name = k.ref_name
			where k.ref_doctype = %(dt)s and d.name is null"""
			+ (" and k.ref_name in %(only)s" if only is not None else ""),
			{"dt": doctype, "only": tuple(only or [""])},
			pluck=True,
		)
		counts["orphans"] = len(orphans)
		if orphans and not verify:
			for start in range(0, len(orphans), 5000):
				frappe.db.sql(
					f"delete from `{TABLE}` where name in %(n)s", {"n": tuple(orphans[start : start + 5000])}
				)
			if commit:
				frappe.db.commit()
	for k_report, k_counts in (
		("records", "records"),
		("drifted_records", "drifted"),
		("missing_keys", "missing"),
		("stale_keys", "stale"),
		("orphan_keys", "orphans"),
	):
		report[k_report] += counts[k_counts]
	return counts


def run_incremental() -> None:
	"""Scheduler (every 10 minutes): records modified since the last run."""
	if compiled().enabled:
		reconcile()


def run_full() -> None:
	"""Scheduler (daily, long queue): every record, and the keys of records that are gone."""
	if compiled().enabled:
		reconcile(full=True)


INLINE_LIMIT = 20_000  # records: more than this, the buttons run in a background job (about 5,000 a second)


def _run_for_user(full: bool, verify: bool) -> dict:
	"""The buttons on Dedup Settings: inline for a small index, else a job on the long queue whose report
	reaches the user as a realtime event (``crm_dedup_reconcile``)."""
	require_manager(_("verify the key index") if verify else _("reconcile the key index"))
	total = sum(frappe.db.count(dt) for dt in indexed_doctypes())
	if total <= INLINE_LIMIT:
		return reconcile(full=full, verify=verify)
	frappe.enqueue(
		"crm_dedup.rules.reconcile.reconcile_job",
		queue="long",
		timeout=4 * 3600,
		job_id=f"crm_dedup_reconcile::{frappe.local.site}::{int(verify)}",
		deduplicate=True,
		full=full,
		verify=verify,
		user=frappe.session.user,
	)
	return {"queued": True, "records": total}


def reconcile_job(full: bool, verify: bool, user: str) -> None:
	report = reconcile(full=full, verify=verify)
	frappe.publish_realtime("crm_dedup_reconcile", report, user=user)


@frappe.whitelist()
def verify_index(full: bool = True) -> dict:
	"""Reports how far the key index is from the records, changing nothing (Dedup Manager)."""
	return _run_for_user(bool(full), verify=True)


@frappe.whitelist(methods=["POST"])
def reconcile_now(full: bool = False) -> dict:
	"""Brings the key index up to date now (Dedup Manager)."""
	return _run_for_user(bool(full), verify=False)
