"""Blocking by sorted key hashes: (key hash, record index) arrays -> candidate pairs, without a dict of lists.

Per rule, every record's blocking keys arrive as 64-bit hashes with the record's index (``KeySink``). Sorting
them (numpy ``lexsort``) lines up the records sharing a key; a run of equal hashes is a bucket. A bucket of
two to ``cap`` records gives all its pairs (made with array arithmetic, in record order); a larger one (a
placeholder-like value) pairs each record with its next ``window`` in id order, as before, and marks its
records "loose" for that rule. Pairs are coded ``a * count + b`` (a < b); the codes of all rules are sorted
once, and a pair found by several rules carries the OR of their bits.

Memory: 12 bytes a key while keys are collected (hash + index), the sort of one rule at a time on top, and
9 bytes a candidate pair: no Python object per key or per pair.
"""

from __future__ import annotations

import os
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

_PAIR_BATCH = 4_000_000  # pairs made at once from the buckets of one rule (bounds the temporary arrays)
_NONE = np.zeros(0, np.int64)
_SORT_PART = 2_000_000  # keys sorted at once: a rule with more is sorted in parts split by hash value


_KEY = np.dtype([("h", "<i8"), ("r", "<i4")])  # one blocking key: its hash and its record (12 bytes)
KEY_PARTS = 16  # files per rule: a part of the keys, by hash value, is all a sort holds at once


class KeySink:
	"""Per rule: (key hash, record index) pairs, appended chunk by chunk to ``KEY_PARTS`` files of an unlinked
	temporary folder, split by hash value (a key lies in one part). Only one part is ever in memory (when
	its buckets are made), so this process holds no key at all while the records are read."""

	def __init__(self, n_rules: int, folder: str | None = None) -> None:
		self._dir = tempfile.TemporaryDirectory(prefix="crm-dedup-keys-", dir=folder)
		self._files: dict[tuple[int, int], Any] = {}
		self.n_keys = 0
		self.nbytes = 0

	def _file(self, rule: int, part: int):
		f = self._files.get((rule, part))
		if f is None:
			f = self._files[(rule, part)] = open(os.path.join(self._dir.name, f"{rule}-{part}"), "w+b")
		return f

	def add(self, rule: int, hashes: np.ndarray, records: np.ndarray) -> None:
		n = len(hashes)
		if not n:
			return
		keys = np.empty(n, dtype=_KEY)
		keys["h"] = hashes
		keys["r"] = records
		part = (hashes.view(np.uint64) % np.uint64(KEY_PARTS)).astype(np.intp)
		order = np.argsort(part, kind="stable")
		keys = keys[order]
		bounds = np.searchsorted(part[order], np.arange(KEY_PARTS + 1))
		for p in range(KEY_PARTS):
			lo, hi = int(bounds[p]), int(bounds[p + 1])
			if hi > lo:
				self._file(rule, p).write(keys[lo:hi].tobytes())
		self.n_keys += n
		self.nbytes += keys.nbytes

	def parts(self, rule: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
		"""The rule's keys, part by part, as (hashes, records); each part's file is closed after it is read."""
		for p in range(KEY_PARTS):
			f = self._files.pop((rule, p), None)
			if f is None:
				continue
			f.seek(0)
			keys = np.frombuffer(f.read(), dtype=_KEY)
			f.close()
			yield np.ascontiguousarray(keys["h"]), np.ascontiguousarray(keys["r"])

	def close(self) -> None:
		for f in self._files.values():
			f.close()
		self._files.clear()
		self._dir.cleanup()


@dataclass
class Candidates:
	codes: np.ndarray  # int64, sorted: a * count + b with a < b
	bits: (
		np.ndarray
	)  # uint8..uint64 (object for more than 64 rules): bit r set when rule r's keys found the pair
	loose: dict[int, int] = field(
		default_factory=dict
	)  # record -> bits of rules it is under an oversized key
	oversized: int = 0  # keys shared by more than cap records
	distinct_keys: int = 0

	def __len__(self) -> int:
		return len(self.codes)

	def span(self, lo: int, hi: int) -> list[tuple[int, int]]:
		"""(code, bits) of pairs lo..hi, as Python ints (what ``_Judge.evaluate`` reads)."""
		return list(zip(self.codes[lo:hi].tolist(), self.bits[lo:hi].tolist(), strict=True))


def _sorted_unique(codes: np.ndarray) -> np.ndarray:
	"""``np.unique`` of an int64 array (sorted, each value once), by an in-place sort and one comparison:
	numpy 2's ``np.unique`` hashes integers first, several times slower on millions of pair codes."""
	codes.sort()
	if len(codes) < 2:
		return codes
	keep = np.empty(len(codes), dtype=bool)
	keep[0] = True
	np.not_equal(codes[1:], codes[:-1], out=keep[1:])
	return codes[keep]


def _buckets(hashes: np.ndarray, records: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
	"""Sorted by (hash, record), repeats of a key for one record dropped: (records, bucket starts, sizes).

	Keys arrive in record order (``KeySink`` keeps it): a stable sort by hash alone then orders them by (hash,
	record), at half the cost of sorting on both."""
	if len(records) > 1 and bool((records[1:] >= records[:-1]).all()):
		order = np.argsort(hashes, kind="stable")
	else:
		order = np.lexsort((records, hashes))
	hashes = hashes[order]
	records = records[order]
	del order
	n = len(hashes)
	if n > 1:
		keep = np.empty(n, dtype=bool)
		keep[0] = True
		np.not_equal(hashes[1:], hashes[:-1], out=keep[1:])
		keep[1:] |= records[1:] != records[:-1]
		hashes = hashes[keep]
		records = records[keep]
		n = len(hashes)
	new = np.empty(n, dtype=bool)
	if n:
		new[0] = True
		np.not_equal(hashes[1:], hashes[:-1], out=new[1:])
	starts = np.flatnonzero(new)
	sizes = np.diff(starts, append=n)
	return records, starts, sizes


def _small_bucket_pairs(records: np.ndarray, starts: np.ndarray, sizes: np.ndarray, count: int):
	"""Every pair within each bucket (members in record order): yields arrays of codes, batch by batch."""
	if not len(starts):
		return
	ends = starts + sizes
	n = int(sizes.sum())
	member = np.repeat(np.arange(len(starts)), sizes)
	pos = np.repeat(starts, sizes) + (np.arange(n) - np.repeat(np.cumsum(sizes) - sizes, sizes))
	partners = ends[member] - pos - 1  # the later members of its bucket
	del member
	cum = np.cumsum(partners)
	lo = 0
	while lo < n:
		base = int(cum[lo - 1]) if lo else 0
		hi = int(np.searchsorted(cum, base + _PAIR_BATCH, side="right"))
		hi = max(hi, lo + 1)
		c = partners[lo:hi]
		total = int(c.sum())
		if total:
			left = np.repeat(pos[lo:hi], c)
			first = np.cumsum(c) - c
			right = left + 1 + (np.arange(total) - np.repeat(first, c))
			yield records[left].astype(np.int64) * count + records[right]
		lo = hi


def rule_pairs(
	hashes: np.ndarray,
	records: np.ndarray,
	count: int,
	cap: int,
	window: int,
	sort_key: Callable[[int], object],
	bit: int,
	loose: dict[int, int],
	split: bool = True,
) -> tuple[np.ndarray, int, int]:
	"""The candidate pair codes of one rule (sorted, unique), its oversized keys, its distinct keys.
	Records under an oversized key get ``bit`` in ``loose``.

	More than ``_SORT_PART`` keys are split by hash value into parts sorted one after the other (a key lies
	in one part), so the sort's temporary arrays stay bounded however many records there are."""
	n_parts = -(-len(hashes) // _SORT_PART)
	if split and n_parts > 1:
		part = ((hashes.view(np.uint64) >> np.uint64(32)) % np.uint64(n_parts)).astype(np.int32)
		parts, oversized, distinct = [], 0, 0
		for p in range(n_parts):
			mine = part == p
			codes, big, keys = rule_pairs(
				hashes[mine], records[mine], count, cap, window, sort_key, bit, loose, split=False
			)
			parts.append(codes)
			oversized += big
			distinct += keys
		return _sorted_unique(np.concatenate(parts)), oversized, distinct
	records, starts, sizes = _buckets(hashes, records)
	del hashes
	distinct = len(starts)
	parts = []
	small = (sizes >= 2) & (sizes <= cap)
	parts.extend(_small_bucket_pairs(records, starts[small], sizes[small], count))
	big = np.flatnonzero(sizes > cap)
	for g in big.tolist():
		start, size = int(starts[g]), int(sizes[g])
		members = sorted(records[start : start + size].tolist(), key=lambda i: (sort_key(i), i))
		for i in members:
			loose[i] |= bit
		# each member with its next ``window`` members
		order = np.array(members, dtype=np.int64)
		for d in range(1, min(window, size - 1) + 1):
			a, b = order[:-d], order[d:]
			parts.append(np.minimum(a, b) * count + np.maximum(a, b))
	codes = _sorted_unique(np.concatenate(parts)) if parts else np.zeros(0, np.int64)
	return codes, len(big), distinct


_RANGES = 64  # files of candidate pairs, by range of their first record
PAIR_BUDGET = 8_000_000  # tagged pair codes merged (and judged) at once, at most (unless one range has more)


class PairStore:
	"""Candidate pairs of all rules, as they come from the buckets, in ``_RANGES`` files of an unlinked
	temporary folder by range of the pair's first record: each pair as ``code << shift | rule`` (int64). A
	run of ranges is merged at a time (``groups``), so only its pairs are ever in memory, not all of them."""

	def __init__(self, count: int, n_rules: int, folder: str | None = None) -> None:
		self.count = count
		self.n_rules = n_rules
		self.shift = max(1, (n_rules - 1).bit_length())
		if (count * count) << self.shift >= 1 << 63:
			raise ValueError(f"too many records for one scan ({count:,})")
		self.per_range = max(1, -(-count // _RANGES))
		# code bounds of the ranges: range q holds the pairs whose first record is in q*per_range...
		firsts = np.arange(_RANGES + 1, dtype=np.int64) * self.per_range
		self._bounds = np.minimum(firsts, count) * count
		self._dir = tempfile.TemporaryDirectory(prefix="crm-dedup-pairs-", dir=folder)
		self._files: dict[int, Any] = {}
		self.sizes = [0] * _RANGES  # tagged codes per range
		self.bits_type = (
			np.uint8
			if n_rules <= 8
			else np.uint16
			if n_rules <= 16
			else np.uint32
			if n_rules <= 32
			else np.uint64
		)

	@property
	def tagged(self) -> int:
		"""Pair codes stored, a pair once per rule (and hash part) that found it: at least the pairs."""
		return sum(self.sizes)

	def add(self, rule: int, codes: np.ndarray) -> None:
		"""Sorted codes (``a * count + b``) of pairs found by ``rule``."""
		if not len(codes):
			return
		cut = np.searchsorted(codes, self._bounds)
		for q in range(_RANGES):
			lo, hi = int(cut[q]), int(cut[q + 1])
			if hi > lo:
				part = codes[lo:hi] << self.shift
				part |= rule
				f = self._files.get(q)
				if f is None:
					f = self._files[q] = open(os.path.join(self._dir.name, str(q)), "w+b")
				f.write(part.tobytes())
				self.sizes[q] += hi - lo

	def groups(self, budget: int | None = None) -> Iterator[tuple[np.ndarray, np.ndarray, int]]:
		"""(codes, bits, tagged codes read) of runs of ranges in order, each run of at most ``budget`` tagged
		codes (default ``PAIR_BUDGET``; or one range): codes sorted and unique, bits the OR of the rules that
		found each pair."""
		budget = PAIR_BUDGET if budget is None else budget
		q = 0
		while q < _RANGES:
			end, size = q + 1, self.sizes[q]
			while end < _RANGES and size + self.sizes[end] <= budget:
				size += self.sizes[end]
				end += 1
			parts = []
			for r in range(q, end):
				f = self._files.pop(r, None)
				if f is not None:
					f.seek(0)
					parts.append(np.frombuffer(f.read(), dtype=np.int64))
					f.close()
			q = end
			if not size:
				continue
			tagged = np.concatenate(parts) if len(parts) > 1 else parts[0].copy()
			del parts
			yield (*_merge_tagged(tagged, self.shift, self.bits_type), size)

	def close(self) -> None:
		for f in self._files.values():
			f.close()
		self._files.clear()
		self._dir.cleanup()


def _merge_tagged(tagged: np.ndarray, shift: int, bits_type) -> tuple[np.ndarray, np.ndarray]:
	"""Tagged codes (``code << shift | rule``) -> (sorted unique codes, OR of their rules' bits). One in-place
	sort lines up every pair's rules (no argsort, no gathered copies), and the bits are small (uint8 for <= 8
	rules)."""
	tagged.sort()
	n = len(tagged)
	rule_of = (tagged & ((1 << shift) - 1)).astype(bits_type)
	bits = np.left_shift(np.ones(n, dtype=bits_type), rule_of)
	del rule_of
	tagged >>= shift
	if not n:
		return tagged, bits
	new = np.empty(n, dtype=bool)
	new[0] = True
	np.not_equal(tagged[1:], tagged[:-1], out=new[1:])
	starts = np.flatnonzero(new)
	del new
	return tagged[starts], np.bitwise_or.reduceat(bits, starts)


@dataclass
class CandidateSet:
	"""Every candidate pair of a scan, stored by range of first record (``PairStore``), to be merged and
	judged a run of ranges at a time; ``loose``, ``oversized`` and ``distinct_keys`` as in ``Candidates``."""

	store: PairStore | None  # None: more than 64 rules, all pairs in ``whole``
	loose: dict[int, int] = field(default_factory=dict)
	oversized: int = 0
	distinct_keys: int = 0
	whole: Candidates | None = None

	@property
	def tagged(self) -> int:
		"""An upper bound of the number of pairs (a pair once per rule that found it)."""
		return self.store.tagged if self.store is not None else len(self.whole)

	def groups(self, budget: int | None = None) -> Iterator[tuple[Candidates, int]]:
		"""(pairs, their share of ``tagged``) in code order, a run of ranges at a time."""
		if self.store is None:
			if self.whole is not None and len(self.whole):
				yield self.whole, len(self.whole)
			return
		for codes, bits, size in self.store.groups(budget):
			yield Candidates(codes, bits, self.loose, self.oversized, self.distinct_keys), size

	def close(self) -> None:
		if self.store is not None:
			self.store.close()


def candidate_pairs(
	sink: KeySink,
	n_rules: int,
	count: int,
	cap: int,
	window: int,
	sort_key: Callable[[int], object],
	progress: Callable[[int], None] | None = None,
	folder: str | None = None,
) -> CandidateSet:
	"""Every pair of records sharing a key of some rule, with the bits of the rules that found it: written,
	rule by rule and part by part of the keys, to a ``PairStore``, never all in memory at once."""
	loose: dict[int, int] = defaultdict(int)
	oversized = distinct = 0
	if n_rules > 64:  # bits no longer fit a uint64: Python ints (slow, and only for very large rule sets)
		merged: dict[int, int] = {}
		for r in range(n_rules):
			for hashes, records in sink.parts(r):
				codes, big, keys = rule_pairs(hashes, records, count, cap, window, sort_key, 1 << r, loose)
				oversized += big
				distinct += keys
				for c in codes.tolist():
					merged[c] = merged.get(c, 0) | (1 << r)
			if progress:
				progress(r + 1)
		keys = sorted(merged)
		whole = Candidates(
			np.array(keys, dtype=np.int64),
			np.array([merged[k] for k in keys], dtype=object),
			dict(loose),
			oversized,
			distinct,
		)
		return CandidateSet(None, dict(loose), oversized, distinct, whole)
	store = PairStore(count, n_rules, folder)
	try:
		for r in range(n_rules):
			for hashes, records in sink.parts(r):
				codes, big, keys = rule_pairs(hashes, records, count, cap, window, sort_key, 1 << r, loose)
				del hashes, records
				oversized += big
				distinct += keys
				store.add(r, codes)
				del codes
			if progress:
				progress(r + 1)
	except BaseException:
		store.close()
		raise
	return CandidateSet(store, dict(loose), oversized, distinct)
