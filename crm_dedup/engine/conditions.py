"""Match types for rules on any doctype (project / product 报备, #13): ``fuzzy_tokens``, ``set_overlap``
(Jaccard), ``set_containment`` and ``date_within``.

They follow the comparator protocol of ``match.py`` (split, prepare, compare, score, keys) without importing
it (``match.py`` registers them), and score 0-100 like every type, so a condition's ``threshold`` works as
usual:

- ``fuzzy_tokens``: word-order-insensitive fuzzy text. The words (``normalize.tokens.text_tokens``) sorted
  and compared (grand palace hotel = hotel grand palace; 中山路1号金陵大厦 = 金陵大厦 中山路1号); when the
  words of one side all appear in the other and cover at least a third of it, the pair scores 100 ("12 main
  st." ~ "12 main st. near the station"). Different house numbers on both sides (1号 / 2号) cap the score at
  80. Keys: each word of two or more characters that does not start with a digit, so a reordered or
  lengthened text shares a key.
- ``set_overlap`` / ``set_containment``: all the values of the condition's fields on one record are one set
  (a child table's ``items.item_code`` list, or ``A01, A02; B7`` in one field); the score is the Jaccard index
  |A∩B|/|A∪B| or the containment |A∩B|/min(|A|,|B|), times 100; no shared item scores 0. Keys: one per
  item, so two sets that can reach any threshold above 0 always share a key.
- ``date_within``: two dates ``d`` days apart score ``100 * 365 / (365 + d)``; a condition's ``days: N``
  is the threshold ``date_score(N)``, so it holds exactly when the dates are at most N days apart. It gives
  no keys: a date cannot find candidates (every record of a month would be one), so a rule needs another
  condition to block on; ``rules.py`` refuses a rule that would have to block on dates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rapidfuzz import fuzz
from rapidfuzz.distance import Indel

from .normalize.tokens import item_set, parse_date, text_tokens

MAX_ITEMS_KEYED = 50
NUMBER_CAP = 80.0  # two texts with different house numbers score at most this
MIN_COVER = 1 / 3  # share of the longer text's characters the shared words must cover to score as contained


@dataclass
class Scored:
	"""What a comparator's ``compare`` returns (the shape of ``match.Compared``)."""

	score: float
	note: str = ""


def date_score(days: float) -> float:
	"""The score of two dates ``days`` apart; ``date_score(N)`` is the threshold of ``days: N``."""
	return 100.0 * 365.0 / (365.0 + abs(days))


def days_of(score: float) -> int:
	"""The number of days a ``date_within`` score stands for (the inverse of ``date_score``)."""
	if score <= 0:
		return 10**9
	return round(365.0 * 100.0 / score - 365.0)


def _numbers(tokens: tuple) -> frozenset:
	return frozenset(t for t in tokens if t[0].isdigit())


class _Base:
	merge_values = None  # set_overlap: every value of a record is one set

	def __init__(self, name: str) -> None:
		self.name = name

	def split(self, raw: str) -> list[str]:
		return [raw]

	def score(self, a: Any, b: Any) -> float:
		return self.compare(a, b).score


class FuzzyTokens(_Base):
	def prepare(self, raw, region):
		tokens = text_tokens(raw)
		return (tokens, "") if tokens else None

	def compare(self, a: tuple, b: tuple) -> Scored:
		if a == b:
			return Scored(100.0, "same words")
		sa, sb = " ".join(sorted(a)), " ".join(sorted(b))
		if sa == sb:
			return Scored(100.0, "same words in another order")
		na, nb = _numbers(a), _numbers(b)
		if na and nb and not (na <= nb or nb <= na):  # 中山路1号 / 中山路2号: another building
			score = min(self._score(a, b, sa, sb).score, NUMBER_CAP)
			return Scored(score, "different numbers")
		return self._score(a, b, sa, sb)

	@staticmethod
	def _score(a: tuple, b: tuple, sa: str, sb: str) -> Scored:
		sort_score = Indel.normalized_similarity(sa, sb) * 100.0
		common = set(a) & set(b)
		if len(common) >= 2:
			longer = max(len("".join(a)), len("".join(b)))
			if len("".join(common)) >= MIN_COVER * longer:
				set_score = fuzz.token_set_ratio(sa, sb)
				if set_score > sort_score:
					note = (
						"the words of one are all in the other" if set_score >= 100.0 else "most words shared"
					)
					return Scored(set_score, note)
		return Scored(sort_score, "words compared in sorted order")

	def keys(self, norm: tuple, threshold: float = 100.0) -> list[str]:
		words = sorted({w for w in norm if len(w) >= 2 and not w[0].isdigit()}, key=lambda w: (-len(w), w))
		keys = [f"ft:{w}" for w in words[:8]]
		return keys or [f"ft:={' '.join(sorted(norm))}"]


class SetOverlap(_Base):
	containment = False

	@staticmethod
	def merge_values(values: list) -> list:
		"""All prepared values of one record as one set (first field and raw text kept for the explanation)."""
		if len(values) <= 1:
			return values
		first = values[0]
		items = frozenset().union(*(v.norm for v in values))
		raw = ", ".join(v.raw for v in values)
		return [type(first)(first.field, raw, items, first.note)]

	def prepare(self, raw, region):
		items = item_set(raw)
		return (items, "") if items else None

	def compare(self, a: frozenset, b: frozenset) -> Scored:
		common = len(a & b)
		if not common:
			return Scored(0.0, "no item in common")
		if self.containment:
			score = 100.0 * common / min(len(a), len(b))
			return Scored(score, f"{common} of {min(len(a), len(b))} items shared")
		score = 100.0 * common / len(a | b)
		return Scored(score, f"{common} items shared of {len(a | b)}")

	def keys(self, norm: frozenset, threshold: float = 100.0) -> list[str]:
		return [f"so:{item}" for item in sorted(norm)[:MAX_ITEMS_KEYED]]


class SetContainment(SetOverlap):
	containment = True


class DateWithin(_Base):
	def prepare(self, raw, region):
		day = parse_date(raw)
		return (day, "") if day is not None else None

	def compare(self, a: int, b: int) -> Scored:
		d = abs(a - b)
		return Scored(date_score(d), "same day" if d == 0 else f"{d} days apart")

	def keys(self, norm: int, threshold: float = 100.0) -> list[str]:
		return []


NEW_COMPARATORS = {
	"fuzzy_tokens": FuzzyTokens("fuzzy_tokens"),
	"set_overlap": SetOverlap("set_overlap"),
	"set_containment": SetContainment("set_containment"),
	"date_within": DateWithin("date_within"),
}
NEW_SELECTIVITY = {"set_overlap": 6, "set_containment": 6, "fuzzy_tokens": 7, "date_within": 99}
