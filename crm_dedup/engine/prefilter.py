"""Candidate pairs ruled out a whole span at a time, before a scan's judge reads them one by one.

The judge (``scan._Judge.evaluate``) reads both records' norms for each candidate pair and runs each rule's
ready checks in Python, ~10 us a pair. Most pairs found under company-name keys fail a check that numpy sees
for a whole span of pairs at once, from a few numbers per record that the key workers note beside the norms
(``Notes``):

- a condition that does not ignore blanks fails where either record has no value for it (``present``);
- an equality condition (``match.compares_by_equality``) fails where both records have one value each and
  their hashes differ (equal hashes prove nothing and rule nothing out);
- a person-name condition fails where the two names' characters are not the same and no reading of one is
  as similar to a reading of the other (Indel, computed for the span by rapidfuzz's ``cpdist``) as the
  threshold asks (``PersonName.quick_form``): the name score is then under the threshold too;
- a company-name condition fails where the names' cores are alike less than its threshold asks and their
  industry words cannot be the same or one end the other (``CompanyName.quick_parts``): the score is then at
  most ``quick_cap`` (85), under a 90 threshold. Names found under one 字号 (链农烟具 / 链农科技) are most of
  the pairs a same-city rule leaves.

Equality conditions are noted only where they do not block their rule (the city beside the company name): a
pair was found under its blocking conditions' keys, which such checks rarely fail.

A rule one of whose ready checks fails so cannot fire for the pair: its bit is cleared; a pair left with no
bit is not judged. Only what is certain is cleared, so the matched pairs are exactly what the judge alone
finds (tests/test_prefilter.py). Of 389,647 candidate pairs among 300,000 generated customers it leaves 22,041
to the judge (13,722 match).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from rapidfuzz.distance import Indel
from rapidfuzz.process import cpdist

from .match import COMPARATORS, compares_by_equality
from .rules import RuleSet

READINGS = 3  # readings of a name kept (a name with more, 1 in 10,000, is not prefiltered)
WIDTH = 16  # bytes of a reading kept (numpy "S16"; pinyin is ASCII); a longer reading is not prefiltered
CORE_WIDTH = 12  # characters of a company name's core kept (numpy "U12"); a longer core is not prefiltered
_NO_TAIL = -1  # the tail of a company name without industry words (else the code of their last character)
_BLANK, _SEVERAL = 0, 1  # codes of an equality value: none, several (not prefiltered); else its hash
_NONE = -1  # length of a reading slot that holds none (and of the first: the name is not prefiltered)
_NOTES_CACHE = 50_000  # distinct norms a key worker keeps the notes of, per noted signature
_MARGIN = 1e-6  # a similarity this close under a threshold is left to the judge


def noted(rules: RuleSet, ready_sigs: list[tuple]) -> tuple[list[int], list[int], list[int], list[int]]:
	"""Positions in ``ready_sigs`` of the signatures noted: whether a record has a value (those of a condition
	that does not block its rule; the first 64), those compared by equality (the same), those with readings
	(``quick_form``), those with company parts (``quick_parts``)."""
	other = {
		c.signature
		for rule in rules.rules
		for i, c in enumerate(rule.conditions)
		if i not in rule.blocking_conditions
	}
	mine = [k for k, sig in enumerate(ready_sigs) if sig in other]
	eq = [k for k in mine if compares_by_equality(ready_sigs[k][1])]
	forms = [k for k, sig in enumerate(ready_sigs) if _quick(sig[1], "quick_form") is not None]
	parts = [k for k, sig in enumerate(ready_sigs) if _quick(sig[1], "quick_parts") is not None]
	return [k for k in mine if k < 64], eq, forms, parts


def _quick(match: str, what: str) -> Callable | None:
	return getattr(COMPARATORS[match], what, None)


def _one_value(codes: np.ndarray) -> np.ndarray:
	"""Codes of one value each (a hash: any int64 but those of none and of several)."""
	return (codes != _BLANK) & (codes != _SEVERAL)


_NO_FORM = ((b"",) * READINGS, (_NONE,) * READINGS, 0)
_NO_PARTS = ("", _NONE, 0, _NO_TAIL)


class NoteMaker:
	"""In a key worker: per record, from its norms (in ``ready_sigs`` order, as ``_Judge`` reads them), the
	numbers the prefilter reads; ``take`` gives those of the records since the last ``take``."""

	def __init__(self, rules: RuleSet, ready_sigs: list[tuple], hash: Callable[[Any], int]) -> None:
		self.hash = hash
		tracked, self.eq, forms, parts = noted(rules, ready_sigs)
		self.tracked = [(k, 1 << k) for k in tracked]
		self.forms = [(k, _quick(ready_sigs[k][1], "quick_form")) for k in forms]
		self.parts = [(k, _quick(ready_sigs[k][1], "quick_parts")) for k in parts]
		self.caches: list[dict] = [{} for _ in range(len(self.eq) + len(self.forms))]
		self._reset()

	def _reset(self) -> None:
		self.present: list[int] = []
		self.codes: list[int] = []
		self.hans: list[int] = []
		self.lens: list[int] = []
		self.texts: list[bytes] = []
		self.cores: list[str] = []
		self.core_lens: list[int] = []
		self.ascii: list[int] = []
		self.tails: list[int] = []

	def add(self, norms: tuple) -> None:
		bits = 0
		for k, bit in self.tracked:
			if norms[k]:
				bits |= bit
		self.present.append(bits)
		caches = self.caches
		for n, k in enumerate(self.eq):
			values = norms[k]
			cache = caches[n]
			code = cache.get(values)
			if code is None:
				if len(cache) >= _NOTES_CACHE:
					cache.clear()
				code = cache[values] = self._code(values)
			self.codes.append(code)
		base = len(self.eq)
		for n, (k, quick_form) in enumerate(self.forms):
			values = norms[k]
			cache = caches[base + n]
			got = cache.get(values)
			if got is None:
				if len(cache) >= _NOTES_CACHE:
					cache.clear()
				got = cache[values] = self._form(values, quick_form)
			self.texts += got[0]
			self.lens += got[1]
			self.hans.append(got[2])
		for k, quick_parts in self.parts:  # company names hardly repeat: not kept
			got = self._parts(norms[k], quick_parts)
			self.cores.append(got[0])
			self.core_lens.append(got[1])
			self.ascii.append(got[2])
			self.tails.append(got[3])

	def _code(self, values: tuple) -> int:
		if not values:
			return _BLANK
		if len(values) > 1:
			return _SEVERAL
		h = self.hash(values[0])
		return h if h not in (_BLANK, _SEVERAL) else 2

	def _form(self, values: tuple, quick_form: Callable) -> tuple[tuple, tuple, int]:
		"""(readings as ASCII bytes, their lengths, hash of the characters or 0), or ``_NO_FORM``."""
		if len(values) != 1:
			return _NO_FORM
		readings, han = quick_form(values[0])
		if not readings or len(readings) > READINGS:
			return _NO_FORM
		texts = []
		for r in readings:
			if len(r) > WIDTH or not r.isascii() or "\0" in r:
				return _NO_FORM
			texts.append(r.encode("ascii"))
		lens = [len(t) for t in texts]
		missing = READINGS - len(texts)
		h = (self.hash(han) or 1) if han else 0
		return (*texts, *(b"",) * missing), (*lens, *(_NONE,) * missing), h

	@staticmethod
	def _parts(values: tuple, quick_parts: Callable) -> tuple[str, int, int, int]:
		"""(core, its length, 1 if it is ASCII, the tail of the industry words), or ``_NO_PARTS``."""
		if len(values) != 1:
			return _NO_PARTS
		core, industry = quick_parts(values[0])
		if len(core) > CORE_WIDTH or "\0" in core:
			return _NO_PARTS
		return core, len(core), int(core.isascii()), ord(industry[-1]) if industry else _NO_TAIL

	def take(self) -> tuple:
		"""The notes of the records added since the last call: (present, codes, hans, lens, texts, cores,
		core_lens, ascii, tails), arrays of one row a record."""
		n, n_forms, n_parts = len(self.present), len(self.forms), len(self.parts)
		out = (
			np.array(self.present, dtype=np.uint64),
			np.array(self.codes, dtype=np.int64).reshape(n, len(self.eq)),
			np.array(self.hans, dtype=np.int64).reshape(n, n_forms),
			np.array(self.lens, dtype=np.int8).reshape(n, n_forms, READINGS),
			np.array(self.texts, dtype=f"S{WIDTH}").reshape(n, n_forms, READINGS),
			np.array(self.cores, dtype=f"U{CORE_WIDTH}").reshape(n, n_parts),
			np.array(self.core_lens, dtype=np.int8).reshape(n, n_parts),
			np.array(self.ascii, dtype=np.int8).reshape(n, n_parts),
			np.array(self.tails, dtype=np.int32).reshape(n, n_parts),
		)
		self._reset()
		return out


class Notes:
	"""The notes of every record of a scan, in record order: chunks as the key workers send them (``add``), or
	none for a chunk keyed without them (``add_unknown``: its records are never prefiltered). Each chunk is
	copied into arrays that double when full (``np.empty``: the pages past the records are never touched), so
	the notes are never held twice over."""

	_FIRST = 65_536  # records the arrays first hold

	def __init__(self, rules: RuleSet, ready_sigs: list[tuple]) -> None:
		_, eq, forms, parts = noted(rules, ready_sigs)
		self.n_eq, self.n_forms, self.n_parts = len(eq), len(forms), len(parts)
		self.size = 0
		self.arrays = self._blank(0)

	def _blank(self, n: int) -> tuple:
		"""Arrays for n records, each as a chunk keyed without notes would note it."""
		return (
			np.full(n, np.iinfo(np.uint64).max, dtype=np.uint64),
			np.full((n, self.n_eq), _SEVERAL, dtype=np.int64),
			np.zeros((n, self.n_forms), dtype=np.int64),
			np.full((n, self.n_forms, READINGS), _NONE, dtype=np.int8),
			np.zeros((n, self.n_forms, READINGS), dtype=f"S{WIDTH}"),
			np.zeros((n, self.n_parts), dtype=f"U{CORE_WIDTH}"),
			np.full((n, self.n_parts), _NONE, dtype=np.int8),
			np.zeros((n, self.n_parts), dtype=np.int8),
			np.full((n, self.n_parts), _NO_TAIL, dtype=np.int32),
		)

	def add(self, chunk: tuple) -> None:
		n = len(chunk[0])
		need = self.size + n
		if need > len(self.arrays[0]):
			grown = max(need, 2 * len(self.arrays[0]), self._FIRST)
			old, at = self.arrays, self.size
			self.arrays = tuple(np.empty((grown, *a.shape[1:]), dtype=a.dtype) for a in old)
			for new, a in zip(self.arrays, old, strict=True):
				new[:at] = a[:at]
			del old
		for out, a in zip(self.arrays, chunk, strict=True):
			out[self.size : need] = a
		self.size = need

	def add_unknown(self, n: int) -> None:
		self.add(self._blank(n))

	def done(self) -> tuple:
		"""The notes of every record as one array each (as ``NoteMaker.take`` gives them)."""
		return tuple(a[: self.size] for a in self.arrays)


class Prefilter:
	"""Clears, for a span of candidate pairs, the bits of the rules that cannot fire (see the module's text).

	``checks``: per rule, its ready checks as ``scan._ready_checks`` gives them: (equality, position in
	ready_sigs, scorer, threshold, blank ignored, unpack)."""

	def __init__(
		self, rules: RuleSet, ready_sigs: list[tuple], checks: list[list[tuple]], notes: tuple
	) -> None:
		self.notes = notes
		tracked, eq, forms, parts = noted(rules, ready_sigs)
		tracked_bits = sum(1 << k for k in tracked)
		eq_col = {k: n for n, k in enumerate(eq)}
		form_col = {k: n for n, k in enumerate(forms)}
		part_col = {k: n for n, k in enumerate(parts)}
		self.caps = [_quick(ready_sigs[k][1], "quick_cap") for k in parts]
		# per rule: (rule, bits of the values it needs, equality columns, (column, threshold) of names and
		# of company names whose threshold is over their cap)
		self.tests: list[tuple[int, int, list[int], list[tuple[int, float]], list[tuple[int, float]]]] = []
		for r, mine in enumerate(checks):
			need, eqs, names, companies = 0, [], [], []
			for _equality, k, _scorer, threshold, ignore, _unpack in mine:
				if not ignore and k < 64:
					need |= (1 << k) & tracked_bits
				if k in eq_col:
					eqs.append(eq_col[k])
				elif k in form_col:
					names.append((form_col[k], threshold))
				elif k in part_col and threshold > self.caps[part_col[k]] + _MARGIN:
					companies.append((part_col[k], threshold))
			if need or eqs or names or companies:
				self.tests.append((r, need, eqs, names, companies))

	def __bool__(self) -> bool:
		return bool(self.tests)

	def apply(self, firsts: np.ndarray, seconds: np.ndarray, masks: np.ndarray) -> np.ndarray:
		"""The masks (uint64, one per pair; changed in place) with the bits of the rules that cannot fire
		cleared."""
		present, codes = self.notes[:2]
		for r, need, eqs, names, companies in self.tests:
			bit = np.uint64(1 << r)
			at = np.flatnonzero(masks & bit)
			if not len(at):
				continue
			a, b = firsts[at], seconds[at]
			fail = np.zeros(len(at), dtype=bool)
			if need:
				want = np.uint64(need)
				fail |= (present[a] & present[b] & want) != want
			for col in eqs:
				ca, cb = codes[a, col], codes[b, col]
				fail |= (ca != cb) & _one_value(ca) & _one_value(cb)
			# the dearer bounds only for the pairs the cheap tests left
			for col, threshold in names:
				live = np.flatnonzero(~fail)
				fail[live] |= self._similarity(a[live], b[live], col) < threshold - _MARGIN
			for col, threshold in companies:
				live = np.flatnonzero(~fail)
				fail[live] |= self._company_upper(a[live], b[live], col) < threshold - _MARGIN
			masks[at[fail]] &= ~bit
		return masks

	def _company_upper(self, firsts: np.ndarray, seconds: np.ndarray, col: int) -> np.ndarray:
		"""Per pair, at most what two company names score (``CompanyName.quick_parts``): the higher of the
		cores' Indel similarity x 100 and the cap where both are noted, alike in script, and their industry
		words' tails differ; 100 (nothing ruled out) elsewhere."""
		cores, core_lens, ascii, tails = self.notes[5:9]
		la, lb = core_lens[firsts, col], core_lens[seconds, col]
		at = np.flatnonzero(
			(la >= 0)
			& (lb >= 0)
			& (ascii[firsts, col] == ascii[seconds, col])
			& (tails[firsts, col] != tails[seconds, col])
		)
		upper = np.full(len(firsts), 100.0)
		if len(at):
			whole = _indel_similarity(cores[firsts[at], col], cores[seconds[at], col], la[at], lb[at])
			upper[at] = np.maximum(whole, self.caps[col])
		return upper

	def _similarity(self, firsts: np.ndarray, seconds: np.ndarray, col: int) -> np.ndarray:
		"""Per pair, the best Indel similarity x 100 of a reading of one name and a reading of the other where
		both are noted and their characters are not the same; 100 (nothing ruled out) elsewhere."""
		hans, lens, texts = self.notes[2:5]
		la, lb = lens[firsts, col], lens[seconds, col]
		ha, hb = hans[firsts, col], hans[seconds, col]
		at = np.flatnonzero((la[:, 0] >= 0) & (lb[:, 0] >= 0) & ~((ha != 0) & (ha == hb)))
		sim = np.full(len(firsts), 100.0)
		if not len(at):
			return sim
		best = np.full(len(at), -1.0)
		fa, fb = firsts[at], seconds[at]
		for i in range(READINGS):
			for j in range(READINGS):
				both = np.flatnonzero((la[at, i] >= 0) & (lb[at, j] >= 0))
				if not len(both):
					continue
				s = _indel_similarity(
					texts[fa[both], col, i], texts[fb[both], col, j], la[at[both], i], lb[at[both], j]
				)
				best[both] = np.maximum(best[both], s)
		sim[at] = best
		return sim


def _indel_similarity(a: np.ndarray, b: np.ndarray, len_a: np.ndarray, len_b: np.ndarray) -> np.ndarray:
	"""Pair by pair, the Indel similarity x 100 of two arrays of texts of these lengths (100 for two empty
	texts), as ``Indel.normalized_similarity`` x 100 computes it: one ``cpdist`` call for them all."""
	dist = cpdist(a.tolist(), b.tolist(), scorer=Indel.distance, dtype=np.int64, workers=1)
	total = len_a.astype(np.float64) + len_b
	return np.where(total > 0, (1.0 - dist / np.maximum(total, 1.0)) * 100.0, 100.0)
