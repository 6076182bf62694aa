"""One comparator per match type: prepare a raw value, compare two prepared values, give blocking keys.

Each comparator is a small level ladder (in the spirit of splink's comparison levels): blank -> no opinion,
equal after normalisation -> 100, fuzzy score otherwise (or 0 for exact-only types), each with a short note
that ends up in the explanation a person reads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from rapidfuzz.distance import Indel

from .aliases import canonical as alias_canonical
from .conditions import NEW_COMPARATORS, NEW_SELECTIVITY
from .normalize import (
	normalize_email,
	normalize_id_code,
	normalize_phone,
	normalize_text,
	person_variants,
	split_emails,
	split_phones,
)
from .normalize.company_parts import SHORT_CAP, CompanyParts, company_parts, compare_parts
from .normalize.person import first_readings, han_chars, han_variants
from .normalize.text import as_text, to_simplified

MATCH_TYPES = ("exact", "normalized", "company_name", "person_name", "phone", "email", "id_code", "fuzzy")
MATCH_TYPES += tuple(
	NEW_COMPARATORS
)  # fuzzy_tokens, set_overlap, set_containment, date_within (conditions.py)
FUZZY_TYPES = frozenset({"company_name", "person_name", "fuzzy"}) | frozenset(NEW_COMPARATORS)
DEFAULT_THRESHOLD = 90.0
# Bounds that keep one odd record (a pasted document, a field with thousands of numbers) from making a
# comparison quadratic in its size: values per field (list items, or numbers/addresses split from one
# string), and the characters of a value the generic fuzzy type scores (rapidfuzz is O(len_a * len_b / 64)).
MAX_VALUES = 50
MAX_FUZZY_CHARS = 512
# Bumped whenever the blocking keys of some type change: an index built with older keys must be re-keyed.
# 7: placeholder values (data/placeholders.json) give no keys; bump it again whenever that file changes.
# 8: a phone field is split into several numbers only where every piece is a number (212/555-0134 is one).
# 9: company names: aliases, pinyin keys of English/pinyin names (aliases.py).
# 10: company names are keyed by their 字号 (normalize.company_parts), with the pinyin keys of 9.
# 11: Chinese company names lose their one-character deletion keys (the 字号, the readings and the whole name
#     stay): at 1M they were 4 of a record's 9 keys and found 0.1 % of the true pairs (issues #14, #17).
KEY_VERSION = 11
# How selective a type's keys are (lower blocks better); used to pick the condition a rule blocks on.
SELECTIVITY = {
	"id_code": 0,
	"email": 1,
	"phone": 2,
	"exact": 3,
	"normalized": 4,
	"company_name": 5,
	"person_name": 6,
	"fuzzy": 7,
	**NEW_SELECTIVITY,
}


def ratio(a: str, b: str) -> float:
	"""rapidfuzz's normalised Indel similarity, 0-100 (same as fuzz.ratio, no preprocessing)."""
	return Indel.normalized_similarity(a, b) * 100.0


@dataclass(frozen=True)
class Value:
	"""One prepared value of a record: where it came from, what it was, and its comparable form."""

	field: str
	raw: str
	norm: Any
	note: str = ""


@dataclass
class Compared:
	score: float
	note: str = ""


@dataclass
class Comparator:
	name: str

	def split(self, raw: str) -> list[str]:
		return [raw]

	def prepare(self, raw: str, region: str) -> tuple[Any, str] | None:
		"""(comparable form, note) or None when the value is blank for this type."""
		raise NotImplementedError

	def compare(self, a: Any, b: Any) -> Compared:
		return Compared(100.0 if a == b else 0.0)

	def score(self, a: Any, b: Any) -> float:
		"""``compare(a, b).score`` alone (a batch scan asks this millions of times)."""
		return self.compare(a, b).score

	def keys(self, norm: Any, threshold: float = 100.0) -> list[str]:
		"""Blocking keys; fuzzy types given a threshold below 100 add keys that survive one typo."""
		return [f"{self.name[:2]}:{norm}"]

	# A batch scan stores prepared values with ``marshal`` (strings, numbers, plain tuples), falling back to
	# the much slower pickle for other types: a type whose norm is another object gives it as plain data.
	pack = None  # norm -> marshal-able data, or None: the norm is stored as it is (not a dataclass field)
	unpack = None  # that data -> the norm again

	def score_packed(self, a: Any, b: Any) -> float:
		"""``score`` of two norms as ``pack`` stores them. A type may score them as they are, without making
		the norms again (a scan judges millions of pairs on stored norms)."""
		return self.score(self.unpack(a), self.unpack(b))


class Exact(Comparator):
	def prepare(self, raw, region):
		s = raw.strip()
		return (s, "") if s else None


class Normalized(Comparator):
	def prepare(self, raw, region):
		s = normalize_text(raw)
		return (s, "") if s else None


class Email(Comparator):
	def split(self, raw):
		return split_emails(raw)[:MAX_VALUES]

	def prepare(self, raw, region):
		s = normalize_email(raw)
		return (s, "") if s else None


class IdCodeCmp(Comparator):
	def prepare(self, raw, region):
		code = normalize_id_code(raw)
		return (code.value, code.note) if code.value else None


class Phone(Comparator):
	def split(self, raw):
		return split_phones(raw)[:MAX_VALUES]

	def prepare(self, raw, region):
		s = normalize_phone(raw, region)
		if not s:
			return None
		return (s, "" if s.startswith("+") else "not a valid phone number; digits compared")


_MAX_DELETE_KEYS = 40  # longer values get no one-deletion keys (they are not names)
_DOUBLED = re.compile(r"(.)\1", re.DOTALL)  # a character twice in a row


def _delete_keys(prefix: str, s: str) -> list[str]:
	"""The value and each of its one-character deletions: two values within one insertion, deletion or
	substitution of each other always share one of these keys (the symmetric-delete trick)."""
	if len(s) > _MAX_DELETE_KEYS:
		return []
	keys = [f"{prefix}d:{s}", *[f"{prefix}d:{s[:i]}{s[i + 1 :]}" for i in range(len(s))]]
	# two deletions give one string only within a run of one character (zhang wei has none): drop repeats then
	return keys if _DOUBLED.search(s) is None else list(dict.fromkeys(keys))


def _affix_keys(prefix: str, s: str, n: int, threshold: float = 100.0) -> list[str]:
	"""Full value, first and last ``n`` characters. One typo leaves the prefix or the suffix intact only when
	the value has at least ``2n`` characters, so shorter values compared fuzzily get one-deletion keys too."""
	keys = [f"{prefix}f:{s}"]
	if len(s) > n:
		keys += [f"{prefix}p:{s[:n]}", f"{prefix}s:{s[-n:]}"]
	if threshold < 100.0 and len(s) < 2 * n:
		keys += _delete_keys(prefix, s)
	return keys


@lru_cache(maxsize=64)
def _min_typo_len(threshold: float) -> int:
	"""The shortest value whose one-character deletion can still score ``threshold``: a value of length L
	and one of length L-1 score at most 100 * (2L-2)/(2L-1) (a substitution scores less, 100 * (L-1)/L)."""
	n = 2
	while n <= _MAX_DELETE_KEYS and 100.0 * (2 * n - 2) / (2 * n - 1) < threshold - 1e-9:
		n += 1
	return n


def _typo_keys(prefix: str, s: str, threshold: float) -> list[str]:
	"""Chinese names: the value itself, its one-character deletions when one typo can still reach the
	threshold, and its first three characters. No suffix key and no two-character prefix: the last characters
	of a Chinese company name are mostly its industry (科技, 餐饮) and two characters are shared by too many
	字号; either would put a large share of all records under one key (a 1,000,000-row scan compared tens of
	millions of pairs)."""
	if threshold >= 100.0:
		return [f"{prefix}d:{s}"]
	keys = (
		_delete_keys(prefix, s)
		if _min_typo_len(threshold) <= len(s) <= _MAX_DELETE_KEYS
		else [f"{prefix}d:{s}"]
	)
	if len(s) >= 4:  # a word added or dropped after the 字号: 海湾啤酒 ~ 海湾啤酒销售 (80)
		keys.append(f"{prefix}p:{s[:3]}")
	if len(s) >= _min_gap_len(threshold):
		# ...or inside it: 酷然养生会所 ~ 酷然厨卫养生会所 (86), 金陵餐饮 ~ 金陵厨卫餐饮 (80): first two + last two
		keys.append(f"{prefix}e:{s[:2]}{s[-2:]}")
	return keys


@lru_cache(maxsize=64)
def _min_gap_len(threshold: float) -> int:
	"""The shortest value that can still score ``threshold`` against itself with two characters inserted
	(100 * 2L / (2L + 2)); never below 4, where the first two and last two characters are the whole value."""
	n = 4
	while n <= _MAX_DELETE_KEYS and 100.0 * 2 * n / (2 * n + 2) < threshold - 1e-9:
		n += 1
	return n


def _same_reading(a: str, b: str) -> bool:
	"""A Chinese name and its pinyin / English rendering (one side ASCII, its reading the other)."""
	if a.isascii() == b.isascii():
		return False
	return first_readings(b if a.isascii() else a) == (a if a.isascii() else b)


class CompanyName(Comparator):
	"""Company names by their parts (``normalize.company_parts``): the 字号 first, then the industry words,
	then regions; keys follow the 字号."""

	def prepare(self, raw, region):
		parts = company_parts(raw)
		if parts is None:
			return None
		canonical = alias_canonical(raw, parts.core)  # aliases, pinyin/English names (aliases.py)
		if canonical and canonical != parts.core:
			parts = company_parts(canonical) or parts
		return (parts, "")

	pack = staticmethod(tuple)  # CompanyParts -> a plain tuple of strings
	unpack = staticmethod(CompanyParts._make)
	quick_cap = SHORT_CAP

	@staticmethod
	def quick_parts(packed: tuple) -> tuple[str, str]:
		"""(core, industry words joined) of a packed form: what a scan's prefilter bounds ``score`` by
		(``engine.prefilter``). Of two names whose cores are both ASCII or both not (no reading can make them
		the same name), the score is at most the higher of the cores' Indel similarity x 100 and ``quick_cap``,
		unless both have no industry words or the last characters of their joined industry words are the same
		(then the industries may be the same, or one may end the other: ``compare_parts``' "same" and
		"inserted", capped higher): the "one", "contained" and "different" cases are held to ``SHORT_CAP`` or
		to the cores' similarity, and a region conflict only lowers a score."""
		return packed[0], "".join(packed[2])

	def compare(self, a, b):
		if _same_reading(a.core, b.core):
			return Compared(100.0, "same name in pinyin / English")
		score, note = compare_parts(a, b)
		return Compared(score, note)

	def score(self, a, b):
		if _same_reading(a.core, b.core):
			return 100.0
		return compare_parts(a, b, with_note=False)[0]

	def keys(self, norm, threshold=100.0):
		core = norm.core
		# a Chinese name and its pinyin / English rendering meet under coy:<reading> (aliases.py)
		if threshold >= 100.0:
			return [f"cod:{core}", f"coy:{core}" if core.isascii() else f"coy:{first_readings(core)}"]
		if core.isascii():
			keys = _affix_keys("co", core, 4, threshold)
			keys += [f"coy:{norm.brand}", f"coy:{core}"]  # Jinling ~ 金陵
			return keys
		return list(_chinese_company_keys(core, norm.brand, norm.brand_py))


# A scan keys each company name under each threshold its rules block at (90 and 80 in the example rules): the
# keys are the same under both, so the last few are kept.
@lru_cache(maxsize=8)
def _chinese_company_keys(core: str, brand: str, brand_py: str) -> tuple[str, ...]:
	"""``CompanyName.keys`` of a Chinese name under a threshold below 100: the whole name; the 字号 alone (金陵 ~
	金陵餐饮 ~ 金陵销售餐饮, and a typo outside the 字号: 金陵餐饮 ~ 金陵餐次); the name's reading (aliases.py; a
	homophone anywhere: 金陵餐饮 ~ 金灵餐饮); the 字号's reading when a homophone can reach 90 (three or more
	characters: 康顺远 ~ 康顺元 scores 91.7).

	No one-character deletion keys (KEY_VERSION 11): they were four of a record's nine keys at 1M and found
	what the others miss - a typo inside the 字号 that is not a homophone, with nothing else in common -
	for 0.13 % of the true pairs (benchmarks/sets_accuracy.py, 1M: pairwise recall 0.9825 -> 0.9813), while
	they cost half the key index and an eighth of a scan's CPU."""
	keys = [f"cod:{core}", f"cob:{brand}", f"coy:{first_readings(core)}"]
	if len(brand) >= 3:
		keys.append(f"coy:{brand_py}")
	return tuple(keys)


@dataclass(frozen=True)
class PersonForm:
	variants: tuple[str, ...]  # each variant: its syllables sorted and joined by spaces
	han: str


# names repeat (李伟): a million records hold a few hundred thousand distinct ones
@lru_cache(maxsize=200_000)
def _person_form(raw: str) -> tuple[PersonForm, str] | None:
	variants = han_variants(raw) if raw.__class__ is str else None
	if variants is not None:  # a name in Chinese characters alone (most names): all of it is its han_chars
		han = raw
	else:
		variants = person_variants(raw)
		if not variants:
			return None
		han = han_chars(raw)
	if len(variants) == 1:  # most names have one reading
		joined = (" ".join(sorted(variants[0])),)
	else:
		joined = tuple(dict.fromkeys(" ".join(sorted(v)) for v in variants))
	return PersonForm(joined, to_simplified(han)), ""


def _pack_person(norm: PersonForm) -> tuple:
	return (norm.variants, norm.han)


def _unpack_person(data: tuple) -> PersonForm:
	return PersonForm(*data)


def _best_ratio(va: tuple[str, ...], vb: tuple[str, ...]) -> float:
	"""``max(ratio(x, y) for x in va for y in vb)``: the similarity is scaled once, at the end (x100 keeps the
	order of floats, so the maximum is the same)."""
	similarity = Indel.normalized_similarity
	if len(va) == 1 and len(vb) == 1:  # most names have one reading
		return similarity(va[0], vb[0]) * 100.0
	best = 0.0
	for x in va:
		for y in vb:
			s = similarity(x, y)
			if s > best:
				best = s
	return best * 100.0


class PersonName(Comparator):
	pack = staticmethod(_pack_person)
	unpack = staticmethod(_unpack_person)

	def prepare(self, raw, region):
		return _person_form(raw)

	def compare(self, a: PersonForm, b: PersonForm):
		if a.han and b.han and a.han == b.han:
			return Compared(100.0, "same characters")
		best = max(ratio(x, y) for x in a.variants for y in b.variants)
		if a.han and b.han and best >= 100.0:
			return Compared(95.0, "same pinyin, different characters")
		if best >= 100.0:
			return Compared(100.0, "same pinyin")
		return Compared(best)

	def score(self, a: PersonForm, b: PersonForm) -> float:
		"""``compare(a, b).score`` without building the result (a scan scores millions of pairs)."""
		if a.han and b.han and a.han == b.han:
			return 100.0
		best = _best_ratio(a.variants, b.variants)
		if best >= 100.0:
			return 95.0 if a.han and b.han else 100.0
		return best

	def score_packed(self, a: tuple, b: tuple) -> float:
		"""``score`` of two packed forms, (variants, han) (``_pack_person``), without making them again."""
		han_a, han_b = a[1], b[1]
		if han_a and han_b and han_a == han_b:
			return 100.0
		va, vb = a[0], b[0]
		if len(va) == 1 and len(vb) == 1:  # most names have one reading
			best = Indel.normalized_similarity(va[0], vb[0]) * 100.0
		else:
			best = _best_ratio(va, vb)
		if best >= 100.0:
			return 95.0 if han_a and han_b else 100.0
		return best

	@staticmethod
	def quick_form(packed: tuple) -> tuple[tuple[str, ...], str]:
		"""(readings, characters) of a packed form (``_pack_person``): what a scan's prefilter compares a whole
		span of pairs by (``engine.prefilter``). ``score_packed`` of two forms is 100 when their characters are
		the same and not blank, else at most the best Indel similarity x 100 of a reading of one and a reading
		of the other (95 or 100 when that is 100): under a threshold that similarity is under, it is too."""
		return packed

	def keys(self, norm: PersonForm, threshold: float = 100.0):
		if threshold < 100.0:  # z/zh, n/ng, a dropped letter: 张伟 ~ Zang Wei scores 94
			return list(_person_keys(norm.variants))
		return [f"pn:{v}" for v in norm.variants]


# Common names (李伟, 王芳) are most records' names: a million records hold ~170,000 distinct names, the 16,000
# most common of which are more than half of the records; a name's keys are a dozen strings or two.
@lru_cache(maxsize=16_384)
def _person_keys(variants: tuple[str, ...]) -> tuple[str, ...]:
	"""``PersonName.keys`` under a threshold below 100: each variant, then the one-deletion keys of each."""
	keys = [f"pn:{v}" for v in variants]
	for v in variants:
		keys += _delete_keys("pn", v)
	return tuple(keys)


class Fuzzy(Comparator):
	def prepare(self, raw, region):
		s = normalize_text(raw[: 4 * MAX_FUZZY_CHARS])[:MAX_FUZZY_CHARS]
		return (s, "") if s else None

	def compare(self, a, b):
		return Compared(100.0 if a == b else ratio(a, b))

	def score(self, a, b):
		return 100.0 if a == b else ratio(a, b)

	def keys(self, norm, threshold=100.0):
		if norm.isascii():
			return _affix_keys("fz", norm, 4, threshold)
		return _typo_keys("fz", norm, threshold)


COMPARATORS: dict[str, Comparator] = {
	"exact": Exact("exact"),
	"normalized": Normalized("normalized"),
	"company_name": CompanyName("company_name"),
	"person_name": PersonName("person_name"),
	"phone": Phone("phone"),
	"email": Email("email"),
	"id_code": IdCodeCmp("id_code"),
	"fuzzy": Fuzzy("fuzzy"),
	**NEW_COMPARATORS,
}


def compares_by_equality(match: str) -> bool:
	"""A type whose norms two values' score is 100 or 0 by, ``==`` on their norms (``Comparator.compare``), as a
	scan's judge checks them as stored (neither fuzzy nor packed)."""
	cmp = COMPARATORS[match]
	return (
		match not in FUZZY_TYPES
		and type(cmp).compare is Comparator.compare
		and getattr(cmp, "unpack", None) is None
	)


def raw_values(value: Any) -> list[str]:
	"""A field's value as a list of non-blank strings (lists come from child tables)."""
	if value is None:
		return []
	if isinstance(value, (list, tuple, set, frozenset)):
		out: list[str] = []
		for v in value:
			out.extend(raw_values(v))
			if len(out) >= MAX_VALUES:
				return out[:MAX_VALUES]
		return out
	text = as_text(value)
	return [text] if text.strip() else []


@dataclass
class ConditionHit:
	"""Why one condition held: which field and value of each record met, how, and how well."""

	match: str
	field_a: str
	value_a: str
	field_b: str
	value_b: str
	score: float
	note: str = ""
	skipped: bool = False  # blank on one side and blank="ignore"

	def to_dict(self) -> dict:
		return {
			"match": self.match,
			"field_a": self.field_a,
			"value_a": self.value_a,
			"field_b": self.field_b,
			"value_b": self.value_b,
			"score": round(self.score, 1),
			"note": self.note,
			"skipped": self.skipped,
		}

	def text(self) -> str:
		if self.skipped:
			return f"{self.field_a}: blank, ignored"
		left = f"{self.field_a}={self.value_a!r}"
		right = f"{self.field_b}={self.value_b!r}"
		note = f"; {self.note}" if self.note else ""
		return f"{left} ~ {right} ({self.match} {self.score:.0f}{note})"


@dataclass
class Match:
	"""A fired rule between a query record and a stored one, with its explanation."""

	id: str
	rule: str
	action: str
	priority: int
	score: float
	hits: list[ConditionHit] = field(default_factory=list)

	@property
	def explain(self) -> str:
		return f"rule {self.rule!r}: " + "; ".join(h.text() for h in self.hits)

	def sort_key(self) -> tuple:
		return (self.priority, -self.score, str(self.id))

	def to_dict(self) -> dict:
		return {
			"id": self.id,
			"rule": self.rule,
			"action": self.action,
			"priority": self.priority,
			"score": round(self.score, 1),
			"explain": self.explain,
			"hits": [h.to_dict() for h in self.hits],
		}
