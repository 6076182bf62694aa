"""A company name by its parts: region + 字号 (trade name) + industry + legal form, and their comparison.

南京金陵餐饮管理有限公司 -> region 南京, 字号 金陵, industry 餐饮 管理; Acme Trading Co., Ltd. -> 字号 acme,
industry trading. Two names that differ in 字号 are different companies however long the industry words they
share (康顺远文化传媒 / 辰兴文化传媒); variants of one 字号 (a typo, traditional characters, a homophone, words
such as 销售 or 科技 inserted before the industry, a short name without the industry) still match.

Word lists: industry words and shop-type endings come from ``data/trades.txt`` (generated from
companynameparser's lists by scripts/gen_trades.py), regions from ``data/regions.txt`` (cpca), legal forms
from ``company.py``. English industry words are the short list below (no library ships one).
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources
from typing import NamedTuple

from rapidfuzz.distance import Indel

from .company import _BRACKETS, _MAX_READ, LEGAL_EN, core_and_regions
from .person import first_readings
from .text import as_text, fold

# Generic English industry / activity words: what follows the distinctive word of an English name.
INDUSTRY_EN = frozenset(
	"""trading trade traders technology technologies tech industries industry industrial electronics electronic
	electric electrical software systems system solutions services service consulting consultants logistics
	manufacturing machinery engineering enterprises enterprise import export imports exports development
	investment investments management media communications network networks digital foods food products
	materials chemical chemicals textile textiles garments apparel pharmaceutical pharma medical healthcare
	energy construction design marketing commerce commercial retail supply supplies equipment automotive
	motors metals plastics packaging printing creative culture travel hotel hotels restaurant catering
	shipping transport resources properties realty partners associates global worldwide asia pacific
	""".split()
)
BRAND_MIN = 80.0  # 字号 scoring lower are different trade names: the whole name scores no more than that
RELATED_CAP = 92.0  # one name has words inserted before the industry (金陵销售餐饮 / 金陵餐饮)
SHORT_CAP = 85.0  # one name has no industry words at all (金陵 / 金陵餐饮): under a 90 rule, over an 80 one
REGION_CAP = 85.0  # both names carry a region and the regions differ (same 字号, another registration area)
_MAX_WORDS = 8  # industry words split off one name, at most


def _load_words() -> frozenset[str]:
	text = resources.files("crm_dedup.engine").joinpath("data/trades.txt").read_text(encoding="utf-8")
	return frozenset(
		line.split("\t", 1)[1] for line in text.splitlines() if line and not line.startswith("#")
	)


TRADE_WORDS = _load_words()


def _load_levels() -> dict[str, frozenset[str]]:
	text = resources.files("crm_dedup.engine").joinpath("data/regions.txt").read_text(encoding="utf-8")
	levels: dict[str, set[str]] = {}
	for line in text.splitlines():
		if line and not line.startswith("#"):
			level, name = line.split("\t", 1)
			levels.setdefault(name, set()).add(level)
	return {n: frozenset(v) for n, v in levels.items()}


_LEVELS = _load_levels()


@lru_cache(maxsize=20_000)
def _canonical_region(name: str) -> tuple[str, str] | None:
	"""(level, short name) of a province ("p") or prefecture city ("c") name: 南京市 -> ("c", "南京"); None for
	counties and for names that are both (吉林), which cannot be told apart without more context."""
	levels = _LEVELS.get(name)
	if not levels or len(levels - {"d"}) != 1:
		return None
	level = next(iter(levels - {"d"}))
	for n in range(2, len(name) + 1):
		head = name[:n]
		if level in _LEVELS.get(head, ()):
			return level, head
	return level, name


class CompanyParts(NamedTuple):
	"""The comparable form of a company name (``CompanyName.prepare``'s norm)."""

	core: str  # 字号 + industry, folded: what the whole-name score compares (see company_core)
	brand: str  # 字号 (trade name); for English names the distinctive words, joined
	industry: tuple[str, ...]  # industry words in order; () when the name names none
	regions: tuple[str, ...]  # provinces / cities named in it, as "p:江苏" / "c:南京"
	brand_py: str  # 字号 in pinyin (toneless), or the English 字号 itself

	def __str__(self) -> str:  # what reports show as the normalised value
		return self.core

	# Equal (and hashed) by the core, as the plain core string was before: placeholder lists, the common-values
	# report and a record's own repeated values treat 南京金陵餐饮 and 金陵餐饮(南京) as one value.
	def __eq__(self, other: object) -> bool:
		return isinstance(other, CompanyParts) and self.core == other.core

	def __ne__(self, other: object) -> bool:
		return not self.__eq__(other)

	def __hash__(self) -> int:
		return hash(self.core)


def _lens(words, pick) -> dict[str, tuple[int, ...]]:
	out: dict[str, set[int]] = {}
	for w in words:
		out.setdefault(pick(w), set()).add(len(w))
	return {ch: tuple(sorted(ns, reverse=True)) for ch, ns in out.items()}


_REGION_LENS = _lens(_LEVELS, lambda w: w[0])  # a region name can only start with its first character
_TRADE_LENS_BY_LAST = _lens(TRADE_WORDS, lambda w: w[-1])


def _strip_regions(s: str, found: list[str], keep: int = 2) -> str:
	"""Leading region names off ``s`` (collected into ``found``), longest first, while ``keep`` characters
	remain."""
	while s:
		for n in _REGION_LENS.get(s[0], ()):
			if len(s) - n >= keep and s[:n] in _LEVELS:
				found.append(s[:n])
				s = s[n:]
				break
		else:
			break
	return s


def _split_industry(core: str) -> tuple[str, tuple[str, ...]]:
	"""(字号, industry words): trailing industry words split off, longest first, two characters kept."""
	words: list[str] = []
	s = core
	while len(words) < _MAX_WORDS and s:
		for n in _TRADE_LENS_BY_LAST.get(s[-1], ()):
			if len(s) - n >= 2 and s[-n:] in TRADE_WORDS:
				words.append(s[-n:])
				s = s[:-n]
				break
		else:
			break
	return s, tuple(reversed(words))


_TOKEN = re.compile(r"\w+")


def _split_english(core_text: str) -> tuple[str, tuple[str, ...]]:
	tokens = [t for t in _TOKEN.findall(core_text) if t.isascii()]
	while len(tokens) > 1 and tokens[-1] in LEGAL_EN:
		tokens.pop()
	while len(tokens) > 1 and tokens[0] == "the":
		tokens.pop(0)
	words: list[str] = []
	while len(tokens) > 1 and tokens[-1] in INDUSTRY_EN:
		words.append(tokens.pop())
	return "".join(tokens), tuple(reversed(words))


@lru_cache(maxsize=200_000)
def company_parts(value: str) -> CompanyParts | None:
	"""The parts of a company name; None when it has no letters or digits. Never raises."""
	core, prefix, brackets = core_and_regions(value)
	if not core:
		return None
	regions = [b for b in brackets if b in _LEVELS] if brackets else []  # 金陵餐饮(南京)有限公司
	if prefix:
		regions += _prefix_regions(prefix)
	if core.isascii():
		text = fold(as_text(value)[:_MAX_READ])[:512]
		brand, industry = _split_english(_BRACKETS.sub(" ", text))
		if not brand or brand + "".join(industry) != core:  # punctuation inside words: fall back to the core
			brand, industry = core, ()
		brand_py = brand
	else:
		rest = _strip_regions(core, regions)  # 牡丹江润志: company_core keeps a region before two characters
		split = _split_industry(rest) if rest != core else None
		if split is not None and split[0] not in TRADE_WORDS:  # but 南京银行 stays 南京银行
			core = rest
		else:
			split = _split_industry(core)
		brand, industry = split
		brand_py = first_readings(brand)
	canon = _canonical_regions(tuple(regions)) if regions else ()
	return CompanyParts(core, brand, industry, canon, brand_py)


# The region prefixes of names, and the regions one name names, are a few thousand combinations of a few
# thousand region names: each is read once.
@lru_cache(maxsize=20_000)
def _prefix_regions(prefix: str) -> tuple[str, ...]:
	"""The region names a region prefix (as ``core_and_regions`` gives it) is made of, in order."""
	found: list[str] = []
	_strip_regions(prefix, found, keep=0)
	return tuple(found)


@lru_cache(maxsize=20_000)
def _canonical_regions(regions: tuple[str, ...]) -> tuple[str, ...]:
	"""``CompanyParts.regions`` of the region names a name names: provinces and cities, sorted."""
	return tuple(sorted({f"{c[0]}:{c[1]}" for r in regions if (c := _canonical_region(r)) is not None}))


def _ratio(a: str, b: str) -> float:
	return Indel.normalized_similarity(a, b) * 100.0


def brand_score(a: CompanyParts, b: CompanyParts) -> tuple[float, str]:
	"""How alike two 字号 are (0-100) and why: equal, read the same, or the edit similarity."""
	if a.brand == b.brand:
		return 100.0, "same"
	if not a.brand_py or not b.brand_py:
		return _ratio(a.brand, b.brand), ""
	if a.brand.isascii() != b.brand.isascii():  # Jinling / 金陵
		s = _ratio(a.brand_py, b.brand_py)
		return s, "same in pinyin" if s >= 100.0 else "pinyin compared"
	if a.brand_py == b.brand_py:  # an IME slip is a quarter of a typo: 金陵 / 金灵 87.5, 康顺远 / 康顺元 91.7
		return 100.0 - (100.0 - _ratio(a.brand, b.brand)) / 4, "same reading"
	return _ratio(a.brand, b.brand), ""


def _industry_relation(a: tuple[str, ...], b: tuple[str, ...]) -> str:
	"""same; one (a name has no industry words); inserted (words before the shared industry: 金陵[销售]餐饮);
	contained (other words added: 金陵餐饮[管理], 易程科技[煤业]); different."""
	if a == b:
		return "same"
	if not a or not b:
		return "one"
	ja, jb = "".join(a), "".join(b)
	if ja.endswith(jb) or jb.endswith(ja):
		return "inserted"
	if set(a) <= set(b) or set(b) <= set(a) or ja in jb or jb in ja:
		return "contained"
	return "different"


def _region_conflict(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, str] | None:
	"""Both names name a city (or both a province) and no two of them agree: (region of a, region of b)."""
	if not a or not b:  # most names name no region
		return None
	for level in ("c:", "p:"):
		ra = {r for r in a if r.startswith(level)}
		rb = {r for r in b if r.startswith(level)}
		if ra and rb and not ra & rb:
			return min(ra)[2:], min(rb)[2:]
	return None


def _ind(words: tuple[str, ...]) -> str:
	return "".join(words) or "none"


def compare_parts(a: CompanyParts, b: CompanyParts, with_note: bool = True) -> tuple[float, str]:
	"""(score 0-100, explanation) of two company names compared by their parts.

	- 字号 scoring under ``BRAND_MIN``: different companies; the score is the lower of the 字号 score and the
	  whole-name score (long shared industry words cannot lift it).
	- Same industry: the higher of the whole-name score and the 字号 score.
	- One name has words inserted between 字号 and industry (金陵餐饮 / 金陵销售餐饮): the higher of the whole-name
	  score and the 字号 score held to ``RELATED_CAP``; one name has none (金陵 / 金陵餐饮) or more words after
	  them (金陵餐饮 / 金陵餐饮管理, two companies as often as one): held to ``SHORT_CAP``.
	- Different industries: the whole-name score.
	- Both names carry a region and they differ (南宁 / 宜昌): held to ``REGION_CAP``.
	"""
	if a.core == b.core:
		score, note = 100.0, "same name once legal form and region are set aside"
		if with_note:
			note = f"字号 {a.brand}, industry {_ind(a.industry)}: {note}"
	else:
		whole = _ratio(a.core, b.core)
		bs, how = brand_score(a, b)
		# industry words in two languages cannot be compared: as if one name had none
		cross = a.core.isascii() != b.core.isascii()
		relation = "one" if cross else _industry_relation(a.industry, b.industry)
		if bs < BRAND_MIN:
			score = min(whole, bs)
		elif relation == "same":
			score = max(whole, bs)
		elif relation == "inserted":
			score = max(whole, min(bs, RELATED_CAP))
		elif relation in ("one", "contained"):
			score = max(whole, min(bs, SHORT_CAP))
		else:
			score = whole
		note = ""
		if with_note:
			if bs < BRAND_MIN:
				brand = f"字号 {a.brand} ≠ {b.brand} ({bs:.0f})"
			elif how == "same":
				brand = f"字号 {a.brand} same"
			else:
				brand = f"字号 {a.brand} ~ {b.brand} ({how or f'{bs:.0f}'})"
			if relation == "same":
				ind = f"industry {_ind(a.industry)} shared" if a.industry else "no industry words"
			elif relation == "one":
				ind = f"industry {_ind(a.industry)} vs {_ind(b.industry)}"
			elif relation in ("inserted", "contained"):
				small, big = sorted((_ind(a.industry), _ind(b.industry)), key=len)
				ind = f"industry {big} includes {small}"
			else:
				ind = f"industry {_ind(a.industry)} ≠ {_ind(b.industry)}"
			note = f"{brand}; {ind}"
	if score > REGION_CAP and (conflict := _region_conflict(a.regions, b.regions)):
		score = REGION_CAP
		if with_note:
			note += f"; region {conflict[0]} ≠ {conflict[1]}"
	return score, note
