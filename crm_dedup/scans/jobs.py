"""The background jobs of a batch scan (queue ``long``), their progress and the scan's summary.

- A table of at most ``chunk_size`` records is scanned by one job (``run_scan``): load the records page by
  page, ``engine.scan_records``, write the sets.
- A larger table is split: one **key job** per chunk of names (``run_key_chunk``; idle workers share them)
  reads its records and keys them; the last one enqueues the **compare job** (``run_compare``).
  - Condition rules without a scope filter (the common case): a key job does the keying part of the engine's
    scan for its chunk (``engine.key_chunk``: key hashes, prepared values, the rule fields; compressed, kept in
    the queue's redis for 24 h), and the compare job judges them all (``engine.scan_keyed``) without reading
    a record again: the costly part of a scan is spread over the workers.
  - Smart rules and rules with "Applies when" / a search filter: a key job computes its records' blocking
    keys (64-bit hashes); the compare job joins them, loads only the records that share a key with another
    record and runs the engine's scan over those (``scoped.scan_step``).

Jobs never raise past ``_guarded``: a failure is written to the scan and the Error Log.
"""

from __future__ import annotations

import json
import pickle
import resource
import time
import zlib
from collections import defaultdict
from typing import Any

import frappe
from frappe import _
from frappe.translate import get_user_lang
from frappe.utils import cint, now_datetime
from frappe.utils.background_jobs import get_redis_conn

from crm_dedup.core.pairs import not_duplicate_pairs
from crm_dedup.core.sets import save_sets
from crm_dedup.engine import key_chunk, key_hash, scan_keyed
from crm_dedup.scans.load import all_names, iter_records, iter_table, step_paths, step_ruleset
from crm_dedup.scans.queue import enqueue, job_id, scan_alive
from crm_dedup.scans.scoped import keyed_apart, scan_step

PROGRESS_EVENT = "crm_dedup_scan_progress"
BLOB_TTL = 24 * 3600


class Progress:
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
			# progress and messages in the language of the user who started the scan (the job runs as them)
			frappe.local.lang = get_user_lang(frappe.session.user)
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


# ==== one job, or the start of a chunked scan ============================================================
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
		progress = Progress(scan, state)
		progress(0, _("Counting {0}").format(_(step["doctype"])), force=True)
		count = frappe.db.count(step["doctype"])
		chunk = cint(frappe.db.get_value("Dedup Scan", scan, "chunk_size"))
		if chunk and count > chunk:
			_start_chunks(scan, state, all_names(step["doctype"]), chunk)
			return  # the key jobs take over; the compare job continues with the next step
		t_load = time.time()
		records = list(iter_table(step["doctype"], step_paths(step), progress=progress, hi=0.3, total=count))
		_compare_and_save(scan, state, records, progress, start=0.3, load_seconds=time.time() - t_load)
		state = _load_state(scan)
	_complete(scan, state)


# ==== chunked: key jobs + compare job ====================================================================
def _blob_key(scan: str, step: int, part: str) -> str:
	return f"{frappe.local.site}|crm_dedup_scan|{scan}|{step}|{part}"


def _start_chunks(scan: str, state: dict, names: list[str], chunk: int) -> None:
	step_no = state["step"]
	bounds = [(names[i], names[min(i + chunk, len(names)) - 1]) for i in range(0, len(names), chunk)]
	state["chunks"] = len(bounds)
	state["chunked_step"] = step_no
	state["bounds"] = bounds  # what a resumed scan re-queues (resume_stalled)
	state["jobs"] = state.get("jobs", 0) + len(bounds)
	get_redis_conn().set(_blob_key(scan, step_no, "done"), 0, ex=BLOB_TTL)
	_save_state(scan, state)
	for i, (first, last) in enumerate(bounds):
		_enqueue_chunk(scan, step_no, i, first, last)
	frappe.db.commit()  # enqueue_after_commit


def _enqueue_chunk(scan: str, step_no: int, i: int, first: str, last: str, again: str = "") -> None:
	"""One key job; ``again`` (a resumed scan) gives it a new job id: the killed job's id stays "started"."""
	enqueue(
		"crm_dedup.scans.jobs.run_key_chunk",
		job_id(scan, f"{step_no}::keys::{i}{again}"),
		scan=scan,
		step_no=step_no,
		chunk_no=i,
		first=first,
		last=last,
	)


@_guarded
def run_key_chunk(scan: str, step_no: int, chunk_no: int, first: str, last: str) -> None:
	"""Key job: the blocking keys of the records whose names lie in [first, last]."""
	state = _load_state(scan)
	step = state["steps"][step_no]
	rs = step_ruleset(step)
	progress = Progress(scan, state)
	chunks = state.get("chunks") or 1
	records = iter_table(step["doctype"], step_paths(step), first=first, last=last)
	if keyed_apart(step["rules"]):  # the keying part of the engine's scan, for the compare job to judge
		rows = list(records)
		count, keys, keyed = len(rows), None, key_chunk(rs, rows)
		del rows
	else:  # key hashes only: the compare job loads the records that share one
		buckets: dict[int, list[str]] = defaultdict(list)
		count, keyed = 0, None
		for name, rec in records:
			count += 1
			for rule, rule_keys in rs.keys(rs.prepare(rec)).items():
				for k in rule_keys:
					buckets[key_hash(rule, k)].append(name)
		keys = dict(buckets)
	r = get_redis_conn()
	r.set(
		_blob_key(scan, step_no, f"keys:{chunk_no}"),
		zlib.compress(pickle.dumps((count, keys, keyed), protocol=pickle.HIGHEST_PROTOCOL), 1),
		ex=BLOB_TTL,
	)
	r.rpush(_blob_key(scan, step_no, "rss"), _peak_rss_mb())
	r.rpush(_blob_key(scan, step_no, "workers"), _worker_name())
	r.expire(_blob_key(scan, step_no, "workers"), BLOB_TTL)
	r.expire(_blob_key(scan, step_no, "rss"), BLOB_TTL)
	done = r.incr(_blob_key(scan, step_no, "done"))
	progress(
		0.4 * done / chunks,
		_("Keys of {0}: {1} of {2} chunks").format(_(step["doctype"]), done, chunks),
		force=True,
	)
	# the compare job starts when every chunk's keys are there (not when a counter says so: a chunk re-run
	# after a killed worker counts twice); two chunks finishing at once enqueue it once (deduplicated id)
	if done >= chunks and _chunks_missing(r, scan, step_no, chunks) == []:
		enqueue(
			"crm_dedup.scans.jobs.run_compare",
			job_id(scan, f"{step_no}::compare"),
			scan=scan,
			step_no=step_no,
		)
		frappe.db.commit()


def _chunks_missing(r: Any, scan: str, step_no: int, chunks: int) -> list[int]:
	return [i for i in range(chunks) if not r.exists(_blob_key(scan, step_no, f"keys:{i}"))]


@_guarded
def run_compare(scan: str, step_no: int) -> None:
	"""Compare job: joins the chunks' keys, loads the records sharing a key, runs the engine's scan."""
	state = _load_state(scan)
	state["jobs"] = state.get("jobs", 0) + 1
	_save_state(scan, state)
	step = state["steps"][step_no]
	progress = Progress(scan, state)
	r = get_redis_conn()
	chunks = state.get("chunks") or 0
	key_rss = [float(x) for x in r.lrange(_blob_key(scan, step_no, "rss"), 0, -1)]
	key_workers = sorted({x.decode() for x in r.lrange(_blob_key(scan, step_no, "workers"), 0, -1)})
	figures = {"key_job_rss": key_rss, "key_workers": key_workers}
	if keyed_apart(step["rules"]):
		progress(0.45, _("Joining the keys of {0} chunks").format(chunks), True)
		_compare_and_save(
			scan, state, None, progress, start=0.45, keyed=_KeyedChunks(r, scan, step_no, chunks), **figures
		)
	else:
		names, total_records = _shared_key_names(r, scan, step_no, chunks)
		progress(
			0.45, _("{0} of {1} records share a key; loading them").format(len(names), total_records), True
		)
		t_load = time.time()
		records = list(iter_records(step["doctype"], names, step_paths(step), progress, 0.45, 0.55))
		load_seconds = time.time() - t_load
		_compare_and_save(
			scan,
			state,
			records,
			progress,
			start=0.55,
			total_records=total_records,
			load_seconds=load_seconds,
			**figures,
		)
	for i in range(state.get("chunks") or 0):
		r.delete(_blob_key(scan, step_no, f"keys:{i}"))
	r.delete(
		_blob_key(scan, step_no, "done"), _blob_key(scan, step_no, "rss"), _blob_key(scan, step_no, "workers")
	)
	state = _load_state(scan)
	if state["step"] < len(state["steps"]):
		enqueue("crm_dedup.scans.jobs.run_scan", job_id(scan, f"{state['step']}::next"), scan=scan)
		frappe.db.commit()
	else:
		_complete(scan, state)


def _chunk(r: Any, scan: str, step_no: int, i: int) -> tuple[int, dict | None, bytes | None]:
	"""(records, {key hash: names} or None, engine.key_chunk bytes or None) of one key job."""
	raw = r.get(_blob_key(scan, step_no, f"keys:{i}"))
	if raw is None:
		raise frappe.ValidationError(_("The keys of chunk {0} are missing; start the scan again.").format(i))
	return pickle.loads(zlib.decompress(raw))


def _rules_changed() -> frappe.ValidationError:
	return frappe.ValidationError(_("The rules of this scan changed while it ran; start the scan again."))


class _KeyedChunks:
	"""The key jobs' engine.key_chunk bytes, read from redis one at a time, in chunk order; ``records``: how
	many records they held (known once read)."""

	def __init__(self, r: Any, scan: str, step_no: int, chunks: int):
		self.r, self.scan, self.step_no, self.chunks, self.records = r, scan, step_no, chunks, 0

	def __iter__(self):
		for i in range(self.chunks):
			count, _keys, keyed = _chunk(self.r, self.scan, self.step_no, i)
			if keyed is None:  # keyed by an older version, or the rules' scope changed while the scan ran
				raise _rules_changed()
			self.records += count
			yield keyed


def _shared_key_names(r: Any, scan: str, step_no: int, chunks: int) -> tuple[list[str], int]:
	"""(sorted names of the records that share a key with another record, records in all chunks)."""
	merged: dict[int, list[str]] = defaultdict(list)
	total_records = 0
	for i in range(chunks):
		count, buckets, _keyed = _chunk(r, scan, step_no, i)
		if buckets is None:
			raise _rules_changed()
		total_records += count
		for h, names in buckets.items():
			merged[h].extend(names)
	candidates: set[str] = set()
	for names in merged.values():
		if len(names) > 1:
			candidates.update(names)
	return sorted(candidates), total_records


# ==== comparison and the summary =========================================================================
def _compare_and_save(
	scan: str,
	state: dict,
	records: list[tuple[str, dict]] | None,
	progress: Progress,
	start: float,
	total_records: int | None = None,
	key_job_rss: list[float] | None = None,
	load_seconds: float = 0.0,
	key_workers: list[str] | None = None,
	keyed: _KeyedChunks | None = None,
) -> None:
	"""Runs the engine over ``records`` (or the key jobs' ``keyed`` chunks) for the current step, writes the
	sets, records the step's figures."""
	step = state["steps"][state["step"]]
	doctype = step["doctype"]
	rs = step_ruleset(step)  # fails when a rule went away while the scan ran
	skip = not_duplicate_pairs(doctype)
	t0 = time.time()
	if keyed is not None:
		result = scan_keyed(rs, keyed, progress=_engine_progress(progress, start), skip_pairs=skip)
		total_records = keyed.records
	else:
		result = scan_step(doctype, step["rules"], records, _engine_progress(progress, start), skip)
	compare_seconds = time.time() - t0
	progress(0.9, _("Saving duplicate sets"), force=True)
	t_save = time.time()
	saved = save_sets(doctype, step["rules"], step["full"], result.clusters, result.pairs, scan)
	frappe.db.commit()
	per = {
		"doctype": doctype,
		"rules": step["rules"],
		"records": total_records if total_records is not None else len(records),
		"candidates": len(records) if records is not None else total_records,
		"keyed_apart": keyed is not None,  # the key jobs did the keying part of the engine's scan
		"compared": result.stats.get("compared", 0),
		"pairs": result.stats.get("pairs", 0),
		"clusters": result.stats.get("clusters", 0),
		"largest_set": result.stats.get("largest_set", 0),
		"set_sizes": {str(size): n for size, n in result.size_distribution().items()},
		"possible_links": result.stats.get("possible", 0),
		"split_links": result.stats.get("split_links", 0),
		"oversized_keys": result.stats.get("oversized_keys", 0),
		"skip_pairs": len(skip) // 2,
		"load_seconds": round(load_seconds, 2),
		"compare_seconds": round(compare_seconds, 2),
		"save_seconds": round(time.time() - t_save, 2),
		"peak_rss_mb": _peak_rss_mb(),
		"judge_peak_rss_mb": _peak_rss_mb(resource.RUSAGE_CHILDREN),  # the engine's forked judges, each
		"key_jobs": len(key_job_rss or []),
		"key_job_peak_rss_mb": max(key_job_rss or [0]),
		"key_job_workers": key_workers or [],  # the RQ workers that ran the key jobs
		"compare_worker": _worker_name(),
		**saved,
	}
	state = _load_state(scan)
	state.setdefault("done", []).append(per)
	state["step"] = state["step"] + 1
	_save_state(scan, state)


def _engine_progress(progress: Progress, start: float):
	"""The engine's progress callback, mapped onto [start, 0.9] of the step."""

	def on_progress(phase: str, done: int, total: int) -> None:
		frac = done / total if total else 0
		if phase == "prepare":
			progress(start + (0.9 - start) * 0.4 * frac, _("Preparing {0} records").format(done))
		else:
			progress(
				start + (0.9 - start) * (0.4 + 0.6 * frac),
				_("Comparing: {0} of {1} keys").format(done, total),
			)

	return on_progress


def _worker_name() -> str:
	"""The RQ worker running this job ("inline" outside a worker)."""
	from rq import get_current_job

	job = get_current_job()
	return (getattr(job, "worker_name", None) or "inline") if job else "inline"


def _peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
	"""Peak resident memory of this process (the job's work horse) in MB; of its largest waited-for child
	process with RUSAGE_CHILDREN."""
	return round(resource.getrusage(who).ru_maxrss / 1024, 1)


def _complete(scan: str, state: dict) -> None:
	done = state.get("done") or []

	def total(key: str) -> int:
		return sum(cint(d.get(key)) for d in done)

	frappe.db.set_value(
		"Dedup Scan",
		scan,
		{
			"status": "Completed",
			"progress": 100,
			"progress_message": _("Completed"),
			"finished_at": now_datetime(),
			"duration": round(time.time() - (state.get("t0") or time.time()), 2),
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


# ==== a scan whose worker died ===========================================================================
def resume(scan: str) -> str | None:
	"""Re-queues what a killed worker left undone; returns what was done (None: nothing to do).

	A scan in flight with no job queued or running (``queue.scan_alive``; a killed worker's job counts as
	running until its heartbeat expires, 90 s) is resumed where it stopped: the key chunks whose keys are
	missing are queued again, or the compare job when all are there, or the current step again. Every job is
	idempotent (keys are stored per chunk; sets are saved by their members, so a step run twice updates the
	same sets instead of doubling them)."""
	status = frappe.db.get_value("Dedup Scan", scan, "status")
	if status not in ("Queued", "Running") or scan_alive(scan):
		return None
	state = _load_state(scan)
	if not state.get("steps"):
		return None
	step_no = state["step"]
	state["resumed"] = state.get("resumed", 0) + 1
	r = get_redis_conn()
	if state.get("chunked_step") == step_no and step_no < len(state["steps"]):
		chunks = state.get("chunks") or 0
		missing = _chunks_missing(r, scan, step_no, chunks)
		if missing and not state.get("bounds"):
			raise frappe.ValidationError(_("Scan {0} cannot be resumed; start it again.").format(scan))
		_save_state(scan, state)
		if missing:
			# the counter restarts from the chunks that are there, so the last re-run one starts the compare
			r.set(_blob_key(scan, step_no, "done"), chunks - len(missing), ex=BLOB_TTL)
			for i in missing:
				first, last = state["bounds"][i]
				_enqueue_chunk(scan, step_no, i, first, last, again=f"::r{state['resumed']}")
			what = _("{0} key chunks queued again").format(len(missing))
		else:
			enqueue(
				"crm_dedup.scans.jobs.run_compare",
				job_id(scan, f"{step_no}::compare::r{state['resumed']}"),
				scan=scan,
				step_no=step_no,
			)
			what = _("the compare job queued again")
	else:
		_save_state(scan, state)
		enqueue("crm_dedup.scans.jobs.run_scan", job_id(scan, f"{step_no}::r{state['resumed']}"), scan=scan)
		what = _("the current step queued again")
	frappe.db.commit()
	frappe.db.set_value(
		"Dedup Scan", scan, "progress_message", _("Resumed after a lost worker: {0}").format(what)[:140]
	)
	frappe.db.commit()
	return what


def resume_stalled() -> None:
	"""Scheduler (every few minutes): resumes the scans whose worker died."""
	for scan in frappe.get_all("Dedup Scan", filters={"status": ["in", ["Queued", "Running"]]}, pluck="name"):
		try:
			resume(scan)
		except Exception as e:
			frappe.db.rollback()
			_fail(scan, e)
