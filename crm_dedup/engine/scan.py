"""A whole table -> candidate pairs by shared key -> explained pairs -> clusters (union-find).

Records are grouped by blocking key, rule by rule; only records that share a key are compared. A key shared
by more than ``cap`` records is compared as a sorted neighbourhood (each record with its next ``window``
neighbours) so one placeholder value cannot make the scan quadratic; such keys are counted in the stats.

Every candidate pair is judged by ``RuleSet.compare`` over all rules, as if each record had been prepared in
full; the work is only arranged to be cheap:

- every record's values are prepared once, while it is keyed, and kept as plain norms (``store``), so a pair
  is checked on norms alone; only a pair some rule holds for on them reads its record back for
  ``compare_rule`` and the explanation (``check.LazyValues``);
- for large inputs the keys are computed in worker processes (``workers``; fork only);
- a rule whose keys are complete (equality types) is not evaluated for a pair that shares none of its keys
  (it cannot fire), unless one of the two records sits under an oversized key of that rule;
- within a rule, conditions whose values are ready, then the cheapest, are tried first (``check.may_fire``);
- before the judge reads a span of candidate pairs one by one, the rules that certainly fail for a pair (a
  blank, different cities, names or company names too unlike) are cleared in numpy (``prefilter``), and a pair
  left with none is not read.
"""

from __future__ import annotations

import gc
import hashlib
import multiprocessing
import os
import pickle
from array import array
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .blocks import CandidateSet, KeySink, candidate_pairs
from .check import LazyValues, key_complete
from .match import COMPARATORS, FUZZY_TYPES, Comparator, Match, compares_by_equality
from .prefilter import NoteMaker, Notes, Prefilter
from .rules import TEXT_TYPES, Prepared, RuleSet
from .sets import build_sets, size_distribution
from .store import BlobArray, RowStream, Spill, StrArray, dump, joined

Progress = Callable[[str, int, int], None]
PARALLEL_MIN = 50_000  # fewer records are keyed in this process: a worker pool costs more than it saves
_CHUNK = 5_000


@dataclass
class ScanResult:
	"""``pairs``: every matched pair (id_a, id_b, match), id_a < id_b. ``clusters``: the duplicate sets a person
	reviews, built from strong links only (``engine.sets``), each sorted, largest first. ``possible``: the
	matched pairs whose two records are not in one set (weak links, and strong links cut when a set was split):
	shown with the sets, never merged into them."""

	pairs: list[tuple[str, str, Match]] = field(default_factory=list)
	clusters: list[list[str]] = field(default_factory=list)
	stats: dict[str, int] = field(default_factory=dict)
	possible: list[tuple[str, str, Match]] = field(default_factory=list)

	def cluster_of(self) -> dict[str, int]:
		return {i: n for n, members in enumerate(self.clusters, 1) for i in members}

	def size_distribution(self) -> dict[int, int]:
		"""{set size: number of sets}, smallest size first."""
		return size_distribution(self.clusters)


class UnionFind:
	def __init__(self) -> None:
		self.parent: dict[int, int] = {}

	def find(self, x: int) -> int:
		parent = self.parent
		root = x
		while parent.get(root, root) != root:
			root = parent[root]
		while parent.get(x, x) != root:
			parent[x], x = root, parent[x]
		return root

	def union(self, a: int, b: int) -> None:
		self.parent.setdefault(a, a)
		self.parent.setdefault(b, b)
		ra, rb = self.find(a), self.find(b)
		if ra != rb:
			if ra < rb:
				ra, rb = rb, ra
			self.parent[ra] = rb


def _sort_id(x: Any) -> tuple:
	s = str(x)
	return (0, int(s), s) if s.isdigit() else (1, 0, s)


# ---- keys, in this process or in forked workers ------------------------------------------------------------
_WORK: tuple | None = None  # what forked workers read (inherited, never pickled)
KeyHashes = tuple[tuple[int, ...], ...]  # per rule (in rules.rules order): hash() of each key


KeyPlan = (
	tuple  # per rule: (rule if scoped else None, ((namespace or None, signature, threshold, keys fn), ...))
)


def key_plan(rules: RuleSet) -> KeyPlan:
	"""What ``_hashed_keys`` computes for each rule: its blocking conditions, each with the namespace its keys
	need. A rule blocking on one condition needs none (buckets are per rule); with several, a key is
	namespaced by its condition's index, as ``RuleSet.rule_keys`` does. A scoped rule (``within``) also
	namespaces its keys by the record's scope, so records of two scopes never share a bucket."""
	plan = []
	for rule in rules.rules:
		conds = []
		for i in rule.blocking_conditions:
			cond = rule.conditions[i]
			threshold = cond.threshold if cond.match in FUZZY_TYPES else 100.0
			ns = i if len(rule.blocking_conditions) > 1 else None
			conds.append((ns, cond.signature, threshold, COMPARATORS[cond.match].keys))
		plan.append((rule if rule.within else None, tuple(conds)))
	return tuple(plan)


def stable_hash(x: Any) -> int:
	"""A signed 64-bit hash of a key (a str, or a tuple of ints and strs) that is the same in every process:
	Python's ``hash()`` of a str changes from one process to the next (PYTHONHASHSEED), which is fine for
	processes forked from one scan but not for keys made by separate processes (a site's key jobs)."""
	data = repr(x).encode("utf-8", "surrogatepass")
	return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big", signed=True)


def _hashed_keys(plan: KeyPlan, values: LazyValues, hash: Callable[[Any], int] = hash) -> KeyHashes:
	"""Per rule, ``hash()`` of each of the record's blocking keys: two records share a hash under a rule
	exactly when ``RuleSet.rule_keys`` gives them a common key (up to 64-bit hash collisions, see ``_keyed``).
	A key may repeat within a rule; bucketing ignores repeats. Rules blocking on the same values at the same
	threshold share the work. ``hash``: Python's (one process and its forks) or ``stable_hash``."""
	memo: dict = {}
	out = []
	for scoped, conds in plan:
		hashes: tuple = ()
		for ns, sig, threshold, keys in conds:
			got = memo.get((sig, threshold))
			if got is None:
				got = memo[(sig, threshold)] = tuple(
					[hash(k) for v in values[sig] for k in keys(v.norm, threshold)]
				)
			hashes += got if ns is None else tuple([hash((ns, h)) for h in got])
		if scoped is not None and hashes:
			scope = hash(scoped.scope_of(values.record))
			hashes = tuple([hash((scope, h)) for h in hashes])
		out.append(hashes)
	return tuple(out)


def ready_signatures(rules: RuleSet, all_conditions: bool = True) -> list[tuple]:
	"""The signatures every record's values are prepared for while it is keyed: those of the blocking
	conditions (its keys need them) and, with ``all_conditions``, those of every other condition too, so that
	a candidate pair is judged on plain norms alone and only a pair some rule holds for on them reaches
	``compare_rule`` (preparing a record in full, from the spill file, for every pair that passed its blocking
	condition cost more than preparing every record's few other values once, in the key workers)."""
	sigs = {r.conditions[i].signature for r in rules.rules for i in r.blocking_conditions}
	if all_conditions:
		sigs |= {c.signature for r in rules.rules for c in r.conditions}
	return sorted(sigs, key=repr)


Packed = tuple  # per ready signature: the record's values as (field, raw, norm, note) tuples
Norms = tuple  # per ready signature: the record's norms


def _key_records(
	rules: RuleSet, records: list[Mapping[str, Any]], keep: bool, hash: Callable[[Any], int] = hash
) -> tuple:
	"""Keys and compact values of a chunk of records (in a worker, or in this process for small inputs):

	- per rule, (key hashes as int64, the record's position in the chunk as int32), one entry per key;
	- the norms of the ready signatures, one ``store.dump`` a record (every candidate pair reads them), as
	  plain data (``Comparator.pack``: marshal, not pickle; ``_Judge`` unpacks them);
	- the ready values in full, with the record itself when ``keep`` (the rule fields of a streamed row), one
	  ``store.dump`` a record (only the records some pair reaches ``compare_rule`` with read them back);
	- the prefilter's notes of the records (``prefilter.NoteMaker``).

	What ``_hashed_keys`` and ``RuleSet.prepare_values`` give, from the rules compiled once (``_compiled``).
	"""
	plan = _compiled(rules, hash)
	entries = plan.entries
	n_rules = len(plan.rule_parts)
	bufs = [bytearray() for _ in range(n_rules)]
	counts: list[list[int]] = [[] for _ in range(n_rules)]
	plain, others = [], []
	for r, (scoped, parts) in enumerate(plan.rule_parts):
		if scoped is None and len(parts) == 1:  # the rule's hashes are one part of one entry
			plain.append((bufs[r], counts[r].append, *parts[0]))
		else:
			others.append((bufs[r], counts[r].append, scoped, parts))
	norms_out: list[bytes] = []
	spill_out: list[bytes] = []
	add_norms, add_spill, add_notes = norms_out.append, spill_out.append, plan.notes.add
	for rec in records:
		ents = entries(rec)
		for buf, count, k, s in plain:
			h = ents[k][s]
			buf += h
			count(len(h) >> 3)
		for buf, count, scoped, parts in others:
			h = b"".join([ents[k][s] for k, s in parts])
			if scoped is not None and h:
				scope = hash(scoped.scope_of(rec))
				h = array("q", [hash((scope, x)) for x in array("q", h)]).tobytes()
			buf += h
			count(len(h) >> 3)
		norms = tuple([e[0] for e in ents])
		add_norms(dump(norms))
		add_notes(norms)
		add_spill(dump((tuple([e[1] for e in ents]), rec if keep else None)))
	positions = np.arange(len(records), dtype=np.int32)
	keyed = [
		(np.frombuffer(bytes(bufs[r]), dtype=np.int64), np.repeat(positions, counts[r]))
		for r in range(n_rules)
	]
	return keyed, joined(norms_out), joined(spill_out), plan.notes.take()


_KEY_CACHE_SIZE = 50_000  # texts a field's cache holds (then it starts afresh): ~0.4 KB each, in each worker


class _Compiled:
	"""The keying of ``_key_records`` compiled for one rule set and hash function: per ready signature, how a
	record's values become its entry: (norms as ``_Judge`` reads them, the values as (field, raw, norm, note)
	with the norm as stored, then the int64 key hashes as bytes for each (threshold, namespace) its rules'
	blocking conditions ask for). The entry of a field's text is kept for the types whose values are a
	function of the text (``rules.TEXT_TYPES``), up to ``_KEY_CACHE_SIZE`` texts a field, as
	``RuleSet.prepare_values`` keeps values, unless the field's texts hardly repeat (``_full``)."""

	def __init__(self, rules: RuleSet, hash: Callable[[Any], int]) -> None:
		self.rules = rules
		self.hash = hash
		ready = ready_signatures(rules)
		sig_pos = {sig: k for k, sig in enumerate(ready)}
		specs: list[list[tuple]] = [[] for _ in ready]  # per signature: (threshold, namespace, keys fn)
		rule_parts = []
		for scoped, conds in key_plan(rules):
			parts = []
			for ns, sig, threshold, keys in conds:
				k = sig_pos[sig]
				mine = [(t, n) for t, n, _ in specs[k]]
				if (threshold, ns) not in mine:
					specs[k].append((threshold, ns, keys))
					mine.append((threshold, ns))
				parts.append((k, 2 + mine.index((threshold, ns))))
			rule_parts.append((scoped, tuple(parts)))
		self.rule_parts = tuple(rule_parts)
		self.specs = [tuple(x) for x in specs]
		self.ready = ready
		self.notes = NoteMaker(rules, ready, hash)
		self.packs = [getattr(COMPARATORS[sig[1]], "pack", None) for sig in ready]
		self.empty = [((), ()) + (b"",) * len(x) for x in specs]
		# per signature of one field: (its position, the field, its cache or None, how the field's text becomes
		# an entry); then those of several fields, as (position, fields, caches, text -> entry); and those of a
		# type whose values of a record are one set (``merge_values``), as positions
		self.singles, self.groups, self.wholes = [], [], []
		self.records = 0  # records made into entries (a cache is looked up about once a record)
		self.cleared: dict[int, int] = {}  # id of a cache -> ``records`` when it last started afresh
		for k, sig in enumerate(ready):
			cmp = COMPARATORS[sig[1]]
			if getattr(cmp, "merge_values", None) is not None:
				self.wholes.append(k)
				continue
			caches = [{} if sig[1] in TEXT_TYPES else None for _ in sig[0]]
			if len(sig[0]) == 1:
				self.singles.append((k, sig[0][0], caches[0], self._text_entry_fn(k)))
			else:
				self.groups.append((k, sig[0], caches, self._text_entry_fn(k)))

	def _text_entry_fn(self, k: int) -> Callable[[str, str], tuple]:
		"""field, the field's text -> its entry for signature k: the values ``RuleSet.field_values`` gives for
		the text, made an entry by ``_entry``; for a type that does not split a text, and for a text that splits
		into itself alone, the same steps inlined (a scan runs them for nearly every field of every record;
		tests/test_keying.py holds the two to the same result)."""
		rules, sig, empty = self.rules, self.ready[k], self.empty[k]
		cmp = COMPARATORS[sig[1]]
		prepare, region, check = cmp.prepare, rules.default_region, rules._checks[sig]
		pack, hash, specs = self.packs[k], self.hash, self.specs[k]
		field_values, entry, split = rules.field_values, self._entry, cmp.split

		def one(f: str, value: str) -> tuple:
			if not value or value.isspace():
				return empty
			prepared = prepare(value, region)
			if prepared is None:
				return empty
			norm, note = prepared
			if check is not None and check(f, value, norm) is not None:
				return empty
			stored = norm if pack is None else pack(norm)
			out = [(stored,), ((f, value, stored, note),)]
			last = None  # (namespace, keys, their hashes) of the spec before: a company name's keys under 90 and 80
			for threshold, ns, keys in specs:
				ks = keys(norm, threshold)
				if last is not None and last[0] == ns and last[1] == ks:
					out.append(last[2])
					continue
				if ns is None:
					hashed = array("q", map(hash, ks)).tobytes()
				else:
					hashed = array("q", [hash((ns, hash(x))) for x in ks]).tobytes()
				out.append(hashed)
				last = (ns, ks, hashed)
			return tuple(out)

		if type(cmp).split is Comparator.split:
			return one

		def several(f: str, value: str) -> tuple:
			if not value or value.isspace():
				return empty
			parts = split(value)
			if len(parts) == 1 and parts[0] == value:  # one value, as written (most phones, e-mails): ``one``
				return one(f, value)
			return entry(k, [(f, part, norm, note) for part, norm, note in field_values(sig, f, (value,))])

		return several

	def entries(self, rec: Mapping[str, Any]) -> list[tuple]:
		"""The record's entry of each ready signature."""
		self.records += 1
		out = self.empty.copy()
		get = rec.get
		for k, f, cache, text_entry in self.singles:
			value = get(f)
			if value.__class__ is not str:
				out[k] = self._values_entry(k, rec)
			elif cache is None:
				out[k] = text_entry(f, value)
			else:
				e = cache.get(value)
				out[k] = self._miss(cache, text_entry, f, value) if e is None else e
		for k, fields, caches, text_entry in self.groups:
			got = None
			for f, cache in zip(fields, caches, strict=True):
				value = get(f)
				if value.__class__ is not str:
					got = self._values_entry(k, rec)
					break
				if cache is None:
					e = text_entry(f, value)
				else:
					e = cache.get(value)
					if e is None:
						e = self._miss(cache, text_entry, f, value)
				if e[0]:
					got = e if got is None else tuple([a + b for a, b in zip(got, e, strict=True)])
			if got is not None:
				out[k] = got
		for k in self.wholes:
			out[k] = self._values_entry(k, rec)
		return out

	def _miss(self, cache: dict, text_entry: Callable[[str, str], tuple], f: str, value: str) -> tuple:
		"""The entry of a text ``cache`` does not hold yet, now kept in it (the look-up itself stays inline)."""
		e = text_entry(f, value)
		if len(cache) >= _KEY_CACHE_SIZE:
			self._full(cache)
		cache[value] = e
		return e

	def _full(self, cache: dict) -> None:
		"""A field's cache is full: it starts afresh, or, when fewer than one look-up in five since it last
		started was of a text it held (phone numbers, emails: nearly every text is new), it is dropped and the
		field's texts are no longer kept."""
		cache.clear()
		since = self.records - self.cleared.get(id(cache), 0)
		self.cleared[id(cache)] = self.records
		if since >= _KEY_CACHE_SIZE * 5 // 4:
			return
		for n, (k, f, mine, text_entry) in enumerate(self.singles):
			if mine is cache:
				self.singles[n] = (k, f, None, text_entry)
		for _, _, caches, _ in self.groups:
			for n, mine in enumerate(caches):
				if mine is cache:
					caches[n] = None

	def _values_entry(self, k: int, rec: Mapping[str, Any]) -> tuple:
		vals = self.rules.prepare_values(rec, self.ready[k])
		return self._entry(k, [(v.field, v.raw, v.norm, v.note) for v in vals])

	def _entry(self, k: int, vals: list[tuple]) -> tuple:
		if not vals:
			return self.empty[k]
		pack, hash = self.packs[k], self.hash
		norms = tuple([v[2] for v in vals] if pack is None else [pack(v[2]) for v in vals])
		values = tuple([(f, raw, n, note) for (f, raw, _, note), n in zip(vals, norms, strict=True)])
		out = [norms, values]
		for threshold, ns, keys in self.specs[k]:
			hs = [hash(key) for v in vals for key in keys(v[2], threshold)]
			if ns is not None:
				hs = [hash((ns, h)) for h in hs]
			out.append(array("q", hs).tobytes())
		return tuple(out)


def _compiled(rules: RuleSet, hash: Callable[[Any], int]) -> _Compiled:
	got = rules._key_cache.get(hash)
	if got is None:
		got = rules._key_cache[hash] = _Compiled(rules, hash)
	return got


def _key_task(task: tuple[int, int] | list[list[str]]) -> tuple:
	"""In a worker (or this process): ``_key_records`` of records start..stop of the inherited list, or of a
	chunk of streamed rows (made into dicts of the rule fields here, not in the reading process)."""
	rules, items, positions = _WORK[:3]
	if items is not None:
		start, stop = task
		return _key_records(rules, [items[n][1] for n in range(start, stop)], False)
	return _key_records(rules, [{f: row[k] for f, k in positions} for row in task], True)


def _key_block(task: tuple[int, int, bool]) -> tuple | None:
	"""In a worker: a block of the file (``RowFile``; bytes start..stop, ``first``: it holds the header) made
	into rows and keyed: (the ids as ``joined`` UTF-8, their ``hash()``es, the number of rows,
	``_key_records``' result), or None where the block cannot be read as the file's own chunks would read it."""
	rules, _, positions, file, fd = _WORK
	start, stop, first = task
	got = file.rows(os.pread(fd, stop - start, start), first)
	if got is None:
		return None
	ids, rows = got
	id_hashes = np.fromiter(map(hash, ids), dtype=np.int64, count=len(ids))
	encoded = joined([s.encode("utf-8", "surrogatepass") for s in ids])
	keyed = _key_records(rules, [{f: row[k] for f, k in positions} for row in rows], True)
	return encoded, id_hashes, len(rows), keyed


class _Workers:
	"""Forked processes that run ``fn`` on the tasks sent to them in turn, the results read back in the order
	of the tasks. Unlike ``multiprocessing.Pool`` no thread runs in this process: the pool's worker-handler
	thread wakes for every result waiting in its pipe, and a keyed block is megabytes (a CPU-second per
	100,000 records). A task must be small (a few bytes: it is sent while the worker may be busy)."""

	def __init__(self, n: int, fn: Callable[[Any], Any]) -> None:
		ctx = multiprocessing.get_context("fork")
		self.conns: list = []
		self.procs: list = []
		self.sent = self.got = 0
		try:
			for _ in range(n):
				mine, theirs = ctx.Pipe()
				# the worker closes its copies of this process's ends (its own, and earlier workers')
				proc = ctx.Process(target=_serve, args=(theirs, fn, [*self.conns, mine]), daemon=True)
				proc.start()
				theirs.close()
				self.conns.append(mine)
				self.procs.append(proc)
		except BaseException:
			self.close()
			raise

	def send(self, task: Any) -> None:
		self.conns[self.sent % len(self.conns)].send(task)
		self.sent += 1

	def recv(self) -> Any:
		"""The result of the oldest task not read yet (its exception raised here)."""
		k = self.got % len(self.conns)
		self.got += 1
		try:
			ok, value = self.conns[k].recv()
		except EOFError:
			raise RuntimeError(f"worker process {self.procs[k].pid} ended unexpectedly") from None
		if not ok:
			raise value
		return value

	def close(self) -> None:
		for conn in self.conns:
			try:
				conn.send(None)  # a worker waiting for a task ends
			except OSError:
				pass
			conn.close()
		for proc in self.procs:
			proc.join(1.0)
			if proc.is_alive():  # still busy with a task whose result is no longer read
				proc.terminate()
				proc.join()
		self.conns, self.procs = [], []

	def __enter__(self) -> _Workers:
		return self

	def __exit__(self, *exc: object) -> None:
		self.close()


def _serve(conn: Any, fn: Callable[[Any], Any], others: list) -> None:
	"""A ``_Workers`` process: tasks in, (True, result) or (False, exception) out, until None comes or the
	pipe closes."""
	gc.disable()
	for other in others:
		other.close()
	while True:
		try:
			task = conn.recv()
		except (EOFError, OSError):
			return
		if task is None:
			return
		try:
			reply = (True, fn(task))
		except BaseException as e:  # the caller raises it
			reply = (False, e)
		try:
			conn.send(reply)
		except (BrokenPipeError, OSError):
			return
		except Exception as e:  # an exception that does not pickle
			conn.send((False, RuntimeError(f"{type(e).__name__}: {e}")))


def _workers(requested: int | None, count: int) -> int:
	if requested is not None:
		return max(1, requested)
	if count < PARALLEL_MIN or "fork" not in multiprocessing.get_all_start_methods():
		return 1
	env = os.environ.get("CRM_DEDUP_WORKERS")
	if env and env.isdigit():
		return max(1, int(env))
	return max(1, min(2, os.cpu_count() or 1))


def _plain_key_chunk(bounds: tuple[int, int]) -> list[dict[str, set[str]]]:
	rules, items = _WORK
	return [rules.keys(rules.prepare(items[n][1])) for n in range(*bounds)]


def iter_keys(
	rules: RuleSet, records: list[tuple[Any, Mapping[str, Any]]], workers: int | None = None
) -> Iterator[dict[str, set[str]]]:
	"""``rules.keys(rules.prepare(record))`` for each (id, record), in order: what an index stores.

	For large inputs the work is done in forked worker processes (see ``scan_records``' ``workers``).
	"""
	global _WORK
	count = len(records)
	n_workers = _workers(workers, count)
	if n_workers <= 1 or count < 2 * _CHUNK:
		for _, rec in records:
			yield rules.keys(rules.prepare(rec))
		return
	bounds = [(s, min(s + _CHUNK, count)) for s in range(0, count, _CHUNK)]
	_WORK = (rules, records)
	try:
		with multiprocessing.get_context("fork").Pool(n_workers, initializer=gc.disable) as pool:
			for chunk in pool.imap(_plain_key_chunk, bounds):
				yield from chunk
	finally:
		_WORK = None


_PAIR_CHUNK = 50_000  # candidate pairs judged between two progress reports (at least)
PARALLEL_PAIRS = 200_000  # fewer candidate pairs are judged in this process
_PREPARED_CACHE = 20_000  # prepared records a judge keeps (then it starts afresh)


# ---- the scan ---------------------------------------------------------------------------------------------
def scan_records(
	rules: RuleSet,
	records: Iterable[tuple[Any, Mapping[str, Any]]] | RowStream,
	cap: int = 200,
	window: int = 20,
	progress: Progress | None = None,
	total: int | None = None,
	skip_pairs: set[tuple[str, str]] | None = None,
	workers: int | None = None,
) -> ScanResult:
	"""Finds every matched pair among ``records`` ((id, record) pairs) and joins them into clusters.

	``skip_pairs`` holds (id_a, id_b) pairs known not to be duplicates, in either order; they never match.
	``workers``: processes computing keys (default: 2 for 50,000 records or more where fork is available,
	else 1; the environment variable CRM_DEDUP_WORKERS overrides the default). The result does not depend on it.
	"""
	with _gc_paused():
		return _scan(rules, records, cap, window, progress, total, skip_pairs, workers)


@contextmanager
def _gc_paused():
	"""Millions of small lists and tuples are built and kept: the cyclic collector would re-scan them again and
	again (a quarter of the time) and finds nothing to free, so it is paused for a scan."""
	gc_was_enabled = gc.isenabled()
	gc.disable()
	try:
		yield
	finally:
		if gc_was_enabled:
			gc.enable()


def _scan(rules, records, cap, window, progress, total, skip_pairs, workers) -> ScanResult:
	"""The steps of a scan: key the records into compact stores, pair those sharing a key, judge each pair,
	cluster."""
	if isinstance(records, RowStream):
		items = None
		total = total if total is not None else records.total
	else:
		items = records if isinstance(records, list) else list(records)
		total = len(items)
	n_workers = _workers(workers, total if total is not None else PARALLEL_MIN)
	keyed = _bucket(rules, items if items is not None else records, n_workers, progress, total)
	return _finish(rules, items, keyed, cap, window, progress, skip_pairs, n_workers)


def _finish(rules, items, keyed: _Keyed, cap, window, progress, skip_pairs, n_workers) -> ScanResult:
	"""Steps 2 to 4 over keyed records: candidate pairs, judging, sets."""
	try:
		ids = keyed.ids
		total_buckets = max(1, keyed.n_keys)
		try:
			pairs = _candidate_pairs(keyed.sink, rules, ids, cap, window, progress, total_buckets)
		finally:
			keyed.sink.close()
		try:
			judge = _Judge(rules, items, ids, keyed.norms, keyed.spill, pairs.loose, skip_pairs, keyed.notes)
			result = ScanResult()
			compared, sort_keys = _judge_pairs(judge, pairs, result, progress, total_buckets, n_workers)
		finally:
			pairs.close()
	finally:
		keyed.spill.close()
	# the norms (~180 bytes a record), the judge and its cache are used by no later step: freed before the sets
	keyed.norms = judge = None
	order = sorted(range(len(sort_keys)), key=sort_keys.__getitem__)
	result.pairs = [result.pairs[n] for n in order]
	del sort_keys, order
	result.clusters, result.possible, cut = build_sets(result.pairs, rules.set_threshold)
	result.stats = {
		"records": len(ids),
		"compared": compared,
		"pairs": len(result.pairs),
		"clusters": len(result.clusters),
		"oversized_keys": pairs.oversized,
		"largest_set": max((len(c) for c in result.clusters), default=0),
		"possible": len(result.possible),
		"split_links": cut,
	}
	return result


@dataclass
class _Keyed:
	ids: StrArray  # per record
	norms: BlobArray  # per record: its Norms
	spill: Spill  # per record: (Packed, the record's rule fields or None)
	sink: KeySink  # per rule: (key hash, record)
	notes: Notes  # per record: what the prefilter reads
	n_keys: int = 0

	@classmethod
	def new(cls, rules: RuleSet) -> _Keyed:
		return cls(
			StrArray(), BlobArray(), Spill(), KeySink(len(rules.rules)), Notes(rules, ready_signatures(rules))
		)

	def close(self) -> None:
		"""Removes the spill and key files (a scan that failed or was sent back)."""
		self.spill.close()
		self.sink.close()

	def done(self, progress: Progress | None) -> _Keyed:
		"""Every record is in: the id and norms stores are made read-only; the last progress report."""
		self.ids.freeze()
		self.norms.freeze()
		if progress:
			progress("prepare", len(self.ids), len(self.ids))
		return self


_AHEAD = 3  # chunks in flight per worker: the reader stays a few chunks ahead, never the whole file


def _tasks(source, chunk: int) -> Iterator[tuple[list[str], tuple[int, int] | list[list[str]]]]:
	"""(ids, task) per chunk of records: bounds into the list, or the streamed rows themselves."""
	if isinstance(source, RowStream):
		for ids, rows in source.chunks:
			for lo in range(0, len(rows), chunk):
				yield ids[lo : lo + chunk], rows[lo : lo + chunk]
		return
	for lo in range(0, len(source), chunk):
		hi = min(lo + chunk, len(source))
		yield [str(source[n][0]) for n in range(lo, hi)], (lo, hi)


def _bucket(rules: RuleSet, source, n_workers: int, progress: Progress | None, total: int | None) -> _Keyed:
	"""Step 1: every record's keys and values (``_key_records``), in forked workers for large inputs, into
	compact stores. Workers get a chunk's rows (or its bounds into the inherited list, or a block of the
	file's bytes, ``_bucket_blocks``) and send back arrays and byte buffers; no Python object per record is
	kept in this process."""
	positions = None
	if isinstance(source, RowStream):
		col = {h: k for k, h in enumerate(source.header)}
		positions = tuple((f, col[f]) for f in sorted(rules.fields) if f in col)
		if n_workers > 1 and source.file is not None:
			keyed = _bucket_blocks(rules, source, positions, n_workers, progress, total)
			if keyed is not None:
				return keyed
	keyed = _Keyed.new(rules)

	def absorb(ids: list[str], got: tuple) -> None:
		_absorb(keyed, ids, got, progress, total)

	with _keying(keyed, (rules, None if positions is not None else source, positions)):
		if n_workers <= 1:
			for ids, task in _tasks(source, _CHUNK):
				absorb(ids, _key_task(task))
		elif positions is None:  # tasks are bounds into the inherited list: small enough for _Workers
			pending: deque = deque()
			with _Workers(n_workers, _key_task) as workers:
				for ids, task in _tasks(source, _CHUNK):
					workers.send(task)
					pending.append(ids)
					while len(pending) >= _AHEAD * n_workers:
						absorb(pending.popleft(), workers.recv())
				while pending:
					absorb(pending.popleft(), workers.recv())
		else:
			pending: deque = deque()
			with multiprocessing.get_context("fork").Pool(n_workers, initializer=gc.disable) as pool:
				for ids, task in _tasks(source, _CHUNK):
					pending.append((ids, pool.apply_async(_key_task, (task,))))
					while len(pending) >= _AHEAD * n_workers:
						ids_done, res = pending.popleft()
						absorb(ids_done, res.get())
				while pending:
					ids_done, res = pending.popleft()
					absorb(ids_done, res.get())
	return keyed.done(progress)


@contextmanager
def _keying(keyed: _Keyed, work: tuple) -> Iterator[None]:
	"""What the forked key workers read (``_WORK``) for the block's duration; on any error the scan's stores
	are removed."""
	global _WORK
	_WORK = work
	try:
		yield
	except BaseException:
		keyed.close()
		raise
	finally:
		_WORK = None


_BLOCK = 1 << 19  # bytes of the file a worker reads at once (~4,000 rows of customers)


def _blocks(path: str, size: int) -> Iterator[tuple[int, int, bool]]:
	"""The file in blocks of about ``size`` bytes, as (start, stop, the first block), each ending at a line end
	outside quotes as far as an even number of quote characters before it tells, else (past ``4 * size``)
	at its last line end. A quote inside an unquoted field misleads the count; a block that ends inside a
	quoted field fails its reader (``RowFile.rows``)."""
	with open(path, "rb") as f:
		rest = b""
		start = 0
		while True:
			data = f.read(size)
			if not data:
				if rest:
					yield start, start + len(rest), start == 0
				return
			buf = rest + data if rest else data
			last = cut = buf.rfind(b"\n")
			if cut < 0:  # no line ends in it yet
				rest = buf
				continue
			quotes = buf.count(b'"', 0, cut + 1)
			while cut >= 0 and quotes & 1:
				prev = buf.rfind(b"\n", 0, cut)
				quotes -= buf.count(b'"', prev + 1, cut + 1)
				cut = prev
			if cut < 0:
				# an odd count at every line end: a quoted field goes on, or a quote in an unquoted field
				if len(buf) < 4 * size:
					rest = buf
					continue
				cut = last
			yield start, start + cut + 1, start == 0
			start += cut + 1
			rest = buf[cut + 1 :]


def _bucket_blocks(
	rules: RuleSet, source: RowStream, positions: tuple, n_workers: int, progress, total
) -> _Keyed | None:
	"""``_bucket`` of a file whose blocks the workers read themselves (``RowFile``): this process only cuts
	the file into blocks. When a block cannot be read so, or two rows may share an id, the file is read as
	``source.chunks`` reads it (``RowFile.check``), which raises the error those would; None when it finds
	none (a misleading quote count, or hashes of two ids alike): the caller reads the rows itself."""
	file = source.file
	keyed = _Keyed.new(rules)
	id_hashes: list[np.ndarray] = []
	ok = True

	def absorb(got: tuple | None) -> bool:
		if got is None:
			return False
		encoded, hashes, count, result = got
		if file.numbered:
			start = len(keyed.ids)
			keyed.ids.extend([str(n) for n in range(start + 1, start + count + 1)])
		else:
			keyed.ids.extend_joined(*encoded)
			id_hashes.append(hashes)
		_absorb(keyed, None, result, progress, total)
		return True

	with open(file.path, "rb") as f, _keying(keyed, (rules, None, positions, file, f.fileno())):
		with _Workers(n_workers, _key_block) as workers:
			pending = 0
			for block in _blocks(file.path, _BLOCK):
				workers.send(block)
				pending += 1
				if pending >= _AHEAD * n_workers:
					pending -= 1
					if not absorb(workers.recv()):
						ok = False
						break
			while ok and pending:
				pending -= 1
				ok = absorb(workers.recv())
		if ok and id_hashes:
			h = np.concatenate(id_hashes)
			h.sort()
			ok = not bool(np.any(h[1:] == h[:-1]))
		if not ok:
			file.check()  # raises the file's first error, as the rows read by chunks would
			keyed.close()
			return None
	return keyed.done(progress)


def _absorb(
	keyed: _Keyed, ids: list[str] | None, got: tuple, progress: Progress | None, total: int | None
) -> None:
	"""Appends one keyed chunk (``_key_records``' result for the records ``ids``) to the scan's stores
	(``ids`` None: the caller has added them)."""
	start = len(keyed.ids) if ids is not None else len(keyed.ids) - len(got[1][1])
	keys, norms, spill = got[:3]
	if len(got) > 3:
		keyed.notes.add(got[3])
	else:  # a chunk keyed before the prefilter's notes were (``key_chunk``): its records are not prefiltered
		keyed.notes.add_unknown(len(norms[1]))
	for r, (hashes, recs) in enumerate(keys):
		if start:
			recs = recs + start
		keyed.sink.add(r, hashes, recs)
		keyed.n_keys += len(hashes)
	if ids is not None:
		keyed.ids.extend(ids)
	keyed.norms.extend_joined(*norms)
	keyed.spill.extend_joined(*spill)
	if progress:
		done = len(keyed.ids)
		progress("prepare", done, max(total or 0, done))


# ---- a scan keyed in parts (a site's key jobs), judged in one place (its compare job) ---------------------
def key_chunk(rules: RuleSet, records: list[tuple[Any, Mapping[str, Any]]]) -> bytes:
	"""The keyed form of a chunk of (id, record) pairs as bytes: ids, blocking key hashes, the prepared values
	and the records' rule fields (``_key_records``). ``scan_keyed`` over the chunks of a table, in order, gives
	what ``scan_records`` gives over the table's records in that order: the keying is the part of a scan that
	can be spread over many processes, and what the judging needs travels with it. Its key hashes are
	``stable_hash``es: chunks keyed by unrelated processes meet on the same hashes."""
	keys, norms, spill, notes = _key_records(rules, [rec for _, rec in records], True, stable_hash)
	ids = [str(rid) for rid, _ in records]
	plain_keys = [(h.tobytes(), r.tobytes()) for h, r in keys]
	parts = (ids, plain_keys, (norms[0], norms[1].tobytes()), (spill[0], spill[1].tobytes()), notes)
	return pickle.dumps(parts, protocol=pickle.HIGHEST_PROTOCOL)


def _unkey(blob: bytes) -> tuple[list[str], tuple]:
	"""A ``key_chunk`` blob back as (ids, ``_key_records``' result); a chunk keyed before the prefilter's
	notes were has none (a site's chunks wait in redis while the app is updated)."""
	ids, plain_keys, norms, spill, *notes = pickle.loads(blob)
	keys = [(np.frombuffer(h, dtype=np.int64), np.frombuffer(r, dtype=np.int32)) for h, r in plain_keys]
	as_joined = [(data, np.frombuffer(lengths, dtype=np.int64)) for data, lengths in (norms, spill)]
	return ids, (keys, as_joined[0], as_joined[1], *notes)


def scan_keyed(
	rules: RuleSet,
	chunks: Iterable[bytes],
	cap: int = 200,
	window: int = 20,
	progress: Progress | None = None,
	total: int | None = None,
	skip_pairs: set[tuple[str, str]] | None = None,
	workers: int | None = None,
) -> ScanResult:
	"""``scan_records`` over records keyed apart by ``key_chunk`` (condition rules only: smart rules read
	records, see ``smart_train.scan_all``). ``chunks`` is read one at a time; ``total``: records in all."""
	if rules.smart:
		raise ValueError("scan_keyed takes condition rules only; smart rules are scanned by scan_all")
	with _gc_paused():
		keyed = _Keyed.new(rules)
		try:
			for blob in chunks:
				ids, got = _unkey(blob)
				_absorb(keyed, ids, got, progress, total)
		except BaseException:
			keyed.close()
			raise
		keyed.done(None)  # no "prepare" report here: the chunks' reading reported it
		n_workers = _workers(workers, len(keyed.ids))
		return _finish(rules, None, keyed, cap, window, progress, skip_pairs, n_workers)


def _candidate_pairs(
	sink: KeySink,
	rules: RuleSet,
	ids: StrArray,
	cap: int,
	window: int,
	progress: Progress | None,
	total_buckets: int,
) -> CandidateSet:
	"""Step 2: the pairs of records sharing a key, each with the rules under whose keys it was found, by
	sorting each rule's key hashes (``blocks.candidate_pairs``), stored by range of first record for step 4. A
	key of more than ``cap`` records pairs each with its next ``window`` in id order. Empties ``sink``."""
	n_rules = len(rules.rules)

	def done(r: int) -> None:
		if progress:
			progress("compare", r * (total_buckets // 2) // n_rules, total_buckets)

	done(0)
	return candidate_pairs(sink, n_rules, len(ids), cap, window, lambda i: _sort_id(ids[i]), done)


_BLANK = -1.0  # the best score of a condition one side of which is blank
_NORMS_CACHE = 100_000  # records whose norms a judge keeps read (~1.5 KB each), then those it still needs


def _ready_checks(rules: RuleSet, ready_sigs: list[tuple]) -> list[list[tuple]]:
	"""Per rule, its conditions every record has values for (the blocking ones), as (equality, position in
	ready_sigs, scorer, threshold, blank ignored, unpack), equality checks first: the cheapest.

	Norms stored packed (``Comparator.pack``) are scored as they are by a type that can (``score_packed``),
	else made again by ``unpack`` first (None: the scorer takes the stored norms)."""
	ready = set(ready_sigs)
	sig_pos = {sig: k for k, sig in enumerate(ready_sigs)}
	checks: list[list[tuple]] = []
	for rule in rules.rules:
		mine = []
		for cond in rule.conditions:
			if cond.signature not in ready:
				continue
			cmp = COMPARATORS[cond.match]
			equality = compares_by_equality(cond.match)  # packed norms: by the type's scorer (== if exact)
			threshold = cond.threshold if cond.match in FUZZY_TYPES else 100.0
			scorer, unpack = cmp.score, getattr(cmp, "unpack", None)
			if unpack is not None:
				if type(cmp).score_packed is not Comparator.score_packed:
					scorer, unpack = cmp.score_packed, None
			mine.append(
				(equality, sig_pos[cond.signature], scorer, threshold, cond.blank == "ignore", unpack)
			)
		mine.sort(key=lambda c: not c[0])
		checks.append(mine)
	return checks


class _Judge:
	"""Step 3: judges candidate pairs. Conditions every record has values for are checked first on the plain
	prepared values, with the comparators themselves; a rule that fails one cannot fire. Equality types compare
	by ==, as Comparator.compare does. Only pairs some rule may still fire for get compare_rule."""

	def __init__(self, rules, items, ids, norms, spill, loose, skip_pairs, notes: Notes) -> None:
		self.rules = rules
		self.items = items  # the caller's (id, record) list, or None: streamed rows come back from ``spill``
		self.ids = ids
		self.norm_blob = norms
		self.spill = spill
		self.loose = loose
		self.skip = skip_pairs or set()
		self.ready_sigs = ready_signatures(rules)
		self.checks = _ready_checks(rules, self.ready_sigs)
		self.prefilter = Prefilter(rules, self.ready_sigs, self.checks, notes.done())
		complete_bits = 0
		for r, rule in enumerate(rules.rules):
			if key_complete(rule):
				complete_bits |= 1 << r
		self.complete_bits = complete_bits
		# rules evaluated for every pair (keys not complete), with those of a record under an oversized key
		self.incomplete = ((1 << len(rules.rules)) - 1) & ~complete_bits
		self.extra: np.ndarray | None = None  # per record: those bits (``_span``), made by ``extra_bits``
		self.by_mask: dict[int, list[tuple]] = {}
		self.prepared: dict[int, Prepared] = {}
		self.cache: dict[int, tuple] = {}  # record -> its norms (as stored), ``_NORMS_CACHE`` at most
		self.first = -1  # the first record of the pairs being judged
		# per ready signature: how its stored norms become norms again (None: they are stored as they are)
		self.unpacks = tuple(getattr(COMPARATORS[sig[1]], "unpack", None) for sig in self.ready_sigs)
		self.packed_at = tuple(k for k, u in enumerate(self.unpacks) if u is not None)

	def extra_bits(self) -> np.ndarray:
		"""Per record, the bits of the rules evaluated for each of its pairs whatever keys found it (the rules
		whose keys are not complete, and those under whose oversized keys it sits): uint64, or Python ints
		for more than 64 rules."""
		if self.extra is None:
			n, big = len(self.ids), len(self.rules.rules) > 64
			extra = np.full(n, self.incomplete, dtype=object if big else np.uint64)
			for i, bits in self.loose.items():
				extra[i] |= bits if big else np.uint64(bits)
			self.extra = extra
		return self.extra

	def skipped(self, firsts: np.ndarray, seconds: np.ndarray) -> int:
		"""How many of these pairs are in ``skip`` (either way round)."""
		ids, skip = self.ids, self.skip
		return sum(
			1
			for a, b in zip(firsts.tolist(), seconds.tolist(), strict=True)
			if (ids[a], ids[b]) in skip or (ids[b], ids[a]) in skip
		)

	def plan(self, mask: int) -> list[tuple]:
		"""(rule, its ready checks) of the rules whose bits are in ``mask``, in rule order."""
		got = self.by_mask.get(mask)
		if got is None:
			rule_list, checks = self.rules.rules, self.checks
			got = self.by_mask[mask] = [
				(rule_list[r], checks[r]) for r in range(len(checks)) if mask >> r & 1
			]
		return got

	def prep(self, i: int) -> Prepared:
		p = self.prepared.get(i)
		if p is None:
			if len(self.prepared) >= _PREPARED_CACHE:  # bounded: pairs come in order of their first record
				self.prepared.clear()
			packed, rec = self.spill[i]
			if rec is None:
				rec = self.items[i][1]
			if self.packed_at:
				packed = list(packed)
				for k in self.packed_at:
					unpack = self.unpacks[k]
					packed[k] = tuple([(f, raw, unpack(n), note) for f, raw, n, note in packed[k]])
			src = LazyValues(self.rules, rec, dict(zip(self.ready_sigs, packed, strict=True)))
			p = self.prepared[i] = Prepared(self.ids[i], rec, src)
		return p

	def norms(self, i: int) -> tuple:
		"""The norms of record i for every ready signature, in ready_sigs order, as stored (packed norms still
		packed: a check unpacks one only when it scores it; most pairs fail before their company names are
		compared). Kept for the next pairs that read them (a record is in many pairs)."""
		cache = self.cache
		got = cache.get(i)
		if got is None:
			if len(cache) >= _NORMS_CACHE:
				# pairs come in order of their first record, and their second record comes after it: a record
				# before the current first record is read no more
				first = self.first
				cache = self.cache = {k: v for k, v in cache.items() if k > first}
				if len(cache) >= _NORMS_CACHE * 3 // 4:
					cache.clear()
			got = cache[i] = self.norm_blob[i]
		return got

	def evaluate(
		self, firsts: list[int], seconds: list[int], masks: list[int], ruled_out: int = 0
	) -> tuple[int, list[tuple]]:
		"""Judges candidate pairs (first record, second record, bits of the rules to evaluate; ``_span``):
		(pairs compared, matched pairs as (a, b, match)). ``ruled_out``: pairs of the span the prefilter
		judged (counted as compared)."""
		ids, skip, by_mask, plan, norms = self.ids, self.skip, self.by_mask, self.plan, self.norms
		cached = self.cache.get
		blank = _BLANK
		no_scores = [None] * len(self.ready_sigs)
		compared = ruled_out
		found = []
		last_a, va, ua = -1, None, None  # ua: record a's unpacked norms, by position in ready_sigs
		for a, b, mask in zip(firsts, seconds, masks, strict=True):
			if skip and ((ids[a], ids[b]) in skip or (ids[b], ids[a]) in skip):
				continue
			compared += 1
			to_eval = by_mask.get(mask)
			if to_eval is None:
				to_eval = plan(mask)
			if a != last_a:  # pairs come sorted by their first record
				self.first = last_a = a
				va, ua = norms(a), {}
				cached = self.cache.get
			vb = cached(b)
			if vb is None:
				vb = norms(b)
				cached = self.cache.get  # (a new dict when the cache was purged)
			scores = no_scores.copy()
			maybe = None
			for rule, checks in to_eval:
				for equality, k, scorer, threshold, ignore, unpack in checks:
					sc = scores[k]
					if sc is None:
						na, nb = va[k], vb[k]
						if not na or not nb:
							sc = blank
						elif equality:
							if len(na) == 1 and len(nb) == 1:
								sc = 100.0 if na[0] == nb[0] else 0.0
							else:
								sc = 100.0 if any(x in nb for x in na) else 0.0
						else:
							if unpack is not None:
								got = ua.get(k)
								if got is None:
									got = ua[k] = tuple(map(unpack, na))
								na, nb = got, tuple(map(unpack, nb))
							if len(na) == 1 and len(nb) == 1:
								sc = scorer(na[0], nb[0])
							else:
								sc = max(scorer(x, y) for x in na for y in nb)
						scores[k] = sc
					if sc == blank:
						if ignore:
							continue
						break
					if sc < threshold:
						break
				else:
					if maybe is None:
						maybe = [rule]
					else:
						maybe.append(rule)
			if maybe is None:
				continue
			# the ready conditions held: compare_rule decides (it prepares the rest of the values lazily)
			pa, pb = self.prep(a), self.prep(b)
			for rule in maybe:
				m = self.rules.compare_rule(rule, pa, pb)
				if m is not None:
					found.append((a, b, m))
					break
		return compared, found


def _judge_pairs(
	judge: _Judge,
	pairs: CandidateSet,
	result: ScanResult,
	progress: Progress | None,
	total_buckets: int,
	n_workers: int = 1,
) -> tuple[int, list[tuple]]:
	"""Step 4: judges every candidate pair, span by span (a progress report after each); matched pairs go into
	``result.pairs`` (ids in order). The number of pairs compared, and the sort key of each matched pair.

	The pairs are merged a run of first-record ranges at a time (``CandidateSet.groups``), so however many
	there are, only one run's codes are in memory. With several workers the spans are judged in processes
	forked once, before the first run: they only read what the judge holds in numpy arrays and byte buffers
	(ids, norms) and the spill file, so forking copies no pages of Python objects; each span's codes are sent
	to them, a few spans ahead of the results, never a whole run.
	"""
	global _JUDGE
	ids = judge.ids
	judge.extra_bits()  # made before the judge workers fork
	estimate = max(1, pairs.tagged)
	step = max(_PAIR_CHUNK, estimate // 64 + 1)
	compared = 0
	done_est = 0
	sort_keys: list[tuple] = []

	def spans() -> Iterator[tuple[np.ndarray, np.ndarray, int]]:
		"""(codes, bits, pairs' share of the estimate) of each span, run by run."""
		for cand, size in pairs.groups():
			n = len(cand)
			for lo in range(0, n, step):
				hi = min(lo + step, n)
				yield cand.codes[lo:hi], cand.bits[lo:hi], hi * size // n - lo * size // n
			del cand

	def absorb(n_compared: int, found: list, size: int) -> None:
		nonlocal compared, done_est
		compared += n_compared
		for a, b, m in found:
			ida, idb = ids[a], ids[b]
			ka, kb = _sort_id(ida), _sort_id(idb)
			if ka > kb:
				ida, idb, ka, kb = idb, ida, kb, ka
			result.pairs.append((ida, idb, m))
			sort_keys.append((ka, kb))
		done_est = min(estimate, done_est + size)
		if progress:
			half = total_buckets // 2
			progress("compare", half + done_est * (total_buckets - half) // estimate, total_buckets)

	if n_workers > 1 and pairs.tagged >= PARALLEL_PAIRS:
		_JUDGE = judge
		pool = multiprocessing.get_context("fork").Pool(n_workers, initializer=gc.disable)
		try:
			pending: deque = deque()
			for codes, bits, size in spans():
				pending.append((pool.apply_async(_judge_span, ((codes, bits),)), size))
				while len(pending) >= _AHEAD * n_workers:
					res, n = pending.popleft()
					absorb(*res.get(), n)
			while pending:
				res, n = pending.popleft()
				absorb(*res.get(), n)
		finally:
			pool.terminate()
			pool.join()
			_JUDGE = None
	else:
		for codes, bits, size in spans():
			absorb(*judge.evaluate(*_span(judge, codes, bits)), size)
	if progress:
		progress("compare", total_buckets, total_buckets)
	return compared, sort_keys


def _span(judge: _Judge, codes: np.ndarray, bits: np.ndarray) -> tuple[list, list, list, int]:
	"""Each pair's first record, second record and the bits of the rules to evaluate for it (those that found
	it, and ``extra``'s of either record, less those the prefilter rules out), as lists of Python ints, and the
	number of pairs the prefilter left no rule to (not in ``skip``): what ``_Judge.evaluate`` reads."""
	count, extra = len(judge.ids), judge.extra
	firsts = codes // count
	seconds = codes - firsts * count
	ruled_out = 0
	if extra.dtype == object:
		masks = bits.astype(object) | extra[firsts] | extra[seconds]
	else:
		masks = bits.astype(np.uint64) | extra[firsts] | extra[seconds]
		if judge.prefilter:
			keep = judge.prefilter.apply(firsts, seconds, masks) != 0
			ruled_out = len(keep) - int(np.count_nonzero(keep))
			if ruled_out:
				if judge.skip:
					ruled_out -= judge.skipped(firsts[~keep], seconds[~keep])
				firsts, seconds, masks = firsts[keep], seconds[keep], masks[keep]
	return firsts.tolist(), seconds.tolist(), masks.tolist(), ruled_out


_JUDGE: _Judge | None = None  # the judge that forked judge workers read


def _judge_span(span: tuple[np.ndarray, np.ndarray]) -> tuple[int, list[tuple[int, int, Match]]]:
	judge = _JUDGE
	return judge.evaluate(*_span(judge, *span))
