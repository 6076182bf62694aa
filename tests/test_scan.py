"""scan_records: pairs found by shared keys, clusters by union-find, skip_pairs, bounded common keys."""

from __future__ import annotations

import csv
from itertools import combinations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_dedup.engine import MemoryIndex, RuleSet, check_record, load_rules, scan_records

RULES = RuleSet.from_dict(
	{
		"rules": [
			{
				"name": "phones",
				"priority": 1,
				"conditions": [{"fields": ["phone", "mobile_no"], "match": "phone"}],
			},
			{
				"name": "email",
				"priority": 2,
				"action": "warn",
				"conditions": [{"fields": ["email"], "match": "email"}],
			},
		]
	}
)

# A ~ B share a phone (written differently), B ~ C share an e-mail, A and C share nothing.
CHAIN = [
	("A", {"phone": "+86 136-1234-5678", "email": "a@jinling.cn"}),
	("B", {"mobile_no": "13612345678", "email": "Sales@Jinling.cn"}),
	("C", {"phone": "021-62345678", "email": "sales@jinling.cn "}),
	("D", {"phone": "0571-87654321", "email": "wangfang@xihutea.cn"}),
	("E", {"mobile_no": "+86 571 8765 4321"}),
	("F", {"phone": "13912345678", "email": "nobody@else.cn"}),
]


def test_chain_makes_one_cluster_and_pairs_are_explained():
	res = scan_records(RULES, CHAIN)
	assert [(a, b, m.rule) for a, b, m in res.pairs] == [
		("A", "B", "phones"),
		("B", "C", "email"),
		("D", "E", "phones"),
	]
	assert res.clusters == [["A", "B", "C"], ["D", "E"]]  # largest first; F is in no cluster
	assert res.cluster_of() == {"A": 1, "B": 1, "C": 1, "D": 2, "E": 2}
	assert res.stats["records"] == 6 and res.stats["pairs"] == 3 and res.stats["clusters"] == 2
	a, b, m = res.pairs[0]
	assert (m.hits[0].value_a, m.hits[0].value_b) == ("+86 136-1234-5678", "13612345678")
	assert res.pairs[1][2].action == "warn"


def test_pairs_are_unordered_and_unique():
	# the same pair shares keys under two rules and two values: still one row, with the best rule
	recs = [
		("2", {"phone": "13612345678 / 13912345678", "email": "x@y.cn"}),
		("1", {"mobile_no": "13912345678", "phone": "13612345678", "email": "X@Y.cn"}),
	]
	res = scan_records(RULES, recs)
	assert [(a, b, m.rule) for a, b, m in res.pairs] == [("1", "2", "phones")]


def test_skip_pairs_are_respected():
	res = scan_records(RULES, CHAIN, skip_pairs={("A", "B")})
	assert [(a, b) for a, b, _ in res.pairs] == [("B", "C"), ("D", "E")]
	assert res.clusters == [["B", "C"], ["D", "E"]]


@pytest.mark.parametrize("pair", [("9", "10"), ("10", "9")])
def test_skip_pairs_with_numeric_ids_in_either_order(pair):
	# row-number ids sort numerically in the output (9 before 10) but as strings "10" < "9": a caller
	# passing either order must be heard
	recs = [("9", {"phone": "13612345678"}), ("10", {"mobile_no": "136 1234 5678"})]
	assert [(a, b) for a, b, _ in scan_records(RULES, recs).pairs] == [("9", "10")]
	assert scan_records(RULES, recs, skip_pairs={pair}).pairs == []


def test_too_common_key_is_compared_by_neighbourhood_only():
	# 300 records with the same phone, one no placeholder list knows (a head office's switchboard typed on
	# every branch): a full comparison would be 44,850 pairs
	recs = [(str(i), {"phone": "025-84561234"}) for i in range(1, 301)]
	res = scan_records(RULES, recs, cap=50, window=5)
	assert res.stats["oversized_keys"] == 1
	assert res.stats["compared"] <= 300 * 5
	assert len(res.clusters) == 1 and len(res.clusters[0]) == 300  # neighbours still chain them together


def test_progress_is_reported():
	calls = []
	scan_records(RULES, CHAIN, progress=lambda phase, done, total: calls.append((phase, done, total)))
	assert ("prepare", 6, 6) in calls and calls[-1][0] == "compare" and calls[-1][1] == calls[-1][2]


def _brute_force(rules, records):
	prepared = [rules.prepare(r, id=i) for i, r in records]
	out = set()
	for p, q in combinations(prepared, 2):
		m = rules.compare(p, q)
		if m is not None:
			out.add((tuple(sorted((p.id, q.id))), m.rule))
	return out


def _scanned(rules, records):
	return {(tuple(sorted((a, b))), m.rule) for a, b, m in scan_records(rules, records).pairs}


def test_scan_finds_every_pair_compare_accepts_on_the_example_file(example_csv_path, example_rules_path):
	rules = load_rules(example_rules_path)
	with open(example_csv_path, encoding="utf-8-sig", newline="") as f:
		records = [(r["id"], r) for r in csv.DictReader(f)]
	expected = _brute_force(rules, records)
	assert len(expected) >= 6
	assert _scanned(rules, records) == expected


# ---- property: blocking never loses a pair that compare accepts ---------------------------------------
EXAMPLE_RULES = None
COMPANY = [
	"金陵餐饮有限公司",
	"南京金陵餐饮有限公司",
	"金陵餐饮(南京)有限公司",
	"金陵餐饮管理有限公司",
	"金灵餐饮有限公司",
	"秦淮餐饮有限公司",
	"远大科技(上海)股份有限公司",
	"上海远大科技有限公司",
	"远大科技",
	"Acme Trading Co., Ltd.",
	"湖南酷然养生会所",
	"湖南酷然厨卫养生会所",
	"金陵厨卫餐饮有限公司",
	"ACME TRADING LIMITED",
	"Acme Tradin Ltd",
	"深圳華強電子有限公司",
	"深圳华强电子",
	"",
	"华强",
]
PERSON = [
	"张伟",
	"Zhang Wei",
	"Zang Wei",
	"Wei Zhang",
	"张玮",
	"李娜",
	"Li Na",
	"Lin Na",
	"王芳",
	"Wang Fang",
	"",
	"单田芳",
	"Shan Tianfang",
	"Zhangwei",
]
PHONE = [
	"13612345678",
	"+86 136-1234-5678",
	"010-12345678",
	"010-12345678-8001",
	"(010)12345678",
	"021-62345678",
	"13912345678",
	"",
	"12345",
	"0086 139 1234 5678",
]
EMAIL = ["a@jinling.cn", "A@Jinling.cn ", "b@jinling.cn", "", "lina@yuanda-tech.com"]
CITY = ["南京", "南京", "上海", "", "深圳", "深圳"]
TAX = ["91110000802100433B", "9111 0000 8021 0043 3b", "91440300708461136T", "", ""]

record = st.fixed_dictionaries(
	{
		"customer_name": st.sampled_from(COMPANY),
		"contact_person": st.sampled_from(PERSON),
		"phone_1": st.sampled_from(PHONE),
		"phone_3": st.sampled_from(PHONE),
		"mobile_no": st.sampled_from(PHONE),
		"email_id": st.sampled_from(EMAIL),
		"city": st.sampled_from(CITY),
		"tax_id": st.sampled_from(TAX),
	}
)

FUZZY_RULES = RuleSet.from_dict(
	{
		"rules": [
			{"name": "uscc", "priority": 1, "conditions": [{"fields": ["tax_id"], "match": "id_code"}]},
			{
				"name": "phones",
				"priority": 2,
				"conditions": [{"fields": ["phone_1", "phone_3", "mobile_no"], "match": "phone"}],
			},
			{"name": "email", "priority": 3, "conditions": [{"fields": ["email_id"], "match": "email"}]},
			{
				"name": "name+city",
				"priority": 4,
				"action": "warn",
				"conditions": [
					{"fields": ["customer_name"], "match": "company_name", "threshold": 90},
					{"fields": ["city"], "match": "normalized", "blank": "ignore"},
				],
			},
			{
				"name": "contact+name",
				"priority": 5,
				"action": "log",
				"conditions": [
					{"fields": ["contact_person"], "match": "person_name", "threshold": 90},
					{"fields": ["customer_name"], "match": "company_name", "threshold": 80},
				],
			},
			{
				"name": "person",
				"priority": 5,
				"action": "log",
				"conditions": [{"fields": ["contact_person"], "match": "person_name", "threshold": 90}],
			},
			{
				"name": "loose",
				"priority": 6,
				"action": "log",
				"conditions": [
					{"fields": ["customer_name"], "match": "fuzzy", "threshold": 90, "blank": "ignore"},
					{
						"fields": ["contact_person"],
						"match": "person_name",
						"threshold": 95,
						"blank": "ignore",
					},
				],
			},
		]
	}
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(record, min_size=2, max_size=12))
def test_scan_and_check_agree_with_brute_force(records):
	items = [(str(i), r) for i, r in enumerate(records, 1)]
	expected = _brute_force(FUZZY_RULES, items)
	assert _scanned(FUZZY_RULES, items) == expected
	# check_record against an index of all the others finds the same partners with the same best rule
	idx = MemoryIndex()
	for i, r in items:
		idx.put(i, FUZZY_RULES.keys(FUZZY_RULES.prepare(r, id=i)), r)
	found = set()
	for i, r in items:
		for m in check_record(FUZZY_RULES, r, idx, exclude=[i]):
			found.add((tuple(sorted((i, m.id))), m.rule))
	assert found == expected


# ---- the forked-worker path gives what the in-process path gives --------------------------------------
def _variant_records(n: int, seed: int) -> list[tuple[str, dict]]:
	"""n records of mostly distinct values, with shared phones, e-mails, tax ids, names and typos drawn
	often enough that every rule of FUZZY_RULES fires (the "loose" one blocks on two blank="ignore"
	conditions) and records join into many small clusters."""
	import random

	rnd = random.Random(seed)
	heads, trades = "金陵远大华强酷然秦淮西湖长江黄河", ["餐饮", "科技", "电子", "养生会所", "茶业"]
	surnames, given = (
		"张王李赵陈刘黄周吴徐孙胡朱高林何郭马罗梁",
		"伟芳娜敏静丽强磊军洋勇艳杰涛明超秀霞平刚桂英华建国志红玉兰德福",
	)
	out = []
	for i in range(1, n + 1):
		name = rnd.choice(heads) + rnd.choice(heads) + rnd.choice(trades) + str(rnd.randint(1, 12))
		if rnd.random() < 0.1:  # a typo
			k = rnd.randrange(len(name))
			name = name[:k] + rnd.choice(heads) + name[k + 1 :]
		rec = {
			"customer_name": rnd.choice(["", "南京", "上海"])
			+ name
			+ rnd.choice(["有限公司", "", "(南京)有限公司"]),
			"contact_person": rnd.choice(surnames) + rnd.choice(given) + rnd.choice(given),
			"phone_1": f"0{rnd.choice(['10', '21', '25', '571'])}-{rnd.randint(2000000, 2000000 + 8 * n)}",
			"phone_3": rnd.choice(["", "", f"+86 13{rnd.randint(0, 8 * n):09d}"]),
			"mobile_no": f"13{rnd.randint(0, 8 * n):09d}",
			"email_id": rnd.choice(["", f"u{rnd.randint(1, 8 * n)}@x.cn"]),
			"city": rnd.choice(CITY),
			"tax_id": rnd.choice(TAX) if rnd.random() < 0.01 else "",
		}
		if rnd.random() < 0.05:
			rec["contact_person"] = rnd.choice(PERSON)
		elif rnd.random() < 0.1:
			rec["contact_person"] = ""
		out.append((f"R{i:05d}", rec))
	return out


def test_scan_in_worker_processes_gives_the_in_process_result(monkeypatch):
	import multiprocessing

	from crm_dedup.engine import scan

	if "fork" not in multiprocessing.get_all_start_methods():
		pytest.skip("worker processes are forked; this platform cannot fork")
	# small chunks, so that 1,500 records take the worker path (15 chunks of keys shipped back in order)
	monkeypatch.setattr(scan, "_CHUNK", 100)
	records = _variant_records(1500, seed=3)
	one = scan_records(FUZZY_RULES, records, workers=1)
	two = scan_records(FUZZY_RULES, records, workers=2)
	assert {m.rule for _, _, m in one.pairs} == {r.name for r in FUZZY_RULES.rules}  # every rule fired
	assert len(one.clusters) >= 50
	assert [(a, b, m.to_dict()) for a, b, m in two.pairs] == [(a, b, m.to_dict()) for a, b, m in one.pairs]
	assert two.clusters == one.clusters and two.stats == one.stats
