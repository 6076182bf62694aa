"""The scan's prefilter (``engine.prefilter``) rules out only pairs the judge would not match: a scan with it
finds the same pairs, with the same explanations and the same number of pairs compared, as one without it;
and it does rule pairs out (the judge reads fewer of them)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from _helpers import EXAMPLES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_dedup.engine import RuleSet, key_chunk, load_rules, scan_keyed, scan_records
from crm_dedup.engine import prefilter as prefilter_module
from crm_dedup.engine import scan as scan_module
from crm_dedup.engine.match import COMPARATORS

EXAMPLE_RULES = load_rules(EXAMPLES / "rules.json")
# a person condition that ignores blanks, a strict one (100: same pinyin, other characters score 95), an
# equality condition on a field group (several phones: not prefiltered), a city that must not be blank
OTHER_RULES = RuleSet.from_dict(
	{
		"rules": [
			{
				"name": "person-85",
				"priority": 1,
				"conditions": [
					{"fields": ["customer_name"], "match": "company_name", "threshold": 80},
					{
						"fields": ["contact_person"],
						"match": "person_name",
						"threshold": 85,
						"blank": "ignore",
					},
				],
			},
			{
				"name": "person-100+city",
				"priority": 2,
				"action": "warn",
				"conditions": [
					{"fields": ["customer_name"], "match": "company_name", "threshold": 90},
					{"fields": ["contact_person"], "match": "person_name", "threshold": 100},
					{"fields": ["city"], "match": "normalized"},
				],
			},
			{
				"name": "name+phones",
				"priority": 3,
				"action": "log",
				"conditions": [
					{"fields": ["customer_name"], "match": "company_name", "threshold": 85},
					{"fields": ["phone_1", "phone_2"], "match": "phone"},
				],
			},
		]
	}
)

COMPANIES = [
	"南京金陵餐饮有限公司",
	"金陵餐饮管理公司",
	"金陵销售餐饮有限公司",
	"江苏金灵餐饮",
	"Jinling Catering",
	"金陵",
]
PEOPLE = [
	"",
	"无",
	"王伟",
	"王偉",
	"汪伟",
	"王薇",
	"李伟",
	"单雪",  # 单: shan / dan / chan
	"曾乐乐",  # several readings each
	"解晓东",
	"Wang Wei",
	"wei wang",
	"欧阳娜娜",
	"司马相如是个很长的名字真的很长",
	"张三 / 李四",
	"Zhāng Wěi",
	"ü",
]
CITIES = ["", "南京", "南京市", "南京 ", "无", "苏州", "Nanjing"]
PHONES = ["", "13812345678", "138 1234 5678", "13812345678 / 13987654321", "025-84561234", "13800138000"]

_RECORD = st.fixed_dictionaries(
	{
		"customer_name": st.sampled_from(COMPANIES),
		"contact_person": st.sampled_from(PEOPLE) | st.text(max_size=6),
		"city": st.sampled_from(CITIES),
		"phone_1": st.sampled_from(PHONES),
		"phone_2": st.sampled_from(PHONES),
	}
)


def _without_prefilter(monkeypatch) -> None:
	monkeypatch.setattr(prefilter_module.Prefilter, "__bool__", lambda self: False)


def _scan(rules, records, monkeypatch, prefilter: bool, **kw):
	with monkeypatch.context() as m:
		if not prefilter:
			_without_prefilter(m)
		return scan_records(rules, records, **kw)


def _same(a, b) -> None:
	assert [(x, y, m.to_dict()) for x, y, m in a.pairs] == [(x, y, m.to_dict()) for x, y, m in b.pairs]
	assert a.clusters == b.clusters and a.possible == b.possible
	assert a.stats == b.stats  # "compared" included: pairs ruled out in bulk count as compared


@pytest.mark.parametrize("rules", [EXAMPLE_RULES, OTHER_RULES], ids=["examples", "other"])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=st.lists(_RECORD, min_size=2, max_size=25))
def test_a_scan_with_the_prefilter_finds_what_one_without_it_finds(rules, records, monkeypatch):
	items = [(f"R{n}", rec) for n, rec in enumerate(records)]
	_same(_scan(rules, items, monkeypatch, True), _scan(rules, items, monkeypatch, False))


def test_skipped_pairs_are_not_counted_as_compared_when_ruled_out(monkeypatch):
	items = [
		(f"R{n}", {"customer_name": "金陵餐饮有限公司", "contact_person": p, "city": c})
		for n, (p, c) in enumerate([("王伟", "南京"), ("李娜", "苏州"), ("王伟", "南京"), ("张强", "南京")])
	]
	skip = {("R0", "R1"), ("R3", "R1"), ("R0", "R2")}
	got = _scan(EXAMPLE_RULES, items, monkeypatch, True, skip_pairs=skip)
	_same(got, _scan(EXAMPLE_RULES, items, monkeypatch, False, skip_pairs=skip))
	assert got.stats["compared"] == 3  # six pairs share the company name's keys, three are skipped


def _judged(rules, items, monkeypatch, prefilter: bool, workers: int | None = None) -> tuple:
	"""(the scan's result, how many pairs the judge read one by one)."""
	seen = []
	evaluate = scan_module._Judge.evaluate

	def spy(self, firsts, seconds, masks, ruled_out=0):
		seen.append(len(firsts))
		return evaluate(self, firsts, seconds, masks, ruled_out)

	with monkeypatch.context() as m:
		m.setattr(scan_module._Judge, "evaluate", spy)
		if not prefilter:
			_without_prefilter(m)
		res = scan_records(rules, items, workers=workers)
	return res, sum(seen)


def test_the_prefilter_rules_out_pairs_the_judge_would_have_read(monkeypatch):
	# one company name (every pair is a candidate), people and cities that mostly differ
	people = ["王伟", "李娜", "张强", "刘洋", "陈静", "杨帆", "赵磊", "黄敏", "周杰", "吴芳"]
	cities = ["南京", "苏州", "无锡"]
	items = [
		(
			f"R{n}",
			{"customer_name": "金陵餐饮有限公司", "contact_person": people[n % 10], "city": cities[n % 3]},
		)
		for n in range(60)
	]
	with_it, read_with = _judged(EXAMPLE_RULES, items, monkeypatch, True)
	without, read_without = _judged(EXAMPLE_RULES, items, monkeypatch, False)
	_same(with_it, without)
	assert read_without == with_it.stats["compared"] == 60 * 59 // 2
	# a pair can only match with the same city (name+city) or a like name (contact+name): 6 names in 10
	# share none of their pinyin letters' counts closely enough, cities differ for 2 pairs in 3
	assert read_with < read_without / 2
	assert len(with_it.pairs) > 0


def test_names_with_several_readings_compare_every_reading(monkeypatch):
	# 单 reads shan or dan: "Dan Xue" in pinyin is the same person as 单雪 under one of its readings
	items = [
		("A", {"customer_name": "金陵餐饮有限公司", "contact_person": "单雪", "city": "南京"}),
		("B", {"customer_name": "金陵餐饮有限公司", "contact_person": "Dan Xue", "city": "苏州"}),
		("C", {"customer_name": "金陵餐饮有限公司", "contact_person": "Shan Xue", "city": "无锡"}),
	]
	form = COMPARATORS["person_name"].prepare("单雪", "CN")[0]
	assert len(form.variants) > 1
	res, _ = _judged(EXAMPLE_RULES, items, monkeypatch, True)
	assert {(a, b) for a, b, _ in res.pairs} == {("A", "B"), ("A", "C")}
	_same(res, _judged(EXAMPLE_RULES, items, monkeypatch, False)[0])


def test_the_prefilter_holds_in_forked_judges(monkeypatch):
	people = ["王伟", "王薇", "李娜", "张强", "单雪", "Wang Wei", ""]
	items = [
		(
			f"R{n}",
			{
				"customer_name": "金陵餐饮有限公司",
				"contact_person": people[n % 7],
				"city": ["南京", ""][n % 2],
			},
		)
		for n in range(700)
	]
	monkeypatch.setattr(scan_module, "PARALLEL_PAIRS", 1000)
	with_it, _ = _judged(EXAMPLE_RULES, items, monkeypatch, True, workers=2)
	without, _ = _judged(EXAMPLE_RULES, items, monkeypatch, False, workers=1)
	_same(with_it, without)


def test_chunks_keyed_without_notes_are_judged_in_full(monkeypatch):
	"""A site's key chunks wait in redis while the app is updated: one keyed before the notes were (four
	parts) is still read, and its records are never ruled out."""
	people = ["王伟", "王薇", "李娜", "张强", "单雪", "Wang Wei", ""]
	items = [
		(
			f"R{n}",
			{
				"customer_name": "金陵餐饮有限公司",
				"contact_person": people[n % 7],
				"city": ["南京", "苏州", ""][n % 3],
			},
		)
		for n in range(40)
	]
	chunks = [key_chunk(EXAMPLE_RULES, items[lo : lo + 10]) for lo in range(0, 40, 10)]
	old = [pickle.dumps(pickle.loads(c)[:4]) for c in chunks[:2]] + chunks[2:]
	got_new = scan_keyed(EXAMPLE_RULES, chunks)
	got_old = scan_keyed(EXAMPLE_RULES, old)
	_same(got_new, got_old)
	_same(got_new, _scan(EXAMPLE_RULES, items, monkeypatch, False))


def test_notes_of_a_chunk_without_them_rule_nothing_out():
	ready = scan_module.ready_signatures(EXAMPLE_RULES)
	notes = prefilter_module.Notes(EXAMPLE_RULES, ready)
	notes.add_unknown(3)
	checks = scan_module._ready_checks(EXAMPLE_RULES, ready)
	pf = prefilter_module.Prefilter(EXAMPLE_RULES, ready, checks, notes.done())
	assert pf  # the example rules have checks it can run
	firsts, seconds = np.array([0, 0, 1]), np.array([1, 2, 2])
	all_rules = np.full(3, (1 << len(EXAMPLE_RULES.rules)) - 1, dtype=np.uint64)
	assert pf.apply(firsts, seconds, all_rules.copy()).tolist() == all_rules.tolist()


def _one_pair(rules: RuleSet, rec_a: dict, rec_b: dict, match: str) -> tuple[int, tuple, tuple]:
	"""(the prefilter's mask for the pair, rule 0's bit or 0; the norms of the condition of type ``match`` of
	each record): the two records keyed, noted and prefiltered as a scan does."""
	ready = scan_module.ready_signatures(rules)
	plan = scan_module._Compiled(rules, hash)
	norms = [tuple(e[0] for e in plan.entries(rec)) for rec in (rec_a, rec_b)]
	for n in norms:
		plan.notes.add(n)
	notes = prefilter_module.Notes(rules, ready)
	notes.add(plan.notes.take())
	pf = prefilter_module.Prefilter(rules, ready, scan_module._ready_checks(rules, ready), notes.done())
	mask = pf.apply(np.array([0]), np.array([1]), np.array([1], dtype=np.uint64))
	k = [n for n, sig in enumerate(ready) if sig[1] == match][0]
	return int(mask[0]), norms[0][k], norms[1][k]


@settings(max_examples=300, deadline=None)
@given(
	a=st.sampled_from(PEOPLE[2:]) | st.text(min_size=1, max_size=8),
	b=st.sampled_from(PEOPLE[2:]) | st.text(min_size=1, max_size=8),
	threshold=st.sampled_from([70.0, 80.0, 85.0, 90.0, 94.9, 95.0, 100.0]),
)
def test_a_name_ruled_out_scores_under_the_threshold(a, b, threshold):
	"""The bound itself, name by name: wherever the prefilter clears a person condition, score_packed is
	under its threshold."""
	rules = RuleSet.from_dict(
		{
			"rules": [
				{
					"name": "r",
					"conditions": [
						{"fields": ["customer_name"], "match": "company_name", "threshold": 80},
						{"fields": ["contact_person"], "match": "person_name", "threshold": threshold},
					],
				}
			]
		}
	)
	mask, pa, pb = _one_pair(
		rules,
		{"customer_name": "金陵餐饮", "contact_person": a},
		{"customer_name": "金陵餐饮", "contact_person": b},
		"person_name",
	)
	if mask == 0 and pa and pb:  # (a blank name fails the condition: it does not ignore blanks)
		score = max(COMPARATORS["person_name"].score_packed(x, y) for x in pa for y in pb)
		assert score < threshold
	if pa and pb and max(COMPARATORS["person_name"].score_packed(x, y) for x in pa for y in pb) >= threshold:
		assert mask == 1


COMPANY_NAMES = [
	"南京金陵餐饮有限公司",
	"金陵餐饮管理有限公司",
	"金陵销售餐饮有限公司",
	"金陵科技有限公司",
	"金陵",
	"金灵餐饮",
	"江苏金陵服饰店",
	"金陵服装店",
	"北京金陵餐饮有限公司",
	"Jinling Catering Co., Ltd.",
	"Jinling Technology",
	"链农烟具有限公司",
	"链农科技有限公司",
	"桂林链农烟具",
]


def _company_case(a: str, b: str, threshold: float) -> None:
	rules = RuleSet.from_dict(
		{
			"rules": [
				{
					"name": "r",
					"conditions": [
						{"fields": ["customer_name"], "match": "company_name", "threshold": threshold},
						{"fields": ["city"], "match": "normalized", "blank": "ignore"},
					],
				}
			]
		}
	)
	mask, na, nb = _one_pair(
		rules, {"customer_name": a, "city": ""}, {"customer_name": b, "city": ""}, "company_name"
	)
	if not (na and nb):
		return
	cmp = COMPARATORS["company_name"]
	score = max(cmp.score(cmp.unpack(x), cmp.unpack(y)) for x in na for y in nb)
	if score >= threshold:
		assert mask == 1
	if mask == 0:
		assert score < threshold


@pytest.mark.parametrize(
	"a, b, cleared",
	[
		("华为科技", "Huawei Technology", False),  # one name in pinyin: 100, whatever the industries
		("链农烟具有限公司", "链农科技有限公司", True),  # one 字号, other industries: the cores' 50
		("金陵餐饮有限公司", "金陵销售餐饮有限公司", False),  # words inserted before the industry: 92
		("金陵餐饮管理有限公司", "金陵销售餐饮有限公司", True),  # 管理 and 饮 end them: the cores' 67
		("金陵", "金陵餐饮", True),  # one without industry words: at most 85
		("金陵", "南京金陵", False),  # neither has any: the same core
	],
)
def test_company_names_at_90(a, b, cleared, monkeypatch):
	calls = []
	apply = prefilter_module.Prefilter.apply

	def spy(self, firsts, seconds, masks):
		out = apply(self, firsts, seconds, masks)
		calls.append(out.tolist())
		return out

	monkeypatch.setattr(prefilter_module.Prefilter, "apply", spy)
	_company_case(a, b, 90.0)
	assert calls == [[0 if cleared else 1]]


@settings(max_examples=300, deadline=None)
@given(
	a=st.sampled_from(COMPANY_NAMES) | st.text(min_size=1, max_size=10),
	b=st.sampled_from(COMPANY_NAMES) | st.text(min_size=1, max_size=10),
	threshold=st.sampled_from([80.0, 85.0, 85.5, 90.0, 92.0, 95.0, 100.0]),
)
def test_a_company_name_ruled_out_scores_under_the_threshold(a, b, threshold):
	"""The company-name bound, name by name: wherever the prefilter clears a company condition, the score is
	under its threshold; and a pair that scores at least the threshold is never cleared."""
	_company_case(a, b, threshold)


def test_names_of_one_brand_in_other_industries_are_ruled_out(monkeypatch):
	"""One 字号, one city, other industries (链农烟具 / 链农科技): name+city (90) cannot fire, and the
	prefilter sees it without the judge; the same industry (链农烟具 / 桂林链农烟具) still matches."""
	items = [
		("A", {"customer_name": "链农烟具有限公司", "contact_person": "王伟", "city": "桂林"}),
		("B", {"customer_name": "链农科技有限公司", "contact_person": "李娜", "city": "桂林"}),
		("C", {"customer_name": "桂林链农烟具", "contact_person": "张强", "city": "桂林"}),
		("D", {"customer_name": "链农服饰店", "contact_person": "刘洋", "city": "桂林"}),
	]
	with_it, read_with = _judged(EXAMPLE_RULES, items, monkeypatch, True)
	without, read_without = _judged(EXAMPLE_RULES, items, monkeypatch, False)
	_same(with_it, without)
	assert [(a, b) for a, b, _ in with_it.pairs] == [("A", "C")]
	assert read_without == 6 and read_with == 1
