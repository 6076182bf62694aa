"""Property tests: the normalisers and RuleSet.prepare/compare are total, and keep their invariants.

Arbitrary Unicode (hypothesis' text() excludes lone surrogates), control characters, emoji, ~1 MB values
and empty strings must never raise.
"""

from __future__ import annotations

import random
import sys
import unicodedata

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from crm_dedup.engine import MemoryIndex, RuleSet, check_record, load_rules
from crm_dedup.engine.normalize import (
	company_core,
	normalize_email,
	normalize_id_code,
	normalize_phone,
	normalize_text,
	person_variants,
	split_emails,
	split_phones,
)
from crm_dedup.engine.normalize.person import first_readings, readings
from crm_dedup.engine.normalize.phone import _cn_landline, _normalize_phone, _split_text
from crm_dedup.engine.normalize.text import strip_punct

NORMALISERS = [
	normalize_text,
	company_core,
	person_variants,
	normalize_phone,
	normalize_email,
	normalize_id_code,
	split_phones,
	split_emails,
]
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
HUGE = settings(
	max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)

EMOJI = "😀🎉👨‍👩‍👧‍👦🇨🇳🏳️‍🌈☎️📞✉️"
CJK = "张伟王芳李娜金陵餐饮有限公司南京上海華強電子臺灣（）【】，。、；：“”‘’　"
# text drawn from every plane, plus a bias towards the characters CRM data actually holds
any_text = st.one_of(
	st.text(),
	st.text(st.characters(codec="utf-8")),
	st.text(st.characters(categories=["Cc", "Cf", "Zs", "Zl", "Zp", "Mn", "Co"])),
	st.text(st.sampled_from(EMOJI + CJK + "0123456789+-() ext#转分机@.,;/|\t\n\r\x00\x0b")),
)
HUGE_SIZE = 1_000_000


@st.composite
def huge_text(draw):
	seed = draw(st.text(min_size=1, max_size=30))
	return (seed * (HUGE_SIZE // len(seed) + 1))[:HUGE_SIZE]


def _total(fn, value):
	out = fn(value)
	assert out is not None
	return out


@pytest.mark.parametrize("fn", NORMALISERS, ids=lambda f: f.__name__)
@FAST
@given(value=any_text)
@example(value="")
@example(value="\x00")
@example(value=EMOJI)
@example(value="　\u200b\ufeff")
def test_normalisers_accept_any_text(fn, value):
	_total(fn, value)


@pytest.mark.parametrize("fn", NORMALISERS, ids=lambda f: f.__name__)
@HUGE
@given(value=huge_text())
def test_normalisers_accept_huge_text(fn, value):
	_total(fn, value)


@pytest.mark.parametrize("fn", NORMALISERS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("value", [None, "", "   ", 12345678, 3.5, b"\xe5\xbc\xa0\xff"])
def test_normalisers_accept_blank_and_non_strings(fn, value):
	_total(fn, value)


# ---- invariants --------------------------------------------------------------------------------------
@FAST
@given(any_text)
def test_normalize_text_is_idempotent(value):
	once = normalize_text(value)
	assert normalize_text(once) == once


@FAST
@given(any_text)
def test_normalize_email_and_id_code_are_idempotent(value):
	e = normalize_email(value)
	assert normalize_email(e) == e
	code = normalize_id_code(value)
	assert normalize_id_code(code.value) == code


@FAST
@given(any_text)
def test_split_parts_are_non_blank_and_trimmed(value):
	for part in split_phones(value) + split_emails(value):
		assert part and part == part.strip()


# realistic numbers: mobiles and landlines with area codes, in the prefixes people type
mobile = st.builds(
	lambda p, n: p + n,
	st.sampled_from(["", "+86", "0086", "86"]),
	st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
)
landline = st.builds(
	lambda p, area, n: p + area + n,
	st.sampled_from(["0", "+86", "0086"]),
	st.sampled_from(["10", "21", "20", "755", "571", "25", "28", "532"]),
	st.from_regex(r"[2-8][0-9]{7}", fullmatch=True),
)


@FAST
@given(number=st.one_of(mobile, landline), data=st.data())
def test_phone_invariant_to_inserted_spaces_and_dashes(number, data):
	base = normalize_phone(number)
	assert base.startswith("+86")
	chars = list(number)
	# insert separators between characters (never inside the leading "+")
	positions = data.draw(st.lists(st.integers(1, len(chars) - 1), max_size=6))
	for pos in sorted(positions, reverse=True):
		chars.insert(pos, data.draw(st.sampled_from([" ", "-", " - ", "  "])))
	spaced = "".join(chars)
	assume(not spaced.startswith("+ "))
	assert normalize_phone(spaced) == base, spaced


@FAST
@given(any_text)
@example("南京金陵餐饮管理有限公司")
@example("單曾㐀𠀀Jinling")
def test_first_readings_is_the_first_reading_of_each_character(value):
	assert first_readings(value) == "".join(r[0] if (r := readings(ch)) else ch for ch in value)


def test_first_readings_of_every_code_point():
	every = "".join(map(chr, range(sys.maxunicode + 1)))
	assert first_readings(every) == "".join(r[0] if (r := readings(ch)) else ch for ch in every)


def test_strip_punct_keeps_exactly_the_letters_and_digits_of_every_script():
	every = "".join(map(chr, range(sys.maxunicode + 1)))  # every code point, lone surrogates included
	assert strip_punct(every) == "".join(ch for ch in every if unicodedata.category(ch)[0] in "LN")


# Numbers in the shapes the shortcuts for Chinese numbers take (and shapes just beside them), with the
# separators and extensions people type: the shortcuts must give exactly what the phonenumbers path gives.
phone_like = st.builds(
	lambda prefix, body, ext: prefix + body + ext,
	st.sampled_from(
		["", "0", "00", "+86", "0086", "86", "+860", "(0", "+86 (0)", "+1", "+86 ", "0086-", "+"]
	),
	st.text(st.sampled_from("0123456789012345678901234567890123456789- ()"), max_size=16),
	st.sampled_from(["", " ext 12", "#8001", "-8001", "转8001", " x1"]),
)
AREA_CODES = [
	"10",
	"21",
	"22",
	"23",
	"24",
	"25",
	"27",
	"28",
	"29",
	"20",
	"311",
	"351",
	"371",
	"411",
	"431",
	"451",
	"471",
	"512",
	"531",
	"551",
	"571",
	"574",
	"591",
	"731",
	"755",
	"769",
	"771",
	"871",
	"891",
	"893",
	"898",
	"909",
	"931",
	"951",
	"971",
	"991",
	"999",
	"300",
	"100",
	"701",
]


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(phone_like)
@example("0893-74793303")  # a Tibetan area code with one digit too many: possible, not valid
@example("+86 893 74793303")
@example("0086 12 3456 7890")  # +86 12...: a carrier code for phonenumbers
@example("01012345678")
@example("013612345678")
@example("0731-66330888-3887")
def test_phone_shortcuts_give_what_phonenumbers_gives(value):
	assert _normalize_phone(value, "CN") == _normalize_phone(value, "CN", fast=False)


# values in plain layout (ASCII digits, spaces, hyphens, brackets, dots, one leading "+"): the shortcut that
# reads them without the NFKC, extension and letter steps must give what phonenumbers gives
plain_layout = st.one_of(
	st.from_regex(r"\+?[0-9 \-().]{0,24}", fullmatch=True),
	st.builds(
		lambda prefix, seps, n: prefix + "".join(d + s for d, s in zip(n, seps, strict=False)),
		st.sampled_from(["", "+", "+86", "+86 ", "0086-", "(0", "0", "(", " ", "-", "."]),
		st.lists(
			st.sampled_from(["", "", "", " ", "-", "(", ")", ".", "  ", " - "]), min_size=16, max_size=16
		),
		st.one_of(
			st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
			st.from_regex(r"[1-9][0-9]{1,3}[2-8][0-9]{5,8}", fullmatch=True),
			st.text(st.sampled_from("0123456789"), max_size=16),
		),
	),
)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plain_layout)
@example("0851-38129599")
@example("(0851) 3812 9599")
@example("+86 136 1234 5678")
@example("+ 86 (0) 10 1234 5678")
@example("0851-38129599.")
@example("-0851-38129599")
@example("000000")
@example("  ")
@example("+")
def test_phone_plain_layout_shortcut_gives_what_phonenumbers_gives(value):
	assert _normalize_phone(value, "CN") == _normalize_phone(value, "CN", fast=False), value


@FAST
@given(
	st.one_of(
		any_text,
		st.text(st.sampled_from("0123456789+-() .x#转;,，；、|/\n\t\u3000\xa0\u2028")),
	)
)
@example("0931 7546 1997")
@example("13612345678\u300013912345678")
@example("13612345678/13912345678")
def test_split_phones_shortcut_gives_what_the_splits_give(value):
	text = value.strip()
	assume(text)
	assert split_phones(value) == _split_text(text)


def test_phone_landline_shortcut_is_taken_and_agrees_for_every_area_code_and_length():
	rnd = random.Random(7)
	taken = 0
	for area in AREA_CODES:
		for length in range(5, 10):
			subscriber = str(rnd.randint(2, 9)) + "".join(rnd.choices("0123456789", k=length - 1))
			for prefix, sep in (("0", "-"), ("0", " "), ("+86 ", " "), ("0086-", "-"), ("(0", ")")):
				value = f"{prefix}{area}{sep}{subscriber}"
				assert _normalize_phone(value, "CN") == _normalize_phone(value, "CN", fast=False), value
				taken += _cn_landline("".join(ch for ch in value if ch not in " -()")) is not None
	assert taken > len(AREA_CODES) * 5 * 2  # the shortcut answered most of them (all the trunk-0 forms)


def test_phone_international_shortcut_is_taken_and_agrees_for_every_first_digit_and_length():
	# +86 / 0086 and a national number not starting with 1, valid or not (+86 902 57089504: no such area code)
	rnd = random.Random(11)
	for first in "23456789":
		for length in range(5, 15):
			for _ in range(8):
				national = first + "".join(rnd.choices("0123456789", k=length - 1))
				for prefix in ("+86", "0086", "+86 ", "0086-", "+86-", "(+86) ", "+86 (0)"):
					value = prefix + national
					assert _normalize_phone(value, "CN") == _normalize_phone(value, "CN", fast=False), value
				taken = _cn_landline("+86" + national) is not None
				assert taken == (7 <= length <= 12), national


# ---- RuleSet.prepare / compare -----------------------------------------------------------------------
RULES = RuleSet.from_dict(
	{
		"rules": [
			{"name": "uscc", "priority": 1, "conditions": [{"fields": ["tax_id"], "match": "id_code"}]},
			{
				"name": "phones",
				"priority": 2,
				"conditions": [{"fields": ["phone_1", "phone_nos.phone"], "match": "phone"}],
			},
			{"name": "email", "priority": 3, "conditions": [{"fields": ["email_id"], "match": "email"}]},
			{"name": "exact", "priority": 4, "conditions": [{"fields": ["code"], "match": "exact"}]},
			{
				"name": "name+city",
				"priority": 5,
				"action": "warn",
				"conditions": [
					{"fields": ["customer_name"], "match": "company_name", "threshold": 85},
					{"fields": ["city"], "match": "normalized", "blank": "ignore"},
				],
			},
			{
				"name": "person",
				"priority": 6,
				"action": "log",
				"conditions": [{"fields": ["contact_person"], "match": "person_name", "threshold": 80}],
			},
			{
				"name": "fuzzy",
				"priority": 7,
				"action": "log",
				"conditions": [
					{
						"fields": ["customer_name", "contact_person"],
						"match": "fuzzy",
						"threshold": 70,
						"blank": "ignore",
					}
				],
			},
		]
	}
)
FIELDS = [
	"tax_id",
	"phone_1",
	"phone_nos.phone",
	"email_id",
	"code",
	"customer_name",
	"city",
	"contact_person",
]
value = st.one_of(
	st.none(), any_text, st.lists(any_text, max_size=3), st.integers(), st.sampled_from(CJK.split("有"))
)
record = st.dictionaries(st.sampled_from(FIELDS + ["other"]), value, max_size=len(FIELDS) + 1)


@FAST
@given(record, record)
def test_prepare_and_compare_accept_any_record_and_are_symmetric(a, b):
	pa, pb = RULES.prepare(a, id="a"), RULES.prepare(b, id="b")
	RULES.keys(pa)
	ab, ba = RULES.compare(pa, pb), RULES.compare(pb, pa)
	assert (ab is None) == (ba is None)
	if ab is not None:
		assert ab.rule == ba.rule and ab.score == pytest.approx(ba.score)
		assert ab.explain and ab.to_dict()["hits"]
	# every rule here fires on a record and itself as soon as its blocking condition has a value, i.e. exactly
	# when the record has blocking keys
	assert (RULES.compare(pa, RULES.prepare(a, id="a2")) is not None) == bool(RULES.keys(pa))


@HUGE
@given(huge_text(), huge_text())
def test_prepare_compare_and_check_accept_huge_values(x, y):
	a = {f: x for f in FIELDS}
	b = {f: y for f in FIELDS}
	b["phone_nos.phone"] = [y, x[:100]]
	pa, pb = RULES.prepare(a, id="a"), RULES.prepare(b, id="b")
	RULES.compare(pa, pb)
	idx = MemoryIndex()
	idx.put("b", RULES.keys(pb), b)
	check_record(RULES, a, idx)


def test_compare_is_symmetric_on_shuffled_realistic_records(example_rules_path, example_csv_path):
	import csv

	rules = load_rules(example_rules_path)
	with open(example_csv_path, encoding="utf-8-sig", newline="") as f:
		rows = list(csv.DictReader(f))
	rnd = random.Random(7)
	fields = ["phone_1", "phone_2", "phone_3", "mobile_no"]
	for _ in range(200):
		a, b = rnd.choice(rows), dict(rnd.choice(rows))
		vals = [b[f] for f in fields]
		rnd.shuffle(vals)  # the same numbers moved between fields
		b.update(zip(fields, vals, strict=True))
		pa, pb = rules.prepare(a), rules.prepare(b)
		ab, ba = rules.compare(pa, pb), rules.compare(pb, pa)
		assert (ab and (ab.rule, round(ab.score, 6))) == (ba and (ba.rule, round(ba.score, 6)))


@FAST
@given(st.from_regex(r"[0-9]{17}", fullmatch=True))
def test_ric_checksum_precheck_agrees_with_stdnum(body):
	# the precheck that lets normalize_id_code skip stdnum's ric.is_valid must accept exactly stdnum's check digit
	from stdnum.cn import ric

	from crm_dedup.engine.normalize.idcode import _ric_checksum_ok

	right = ric.calc_check_digit(body + "?")  # it takes the whole number and ignores the last character
	assert [c for c in "0123456789X" if _ric_checksum_ok(body + c)] == [right]


@FAST
@given(record, record)
@example({"customer_name": "金陵餐饮有限公司"}, {"customer_name": "金陵餐饮有限责任公司"})
@example({"customer_name": "金陵餐饮"}, {"customer_name": "金灵餐饮"})
def test_comparator_score_is_the_score_of_compare(a, b):
	# the batch scan scores with Comparator.score; explanations come from Comparator.compare
	from crm_dedup.engine.match import COMPARATORS

	pa, pb = RULES.prepare(a), RULES.prepare(b)
	for (fields, match), va in pa.values.items():
		cmp = COMPARATORS[match]
		for x in va:
			for y in pb.values[(fields, match)]:
				assert cmp.score(x.norm, y.norm) == cmp.compare(x.norm, y.norm).score
