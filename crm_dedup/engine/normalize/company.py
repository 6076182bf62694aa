"""Company names: legal forms, bracketed branch/region parts and province/city prefixes made insensitive.

金陵餐饮有限公司, 金陵餐饮有限责任公司, 南京金陵餐饮有限公司 and 金陵餐饮(南京)有限公司 all have the core 金陵餐饮.
Region names come from ``data/regions.txt`` (generated from cpca's national table by scripts/gen_regions.py).
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

from .text import as_text, fold, is_plain_han, normalize_text, strip_punct

# Chinese legal forms and group/branch words, longest first so 有限责任公司 goes before 公司.
LEGAL_CN = sorted(
	{
		"股份有限公司",
		"有限责任公司",
		"集团有限公司",
		"集团股份有限公司",
		"控股有限公司",
		"控股集团",
		"有限公司",
		"有限合伙",
		"普通合伙",
		"合伙企业",
		"股份公司",
		"集团公司",
		"总公司",
		"分公司",
		"子公司",
		"办事处",
		"代表处",
		"公司",
		"集团",
		"控股",
		"有限",
		"总部",
		"分部",
		"分店",
		"总店",
		"个体工商户",
	},
	key=len,
	reverse=True,
)
# English legal forms (and group words), matched as whole tokens at the end of the name.
LEGAL_FORMS_EN = frozenset(
	{
		"co",
		"company",
		"corp",
		"corporation",
		"inc",
		"incorporated",
		"ltd",
		"limited",
		"llc",
		"llp",
		"lp",
		"plc",
		"pte",
		"pty",
		"gmbh",
		"ag",
		"sa",
		"sarl",
		"bv",
		"nv",
		"kk",
		"group",
		"holding",
		"holdings",
	}
)
# Dropped from the end of an English name too, though no legal form: Acme China Co., Ltd. is Acme.
LEGAL_EN = LEGAL_FORMS_EN | {"the", "and", "china", "intl", "international"}
_BRACKETS = re.compile(r"[\(\[【〔《<{][^\(\)\[\]【】〔〕《》<>{}]*[\)\]】〕》>}]")
_TOKEN = re.compile(r"\w+")
_MIN_CORE = 2  # never strip a region if fewer characters would be left
_MAX_READ = 2048  # a company name longer than this is not a name: only its beginning is read


def _load_regions() -> tuple[tuple[str, ...], tuple[str, ...]]:
	text = resources.files("crm_dedup.engine").joinpath("data/regions.txt").read_text(encoding="utf-8")
	names = set()
	for line in text.splitlines():
		if line and not line.startswith("#"):
			names.add(line.split("\t", 1)[1])
	ordered = tuple(sorted(names, key=len, reverse=True))
	return ordered, tuple(n for n in ordered if len(n) >= 2)


REGIONS, _REGIONS2 = _load_regions()
_REGION_SET = frozenset(REGIONS)


def _lengths_by(pick, words=REGIONS) -> dict[str, tuple[int, ...]]:
	"""{character: the lengths of the region names (or other words) with that first (or last) character,
	longest first}: a name can only start (end) with a region whose first (last) character it starts (ends)
	with."""
	out: dict[str, set[int]] = {}
	for r in words:
		out.setdefault(pick(r), set()).add(len(r))
	return {ch: tuple(sorted(ns, reverse=True)) for ch, ns in out.items()}


_REGION_LENS_BY_FIRST = _lengths_by(lambda r: r[0])
_REGION_LENS_BY_LAST = _lengths_by(lambda r: r[-1])


# A branch is named after its company: 金陵餐饮有限公司上海浦东分公司 is a branch of 金陵餐饮有限公司, whatever
# place name comes between (浦东 alone is no region name we know).
BRANCH_WORDS = ("分公司", "办事处", "代表处", "分店", "分部", "营业部", "分厂")
_COMPANY_WORDS = ("股份有限公司", "有限责任公司", "有限公司", "集团公司", "公司")


def _cut_branch(s: str) -> str:
	"""``<company><place><branch word>`` -> ``<company>``: the name up to its first legal form."""
	if not s.endswith(BRANCH_WORDS):
		return s
	for word in BRANCH_WORDS:
		if s.endswith(word):
			head = s[: -len(word)]
			cut = min(
				(i + len(form) for form in _COMPANY_WORDS if (i := head.find(form)) > 0),
				default=None,
			)
			return s[:cut] if cut is not None and cut < len(head) else s
	return s


_LEGAL_SET = frozenset(LEGAL_CN)
_LEGAL_LENS_BY_LAST = _lengths_by(lambda w: w[-1], LEGAL_CN)


def _strip_legal_suffix(s: str) -> str:
	"""Strips the longest legal form the name ends with (never the whole name), then a trailing region, and
	again while either changed something."""
	changed = True
	while changed and s:
		changed = False
		for n in _LEGAL_LENS_BY_LAST.get(s[-1], ()):  # the longest form that fits, as in LEGAL_CN's order
			if len(s) > n and s[-n:] in _LEGAL_SET:
				s = s[:-n]
				changed = True
				break
		if s:  # a trailing region: 金陵餐饮南京 (from 金陵餐饮南京分公司)
			for n in _REGION_LENS_BY_LAST.get(s[-1], ()):
				if len(s) - n >= _MIN_CORE + 1 and s[-n:] in _REGION_SET:
					s = s[:-n]
					changed = True
					break
	return s


def _strip_region_prefix(s: str) -> str:
	changed = True
	while changed and s:
		changed = False
		for n in _REGION_LENS_BY_FIRST.get(s[0], ()):
			if len(s) - n > _MIN_CORE and s[:n] in _REGION_SET:
				s = s[n:]
				changed = True
				break
	return s


@lru_cache(maxsize=200_000)
def company_core(value: str) -> str:
	"""The distinctive part of a company name, folded (see module docstring). Never raises."""
	return core_and_regions(value)[0]


def core_and_regions(value: str, fast: bool = True) -> tuple[str, str, tuple[str, ...]]:
	"""(core as ``company_core`` gives it, the region prefix stripped from it, bracketed parts) of a name;
	the two last, folded and without punctuation, are what ``company_parts`` reads the regions from.
	``fast=False`` skips the shortcut for a name of Chinese characters alone (tests prove it gives the same)."""
	value = as_text(value)[:_MAX_READ]
	plain = fast and is_plain_han(value)  # Chinese characters alone, simplified: its own fold (most names)
	text = value if plain else fold(value)
	if not text:
		return "", "", ()
	text = text[:512]
	brackets: tuple[str, ...] = ()
	if plain or (fast and is_plain_han(text)):  # one word: no brackets, punctuation or English words
		s = text
	else:
		if _BRACKETS.search(text):
			brackets = tuple(strip_punct(m) for m in _BRACKETS.findall(text))
			unbracketed = _BRACKETS.sub(" ", text)
			if strip_punct(unbracketed):
				text = unbracketed
		tokens = _TOKEN.findall(text)
		while len(tokens) > 1 and tokens[-1].isascii() and tokens[-1] in LEGAL_EN:
			tokens.pop()
		while len(tokens) > 1 and tokens[0] == "the":
			tokens.pop(0)
		s = strip_punct("".join(tokens))
	s = _strip_legal_suffix(_cut_branch(s) if s.endswith(BRANCH_WORDS) else s)
	core = _strip_region_prefix(s)
	if not core:
		return normalize_text(value), "", brackets
	return core, s[: len(s) - len(core)], brackets


_EN_GAP = frozenset(" .,")  # what may stand between and after the tokens of an English legal form (folded)


def _english_suffix(s: str) -> str:
	"""The run of legal-form tokens ``s`` ends with (Co., Ltd.), never its first token; "" when none."""
	tokens = list(_TOKEN.finditer(s))
	start = None
	end = len(s)
	for n in range(len(tokens) - 1, 0, -1):
		tok = tokens[n]
		gap = fold(s[tok.end() : end])
		word = fold(tok.group())
		if (
			not all(c in _EN_GAP or c.isspace() for c in gap)
			or not word.isascii()
			or word not in LEGAL_FORMS_EN
		):
			break
		start = end = tok.start()
	return "" if start is None else s[start:]


def legal_form_suffix(name: str) -> str:
	"""The legal form a company name ends with, exactly as typed: 南京金陵贸易有限责任公司 -> 有限责任公司,
	Acme Trading Co., Ltd. -> Co., Ltd.; "" when it ends with none (or is nothing else).

	The forms are the ones ``company_core`` strips (``LEGAL_CN``, the longest that fits; ``LEGAL_FORMS_EN``,
	whole tokens), compared folded (full width, traditional characters, case). A bracketed part at the end is
	no legal form: 金陵贸易有限公司（筹） -> "". Trailing whitespace is left out. Never raises.
	"""
	s = as_text(name)[:_MAX_READ].rstrip()
	if not s:
		return ""
	english = _english_suffix(s)
	if english:
		return english
	tail = fold(s[-1])
	for suf in LEGAL_CN:
		if len(s) > len(suf) and suf.endswith(tail) and fold(s[-len(suf) :]) == suf:
			return s[-len(suf) :]
	return ""
