"""The normalisers' shortcuts for the common shapes of a value give exactly what the full path gives.

Each shortcut is compared with the full path it skips (a ``fast=False`` switch, an uncut function) or, where the
code was only reorganised, with a copy of the code as it was before, over generated text that mixes the
characters the shortcuts test for (simplified and traditional Chinese, OpenCC's phrase characters, legal
forms, regions, industry words) with full-width forms, punctuation, digits, Latin letters, emoji, compatibility
ideographs, combining marks and arbitrary Unicode.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import unicodedata
from pathlib import Path

import opencc
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from stdnum.cn import uscc

from crm_dedup.engine.match import COMPARATORS, _delete_keys, _person_form
from crm_dedup.engine.normalize import company as company_mod
from crm_dedup.engine.normalize import company_parts as parts_mod
from crm_dedup.engine.normalize import person as person_mod
from crm_dedup.engine.normalize import text as text_mod
from crm_dedup.engine.normalize.company import (
	_MIN_CORE,
	_REGION_LENS_BY_LAST,
	_REGION_SET,
	BRANCH_WORDS,
	LEGAL_CN,
	REGIONS,
	core_and_regions,
)
from crm_dedup.engine.normalize.company_parts import TRADE_WORDS, company_parts
from crm_dedup.engine.normalize.idcode import _DROP, _uscc_valid, normalize_id_code
from crm_dedup.engine.normalize.person import (
	_person_variants,
	han_chars,
	han_variants,
	is_cjk,
	person_variants,
)
from crm_dedup.engine.normalize.text import (
	PLAIN_HAN,
	T2S_CHARS,
	T2S_CHARS_VERSION,
	_convert,
	fold,
	is_plain_han,
	normalize_text,
	strip_punct,
	to_simplified,
)

MANY = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ROOT = Path(__file__).resolve().parent.parent

_T2S_SAMPLE = "".join(sorted(T2S_CHARS)[::37])  # traditional characters, and the phrase characters (沈 藉 覆)
_SIMPLIFIED = "张伟王芳李娜刘一鸣金陵餐饮科技南京上海有限公司单曾乐"
_TRADITIONAL = "華強電子臺灣張偉劉鳴貿易發展書東"
_PHRASES = "深沈意志消沈回覆答覆捏坏乾隆"  # OpenCC phrases: 深沈 -> 深沉 though 沈 alone stays
_OTHER = (
	"ＡＢＣａｂｃ１２３０９（）【】〔〕《》{}<>[]()，。、；：“”‘’　 \t\n-_./·@#+"
	"AaZz09ßİıΣσςﬁ①Ⅻ㈱㍿〇々〆ヶ\u0301\u0308\u200b\ufeff\x00"
	"\uf900\uf901\ufa0e\u2f00\u2e80\u3007\u3400\u4dbf\u9fff\ua000\U00020000\U0002a700\U0002f800"
	"가각\u1100\u1161\u11a8😀🎉👨‍👩‍👧🇨🇳"
)
chinese_text = st.one_of(
	st.text(st.sampled_from(_SIMPLIFIED + _TRADITIONAL + _PHRASES + _T2S_SAMPLE), max_size=20),
	st.text(st.sampled_from(_SIMPLIFIED + _TRADITIONAL + _PHRASES + _T2S_SAMPLE + _OTHER), max_size=20),
	st.text(st.characters(min_codepoint=0x3400, max_codepoint=0x9FFF), max_size=12),
	st.text(
		st.characters(min_codepoint=0x2E80, max_codepoint=0xFFFF, exclude_categories=["Cs"]), max_size=12
	),
	st.text(st.characters(exclude_categories=["Cs"]), max_size=20),
)
# company names built from the parts company_parts reads: region, 字号, industry, legal form, branch
company_name = st.builds(
	lambda region, brand, industry, legal, branch, tail: region + brand + industry + legal + branch + tail,
	st.sampled_from(["", "", "南京", "江苏省", "苏州市", "牡丹江", "吉林", *REGIONS[::400]]),
	chinese_text,
	st.sampled_from(["", "餐饮", "科技", "销售", "银行", *sorted(TRADE_WORDS)[::300]]),
	st.sampled_from(["", *LEGAL_CN]),
	st.sampled_from(["", "", "上海浦东", *BRANCH_WORDS]),
	st.sampled_from(["", "", "（南京）", "(筹)", " ", "Co., Ltd.", "有限公司"]),
)
person_name = st.one_of(
	chinese_text,
	st.text(st.sampled_from("单曾张伟乐华劉鳴〇㐀𠀀\uf900 ·ZhangWei"), max_size=8),
)


# ---- OpenCC --------------------------------------------------------------------------------------------
@MANY
@given(value=chinese_text)
@example(value="深沈")
@example(value="意志消沈")
@example(value="乾隆")
@example(value="\uf900")
@example(value="𠀀")
@example(value="a\ud800b")  # OpenCC refuses a lone surrogate: both give the text back
def test_to_simplified_shortcut_gives_what_opencc_gives(value):
	assert to_simplified(value) == _convert(value)


def test_every_character_outside_the_list_is_its_own_simplified_form():
	# one call over every code point (but surrogates), one per line: no phrase spans two lines
	codes = [c for c in range(0x80, sys.maxunicode + 1) if not 0xD800 <= c < 0xE000]
	out = _convert("\n".join(map(chr, codes))).split("\n")
	assert len(out) == len(codes)
	changed = {chr(c) for c, o in zip(codes, out, strict=True) if o != chr(c)}
	assert changed <= T2S_CHARS
	assert "沈" in T2S_CHARS and "沈" not in changed  # a character only a phrase changes (深沈 -> 深沉)


def test_the_list_is_used_only_with_the_opencc_it_was_made_from():
	chars, listed = text_mod._load_t2s_chars(text_mod._installed_opencc())
	assert listed == text_mod._installed_opencc() and chars == T2S_CHARS and text_mod.T2S_SHORTCUTS
	for other in ("0.0.1", None):
		chars, listed = text_mod._load_t2s_chars(other)
		assert chars == frozenset() and listed == T2S_CHARS_VERSION


def test_without_the_list_every_text_goes_to_opencc(monkeypatch):
	monkeypatch.setattr(text_mod, "T2S_SHORTCUTS", False)
	calls = []
	monkeypatch.setattr(text_mod, "_convert", lambda t: calls.append(t) or t)
	to_simplified("张三有限公司")
	assert calls == ["张三有限公司"]


def _opencc_dict_tool() -> str | None:
	tool = os.path.join(os.path.dirname(opencc.__file__), "clib", "bin", "opencc_dict")
	return tool if os.access(tool, os.X_OK) else None


@pytest.mark.skipif(_opencc_dict_tool() is None, reason="opencc's opencc_dict tool is not installed")
def test_the_list_is_what_the_generator_makes_from_opencc_dictionaries():
	spec = importlib.util.spec_from_file_location("gen_t2s_chars", ROOT / "scripts" / "gen_t2s_chars.py")
	gen = importlib.util.module_from_spec(spec)
	spec.loader.exec_module(gen)
	assert frozenset(gen.key_chars()[1]) == T2S_CHARS


# ---- fold, normalize_text ---------------------------------------------------------------------------------
def _fold_full(text: str) -> str:
	text = text_mod.as_text(text)
	if not text:
		return ""
	return _convert(unicodedata.normalize("NFKC", text)).casefold()


@MANY
@given(value=chinese_text)
@example(value="\uf900")
@example(value="金陵餐饮")
def test_fold_and_normalize_text_shortcuts_give_the_full_path(value):
	assert fold(value) == _fold_full(value)
	assert normalize_text.__wrapped__(value) == strip_punct(_fold_full(value))
	assert is_plain_han(value) == all(ch in PLAIN_HAN for ch in value)


def test_plain_han_characters_are_left_alone_by_every_step():
	every = "".join(sorted(PLAIN_HAN))
	assert unicodedata.normalize("NFKC", every) == every
	assert every.casefold() == every and strip_punct(every) == every
	assert _convert(every) == every


# ---- people's names --------------------------------------------------------------------------------------
@MANY
@given(value=person_name)
@example(value="单田芳")
@example(value="曾乐")
@example(value="张\uf900")
@example(value="〇")
@example(value="张" * 65)
def test_person_variants_shortcut_gives_the_full_path(value):
	assert person_variants.__wrapped__(value) == _person_variants(value)
	assert han_chars(value) == "".join(ch for ch in value if is_cjk(ch))
	got = han_variants(value)
	assert got is None or (got == _person_variants(value) and han_chars(value) == value)


def _person_form_before(raw: str):
	variants = _person_variants(raw)
	if not variants:
		return None
	joined = tuple(dict.fromkeys(" ".join(sorted(v)) for v in variants))
	return (joined, _convert(han_chars(raw)))


def _delete_keys_before(prefix: str, s: str) -> list[str]:
	if len(s) > 40:
		return []
	return list(dict.fromkeys([f"{prefix}d:{s}"] + [f"{prefix}d:{s[:i]}{s[i + 1 :]}" for i in range(len(s))]))


@MANY
@given(
	value=st.one_of(st.text(st.sampled_from("ab \n\r張😀"), max_size=12), chinese_text, st.text(max_size=45))
)
@example(value="zhang wei")
@example(value="aab")
@example(value="a\n\nb")
def test_delete_keys_give_what_they_gave(value):
	assert _delete_keys("pn", value) == _delete_keys_before("pn", value)


def _person_keys_before(variants, threshold):
	keys = [f"pn:{v}" for v in variants]
	if threshold < 100.0:
		for v in variants:
			keys += _delete_keys_before("pn", v)
	return keys


@MANY
@given(value=person_name, threshold=st.sampled_from([100.0, 90.0, 80.0]))
@example(value="单田芳", threshold=90.0)
@example(value="Aaron Zhang", threshold=90.0)
def test_person_form_and_keys_give_what_they_gave(value, threshold):
	got = _person_form.__wrapped__(value)
	want = _person_form_before(value)
	assert (got and (got[0].variants, got[0].han)) == want
	if got is not None:
		cmp = COMPARATORS["person_name"]
		assert cmp.keys(got[0], threshold) == _person_keys_before(got[0].variants, threshold)


# ---- company names ---------------------------------------------------------------------------------------
def _strip_legal_suffix_before(s: str) -> str:
	changed = True
	while changed and s:
		changed = False
		if s.endswith(tuple(LEGAL_CN)):
			for suf in LEGAL_CN:
				if s.endswith(suf) and len(s) > len(suf):
					s = s[: -len(suf)]
					changed = True
					break
		if s:
			for n in _REGION_LENS_BY_LAST.get(s[-1], ()):
				if len(s) - n >= _MIN_CORE + 1 and s[-n:] in _REGION_SET:
					s = s[:-n]
					changed = True
					break
	return s


def _company_parts_before(value: str):
	core, prefix, brackets = core_and_regions(value, fast=False)
	if not core:
		return None
	regions = [b for b in brackets if b in parts_mod._LEVELS]
	parts_mod._strip_regions(prefix, regions, keep=0)
	if core.isascii():
		text = fold(text_mod.as_text(value)[: company_mod._MAX_READ])[:512]
		brand, industry = parts_mod._split_english(company_mod._BRACKETS.sub(" ", text))
		if not brand or brand + "".join(industry) != core:
			brand, industry = core, ()
		brand_py = brand
	else:
		rest = parts_mod._strip_regions(core, regions)
		if rest != core and parts_mod._split_industry(rest)[0] not in TRADE_WORDS:
			core = rest
		brand, industry = parts_mod._split_industry(core)
		brand_py = person_mod.first_readings(brand)
	canon = sorted({f"{c[0]}:{c[1]}" for r in regions if (c := parts_mod._canonical_region(r)) is not None})
	return (core, brand, industry, tuple(canon), brand_py)


@MANY
@given(value=st.one_of(company_name, chinese_text))
@example(value="南京金陵餐饮管理有限公司")
@example(value="金陵餐饮有限公司上海浦东分公司")
@example(value="南京银行")
@example(value="牡丹江润志")
@example(value="有限公司")
@example(value="公司公司")
@example(value="金陵餐饮(南京)有限公司")
def test_company_shortcuts_give_the_full_path(value):
	assert core_and_regions(value) == core_and_regions(value, fast=False)
	s = strip_punct(fold(value))
	assert company_mod._strip_legal_suffix(s) == _strip_legal_suffix_before(s)
	got = company_parts.__wrapped__(value)
	assert (got and tuple(got)) == _company_parts_before(value)


# ---- id codes ----------------------------------------------------------------------------------------------
@MANY
@given(
	st.one_of(
		st.from_regex(r"[0-9]{8}[0-9A-Z]{10}", fullmatch=True),
		st.from_regex(r"[0-9A-Z]{18}", fullmatch=True),
		st.text(st.sampled_from("0123456789ABHIOSVZ0１Ａé"), min_size=18, max_size=18),
	)
)
@example("91320100MA1MXXXX0X")
@example("92330501MAKN9BDW56")
def test_uscc_check_agrees_with_stdnum(code):
	assert _uscc_valid(code) == bool(uscc.is_valid(code))


@MANY
@given(st.one_of(st.text(st.sampled_from("0123456789ABXabx -_./·\t"), max_size=22), st.text(max_size=22)))
@example("92330501makn9bdw56")
@example("92 330501 MAKN9BDW56")
def test_ascii_id_code_is_folded_as_before(value):
	if value.isascii():
		assert normalize_id_code.__wrapped__(value).value == _DROP.sub("", value.upper())
