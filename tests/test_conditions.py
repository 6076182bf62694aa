"""fuzzy_tokens, set_overlap / set_containment and date_within (#13): scores, rules, keys, scan, validation."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from _helpers import EXAMPLES, compare, matches, one_rule
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_dedup.engine import MemoryIndex, RuleError, RuleSet, check_record, scan_records
from crm_dedup.engine.conditions import date_score, days_of
from crm_dedup.engine.normalize.tokens import item_set, parse_date, text_tokens


# ---- fuzzy_tokens ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
	"a, b",
	[
		("中山路1号金陵大厦", "金陵大厦 中山路1号"),
		("grand palace hotel", "hotel grand palace"),
		("Grand Palace Hotel", "hotel, grand palace"),
		("12 main st. near the station", "12 main st."),
		("北京市海淀区中关村大街27号", "中关村大街27号 海淀区"),
		("中山路1號金陵大廈", "金陵大厦中山路1号"),  # traditional characters
	],
)
def test_fuzzy_tokens_equal_in_any_order(a, b):
	assert matches(one_rule("fuzzy_tokens", threshold=95), a, b)


@pytest.mark.parametrize(
	"a, b",
	[
		("hotel", "grand palace hotel"),  # one common word is not the same place
		("中山路1号金陵大厦", "中山路2号金陵大厦"),  # another house number
		("12 main st", "14 main st"),
		("12 main st", "14 oak avenue"),
	],
)
def test_fuzzy_tokens_different(a, b):
	assert not matches(one_rule("fuzzy_tokens", threshold=85), a, b)


def test_fuzzy_tokens_explains_and_keys():
	m = compare(one_rule("fuzzy_tokens"), {"v": "grand palace hotel"}, {"v": "hotel grand palace"})
	assert "same words in another order" in m.explain
	rules = one_rule("fuzzy_tokens", threshold=90)
	ka = rules.keys(rules.prepare({"v": "中山路1号金陵大厦"}))["r"]
	kb = rules.keys(rules.prepare({"v": "金陵大厦 中山路1号 (东门)"}))["r"]
	assert ka & kb


def test_text_tokens():
	assert text_tokens("中山路1号金陵大厦") == ("中山路", "1号", "金陵大厦")
	assert text_tokens("12 Main St., near the Station") == ("12", "main", "st", "near", "the", "station")
	assert text_tokens("") == ()


# ---- set_overlap -------------------------------------------------------------------------------------------
def test_set_overlap_jaccard_and_containment():
	jac = one_rule("set_overlap", fields=["items"], threshold=60)
	con = one_rule("set_containment", fields=["items"], threshold=60)
	a = {"items": ["A01", "A02", "A03"]}
	b = {"items": "a01, A02; A03 | B09"}  # a separated string, case folded
	m = compare(jac, a, b)
	assert m is not None and m.score == 75.0 and "3 items shared of 4" in m.explain
	c = {"items": ["A01", "B09", "B10", "B11"]}
	assert compare(jac, a, c) is None  # 1 of 6
	assert compare(con, {"items": ["A01", "A02"]}, {"items": ["A01", "A02", "X1", "X2", "X3"]}).score == 100.0
	assert compare(jac, {"items": ["A01", "A02"]}, {"items": ["A01", "A02", "X1", "X2", "X3"]}) is None
	assert compare(jac, a, {"items": ["Z1"]}) is None


def test_set_overlap_keys_are_per_item_and_find_candidates():
	rules = one_rule("set_overlap", fields=["items"], threshold=50)
	index = MemoryIndex()
	stored = {"O-1": {"items": ["A01", "A02"]}, "O-2": {"items": ["C1"]}}
	for rid, rec in stored.items():
		index.put(rid, rules.keys(rules.prepare(rec)), rec)
	hits = check_record(rules, {"items": ["A02", "A01", "A09"]}, index)
	assert [m.id for m in hits] == ["O-1"]
	assert item_set(["x", "X", " y "]) == frozenset({"x", "y"})


# ---- date_within -------------------------------------------------------------------------------------------
def test_parse_date_forms():
	day = dt.date(2024, 1, 5).toordinal()
	for v in ("2024-01-05", "2024/1/5", "2024.01.05", "20240105", "2024年1月5日", "2024-01-05 10:11:12"):
		assert parse_date(v) == day, v
	assert parse_date(dt.datetime(2024, 1, 5, 23, 0)) == day
	assert parse_date("2024-02-30") is None and parse_date("soon") is None and parse_date(None) is None


def _dated(days):
	return RuleSet.from_dict(
		{
			"rules": [
				{
					"name": "r",
					"conditions": [
						{"fields": ["name"], "match": "normalized"},
						{"fields": ["creation"], "match": "date_within", "days": days},
					],
				}
			]
		}
	)


def test_date_within_window():
	rules = _dated(30)
	a = {"name": "x", "creation": "2024-01-01"}
	assert compare(rules, a, {"name": "x", "creation": "2024-01-31"}) is not None  # 30 days
	assert compare(rules, a, {"name": "x", "creation": "2024-02-01"}) is None  # 31 days
	assert compare(rules, a, {"name": "x", "creation": "2023-12-02 08:00:00"}) is not None
	assert "30 days apart" in compare(rules, a, {"name": "x", "creation": "2024-01-31"}).explain
	assert compare(_dated(0), a, {"name": "x", "creation": "2024-01-01 17:00"}) is not None
	assert rules.to_dict()["rules"][0]["conditions"][1]["days"] == 30
	assert days_of(date_score(30)) == 30


def test_date_within_cannot_block_alone():
	with pytest.raises(RuleError, match="date_within cannot find candidates"):
		RuleSet.from_dict(
			{
				"rules": [
					{"name": "d", "conditions": [{"fields": ["creation"], "match": "date_within", "days": 3}]}
				]
			}
		)
	with pytest.raises(RuleError, match="date_within cannot find candidates"):
		RuleSet.from_dict(
			{
				"rules": [
					{
						"name": "d",
						"conditions": [
							{"fields": ["a"], "match": "normalized", "blank": "ignore"},
							{"fields": ["creation"], "match": "date_within", "days": 3, "blank": "ignore"},
						],
					}
				]
			}
		)
	with pytest.raises(RuleError, match="needs 'days'"):
		RuleSet.from_dict(
			{"rules": [{"name": "d", "conditions": [{"fields": ["c"], "match": "date_within"}]}]}
		)
	with pytest.raises(RuleError, match="only date_within"):
		RuleSet.from_dict(
			{"rules": [{"name": "d", "conditions": [{"fields": ["c"], "match": "normalized", "days": 3}]}]}
		)


# ---- the preset ---------------------------------------------------------------------------------------------
def test_project_report_preset_scan():
	rules = RuleSet.from_dict(
		json.loads((EXAMPLES / "project_report_rules.json").read_text(encoding="utf-8"))
	)
	base = {
		"project_address": "中山路1号金陵大厦",
		"items.item_code": ["A01", "A02", "A03"],
		"creation": "2024-03-01",
	}
	records = [
		("OPP-1", base),
		(
			"OPP-2",
			{**base, "project_address": "金陵大厦 中山路1号", "creation": "2024-03-20"},
		),  # same project
		("OPP-3", {**base, "creation": "2024-06-20"}),  # months later: a new project
		("OPP-4", {**base, "items.item_code": ["B01", "B02", "A01"]}),  # other goods
		("OPP-5", {**base, "project_address": "中山路2号金陵大厦"}),  # another building
	]
	result = scan_records(rules, records)
	assert [(a, b) for a, b, _ in result.pairs] == [("OPP-1", "OPP-2")]
	assert result.pairs[0][2].action == "warn"


# ---- the normalisers never raise -----------------------------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.lists(st.text(), max_size=5), st.none(), st.integers()))
def test_new_normalisers_are_total(value):
	text_tokens(value if isinstance(value, str) else str(value))
	item_set(value)
	parse_date(value)
	for match in ("fuzzy_tokens", "set_overlap", "date_within"):
		rules = one_rule(match, threshold=50) if match != "date_within" else _dated(5)
		p = rules.prepare({"v": value, "name": "x", "creation": value})
		rules.compare(p, p)
