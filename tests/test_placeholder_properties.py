"""Property tests of placeholders: a placeholder on both sides never matches, whatever the rule; placeholders
give no keys; the new code is total on arbitrary Unicode."""

from __future__ import annotations

import opencc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_dedup.engine import Placeholders, RuleError, RuleSet, common_values
from crm_dedup.engine.conditions import NEW_COMPARATORS
from crm_dedup.engine.match import MATCH_TYPES
from crm_dedup.engine.placeholders import BUILTIN_DATA

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_S2T = opencc.OpenCC("s2t")
FUZZY = ("company_name", "person_name", "fuzzy")

# What is a placeholder for each match type: the text fillers everywhere, plus the type's own lists, plus
# values the type's rules catch.
TYPE_VALUES = {
	"exact": [],
	"normalized": [],
	"fuzzy": [],
	"person_name": BUILTIN_DATA["person_name"],
	"company_name": BUILTIN_DATA["company_name"],
	"phone": BUILTIN_DATA["phone"]["numbers"]
	+ ["13333333333", "18600000000", "234567", "0987654321", "11111111111", "010-11111111"],
	"email": BUILTIN_DATA["email"]["addresses"]
	+ [f"someone@{d}" for d in BUILTIN_DATA["email"]["domains"]]
	+ [f"{loc}@163.com" for loc in BUILTIN_DATA["email"]["local_parts"]]
	+ ["1234@qq.com", "111111@qq.com", "123456789@qq.com", "aaaa@126.com"],
	"id_code": ["000000000000000000", "ABC12", "XXXXXXXX", "987654", "123456789012345678"],
}

# the types of #13 (fuzzy_tokens, set_overlap, date_within) have no built-in placeholder lists of their own
MATCH_TYPES = tuple(m for m in MATCH_TYPES if m not in NEW_COMPARATORS)


def _full_width(s: str) -> str:
	return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else ("\u3000" if c == " " else c) for c in s)


def _phone_notation(s: str, k: int) -> str:
	digits = "".join(c for c in s if c.isdigit())
	if len(digits) != 11 or not digits.startswith("1"):
		return s
	return [
		f"+86 {digits[:3]}-{digits[3:7]}-{digits[7:]}",
		f"0086 {digits}",
		f"{digits[:3]} {digits[3:7]} {digits[7:]}",
		f"(+86) {digits}",
	][k % 4]


@st.composite
def notation(draw, value: str, match: str) -> str:
	"""The value as a person would type it: case, full width, traditional characters, blanks around it,
	a phone's groups, an address in brackets."""
	k = draw(st.integers(0, 7))
	if k == 0:
		out = value.upper()
	elif k == 1:
		out = value.title()
	elif k == 2:
		out = _full_width(value)
	elif k == 3:
		out = _S2T.convert(value)
	elif k == 4 and match == "phone":
		out = _phone_notation(value, draw(st.integers(0, 3)))
	elif k == 5 and match == "email" and "@" in value:
		out = draw(st.sampled_from([f"<{value}>", f"mailto:{value}", f"{value.upper()}"]))
	else:
		out = value
	pad = draw(st.sampled_from(["", " ", "  ", "\t"]))
	return pad + out + draw(st.sampled_from(["", " ", "　"]))


@st.composite
def placeholder_case(draw):
	"""(rules document, record a, record b): 1-3 conditions of random types and blank settings, one field
	each, every field of both records a placeholder for its condition's type in some notation."""
	n = draw(st.integers(1, 3))
	conditions, a, b = [], {}, {}
	for i in range(n):
		match = draw(st.sampled_from(MATCH_TYPES))
		cond = {"fields": [f"f{i}"], "match": match, "blank": draw(st.sampled_from(["fail", "ignore"]))}
		if match in FUZZY:
			cond["threshold"] = draw(st.sampled_from([60, 80, 90, 100]))
		conditions.append(cond)
		pool = BUILTIN_DATA["text"] + TYPE_VALUES[match]
		for rec in (a, b):
			rec[f"f{i}"] = draw(notation(draw(st.sampled_from(pool)), match))
	doc = {"rules": [{"name": "r", "action": "block", "conditions": conditions}]}
	return doc, a, b


@FAST
@given(placeholder_case())
def test_a_placeholder_on_both_sides_never_matches_whatever_the_rule(case):
	doc, a, b = case
	rules = RuleSet.from_dict(doc)
	pa, pb = rules.prepare(a, id="a"), rules.prepare(b, id="b")
	assert rules.compare(pa, pb) is None, (doc, a, b, pa.values, pb.values)
	assert rules.compare(pa, rules.prepare(a, id="a2")) is None  # not even with itself


@FAST
@given(placeholder_case())
def test_placeholders_give_no_keys_and_no_values(case):
	doc, a, _ = case
	rules = RuleSet.from_dict(doc)
	p = rules.prepare(a)
	assert all(not v for v in p.values.values()), p.values
	assert rules.keys(p) == {}
	for field, raw in a.items():
		assert rules.placeholder_reason(field, raw) is not None, (field, raw)


# ---- total on arbitrary input ------------------------------------------------------------------------------
any_text = st.one_of(
	st.text(),
	st.text(st.characters(codec="utf-8")),
	st.text(st.sampled_from("0123456789+-@.无空测试先生NnAa/ ＠。１２３")),
)
ALL_FIELDS_RULES = RuleSet.from_dict(
	{
		"options": {
			"placeholders": {
				"text": ["待补"],
				"phone": ["13900001111"],
				"email": ["@corp.cn", "x@", "a@b.cn"],
				"id_code": ["91320000XXXXXXXXXX"],
				"fields": {"f0": ["000"], "f7": ["某"]},
			}
		},
		"rules": [
			{
				"name": m,
				"conditions": [
					{"fields": [f"f{i}"], "match": m, **({"threshold": 80} if m in FUZZY else {})}
				],
			}
			for i, m in enumerate(MATCH_TYPES)
		],
	}
)


@FAST
@given(st.sampled_from(MATCH_TYPES), any_text)
def test_reason_is_total(match, value):
	got = Placeholders.from_options(None).reason(match, "f", value)
	assert got is None or got.startswith("placeholder (")
	i = MATCH_TYPES.index(match)
	again = ALL_FIELDS_RULES.placeholder_reason(f"f{i}", value)
	assert again is None or again.startswith("placeholder (")
	# the reason and prepare_values agree: a placeholder leaves no prepared value
	values = ALL_FIELDS_RULES.prepare({f"f{i}": value}).values[((f"f{i}",), match)]
	if again is not None:
		assert values == []


@FAST
@given(st.dictionaries(st.sampled_from([f"f{i}" for i in range(9)]), any_text), st.sampled_from(MATCH_TYPES))
def test_prepare_with_admin_lists_is_total(record, _):
	p = ALL_FIELDS_RULES.prepare(record)
	ALL_FIELDS_RULES.keys(p)
	ALL_FIELDS_RULES.compare(p, ALL_FIELDS_RULES.prepare(record))


option_value = st.one_of(st.none(), st.booleans(), st.integers(), any_text, st.lists(any_text, max_size=3))


@FAST
@given(
	st.dictionaries(
		st.sampled_from(["builtin", "text", "phone", "email", "id_code", "fields", "exact", "junk"]),
		st.one_of(option_value, st.dictionaries(any_text, option_value, max_size=2)),
		max_size=4,
	)
)
def test_from_options_accepts_or_raises_a_rule_error(options):
	try:
		ph = Placeholders.from_options(options)
	except RuleError as e:
		assert str(e).startswith("options.placeholders")
		return
	assert Placeholders.from_options(ph.to_options()) == ph
	for match in MATCH_TYPES:
		ph.reason(match, "f", "无")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.dictionaries(st.sampled_from([f"f{i}" for i in range(9)]), any_text), max_size=30))
def test_common_values_is_total(records):
	out = common_values(ALL_FIELDS_RULES, [(str(i), r) for i, r in enumerate(records)], min_records=2)
	for d in out:
		assert d["records"] >= d["distinct_others"] >= 2
		assert set(d) == {"field", "match", "value", "norm", "records", "distinct_others", "example_ids"}


@pytest.mark.parametrize("match", MATCH_TYPES)
def test_every_listed_entry_is_a_placeholder_for_its_type(match):
	rules = RuleSet.from_dict({"rules": [{"name": "r", "conditions": [{"fields": ["v"], "match": match}]}]})
	for value in BUILTIN_DATA["text"] + TYPE_VALUES[match]:
		assert rules.placeholder_reason("v", value) is not None, (match, value)
		assert rules.prepare({"v": value}).values[(("v",), match)] == [], (match, value)


# ---- the phone check's shortcut never hides a placeholder -------------------------------------------------
digits_like_placeholders = st.one_of(
	st.text(st.sampled_from("0123456789"), min_size=1, max_size=16),
	st.text(st.sampled_from("13"), min_size=4, max_size=13),  # two distinct digits
	st.builds(
		lambda a, n: "1" + a + a[-1] * n,
		st.text(st.sampled_from("0123456789"), min_size=2, max_size=2),
		st.integers(0, 10),
	),
	st.builds(lambda i, n: (_ASC_RUN * 3)[i : i + n], st.integers(0, 9), st.integers(1, 16)),
	st.builds(lambda i, n: (_DESC_RUN * 3)[i : i + n], st.integers(0, 9), st.integers(1, 16)),
)
_ASC_RUN, _DESC_RUN = "0123456789", "9876543210"


@FAST
@given(st.sampled_from(["+86", "+1", "+852", "#"]), digits_like_placeholders)
def test_phone_ending_shortcut_gives_the_full_rules_verdict(prefix, national):
	from crm_dedup.engine.placeholders import _Lists, _PhoneCheck

	norm = prefix + national
	fast = _PhoneCheck(_Lists({}, {}), BUILTIN_DATA["phone"])
	full = _PhoneCheck(_Lists({}, {}), BUILTIN_DATA["phone"])
	full.suspect = None
	assert fast("f", norm, norm) == full("f", norm, norm), norm
