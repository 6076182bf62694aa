"""Rule semantics: field groups crosswise, list values, blank handling, priorities, explanations, validation."""

from __future__ import annotations

import json

import pytest
from _helpers import compare

from crm_dedup.engine import RuleError, RuleSet, load_rules

PHONES = ["phone_1", "phone_2", "phone_3", "mobile_no"]


def rules_of(*rules, region="CN") -> RuleSet:
	return RuleSet.from_dict({"options": {"default_region": region}, "rules": list(rules)})


PHONE_RULE = {
	"name": "phones",
	"priority": 2,
	"action": "block",
	"conditions": [{"fields": PHONES, "match": "phone"}],
}
NAME_CITY = {
	"name": "name+city",
	"priority": 4,
	"action": "warn",
	"conditions": [
		{"fields": ["customer_name"], "match": "company_name", "threshold": 90},
		{"fields": ["city"], "match": "normalized", "blank": "ignore"},
	],
}


# ---- field groups ------------------------------------------------------------------------------------
@pytest.mark.parametrize("fa,fb", [("phone_1", "phone_3"), ("phone_3", "phone_1"), ("mobile_no", "phone_2")])
def test_field_group_is_compared_crosswise_in_both_directions(fa, fb):
	rules = rules_of(PHONE_RULE)
	a = {fa: "+86 136-1234-5678", "phone_2": "010-62345678"}
	b = {fb: "13612345678", "phone_3" if fb != "phone_3" else "phone_1": "021-55556666"}
	m = compare(rules, a, b)
	assert m is not None
	hit = m.hits[0]
	# the explanation names the fields that actually met, each on its own side
	assert (hit.field_a, hit.value_a, hit.field_b, hit.value_b) == (
		fa,
		"+86 136-1234-5678",
		fb,
		"13612345678",
	)
	back = compare(rules, b, a)
	assert (back.hits[0].field_a, back.hits[0].field_b) == (fb, fa)


def test_field_group_no_common_value_does_not_match():
	rules = rules_of(PHONE_RULE)
	a = {"phone_1": "13612345678", "phone_2": "010-62345678"}
	b = {"phone_1": "13912345678", "phone_3": "021-62345678"}
	assert compare(rules, a, b) is None


def test_list_values_from_child_tables():
	rules = rules_of(
		{
			"name": "contact phones",
			"conditions": [{"fields": ["phone", "phone_nos.phone"], "match": "phone"}],
		},
		{
			"name": "contact emails",
			"priority": 5,
			"conditions": [{"fields": ["email_ids.email_id"], "match": "email"}],
		},
	)
	contact = {"phone": "", "phone_nos.phone": ["0571-87654321", "+86 150 1234 5678", None, ""]}
	other = {"phone": "15012345678"}
	m = compare(rules, contact, other)
	assert m is not None and (m.hits[0].field_a, m.hits[0].value_a) == (
		"phone_nos.phone",
		"+86 150 1234 5678",
	)
	e = compare(
		rules,
		{"email_ids.email_id": ["a@x.cn", "WangFang@XihuTea.cn"]},
		{"email_ids.email_id": ["wangfang@xihutea.cn"]},
	)
	assert e is not None and e.rule == "contact emails"
	assert compare(rules, {"phone_nos.phone": []}, {"phone_nos.phone": []}) is None


# ---- blank handling ----------------------------------------------------------------------------------
def test_blank_fail_is_the_default():
	rules = rules_of(
		{
			"name": "name+city",
			"conditions": [
				{"fields": ["customer_name"], "match": "company_name"},
				{"fields": ["city"], "match": "normalized"},
			],
		}
	)
	assert (
		compare(
			rules,
			{"customer_name": "金陵餐饮有限公司", "city": "南京"},
			{"customer_name": "南京金陵餐饮有限公司", "city": ""},
		)
		is None
	)
	assert (
		compare(rules, {"customer_name": "金陵餐饮有限公司"}, {"customer_name": "金陵餐饮有限公司"}) is None
	)
	assert (
		compare(
			rules,
			{"customer_name": "金陵餐饮有限公司", "city": "南京"},
			{"customer_name": "南京金陵餐饮有限公司", "city": "南京"},
		)
		is not None
	)


def test_blank_ignore_lets_a_blank_side_pass_but_not_a_different_value():
	rules = rules_of(NAME_CITY)
	m = compare(
		rules,
		{"customer_name": "金陵餐饮有限公司", "city": "南京"},
		{"customer_name": "南京金陵餐饮有限公司"},
	)
	assert m is not None and m.rule == "name+city"
	skipped = [h for h in m.hits if h.skipped]
	assert len(skipped) == 1 and skipped[0].field_a == "city"
	assert "city: blank, ignored" in m.explain
	assert m.score == 100.0  # the skipped condition does not count as a 0 score
	# both cities present and different: the condition fails, ignore is only about blanks
	assert (
		compare(
			rules,
			{"customer_name": "金陵餐饮有限公司", "city": "南京"},
			{"customer_name": "金陵餐饮有限公司", "city": "上海"},
		)
		is None
	)


def test_rule_whose_conditions_are_all_blank_never_fires():
	rules = rules_of(
		{
			"name": "loose",
			"conditions": [
				{"fields": ["customer_name"], "match": "company_name", "blank": "ignore"},
				{"fields": ["city"], "match": "normalized", "blank": "ignore"},
			],
		}
	)
	assert compare(rules, {}, {}) is None
	assert compare(rules, {"customer_name": " ", "city": None}, {"customer_name": "", "city": ""}) is None
	assert (
		compare(rules, {"customer_name": "金陵餐饮有限公司"}, {"city": "南京"}) is None
	)  # blank on one side each
	assert (
		compare(rules, {"customer_name": "金陵餐饮有限公司"}, {"customer_name": "金陵餐饮有限责任公司"})
		is not None
	)


# ---- priorities, actions, explanation ----------------------------------------------------------------
def test_lowest_priority_number_wins_whatever_the_file_order():
	warn_name = dict(NAME_CITY, priority=4)
	block_phone = dict(PHONE_RULE, priority=2)
	log_email = {
		"name": "email",
		"priority": 3,
		"action": "log",
		"conditions": [{"fields": ["email_id"], "match": "email"}],
	}
	a = {"customer_name": "金陵餐饮有限公司", "city": "南京", "phone_1": "13612345678", "email_id": "a@jl.cn"}
	b = {
		"customer_name": "金陵餐饮(南京)有限公司",
		"city": "南京",
		"mobile_no": "136 1234 5678",
		"email_id": "A@jl.cn",
	}
	for order in ([warn_name, block_phone, log_email], [log_email, warn_name, block_phone]):
		rules = rules_of(*order)
		m = compare(rules, a, b)
		assert (m.rule, m.action, m.priority) == ("phones", "block", 2)
		every = rules.all_matches(rules.prepare(a), rules.prepare(b))
		assert [x.rule for x in every] == ["phones", "email", "name+city"]
		assert [x.action for x in every] == ["block", "log", "warn"]
	# without the phone, the next fired rule is reported, with its action
	rules = rules_of(warn_name, block_phone, log_email)
	m = compare(rules, dict(a, phone_1=""), b)
	assert (m.rule, m.action) == ("email", "log")


def test_explanation_carries_rule_fields_values_match_and_score():
	rules = rules_of(NAME_CITY)
	m = compare(
		rules,
		{"customer_name": "金陵餐饮管理有限公司", "city": "南京"},
		{"customer_name": "南京金陵餐饮管理有限公司", "city": "南京市"},
	)
	assert m is None  # 南京 vs 南京市 differ under "normalized"
	rules = rules_of(
		dict(
			NAME_CITY, conditions=[dict(NAME_CITY["conditions"][0], threshold=80), NAME_CITY["conditions"][1]]
		)
	)
	m = compare(
		rules,
		{"customer_name": "金陵餐饮店", "city": "南京"},
		{"customer_name": "南京金陵餐饮馆", "city": "南京"},
	)
	d = m.to_dict()
	assert d["rule"] == "name+city" and d["action"] == "warn" and d["id"] == "B"
	assert d["score"] == 80.0  # the rule's score is its weakest condition
	name_hit, city_hit = d["hits"]
	assert name_hit == {
		"match": "company_name",
		"field_a": "customer_name",
		"value_a": "金陵餐饮店",
		"field_b": "customer_name",
		"value_b": "南京金陵餐饮馆",
		"score": 80.0,
		"note": "字号 金陵 same; industry 餐饮店 ≠ 餐饮馆",
		"skipped": False,
	}
	assert (city_hit["match"], city_hit["score"], city_hit["value_b"]) == ("normalized", 100.0, "南京")
	for part in (
		"name+city",
		"customer_name",
		"金陵餐饮店",
		"南京金陵餐饮馆",
		"company_name 80",
		"normalized 100",
	):
		assert part in m.explain


# ---- validation --------------------------------------------------------------------------------------
def _doc(**cond_over):
	cond = {"fields": ["customer_name"], "match": "company_name"}
	cond.update(cond_over)
	return {"rules": [{"name": "R-0007", "priority": 1, "action": "block", "conditions": [cond]}]}


@pytest.mark.parametrize(
	"doc,words",
	[
		(_doc(match="soundex"), ["R-0007", "unknown match type", "soundex"]),
		(_doc(match=None), ["R-0007", "unknown match type"]),
		(_doc(fields=[]), ["R-0007", "empty field list"]),
		(_doc(fields=""), ["R-0007", "empty field list"]),
		(_doc(fields=["customer_name", " "]), ["R-0007", "field name"]),
		(_doc(threshold=101), ["R-0007", "threshold", "101", "0-100"]),
		(_doc(threshold=-1), ["R-0007", "threshold", "0-100"]),
		(_doc(threshold="90"), ["R-0007", "threshold"]),
		(_doc(threshold=float("nan")), ["R-0007", "threshold"]),
		(_doc(blank="skip"), ["R-0007", "blank", "skip"]),
		(_doc(feilds=["x"]), ["R-0007", "unknown key", "feilds"]),
		(
			{
				"rules": [
					{"name": "R-0007", "action": "deny", "conditions": [{"fields": ["a"], "match": "exact"}]}
				]
			},
			["R-0007", "unknown action", "deny"],
		),
		(
			{
				"rules": [
					{
						"name": "R-0007",
						"priority": "high",
						"conditions": [{"fields": ["a"], "match": "exact"}],
					}
				]
			},
			["R-0007", "priority"],
		),
		({"rules": [{"name": "R-0007", "conditions": []}]}, ["R-0007", "no conditions"]),
		(
			{
				"rules": [
					{"name": "dup", "conditions": [{"fields": ["a"], "match": "exact"}]},
					{"name": "dup", "priority": 3, "conditions": [{"fields": ["b"], "match": "email"}]},
				]
			},
			["dup", "more than one rule"],
		),
		({"rules": [{"conditions": [{"fields": ["a"], "match": "exact"}]}]}, ["rule #1", "no name"]),
		({"rules": []}, ["no rules"]),
		({"options": {"default_region": "China"}, "rules": _doc()["rules"]}, ["default_region", "China"]),
		("not an object", ["rules document"]),
	],
)
def test_invalid_rules_are_rejected_naming_rule_and_problem(doc, words):
	with pytest.raises(RuleError) as exc:
		RuleSet.from_dict(doc)
	msg = str(exc.value)
	for w in words:
		assert w in msg, f"{w!r} not in {msg!r}"


def test_threshold_bounds_are_inclusive():
	assert RuleSet.from_dict(_doc(threshold=0)).rules[0].conditions[0].threshold == 0
	assert RuleSet.from_dict(_doc(threshold=100)).rules[0].conditions[0].threshold == 100


def test_load_rules_bad_json_and_missing_file(tmp_path):
	bad = tmp_path / "rules.json"
	bad.write_text('{"rules": [{"name": "x",}]}', encoding="utf-8")
	with pytest.raises(RuleError, match=r"not valid JSON.*line 1"):
		load_rules(bad)
	with pytest.raises(RuleError, match="not valid JSON"):
		load_rules('{"rules": [')
	with pytest.raises(RuleError, match="rules file not found"):
		load_rules(tmp_path / "missing.json")
	bad.write_text("", encoding="utf-8")
	with pytest.raises(RuleError, match="not valid JSON"):
		load_rules(str(bad))


def test_load_rules_from_file_with_bom_and_roundtrip(tmp_path, example_rules_path):
	rules = load_rules(example_rules_path)
	p = tmp_path / "r.json"
	p.write_text(json.dumps(rules.to_dict(), ensure_ascii=False), encoding="utf-8-sig")
	again = load_rules(str(p))
	assert again.to_dict() == rules.to_dict()
	assert [r.name for r in again.rules] == ["uscc", "phones", "email", "name+city", "contact+name"]


def test_disabled_rules_are_skipped():
	rules = RuleSet.from_dict(
		{
			"rules": [
				{"name": "off", "enabled": False, "conditions": [{"fields": ["a"], "match": "exact"}]},
				{"name": "on", "conditions": [{"fields": ["a"], "match": "exact"}]},
			]
		}
	)
	assert [r.name for r in rules.rules] == ["on"]


def test_check_columns_names_rule_and_missing_column(example_rules_path):
	rules = load_rules(example_rules_path)
	with pytest.raises(RuleError, match=r"rule 'phones': uses unknown column\(s\) phone_3"):
		rules.check_columns(
			[
				"tax_id",
				"phone_1",
				"phone_2",
				"mobile_no",
				"email_id",
				"customer_name",
				"city",
				"contact_person",
			]
		)


def test_odd_records_stay_cheap_to_compare():
	"""A Contact with thousands of phone rows or a document pasted into a name must not stall a save."""
	import time

	rules = RuleSet.from_dict(
		{
			"rules": [
				{"name": "phones", "conditions": [{"fields": ["phone_nos.phone"], "match": "phone"}]},
				{
					"name": "notes",
					"priority": 2,
					"conditions": [{"fields": ["remark"], "match": "fuzzy", "threshold": 80}],
				},
			]
		}
	)
	a = {"phone_nos.phone": [f"136{i:08d}" for i in range(5000)], "remark": "金陵餐饮" * 100_000}
	b = {
		"phone_nos.phone": [f"139{i:08d}" for i in range(5000)] + ["13600000003"],
		"remark": "金灵餐饮" * 100_000,
	}
	started = time.perf_counter()
	m = compare(rules, a, b)
	assert (
		time.perf_counter() - started < 10
	)  # unbounded, this was ~25M phone and 400k x 400k text comparisons
	# values are read up to a bound (50 per field, 512 characters for fuzzy text): the number in b's 5001st
	# row is past it, and the two long remarks are scored on their beginnings (金陵餐饮... vs 金灵餐饮...: 75)
	assert m is None
	b["phone_nos.phone"].insert(0, "136-0000-0003")
	assert compare(rules, a, b).rule == "phones"
