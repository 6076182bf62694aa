"""Company aliases and English / pinyin renderings of Chinese names (#13)."""

from __future__ import annotations

import pytest
from _helpers import compare, matches
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_dedup.engine import RuleError, RuleSet, load_rules
from crm_dedup.engine.aliases import AliasTable, canonical, latin_key


def rules(aliases=None, threshold=90):
	options = {"aliases": aliases} if aliases is not None else {}
	return RuleSet.from_dict(
		{
			"options": options,
			"rules": [
				{
					"name": "n",
					"conditions": [{"fields": ["v"], "match": "company_name", "threshold": threshold}],
				}
			],
		}
	)


ALIASES = [
	["北大", "北京大学"],
	["工行", "中国工商银行"],
	["美团", "北京三快在线科技有限公司"],
	["Suzhou Precision Machinery Co., Ltd.", "苏州精工机械有限公司"],
]


@pytest.mark.parametrize(
	"a, b",
	[
		("北大", "北京大学"),
		("工行", "中国工商银行股份有限公司"),
		("美团", "北京三快在线科技有限公司"),
		("Suzhou Precision Machinery Co., Ltd.", "苏州精工机械有限公司"),  # a translated 字号, by alias
	],
)
def test_aliases_make_names_equal(a, b):
	assert matches(rules(ALIASES), a, b)
	assert not matches(rules(), a, b)  # without the table they differ


def test_alias_keys_meet():
	rs = rules(ALIASES)
	ka = rs.keys(rs.prepare({"v": "北大"}))["n"]
	kb = rs.keys(rs.prepare({"v": "北京大学"}))["n"]
	assert ka & kb


@pytest.mark.parametrize(
	"english, chinese",
	[
		("Suzhou Jinggong Machinery Co., Ltd.", "苏州精工机械有限公司"),
		("Jinling Catering Co., Ltd.", "南京金陵餐饮有限公司"),
		("Jinggong Jixie", "精工机械"),
		("SHENZHEN HUAQIANG ELECTRONICS LIMITED", "深圳华强电子有限公司"),
	],
)
def test_pinyin_and_english_renderings_equal_the_chinese_name(english, chinese):
	rs = rules()
	m = compare(rs, {"v": english}, {"v": chinese})
	assert m is not None and "pinyin / English" in m.explain
	assert matches(rs, english, chinese)
	ka, kb = (rs.keys(rs.prepare({"v": v}))["n"] for v in (english, chinese))
	assert ka & kb  # found by key, not only when compared


@pytest.mark.parametrize(
	"english, chinese",
	[
		(
			"Suzhou Precision Machinery Co., Ltd.",
			"苏州精工机械有限公司",
		),  # Precision is a translation, not pinyin
		("Global Machinery Ltd", "苏州精工机械有限公司"),
		("Suzhou Jinggong Electronics Co., Ltd.", "苏州精工机械有限公司"),  # another industry
	],
)
def test_translations_are_not_transliterations(english, chinese):
	assert not matches(rules(), english, chinese)


def test_latin_key():
	assert latin_key("Suzhou Jinggong Machinery Co., Ltd.") == "jinggongjixie"
	assert latin_key("Global Machinery Ltd") is None
	assert latin_key("12 main st") is None
	assert canonical("Global Machinery Ltd", "globalmachinery") == "globalmachinery"


def test_alias_csv_file(tmp_path):
	(tmp_path / "aliases.csv").write_text("alias,canonical\n北大,北京大学\n", encoding="utf-8")
	doc = '{"options": {"aliases": "aliases.csv"}, "rules": [{"name": "n", "conditions": [{"fields": ["v"], "match": "company_name"}]}]}'
	(tmp_path / "rules.json").write_text(doc, encoding="utf-8")
	rs = load_rules(tmp_path / "rules.json")
	assert rs.compare(rs.prepare({"v": "北大"}), rs.prepare({"v": "北京大学"})) is not None
	assert rs.to_dict()["options"]["aliases"] == [["北大", "北京大学"]]
	(tmp_path / "rules.json").write_text(doc.replace("aliases.csv", "nope.csv"), encoding="utf-8")
	with pytest.raises(RuleError, match="aliases file not found"):
		load_rules(tmp_path / "rules.json")
	with pytest.raises(RuleError, match="options.aliases must be"):
		rules(aliases=42)
	rules()  # leaves no table behind for the next rule set


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80), st.text(max_size=80))
def test_alias_normalisers_are_total(a, b):
	latin_key(a)
	table = AliasTable([(a, b)])
	table.canonical_core(a)
	canonical(a, a)
	rs = rules([[a, b]] if a.strip() and b.strip() else None)
	rs.compare(rs.prepare({"v": a}), rs.prepare({"v": b}))
	rules()
