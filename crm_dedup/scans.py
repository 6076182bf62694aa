"""Batch duplicate scans (批量查重), their results (Duplicate Set) and "not a duplicate" pairs.

A **Dedup Scan** covers one DocType (or every DocType with an enabled rule, one after the other) and runs as
background jobs on the ``long`` queue; every job has a job id derived from the scan, enqueued with
``deduplicate=True``, so a scan never runs twice at once:

- a table of at most ``chunk_size`` records is scanned by one job: load the records in bulk
  (``bridge.load_records``), ``engine.scan_records``, write the sets;
- a larger table is split: one **key job** per chunk of ``chunk_size`` names (idle workers share them) loads
  its records and computes their blocking keys (``RuleSet.prepare`` / ``RuleSet.keys``, engine API); the last
  one to finish enqueues the **compare job**, which joins the chunks' keys, keeps the records that share a key
  with another record (the only ones that can match), and runs ``engine.scan_records`` over those. The
  comparison itself is one job.

Progress is published to the Dedup Scan form (``crm_dedup_scan_progress``, realtime, doc room) and kept on
the document; the summary (records, pairs, sets, duration) is written at the end.

Results are **Duplicate Set** records (members with owner, the matched pairs with rule / fields / score /
explanation). A re-run updates the open set that already holds any of a cluster's records instead of adding
a second one; a full scan (all rules, all records of a DocType) marks open sets it no longer finds as
Resolved. "Not a duplicate" (a whole set or one pair) is stored per pair in **Dedup Not Duplicate**; those
pairs are skipped by later scans (``skip_pairs``) and by the save-time checks (``is_not_duplicate``).

This module is the single enqueue site of the feature; jobs never raise past their own error handling (a
failure is written to the scan and the Error Log).
"""

from __future__ import annotations

import json
import pickle
import re
import time
import zlib
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

import frappe
from frappe import _
from frappe.utils import cint, flt, now_datetime

from crm_dedup import bridge
from crm_dedup.engine import Match, scan_records
from crm_dedup.engine.index import key_hash
from crm_dedup.engine.scan import UnionFind

QUEUE = "long"
JOB_PREFIX = "crm_dedup_scan"
JOB_TIMEOUT = 6 * 3600
LOAD_BATCH = 5000  # names per bulk load
DEFAULT_CHUNK = 200_000  # one job is fastest below this (100k customers: 24 s, 0.5 GB); above, memory
PROGRESS_EVENT = "crm_dedup_scan_progress"
SET_DOCTYPE = "Duplicate Set"
MEMBER_DOCTYPE = "Duplicate Set Member"
PAIR_DOCTYPE = "Duplicate Set Pair"
NOT_DUP_DOCTYPE = "Dedup Not Duplicate"
SET_SERIES = "DSET-"
MAX_MEMBERS = 200  # members kept on one set (a larger cluster is a rule problem, reported in the summary)
MAX_PAIRS = 500  # pair rows kept on one set, best first
BLOB_TTL = 24 * 3600
MANAGER_ROLES = ("Dedup Manager", "System Manager")


# ==== starting a scan =====================================================================================
def job_id(scan: str, part: str = "") -> str:
	return f"{JOB_PREFIX}::{scan}" + (f"::{part}" if part else "")


@frappe.whitelist()
def start_scan(scan: str) -> dict:
	"""Queues the scan (the Start button of a Dedup Scan)."""
	frappe.has_permission("Dedup Scan", "write", scan, throw=True)
	doc = frappe.get_doc("Dedup Scan", scan)
	return enqueue_scan(doc)


@frappe.whitelist()
def scan_rule(rule: str) -> str:
	"""Creates and queues a scan of one rule's DocType with that rule only (button on the Dedup Rule form)."""
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
	frappe.has_permission("Dedup Scan", "create", throw=True)
	doc = frappe.get_doc({"doctype": "Dedup Scan", "scan_doctype": doctype or None, "triggered_by": "Manual"})
	doc.insert()
	enqueue_scan(doc)
	return doc.name


def plan(scan_doctype: str | None, rule: str | None) -> list[dict]:
	"""[{doctype, rules, full}] a scan covers; ``full`` when every enabled rule of the DocType is used."""
	comp = bridge.compiled()
	if not comp.enabled:
		frappe.throw(_("Duplicate checks are disabled in Dedup Settings."), title=_("Dedup disabled"))
	if rule:
		if rule not in comp.rules:
			frappe.throw(
				_("Rule {0} is not an enabled, valid rule.").format(rule), title=_("Nothing to scan")
			)
		target = comp.rules[rule]["target"]
		if scan_doctype and scan_doctype != target:
			frappe.throw(
				_("Rule {0} checks {1}, not {2}.").format(rule, _(target), _(scan_doctype)),
				title=_("Wrong DocType"),
			)
		return [{"doctype": target, "rules": [rule], "full": comp.target_rules(target) == (rule,)}]
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


def enqueue_scan(doc: Any) -> dict:
	"""Validates the plan, marks the scan Queued and enqueues its first job (once: deduplicated job id)."""
	if doc.status in ("Queued", "Running") and _job_active(job_id(doc.name)):
		frappe.throw(_("Scan {0} is already running.").format(doc.name), title=_("Already running"))
	steps = plan(doc.scan_doctype, doc.rule)
	busy = _busy_scans({s["doctype"] for s in steps}, exclude=doc.name)
	if busy:
		frappe.throw(
			_("Scan {0} of the same DocType is still running; wait for it to finish.").format(busy),
			title=_("Already running"),
		)
	state = {"steps": steps, "step": 0, "done": [], "jobs": 0}
	doc.db_set(
		{
			"status": "Queued",
			"progress": 0,
			"progress_message": _("Waiting for a worker"),
			"error": "",
			"job_id": job_id(doc.name),
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
			"state": json.dumps(state),
		}
	)
	_enqueue("crm_dedup.scans.run_scan", job_id(doc.name), scan=doc.name)
	return {"scan": doc.name, "status": "Queued", "doctypes": [s["doctype"] for s in steps]}


def _enqueue(method: str, jid: str, **kwargs: Any) -> None:
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


def _job_active(jid: str) -> bool:
	from frappe.utils.background_jobs import is_job_enqueued

	try:
		return bool(is_job_enqueued(jid))
	except Exception:
		return False


def _busy_scans(doctypes: set[str], exclude: str) -> str | None:
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
		if theirs & doctypes and _scan_alive(row.name):
			return row.name
	return None


def _scan_alive(scan: str) -> bool:
	"""Whether any job of the scan is queued or running (a scan left Running by a killed worker is not)."""
	from frappe.utils.background_jobs import get_queue

	try:
		q = get_queue(QUEUE)
		ids = list(q.get_job_ids()) + list(q.started_job_registry.get_job_ids())
	except Exception:
		return True
	prefix = f"{frappe.local.site}::{job_id(scan)}"
	return any(i == prefix or i.startswith(prefix + "::") for i in ids)


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
		wanted = bridge.split_fields(settings.get("scan_doctypes"))
		targets = sorted(bridge.config()["targets"])
		doctypes = [d for d in wanted if d in targets] if wanted else targets
		for dt in doctypes:
			if _busy_scans({dt}, exclude=""):
				continue
			doc = frappe.get_doc({"doctype": "Dedup Scan", "scan_doctype": dt, "triggered_by": "Schedule"})
			doc.insert(ignore_permissions=True)
			enqueue_scan(doc)
		frappe.db.commit()
	except Exception:
		frappe.db.rollback()
		frappe.log_error(title=f"crm_dedup: scheduled {frequency.lower()} scan failed")


# ==== jobs ================================================================================================
class _Progress:
	"""Publishes a scan's progress to its form (at most every 0.7 s) and keeps it on the document."""

	def __init__(self, scan: str, state: dict):
		self.scan = scan
		self.steps = max(len(state["steps"]), 1)
		self.step = state["step"]
		self.last = 0.0
		self.saved = 0.0

	def __call__(self, fraction: float, message: str, force: bool = False) -> None:
		now = time.monotonic()
		if not force and now - self.last < 0.7:
			return
		self.last = now
		percent = round(min(99.0, 100.0 * (self.step + max(0.0, min(1.0, fraction))) / self.steps), 1)
		frappe.publish_realtime(
			PROGRESS_EVENT,
			{"scan": self.scan, "percent": percent, "message": message},
			doctype="Dedup Scan",
			docname=self.scan,
		)
		if force or now - self.saved > 5:
			self.saved = now
			frappe.db.set_value(
				"Dedup Scan",
				self.scan,
				{"progress": percent, "progress_message": message[:140]},
				update_modified=False,
			)
			frappe.db.commit()


def _load_state(scan: str) -> dict:
	return json.loads(frappe.db.get_value("Dedup Scan", scan, "state") or "{}")


def _save_state(scan: str, state: dict, **values: Any) -> None:
	frappe.db.set_value("Dedup Scan", scan, {"state": json.dumps(state), **values}, update_modified=False)
	frappe.db.commit()


def _guarded(fn):
	"""Job wrapper: any error fails the scan with its message instead of leaving it Running."""

	def wrapper(scan: str, *args: Any, **kwargs: Any) -> None:
		try:
			fn(scan, *args, **kwargs)
		except Exception as e:
			frappe.db.rollback()
			_fail(scan, e)

	wrapper.__name__ = fn.__name__
	wrapper.__doc__ = fn.__doc__
	return wrapper


def _fail(scan: str, error: Exception) -> None:
	tb = frappe.get_traceback()
	frappe.log_error(title=f"crm_dedup: scan {scan} failed", message=tb)
	frappe.db.set_value(
		"Dedup Scan",
		scan,
		{
			"status": "Failed",
			"error": f"{error}\n\n{tb}"[:60000],
			"finished_at": now_datetime(),
			"progress_message": _("Failed"),
		},
		update_modified=False,
	)
	frappe.db.commit()
	frappe.publish_realtime(
		PROGRESS_EVENT, {"scan": scan, "done": True, "failed": True}, doctype="Dedup Scan", docname=scan
	)


@_guarded
def run_scan(scan: str) -> None:
	"""First job of a scan, and the job that moves on to the next DocType of an all-DocTypes scan."""
	state = _load_state(scan)
	if not state.get("steps"):
		raise frappe.ValidationError(_("Scan {0} was not started properly; start it again.").format(scan))
	values: dict[str, Any] = {"status": "Running"}
	if not state.get("t0"):
		state["t0"] = time.time()
		values["started_at"] = now_datetime()
	state["jobs"] = state.get("jobs", 0) + 1
	_save_state(scan, state, **values)

	while state["step"] < len(state["steps"]):
		step = state["steps"][state["step"]]
		progress = _Progress(scan, state)
		progress(0, _("Counting {0}").format(_(step["doctype"])), force=True)
		count = frappe.db.count(step["doctype"])
		chunk = cint(frappe.db.get_value("Dedup Scan", scan, "chunk_size"))
		if chunk and count > chunk:
			_start_chunks(scan, state, _all_names(step["doctype"]), chunk)
			return  # the key jobs take over; the compare job continues with the next step
		t_load = time.time()
		records = list(_iter_table(step["doctype"], _paths(step), progress=progress, hi=0.3, total=count))
		_compare_and_save(scan, state, records, progress, start=0.3, load_seconds=time.time() - t_load)
		state = _load_state(scan)
	_complete(scan, state)


def _all_names(doctype: str) -> list[str]:
	dt = frappe.qb.DocType(doctype)
	return frappe.qb.from_(dt).select(dt.name).orderby(dt.name).run(pluck=True)


def _paths(step: dict) -> list[str]:
	comp = bridge.compiled()
	out: dict[str, None] = {}
	for name in step["rules"]:
		for c in comp.rules[name]["engine"]["conditions"]:
			out.update(dict.fromkeys(c["fields"]))
	return list(out)


def _ruleset(step: dict):
	comp = bridge.compiled()
	missing = [r for r in step["rules"] if r not in comp.rules]
	if missing:
		raise frappe.ValidationError(
			_("Rule {0} was disabled or deleted while the scan ran.").format(", ".join(missing))
		)
	return comp.ruleset(step["rules"])


def _iter_records(
	doctype: str, names: list[str], paths: list[str], progress: _Progress | None, lo: float, hi: float
) -> Iterator[tuple[str, dict]]:
	"""(name, record) for ``names``, loaded in bulk (one query per table per LOAD_BATCH names)."""
	total = max(len(names), 1)
	for start in range(0, len(names), LOAD_BATCH):
		batch = names[start : start + LOAD_BATCH]
		recs = bridge.load_records(doctype, batch, paths)
		for n in batch:
			rec = recs.get(n)
			if rec is not None:
				yield n, rec
		if progress:
			done = min(start + LOAD_BATCH, len(names))
			progress(
				lo + (hi - lo) * done / total,
				_("Loading {0}: {1} of {2}").format(_(doctype), done, len(names)),
			)


PAGE = 20000  # rows per keyset page of a full-table load


def _iter_table(
	doctype: str,
	paths: list[str],
	first: str | None = None,
	last: str | None = None,
	progress: _Progress | None = None,
	lo: float = 0.0,
	hi: float = 0.0,
	total: int = 0,
) -> Iterator[tuple[str, dict]]:
	"""(name, record) of every record of ``doctype`` (names in [first, last] when given), in name order.

	The same records as ``bridge.load_records`` (child-table paths as lists), read page by page with keyset
	pagination and tuples instead of one ``name in (...)`` query per thousand names."""
	plain, tables = bridge._split_paths(doctype, paths)
	cols = ["name", *[p for p in plain if p != "name"]]
	select = ", ".join(f"`{c}`" for c in cols)
	after: str | None = None
	done = 0
	while True:
		where, values = [], []
		if after is not None:
			where.append("name > %s")
			values.append(after)
		elif first is not None:
			where.append("name >= %s")
			values.append(first)
		if last is not None:
			where.append("name <= %s")
			values.append(last)
		sql = f"select {select} from `tab{doctype}`"
		if where:
			sql += " where " + " and ".join(where)
		rows = frappe.db.sql(f"{sql} order by name limit {PAGE}", values)
		if not rows:
			return
		page: dict[str, dict] = {}
		for row in rows:
			rec = dict(zip(cols, row, strict=True))
			name = rec["name"] if "name" in plain else rec.pop("name")
			for table, (_child, child_cols) in tables.items():
				for c in child_cols:
					rec[f"{table}.{c}"] = []
			page[name] = rec
		for table, (child, child_cols) in tables.items():
			ccols = ", ".join(f"`{c}`" for c in child_cols)
			for row in frappe.db.sql(
				f"select parent, {ccols} from `tab{child}` where parenttype=%(dt)s and parentfield=%(pf)s"
				" and parent in %(names)s order by parent, idx",
				{"dt": doctype, "pf": table, "names": tuple(page)},
			):
				rec = page.get(row[0])
				if rec is None:
					continue
				for c, v in zip(child_cols, row[1:], strict=True):
					if v not in (None, ""):
						rec[f"{table}.{c}"].append(v)
		yield from page.items()
		done += len(rows)
		after = rows[-1][0]
		if progress:
			progress(
				lo + (hi - lo) * min(1.0, done / (total or done)),
				_("Loading {0}: {1} of {2}").format(_(doctype), done, total or done),
			)
		if len(rows) < PAGE:
			return


# ---- chunked: key jobs + compare job --------------------------------------------------------------------
def _blob_key(scan: str, step: int, part: str) -> str:
	return f"{frappe.local.site}|crm_dedup_scan|{scan}|{step}|{part}"


def _redis():
	from frappe.utils.background_jobs import get_redis_conn

	return get_redis_conn()


def _start_chunks(scan: str, state: dict, names: list[str], chunk: int) -> None:
	step_no = state["step"]
	bounds = [(names[i], names[min(i + chunk, len(names)) - 1]) for i in range(0, len(names), chunk)]
	state["chunks"] = len(bounds)
	state["jobs"] = state.get("jobs", 0) + len(bounds)
	r = _redis()
	r.set(_blob_key(scan, step_no, "done"), 0, ex=BLOB_TTL)
	_save_state(scan, state)
	for i, (first, last) in enumerate(bounds):
		_enqueue(
			"crm_dedup.scans.run_key_chunk",
			job_id(scan, f"{step_no}::keys::{i}"),
			scan=scan,
			step_no=step_no,
			chunk_no=i,
			first=first,
			last=last,
		)
	frappe.db.commit()  # enqueue_after_commit


@_guarded
def run_key_chunk(scan: str, step_no: int, chunk_no: int, first: str, last: str) -> None:
	"""Key job: the blocking keys of the records whose names lie in [first, last]."""
	state = _load_state(scan)
	step = state["steps"][step_no]
	rs = _ruleset(step)
	progress = _Progress(scan, state)
	chunks = state.get("chunks") or 1
	buckets: dict[int, list[str]] = defaultdict(list)
	count = 0
	for name, rec in _iter_table(step["doctype"], _paths(step), first=first, last=last):
		count += 1
		for rule, keys in rs.keys(rs.prepare(rec)).items():
			for k in keys:
				buckets[key_hash(rule, k)].append(name)
	r = _redis()
	r.set(
		_blob_key(scan, step_no, f"keys:{chunk_no}"),
		zlib.compress(pickle.dumps((count, dict(buckets)), protocol=pickle.HIGHEST_PROTOCOL), 1),
		ex=BLOB_TTL,
	)
	r.rpush(_blob_key(scan, step_no, "rss"), _peak_rss_mb())
	r.expire(_blob_key(scan, step_no, "rss"), BLOB_TTL)
	done = r.incr(_blob_key(scan, step_no, "done"))
	progress(
		0.4 * done / chunks,
		_("Keys of {0}: {1} of {2} chunks").format(_(step["doctype"]), done, chunks),
		force=True,
	)
	if done == chunks:
		_enqueue(
			"crm_dedup.scans.run_compare", job_id(scan, f"{step_no}::compare"), scan=scan, step_no=step_no
		)
		frappe.db.commit()


@_guarded
def run_compare(scan: str, step_no: int) -> None:
	"""Compare job: joins the chunks' keys, loads the records sharing a key, runs the engine's scan."""
	state = _load_state(scan)
	state["jobs"] = state.get("jobs", 0) + 1
	_save_state(scan, state)
	step = state["steps"][step_no]
	progress = _Progress(scan, state)
	r = _redis()
	merged: dict[int, list[str]] = defaultdict(list)
	total_records = 0
	for i in range(state.get("chunks") or 0):
		raw = r.get(_blob_key(scan, step_no, f"keys:{i}"))
		if raw is None:
			raise frappe.ValidationError(
				_("The keys of chunk {0} are missing; start the scan again.").format(i)
			)
		count, buckets = pickle.loads(zlib.decompress(raw))
		total_records += count
		for h, names in buckets.items():
			merged[h].extend(names)
	candidates: set[str] = set()
	for names in merged.values():
		if len(names) > 1:
			candidates.update(names)
	del merged
	names = sorted(candidates)
	progress(0.45, _("{0} of {1} records share a key; loading them").format(len(names), total_records), True)
	t_load = time.time()
	records = list(_iter_records(step["doctype"], names, _paths(step), progress, 0.45, 0.55))
	load_seconds = time.time() - t_load
	key_rss = [float(x) for x in r.lrange(_blob_key(scan, step_no, "rss"), 0, -1)]
	_compare_and_save(
		scan,
		state,
		records,
		progress,
		start=0.55,
		total_records=total_records,
		key_job_rss=key_rss,
		load_seconds=load_seconds,
	)
	for i in range(state.get("chunks") or 0):
		r.delete(_blob_key(scan, step_no, f"keys:{i}"))
	r.delete(_blob_key(scan, step_no, "done"), _blob_key(scan, step_no, "rss"))
	state = _load_state(scan)
	if state["step"] < len(state["steps"]):
		_enqueue("crm_dedup.scans.run_scan", job_id(scan, f"{state['step']}::next"), scan=scan)
		frappe.db.commit()
	else:
		_complete(scan, state)


# ---- comparison and the summary -------------------------------------------------------------------------
def _compare_and_save(
	scan: str,
	state: dict,
	records: list[tuple[str, dict]],
	progress: _Progress,
	start: float,
	total_records: int | None = None,
	key_job_rss: list[float] | None = None,
	load_seconds: float = 0.0,
) -> None:
	step = state["steps"][state["step"]]
	doctype = step["doctype"]
	rs = _ruleset(step)
	skip = not_duplicate_pairs(doctype)
	t0 = time.time()

	def on_progress(phase: str, done: int, total: int) -> None:
		frac = done / total if total else 0
		if phase == "prepare":
			progress(start + (0.9 - start) * 0.4 * frac, _("Preparing {0} records").format(done))
		else:
			progress(
				start + (0.9 - start) * (0.4 + 0.6 * frac),
				_("Comparing: {0} of {1} keys").format(done, total),
			)

	result = scan_records(rs, records, progress=on_progress, total=len(records), skip_pairs=skip)
	compare_seconds = time.time() - t0
	progress(0.9, _("Saving duplicate sets"), force=True)
	t_save = time.time()
	saved = save_sets(doctype, step["rules"], step["full"], result.clusters, result.pairs, scan)
	frappe.db.commit()
	save_seconds = time.time() - t_save

	per = {
		"doctype": doctype,
		"rules": step["rules"],
		"records": total_records if total_records is not None else len(records),
		"candidates": len(records),
		"compared": result.stats.get("compared", 0),
		"pairs": result.stats.get("pairs", 0),
		"clusters": result.stats.get("clusters", 0),
		"oversized_keys": result.stats.get("oversized_keys", 0),
		"skip_pairs": len(skip) // 2,
		"load_seconds": round(load_seconds, 2),
		"compare_seconds": round(compare_seconds, 2),
		"save_seconds": round(save_seconds, 2),
		"peak_rss_mb": _peak_rss_mb(),
		"key_jobs": len(key_job_rss or []),
		"key_job_peak_rss_mb": max(key_job_rss or [0]),
		**saved,
	}
	state = _load_state(scan)
	state.setdefault("done", []).append(per)
	state["step"] = state["step"] + 1
	_save_state(scan, state)


def _peak_rss_mb() -> float:
	"""Peak resident memory of this process (the job's work horse) in MB."""
	import resource

	return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _complete(scan: str, state: dict) -> None:
	done = state.get("done") or []
	total = lambda k: sum(cint(d.get(k)) for d in done)  # noqa: E731
	finished = now_datetime()
	duration = round(time.time() - (state.get("t0") or time.time()), 2)
	frappe.db.set_value(
		"Dedup Scan",
		scan,
		{
			"status": "Completed",
			"progress": 100,
			"progress_message": _("Completed"),
			"finished_at": finished,
			"duration": duration,
			"records": total("records"),
			"compared": total("compared"),
			"pairs": total("pairs"),
			"sets_found": total("clusters"),
			"sets_new": total("new"),
			"sets_updated": total("updated"),
			"sets_resolved": total("resolved"),
			"skipped_pairs": total("skip_pairs"),
			"jobs": cint(state.get("jobs")),
			"summary": json.dumps(done, indent=1, ensure_ascii=False),
		},
		update_modified=True,
	)
	frappe.db.commit()
	frappe.publish_realtime(
		PROGRESS_EVENT,
		{"scan": scan, "percent": 100, "done": True, "message": _("Completed")},
		doctype="Dedup Scan",
		docname=scan,
	)


# ==== duplicate sets ======================================================================================
def _pair_key(a: str, b: str) -> tuple[str, str]:
	return (a, b) if a <= b else (b, a)


def _open_sets(doctype: str) -> tuple[dict[str, str], dict[str, dict]]:
	"""({member name: open set}, {open set: {members, pairs, first_seen}}) for one DocType."""
	s = frappe.qb.DocType(SET_DOCTYPE)
	m = frappe.qb.DocType(MEMBER_DOCTYPE)
	rows = (
		frappe.qb.from_(m)
		.join(s)
		.on(s.name == m.parent)
		.select(s.name, m.member_name)
		.where((s.status == "Open") & (s.ref_doctype == doctype) & (m.member_doctype == doctype))
		.where(m.parenttype == SET_DOCTYPE)
		.run()
	)
	by_member: dict[str, str] = {}
	sets: dict[str, dict] = defaultdict(lambda: {"members": set()})
	for set_name, member in rows:
		by_member.setdefault(member, set_name)
		sets[set_name]["members"].add(member)
	return by_member, dict(sets)


def _set_pairs(set_names: Iterable[str]) -> dict[str, list[dict]]:
	set_names = list(set_names)
	out: dict[str, list[dict]] = defaultdict(list)
	if not set_names:
		return out
	for start in range(0, len(set_names), 1000):
		for row in frappe.get_all(
			PAIR_DOCTYPE,
			filters={"parenttype": SET_DOCTYPE, "parent": ["in", set_names[start : start + 1000]]},
			fields=["parent", *PAIR_FIELDS],
			order_by="idx asc",
		):
			out[row.pop("parent")].append(row)
	return out


def _match_row(doctype: str, a: str, b: str, m: Match) -> dict:
	fields = "; ".join(
		f"{h.field_a} ~ {h.field_b} ({h.match} {h.score:.0f})" for h in m.hits if not h.skipped
	)
	return {
		"doctype_a": doctype,
		"name_a": a,
		"doctype_b": doctype,
		"name_b": b,
		"rule": m.rule,
		"action": bridge.ACTION_LABELS.get(m.action, m.action),
		"score": round(float(m.score), 1),
		"matched_fields": fields[:1000],
		"explanation": m.explain[:2000],
		"not_duplicate": 0,
		"_priority": m.priority,
	}


def save_sets(
	doctype: str,
	rule_names: list[str],
	full: bool,
	clusters: list[list[str]],
	pairs: list[tuple[str, str, Match]],
	scan: str | None = None,
) -> dict:
	"""Writes the clusters of one scan as Duplicate Sets: new sets for new clusters, the existing open set
	updated when a cluster shares a record with it (several such sets are merged into the oldest one).

	A ``full`` scan (every rule, every record of the DocType) is authoritative: a set's members and pairs
	become the cluster's, and open sets no cluster touched are marked Resolved. A partial scan (one rule)
	adds to the sets and replaces only the pairs of its own rules."""
	now = now_datetime()
	cluster_of = {m: i for i, c in enumerate(clusters) for m in c}
	pair_rows: dict[int, list[dict]] = defaultdict(list)
	for a, b, m in pairs:
		i = cluster_of.get(a)
		if i is not None:
			pair_rows[i].append(_match_row(doctype, a, b, m))

	by_member, open_sets = _open_sets(doctype)
	claimed: dict[str, int] = {}
	absorbed: set[str] = set()
	plans: list[
		tuple[str | None, list[str], list[str]]
	] = []  # (set to update or None, cluster, absorbed sets)
	order = sorted(range(len(clusters)), key=lambda i: -len(clusters[i]))
	for i in order:
		touched = sorted({by_member[m] for m in clusters[i] if m in by_member} - absorbed - set(claimed))
		target = touched[0] if touched else None
		if target:
			claimed[target] = i
		others = touched[1:]
		absorbed.update(others)
		plans.append((target, i, others))

	touched_sets = [s for t, _i, o in plans for s in ([t] if t else []) + o]
	old_pairs = _set_pairs(touched_sets)
	wanted = [m for c in clusters for m in c]
	if not full:
		wanted += [m for s in touched_sets for m in open_sets.get(s, {}).get("members", ())]
	info = _member_info(doctype, wanted)

	new_sets: list[dict] = []
	updates: list[dict] = []
	unchanged: list[str] = []
	ours = set(rule_names)
	for target, i, others in plans:
		members = list(clusters[i])
		rows = list(pair_rows.get(i, []))
		extra_sets = ([target] if target else []) + others
		if not full:
			for s in extra_sets:
				members += [m for m in sorted(open_sets.get(s, {}).get("members", ())) if m not in members]
		in_set = set(members)
		kept = []
		for s in extra_sets:
			for r in old_pairs.get(s, []):
				if not (r["name_a"] in in_set and r["name_b"] in in_set):
					continue
				# kept: pairs marked "not a duplicate" (history), and on a one-rule scan the other rules' pairs
				if r.get("not_duplicate") or (not full and r["rule"] not in ours):
					kept.append({**r, "_priority": _rule_priority(r["rule"])})
		rows = _best_per_pair(rows + kept)
		data = _set_values(doctype, members, rows, info, scan, now)
		if not target:
			data["first_seen"] = now
			new_sets.append(data)
			continue
		data["name"] = target
		if not others and _same_set(open_sets[target]["members"], old_pairs.get(target, []), data):
			unchanged.append(target)
		else:
			updates.append(data)

	if absorbed:
		_delete_sets(sorted(absorbed))
	resolved = 0
	if full:
		stale = sorted(set(open_sets) - set(claimed) - absorbed)
		if stale:
			resolved = len(stale)
			s = frappe.qb.DocType(SET_DOCTYPE)
			for start in range(0, len(stale), 1000):
				frappe.qb.update(s).set(s.status, "Resolved").set(s.modified, now).where(
					s.name.isin(stale[start : start + 1000])
				).run()
	if unchanged:
		st = frappe.qb.DocType(SET_DOCTYPE)
		for start in range(0, len(unchanged), 1000):
			q = frappe.qb.update(st).set(st.last_seen, now)
			if scan:
				q = q.set(st.scan, scan)
			q.where(st.name.isin(unchanged[start : start + 1000])).run()
	_write_sets(new_sets, updates, now)
	return {
		"new": len(new_sets),
		"updated": len(updates),
		"unchanged": len(unchanged),
		"resolved": resolved,
		"merged_sets": len(absorbed),
	}


def _rule_priority(rule: str | None) -> int:
	r = bridge.compiled().rules.get(rule or "")
	return int(r["engine"]["priority"]) if r else 99


def _best_per_pair(rows: list[dict]) -> list[dict]:
	"""One row per pair of records: a "not a duplicate" mark wins, then the rule with the lowest priority
	number, then the higher score (a pair matched by several rules is explained by its best rule)."""
	best: dict[tuple[str, str], tuple[tuple, dict]] = {}
	for r in rows:
		k = _pair_key(r["name_a"], r["name_b"])
		rank = (-cint(r.get("not_duplicate")), r.get("_priority", 99), -flt(r["score"]))
		if k not in best or rank < best[k][0]:
			best[k] = (rank, r)
	return [r for _rank, r in best.values()]


def _same_set(old_members: set[str], old_pairs: list[dict], data: dict) -> bool:
	"""Whether a set's stored members and pairs (rule, score) are what the scan found again."""
	if set(old_members) != {m["member_name"] for m in data["members"]}:
		return False
	sig = lambda rows: sorted(  # noqa: E731
		(
			*_pair_key(r["name_a"], r["name_b"]),
			r["rule"],
			round(flt(r["score"]), 1),
			cint(r.get("not_duplicate")),
		)
		for r in rows
	)
	return sig(old_pairs) == sig(data["pairs"])


def _set_values(
	doctype: str, members: list[str], rows: list[dict], info: dict[str, dict], scan: str | None, now: Any
) -> dict:
	members = members[:MAX_MEMBERS]
	kept = set(members)
	rows = [r for r in rows if r["name_a"] in kept and r["name_b"] in kept]
	rows = sorted(rows, key=lambda r: (r.get("_priority", 10), -flt(r["score"]), r["name_a"], r["name_b"]))
	rows = rows[:MAX_PAIRS]
	best = rows[0] if rows else {}
	first = info.get(members[0], {}) if members else {}
	first_title = first.get("title") or (members[0] if members else "")
	# stored, so language-neutral: "南京金陵餐饮有限公司 (+2)"
	title = f"{first_title} (+{len(members) - 1})" if len(members) > 1 else first_title
	return {
		"title": str(title)[:140],
		"ref_doctype": doctype,
		"status": "Open",
		"member_count": len(members),
		"pair_count": len(rows),
		"top_rule": best.get("rule"),
		"max_score": max((flt(r["score"]) for r in rows), default=0),
		"scan": scan,
		"last_seen": now,
		"members": [
			{
				"member_doctype": doctype,
				"member_name": m,
				"member_title": str(info.get(m, {}).get("title") or m)[:140],
				"record_owner": info.get(m, {}).get("owner"),
				"record_created": info.get(m, {}).get("creation"),
			}
			for m in members
		],
		"pairs": [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows],
	}


def _reserve_names(count: int, digits: int = 5) -> list[str]:
	"""``count`` consecutive names of the DSET- series (one locked update, as frappe's getseries)."""
	if count <= 0:
		return []
	series = frappe.qb.DocType("Series")
	current = frappe.qb.from_(series).where(series.name == SET_SERIES).for_update().select("current").run()
	if current and current[0][0] is not None:
		start = cint(current[0][0])
		frappe.db.sql(
			"update `tabSeries` set `current` = `current` + %s where `name`=%s", (count, SET_SERIES)
		)
	else:
		start = 0
		frappe.db.sql("insert into `tabSeries` (`name`, `current`) values (%s, %s)", (SET_SERIES, count))
	return [f"{SET_SERIES}{str(start + i).zfill(digits)}" for i in range(1, count + 1)]


SET_FIELDS = (
	"title",
	"ref_doctype",
	"status",
	"member_count",
	"pair_count",
	"top_rule",
	"max_score",
	"scan",
	"last_seen",
	"first_seen",
)
MEMBER_FIELDS = ("member_doctype", "member_name", "member_title", "record_owner", "record_created")
PAIR_FIELDS = (
	"doctype_a",
	"name_a",
	"doctype_b",
	"name_b",
	"rule",
	"action",
	"score",
	"matched_fields",
	"explanation",
	"not_duplicate",
)
STD = ("name", "creation", "modified", "owner", "modified_by", "docstatus")
CHILD_STD = (*STD, "parent", "parenttype", "parentfield", "idx")


def _write_sets(new_sets: list[dict], updates: list[dict], now: Any) -> None:
	"""Bulk writes: parents of new sets, and the child rows of new and updated sets."""
	user = frappe.session.user or "Administrator"
	names = _reserve_names(len(new_sets))
	for data, name in zip(new_sets, names, strict=True):
		data["name"] = name
	if new_sets:
		frappe.db.bulk_insert(
			SET_DOCTYPE,
			[*STD, *SET_FIELDS],
			[(d["name"], now, now, user, user, 0, *(d.get(f) for f in SET_FIELDS)) for d in new_sets],
		)
	if updates:
		s = frappe.qb.DocType(SET_DOCTYPE)
		for d in updates:
			q = frappe.qb.update(s).set(s.modified, now).set(s.modified_by, user)
			for f in SET_FIELDS:
				if f != "first_seen":
					q = q.set(s[f], d.get(f))
			q.where(s.name == d["name"]).run()
		upd = [d["name"] for d in updates]
		for child in (MEMBER_DOCTYPE, PAIR_DOCTYPE):
			c = frappe.qb.DocType(child)
			for start in range(0, len(upd), 1000):
				frappe.qb.from_(c).delete().where(
					(c.parenttype == SET_DOCTYPE) & c.parent.isin(upd[start : start + 1000])
				).run()
	everything = new_sets + updates
	member_rows = []
	pair_rows = []

	def child_rows(d: dict, table: str, fields) -> list[tuple]:
		"""The child rows of one set as INSERT tuples: standard columns, then ``fields``."""
		return [
			(frappe.generate_hash(length=12), now, now, user, user, 0, d["name"], SET_DOCTYPE, table, idx)
			+ tuple(row.get(f) for f in fields)
			for idx, row in enumerate(d[table], 1)
		]

	for d in everything:
		member_rows += child_rows(d, "members", MEMBER_FIELDS)
		pair_rows += child_rows(d, "pairs", PAIR_FIELDS)
	if member_rows:
		frappe.db.bulk_insert(MEMBER_DOCTYPE, [*CHILD_STD, *MEMBER_FIELDS], member_rows, chunk_size=5000)
	if pair_rows:
		frappe.db.bulk_insert(PAIR_DOCTYPE, [*CHILD_STD, *PAIR_FIELDS], pair_rows, chunk_size=2000)


def _delete_sets(names: list[str]) -> None:
	for table in (MEMBER_DOCTYPE, PAIR_DOCTYPE):
		c = frappe.qb.DocType(table)
		frappe.qb.from_(c).delete().where((c.parenttype == SET_DOCTYPE) & c.parent.isin(names)).run()
	s = frappe.qb.DocType(SET_DOCTYPE)
	frappe.qb.from_(s).delete().where(s.name.isin(names)).run()
	frappe.db.delete("Comment", {"reference_doctype": SET_DOCTYPE, "reference_name": ["in", names]})


def _member_info(doctype: str, names: Iterable[str]) -> dict[str, dict]:
	"""{name: {title, owner, creation}} in bulk; owner as ``bridge.owner_of`` decides (Dedup Settings)."""
	names = list(dict.fromkeys(names))
	if not names:
		return {}
	meta = frappe.get_meta(doctype)
	title_field = meta.get_title_field()
	cfg = bridge.config()
	owner_path = cfg["owner_fields"].get(doctype) or ""
	owner_df = meta.get_field(owner_path) if owner_path and "." not in owner_path else None
	cols = ["name", "creation", "owner", "_assign"]
	if title_field and title_field != "name" and meta.get_field(title_field):
		cols.append(title_field)
	if owner_df and owner_df.fieldname not in cols:
		cols.append(owner_df.fieldname)
	dt = frappe.qb.DocType(doctype)
	out: dict[str, dict] = {}
	resolve: dict[str, list[str]] = defaultdict(list)
	slow: list[str] = []
	for start in range(0, len(names), 1000):
		for row in (
			frappe.qb.from_(dt)
			.select(*[dt[c] for c in cols])
			.where(dt.name.isin(names[start : start + 1000]))
			.run(as_dict=True)
		):
			fallback = row.owner
			if row.get("_assign"):
				try:
					assigned = json.loads(row["_assign"]) or []
				except ValueError:
					assigned = []
				if assigned:
					fallback = assigned[0]
			out[row.name] = {
				"title": row.get(title_field) if title_field in row else row.name,
				"owner": fallback,
				"creation": row.creation,
			}
			if owner_df is not None:
				value = row.get(owner_df.fieldname)
				if value:
					resolve[value].append(row.name)
			elif owner_path or meta.get_table_fields():
				slow.append(row.name)
	if owner_df is not None and resolve:
		users = _resolve_users(owner_df.options if owner_df.fieldtype == "Link" else None, list(resolve))
		for value, recs in resolve.items():
			user = users.get(value)
			if user:
				for r in recs:
					out[r]["owner"] = user
	elif slow and (
		owner_path or any(df.options == bridge.PARTY_LINK_TABLE for df in meta.get_table_fields())
	):
		for n in slow[:2000]:
			out[n]["owner"] = bridge.owner_of(doctype, n) or out[n]["owner"]
	return out


def _resolve_users(target: str | None, values: list[str]) -> dict[str, str]:
	if target == "Sales Person":
		sp = frappe.get_all("Sales Person", filters={"name": ["in", values]}, fields=["name", "employee"])
		emps = _resolve_users("Employee", [r.employee for r in sp if r.employee])
		return {r.name: emps.get(r.employee) for r in sp if r.employee and emps.get(r.employee)}
	if target == "Employee":
		return {
			r.name: r.user_id
			for r in frappe.get_all("Employee", filters={"name": ["in", values]}, fields=["name", "user_id"])
			if r.user_id
		}
	if target in (None, "User"):
		return {u: u for u in frappe.get_all("User", filters={"name": ["in", values]}, pluck="name")}
	return {}


def add_pair_to_sets(doctype: str, a: str, b: str, match: Match, scan: str | None = None) -> str | None:
	"""Records one matched pair (e.g. a row imported past a Warn rule) in the open set of either record, or
	a new set; returns the set's name. Written in the current transaction."""
	if not a or not b or a == b or is_not_duplicate(doctype, a, doctype, b):
		return None
	by_member, open_sets = _open_sets_for(doctype, [a, b])
	touched = sorted({by_member[x] for x in (a, b) if x in by_member})
	now = now_datetime()
	row = _match_row(doctype, *_pair_key(a, b), match)
	if not touched:
		info = _member_info(doctype, [a, b])
		data = _set_values(doctype, list(_pair_key(a, b)), [row], info, scan, now)
		data["first_seen"] = now
		_write_sets([data], [], now)
		return data["name"]
	target, others = touched[0], touched[1:]
	members = sorted(set().union(*(open_sets[s]["members"] for s in touched)) | {a, b})
	rows = [row]
	for prs in _set_pairs(touched).values():
		rows += [{**r, "_priority": _rule_priority(r["rule"])} for r in prs]
	rows = _best_per_pair(rows)
	info = _member_info(doctype, members)
	data = _set_values(doctype, members, rows, info, scan, now)
	data["name"] = target
	if others:
		_delete_sets(others)
	_write_sets([], [data], now)
	return target


def _open_set_names(doctype: str, names: list[str]) -> list[str]:
	"""The open duplicate sets any of these records is a member of."""
	s = frappe.qb.DocType(SET_DOCTYPE)
	m = frappe.qb.DocType(MEMBER_DOCTYPE)
	return (
		frappe.qb.from_(m)
		.join(s)
		.on(s.name == m.parent)
		.select(s.name)
		.distinct()
		.where((s.status == "Open") & (m.member_doctype == doctype) & m.member_name.isin(names))
		.run(pluck=True)
	)


def _open_sets_for(doctype: str, names: list[str]) -> tuple[dict[str, str], dict[str, dict]]:
	set_names = _open_set_names(doctype, names)
	by_member: dict[str, str] = {}
	sets: dict[str, dict] = {}
	if set_names:
		m = frappe.qb.DocType(MEMBER_DOCTYPE)
		for parent, member in (
			frappe.qb.from_(m)
			.select(m.parent, m.member_name)
			.where((m.parenttype == SET_DOCTYPE) & m.parent.isin(set_names))
			.run()
		):
			sets.setdefault(parent, {"members": set()})["members"].add(member)
			if member in names:
				by_member.setdefault(member, parent)
	return by_member, sets


# ==== "not a duplicate" ===================================================================================
def is_not_duplicate(doctype_a: str, name_a: str, doctype_b: str, name_b: str) -> bool:
	"""Whether the pair was marked "not a duplicate" (either order). Called by the save-time checks."""
	if not (name_a and name_b and doctype_a and doctype_b):
		return False
	t = frappe.qb.DocType(NOT_DUP_DOCTYPE)
	try:
		rows = (
			frappe.qb.from_(t)
			.select(t.name)
			.where(
				(
					(t.doctype_a == doctype_a)
					& (t.name_a == str(name_a))
					& (t.doctype_b == doctype_b)
					& (t.name_b == str(name_b))
				)
				| (
					(t.doctype_a == doctype_b)
					& (t.name_a == str(name_b))
					& (t.doctype_b == doctype_a)
					& (t.name_b == str(name_a))
				)
			)
			.limit(1)
			.run()
		)
	except Exception as e:
		if frappe.db.is_table_missing(e):
			return False
		raise
	return bool(rows)


def not_duplicate_pairs(doctype: str) -> set[tuple[str, str]]:
	"""Every pair of ``doctype`` marked "not a duplicate", in both orders (the engine's ``skip_pairs``)."""
	t = frappe.qb.DocType(NOT_DUP_DOCTYPE)
	out: set[tuple[str, str]] = set()
	for a, b in (
		frappe.qb.from_(t)
		.select(t.name_a, t.name_b)
		.where((t.doctype_a == doctype) & (t.doctype_b == doctype))
		.run()
	):
		out.add((str(a), str(b)))
		out.add((str(b), str(a)))
	return out


def _add_not_duplicate(
	doctype_a: str, name_a: str, doctype_b: str, name_b: str, duplicate_set: str | None, reason: str | None
) -> bool:
	if (doctype_a, name_a) == (doctype_b, name_b) or is_not_duplicate(doctype_a, name_a, doctype_b, name_b):
		return False
	(da, na), (db_, nb) = sorted([(doctype_a, str(name_a)), (doctype_b, str(name_b))])
	frappe.get_doc(
		{
			"doctype": NOT_DUP_DOCTYPE,
			"doctype_a": da,
			"name_a": na,
			"doctype_b": db_,
			"name_b": nb,
			"duplicate_set": duplicate_set,
			"reason": reason,
			"marked_by": frappe.session.user,
			"marked_at": now_datetime(),
		}
	).insert(ignore_permissions=True, ignore_links=True)
	return True


def _check_manager(duplicate_set: str) -> None:
	frappe.has_permission(SET_DOCTYPE, "write", duplicate_set, throw=True)


@frappe.whitelist()
def mark_not_duplicate(duplicate_set: str, pair: str | None = None, reason: str | None = None) -> dict:
	"""Marks a whole set (every two of its records) or one of its pairs as "not a duplicate".

	Marking one pair keeps the set open with the records still connected by the other pairs; records left
	without a pair leave the set, and a part that is no longer connected becomes a set of its own."""
	_check_manager(duplicate_set)
	doc = frappe.get_doc(SET_DOCTYPE, duplicate_set)
	if doc.status != "Open":
		frappe.throw(_("Only an open set can be marked."), title=_("Not open"))
	if not pair:
		members = [(m.member_doctype, m.member_name) for m in doc.members]
		added = 0
		for i in range(len(members)):
			for j in range(i + 1, len(members)):
				added += _add_not_duplicate(*members[i], *members[j], doc.name, reason)
		for p in doc.pairs:
			p.not_duplicate = 1
		doc.status = "Not Duplicate"
		doc.closed_by = frappe.session.user
		doc.flags.ignore_permissions = True
		doc.save()
		doc.add_comment("Info", _("Marked as not duplicates ({0} pairs). {1}").format(added, reason or ""))
		return {"status": doc.status, "pairs": added}

	row = next((p for p in doc.pairs if p.name == pair), None)
	if row is None:
		frappe.throw(_("Pair {0} is not part of {1}.").format(pair, doc.name))
	_add_not_duplicate(row.doctype_a, row.name_a, row.doctype_b, row.name_b, doc.name, reason)
	row.not_duplicate = 1
	split = _regroup(doc)
	doc.flags.ignore_permissions = True
	doc.save()
	doc.add_comment(
		"Info", _("Marked {0} and {1} as not duplicates. {2}").format(row.name_a, row.name_b, reason or "")
	)
	return {"status": doc.status, "split": split}


def _regroup(doc: Any) -> list[str]:
	"""After a pair was marked: members = the largest part still connected by unmarked pairs; other parts
	of two or more records become new sets. Returns the names of the new sets."""
	live = [p for p in doc.pairs if not p.not_duplicate]
	if not live:
		doc.status = "Not Duplicate"
		doc.closed_by = frappe.session.user
		return []
	ids: dict[str, int] = {}
	uf = UnionFind()
	for p in live:
		a = ids.setdefault(p.name_a, len(ids))
		b = ids.setdefault(p.name_b, len(ids))
		uf.union(a, b)
	groups: dict[int, list[str]] = defaultdict(list)
	for n, i in ids.items():
		groups[uf.find(i)].append(n)
	parts = sorted((sorted(g) for g in groups.values()), key=lambda g: -len(g))
	keep = set(parts[0])
	doc.members = [m for m in doc.members if m.member_name in keep]
	doc.member_count = len(doc.members)
	doc.pair_count = len([p for p in doc.pairs if p.name_a in keep and p.name_b in keep])
	new = []
	now = now_datetime()
	for part in parts[1:]:
		part_set = set(part)
		rows = [
			{**p.as_dict(), "_priority": 10} for p in live if p.name_a in part_set and p.name_b in part_set
		]
		rows = [{k: r.get(k) for k in (*PAIR_FIELDS, "_priority")} for r in rows]
		data = _set_values(doc.ref_doctype, part, rows, _member_info(doc.ref_doctype, part), doc.scan, now)
		data["first_seen"] = doc.first_seen or now
		_write_sets([data], [], now)
		new.append(data["name"])
	doc.pairs = [p for p in doc.pairs if p.name_a in keep and p.name_b in keep or p.not_duplicate]
	return new


@frappe.whitelist()
def reopen_set(duplicate_set: str) -> dict:
	"""Undoes "not a duplicate" of a set: its pairs are checked again by scans and saves."""
	_check_manager(duplicate_set)
	doc = frappe.get_doc(SET_DOCTYPE, duplicate_set)
	t = frappe.qb.DocType(NOT_DUP_DOCTYPE)
	frappe.qb.from_(t).delete().where(t.duplicate_set == doc.name).run()
	for p in doc.pairs:
		p.not_duplicate = 0
	doc.status = "Open"
	doc.closed_by = None
	doc.flags.ignore_permissions = True
	doc.save()
	refresh_set(doc.name)
	return {"status": frappe.db.get_value(SET_DOCTYPE, doc.name, "status")}


# ==== merged / deleted members ===========================================================================
def on_merge_log(doc: Any, method: str | None = None) -> None:
	"""doc_event of Dedup Merge Log: when a merge completes, the open sets holding its records lose the
	merged-away records; a set left with one record becomes Merged. Runs in the merge's transaction."""
	if doc.get("status") != "Merged" or not frappe.db.table_exists(SET_DOCTYPE):
		return
	doctype = doc.get("merged_doctype")
	merged = _merged_refs(doc.get("merged_records"))
	names = [doc.get("survivor"), *[n for dt, n in merged if dt == doctype]]
	by_member, _sets = _open_sets_for(doctype, [n for n in names if n])
	for set_name in sorted(set(by_member.values())):
		_prune(frappe.get_doc(SET_DOCTYPE, set_name), {(dt, n) for dt, n in merged}, doc.name)


def _merged_refs(raw: Any) -> list[tuple[str, str]]:
	try:
		items = json.loads(raw or "[]") if isinstance(raw, str) else (raw or [])
	except ValueError:
		return []
	out = []
	for r in items:
		if isinstance(r, list | tuple) and len(r) >= 2:
			out.append((str(r[0]), str(r[1])))
	return out


def _prune(doc: Any, gone: set[tuple[str, str]], merge_log: str | None) -> bool:
	"""Removes ``gone`` records (and the same record listed twice) from an open set; closes a set left with
	one record (Merged when a merge log is known, else Resolved). Returns whether the set changed."""
	seen: set[tuple[str, str]] = set()
	keep = []
	for m in doc.members:
		key = (m.member_doctype, m.member_name)
		if key in gone or key in seen:
			continue
		seen.add(key)
		keep.append(m)
	if len(keep) == len(doc.members) and not merge_log:
		return False
	doc.members = keep
	doc.pairs = [
		p for p in doc.pairs if (p.doctype_a, p.name_a) not in gone and (p.doctype_b, p.name_b) not in gone
	]
	if merge_log:
		doc.merge_log = merge_log
	if len(keep) <= 1:
		doc.status = "Merged" if merge_log else "Resolved"
	doc.flags.ignore_permissions = True
	doc.flags.ignore_links = True  # the set's Last Scan may have been deleted
	doc.save()
	return True


@frappe.whitelist(methods=["POST"])
def refresh_set(duplicate_set: str) -> dict:
	"""Drops members that no longer exist (merged away or deleted); a set left with one record becomes
	Merged when a Dedup Merge Log covers its records, else Resolved. Called when a set is opened."""
	frappe.has_permission(SET_DOCTYPE, "read", duplicate_set, throw=True)
	changed = _refresh(frappe.get_doc(SET_DOCTYPE, duplicate_set))
	return {"changed": changed, "status": frappe.db.get_value(SET_DOCTYPE, duplicate_set, "status")}


def _refresh(doc: Any) -> bool:
	if doc.status != "Open":
		return False
	gone = {
		(m.member_doctype, m.member_name)
		for m in doc.members
		if not frappe.db.exists(m.member_doctype, m.member_name)
	}
	names = [(m.member_doctype, m.member_name) for m in doc.members]
	if not gone and len(set(names)) == len(names):
		return False
	log = _merge_log_for(doc.ref_doctype, [n for _dt, n in names]) if gone else None
	return _prune(doc, gone, log)


def _merge_log_for(doctype: str, names: list[str]) -> str | None:
	"""The latest completed Dedup Merge Log whose survivor or merged records include one of ``names``."""
	if not names or not frappe.db.table_exists("Dedup Merge Log"):
		return None
	wanted = set(names)
	for row in frappe.get_all(
		"Dedup Merge Log",
		filters={"merged_doctype": doctype, "status": "Merged"},
		or_filters={"survivor": ["in", names]},
		fields=["name", "survivor", "merged_records"],
		order_by="creation desc",
		limit=50,
	):
		merged = {n for _dt, n in _merged_refs(row.merged_records)}
		if merged & wanted:
			return row.name
	return None


# ==== indicators (list view and form) ====================================================================
@frappe.whitelist()
def get_duplicate_flags(doctype: str, names: list[str] | str) -> dict[str, str]:
	"""{record name: open set} for the records of a list view page that belong to an open duplicate set."""
	frappe.has_permission(doctype, "read", throw=True)
	if isinstance(names, str):
		names = frappe.parse_json(names)
	names = [str(n) for n in (names or [])][:1000]
	if not names or not bridge.rules_touching(doctype):
		return {}
	s = frappe.qb.DocType(SET_DOCTYPE)
	m = frappe.qb.DocType(MEMBER_DOCTYPE)
	out: dict[str, str] = {}
	for member, set_name in (
		frappe.qb.from_(m)
		.join(s)
		.on(s.name == m.parent)
		.select(m.member_name, s.name)
		.where((s.status == "Open") & (m.member_doctype == doctype) & m.member_name.isin(names))
		.where(m.parenttype == SET_DOCTYPE)
		.orderby(s.name)
		.run()
	):
		out.setdefault(member, set_name)
	return out


@frappe.whitelist()
def get_record_sets(doctype: str, name: str) -> list[dict]:
	"""The open duplicate sets of one record with their other members (for the form's indicator). Names of
	records the user may not read are masked; the set link is given only to users who may read sets."""
	frappe.has_permission(doctype, "read", name, throw=True)
	set_names = _open_set_names(doctype, [name])
	if not set_names:
		return []
	from crm_dedup.events import can_read, mask

	can_open = bool(frappe.has_permission(SET_DOCTYPE, "read"))
	out = []
	for set_name in set_names:
		doc = frappe.get_doc(SET_DOCTYPE, set_name)
		others = []
		for mem in doc.members:
			if mem.member_doctype == doctype and mem.member_name == name:
				continue
			if not frappe.db.exists(mem.member_doctype, mem.member_name):
				continue
			readable = can_read(mem.member_doctype, mem.member_name)
			others.append(
				{
					"doctype": mem.member_doctype,
					"name": mem.member_name if readable else None,
					"title": (mem.member_title or mem.member_name) if readable else mask(mem.member_title),
					"owner": mem.record_owner,
					"owner_name": frappe.utils.get_fullname(mem.record_owner) if mem.record_owner else "",
				}
			)
		if not others:
			continue
		why = [
			{"rule": p.rule, "score": p.score, "fields": field_labels(doc.ref_doctype, p.matched_fields)}
			for p in doc.pairs
			if (p.name_a == name or p.name_b == name) and not p.not_duplicate
		][:5]
		out.append(
			{
				"set": set_name if can_open else None,
				"title": doc.title,
				"others": others,
				"why": why,
			}
		)
	return out


_FIELD_HIT = re.compile(r"(\S+) ~ (\S+) \((\w+) (\d+)\)")


def field_labels(doctype: str, matched_fields: str | None) -> str:
	"""'mobile_no ~ mobile_no (phone 100)' -> 'Mobile No ~ Mobile No (Phone 100)' in the user's language."""
	from crm_dedup.events import field_label

	def one(m: re.Match) -> str:
		match = _(bridge.MATCH_LABELS.get(m.group(3), m.group(3)))
		return (
			f"{field_label(doctype, m.group(1))} ~ {field_label(doctype, m.group(2))} ({match} {m.group(4)})"
		)

	return _FIELD_HIT.sub(one, matched_fields or "")


@frappe.whitelist()
def indicator_doctypes() -> list[str]:
	"""DocTypes that some enabled rule touches (the list views that ask for duplicate flags)."""
	if frappe.session.user == "Guest":
		raise frappe.PermissionError
	return sorted(bridge.config()["touching"])
