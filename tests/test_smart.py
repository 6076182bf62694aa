"""Smart rules (#13): EM learns, labelled pairs move weights, explanations add up, models are versioned,
check / scan / CLI use them."""

from __future__ import annotations

import copy
import csv
import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_dedup.cli import main
from crm_dedup.engine import (
	MODEL_FORMAT,
	InputError,
	MemoryIndex,
	RuleError,
	RuleSet,
	check_record,
	load_rules,
	scan_all,
	smart_scan,
	train_smart,
)

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂"
WORDS = [
	"金陵",
	"华强",
	"海湾",
	"东坤",
	"宝骐",
	"那然",
	"集家",
	"光谷",
	"酷然",
	"昊月",
	"分宁",
	"豪威",
	"劲跑",
	"东飞",
]
TRADES = ["餐饮", "科技", "电子", "贸易", "建材", "物流"]
CITIES = ["南京", "上海", "深圳", "杭州", "成都", "武汉"]

RULE = {
	"name": "smart",
	"kind": "smart",
	"priority": 3,
	"comparisons": [
		{"name": "name", "fields": ["customer_name"], "compare": "company_name", "bands": [92, 80]},
		{"name": "phone", "fields": ["phone", "mobile_no"], "compare": "phone"},
		{"name": "contact", "fields": ["contact"], "compare": "person_name", "bands": [90], "key": False},
		{"name": "city", "fields": ["city"], "compare": "normalized", "key": False},
	],
	"thresholds": {"block": 0.999, "warn": 0.9, "log": 0.5},
}


def synthetic(n_entities: int = 400, seed: int = 7) -> tuple[list[tuple[str, dict]], dict[str, int]]:
	"""Customers, a third of them entered two or three times with typos, reformatted phones, blanks."""
	rng = random.Random(seed)
	rows, truth = [], {}
	for e in range(n_entities):
		name = rng.choice(WORDS) + rng.choice(GIVEN) + rng.choice(WORDS)[0] + rng.choice(TRADES) + "有限公司"
		rec = {
			"customer_name": name,
			"phone": f"13{rng.randrange(10**9):09d}",
			"mobile_no": "",
			"contact": rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN),
			"city": rng.choice(CITIES),
		}
		copies = [rec]
		for _ in range(rng.choice([0, 0, 1, 2])):
			dup = dict(rec)
			if rng.random() < 0.5:
				dup["customer_name"] = rec["city"] + name.replace("有限公司", "有限责任公司")
			if rng.random() < 0.5:
				dup["mobile_no"], dup["phone"] = "+86 " + rec["phone"], ""
			if rng.random() < 0.3:
				dup["contact"] = ""
			if rng.random() < 0.2:
				dup["phone"] = f"13{rng.randrange(10**9):09d}"  # a new number
			copies.append(dup)
		for rec_copy in copies:
			rid = f"R{len(rows):04d}"
			rows.append((rid, rec_copy))
			truth[rid] = e
	return rows, truth


@pytest.fixture(scope="module")
def data():
	return synthetic()


def smart_rule(rule_doc=None):
	return RuleSet.from_dict({"rules": [rule_doc or RULE]}).smart[0]


def test_em_learns_m_above_u_for_agreeing_levels(data):
	rows, _ = data
	rule = smart_rule()
	model = train_smart(rule, rows)
	for comp, params in zip(rule.comparisons, model.levels, strict=True):
		top = params[0]
		assert top.m > top.u, (comp.name, top)
		assert top.weight > (1 if comp.name == "city" else 5), (comp.name, top.weight)  # 6 cities: u ~ 1/6
		assert params[-1].label == "else" and params[-1].m < params[-1].u, comp.name
	assert 0 < model.lam < 0.01  # two records drawn at random rarely match
	assert model.trained["records"] == len(rows) and model.trained["candidate_pairs"] > 0


def test_trained_rule_finds_the_duplicates(data):
	rows, truth = data
	rule = smart_rule()
	rule.model = train_smart(rule, rows)
	found, stats = smart_scan(rule, rows)
	pairs = {(a, b) for a, b, _ in found}
	true = {(a, b) for a, _ in rows for b, _ in rows if a < b and truth[a] == truth[b]}
	tp = len(pairs & true)
	assert tp / len(pairs) >= 0.97 and tp / len(true) >= 0.9, (tp, len(pairs), len(true))
	assert stats["candidate_pairs"] < len(rows) * (len(rows) - 1) // 20  # blocking, not all pairs


def test_labelled_pairs_move_the_weights(data):
	rows, truth = data
	rule = smart_rule()
	plain = train_smart(rule, rows)
	rule.model = plain
	ids = [rid for rid, _ in rows]
	recs = dict(rows)
	prepared = {rid: rule.prepare(rec) for rid, rec in rows}
	dup_pairs = [(a, b) for a, b in zip(ids, ids[1:], strict=False) if truth[a] == truth[b]]
	level = {c.name: k for k, c in enumerate(rule.comparisons)}

	def pattern(a, b):
		return rule.pattern(prepared[a], prepared[b])

	# confirmed duplicates whose phones differ: a different phone must count less against
	moved = [(a, b, 1) for a, b in dup_pairs if pattern(a, b)[level["phone"]] == 1][:40]
	assert len(moved) >= 10
	confirmed = train_smart(rule, rows, moved)
	assert confirmed.levels[level["phone"]][-1].weight > plain.levels[level["phone"]][-1].weight + 0.2
	# pairs with the same name that people marked "not a duplicate" (branches): the name weighs less
	rejected = [(a, b, 0) for a, b in dup_pairs if pattern(a, b)[level["name"]] == 0][:40]
	assert len(rejected) >= 10 and all(
		recs[a]["customer_name"] == recs[b]["customer_name"] for a, b, _ in rejected
	)
	disputed = train_smart(rule, rows, rejected)
	assert disputed.levels[level["name"]][0].weight < plain.levels[level["name"]][0].weight - 0.2
	assert disputed.trained["labels"] == {
		"pairs": len(rejected),
		"duplicates": 0,
		"not_duplicates": len(rejected),
	}


def test_labels_with_unknown_ids_are_refused(data):
	rows, _ = data
	with pytest.raises(InputError, match="unknown id 'NOPE'"):
		train_smart(smart_rule(), rows, [("R0000", "NOPE", 1)])
	with pytest.raises(InputError, match="label must be 1"):
		train_smart(smart_rule(), rows, [("R0000", "R0001", "yes")])


def test_explanation_adds_up(data):
	rows, _ = data
	rule = smart_rule()
	rule.model = train_smart(rule, rows)
	a, b = rows[0][1], dict(rows[0][1], contact="", city="北京")
	m = rule.compare(a, b, "B", always=True)
	w = m.waterfall
	assert w["total"] == pytest.approx(w["prior"] + sum(r["weight"] for r in w["comparisons"]), abs=1e-3)
	assert m.probability == pytest.approx(2 ** w["total"] / (1 + 2 ** w["total"]))
	levels = {r["comparison"]: r["level"] for r in w["comparisons"]}
	assert levels == {"name": "exact", "phone": "equal", "contact": "blank", "city": "else"}
	assert [r["weight"] for r in w["comparisons"] if r["level"] == "blank"] == [0.0]
	text = m.explain
	assert "name: exact" in text and "contact: blank, no weight" in text and f"{w['total']:+.2f}" in text
	d = m.to_dict()
	assert d["smart"]["comparisons"][0]["m"] > 0 and d["probability"] == m.probability
	assert m.action == rule.action_for(m.probability)


def test_default_weights_work_before_training():
	rule = smart_rule()
	assert not rule.model.trained
	same = rule.compare(
		{"customer_name": "南京金陵餐饮有限公司", "phone": "13612345678", "contact": "王伟", "city": "南京"},
		{
			"customer_name": "金陵餐饮有限责任公司",
			"phone": "+86 136 1234 5678",
			"contact": "王伟",
			"city": "南京",
		},
	)
	assert same is not None and same.action == "block"
	other = rule.compare(
		{"customer_name": "金陵餐饮有限公司", "phone": "13612345678", "contact": "王伟", "city": "南京"},
		{"customer_name": "华强电子有限公司", "phone": "13912345678", "contact": "李娜", "city": "深圳"},
	)
	assert other is None


def test_check_record_finds_smart_hits_by_key():
	rules = RuleSet.from_dict({"rules": [RULE]})
	index = MemoryIndex()
	stored = {
		"A": {"customer_name": "金陵餐饮有限公司", "phone": "13612345678", "contact": "王伟", "city": "南京"},
		"B": {"customer_name": "华强电子有限公司", "phone": "13912345678", "contact": "李娜", "city": "深圳"},
	}
	for rid, rec in stored.items():
		index.put(rid, rules.keys(rules.prepare(rec, id=rid)), rec)
	hits = check_record(rules, {"customer_name": "南京金陵餐饮有限责任公司", "phone": "136-1234-5678"}, index)
	assert [h.id for h in hits] == ["A"] and hits[0].rule == "smart"
	assert hits[0].to_dict()["smart"]["comparisons"][1]["level"] == "equal"


def test_scan_all_joins_condition_and_smart_rules(data):
	rows, _ = data
	doc = {
		"rules": [
			{
				"name": "phones",
				"priority": 1,
				"conditions": [{"fields": ["phone", "mobile_no"], "match": "phone"}],
			},
			RULE,
		]
	}
	rules = RuleSet.from_dict(doc)
	result = scan_all(rules, rows)
	by_rule = {m.rule for _, _, m in result.pairs}
	assert by_rule == {"phones", "smart"}
	assert result.stats["pairs"] == len(result.pairs) and result.clusters


# ---- the model file --------------------------------------------------------------------------------------------
def write_rules(tmp_path, model=None, rule=None):
	doc = {
		"options": {"default_region": "CN"},
		"rules": [dict(rule or RULE, **({"model": model} if model else {}))],
	}
	path = tmp_path / "rules.json"
	path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
	return path


def flat(weights):
	return [w for row in weights for w in row]


def test_model_round_trip_and_refusals(tmp_path, data):
	rows, _ = data
	rule = smart_rule()
	model = train_smart(rule, rows)
	doc = model.to_dict(rule)
	assert doc["format"] == MODEL_FORMAT and doc["rule_hash"] == rule.definition_hash
	(tmp_path / "model.json").write_text(json.dumps(doc), encoding="utf-8")
	loaded = load_rules(write_rules(tmp_path, "model.json")).smart[0]
	assert flat(loaded.model.weights()) == pytest.approx(flat(model.weights()))
	# a threshold or priority change keeps the model; a comparison change refuses it
	assert load_rules(write_rules(tmp_path, "model.json", dict(RULE, thresholds={"warn": 0.7}))).smart[0]
	changed = copy.deepcopy(RULE)
	changed["comparisons"][0]["bands"] = [90]
	with pytest.raises(RuleError, match="another definition of the rule"):
		load_rules(write_rules(tmp_path, "model.json", changed))
	bad = dict(doc, format=MODEL_FORMAT + 1)
	(tmp_path / "model.json").write_text(json.dumps(bad), encoding="utf-8")
	with pytest.raises(RuleError, match="model format"):
		load_rules(write_rules(tmp_path, "model.json"))
	(tmp_path / "model.json").write_text("{not json", encoding="utf-8")
	with pytest.raises(RuleError, match="not valid JSON"):
		load_rules(write_rules(tmp_path, "model.json"))
	with pytest.raises(RuleError, match="model file not found"):
		load_rules(write_rules(tmp_path, "missing.json"))
	# the model may also sit in the rules document itself (what the Frappe side stores with the rule)
	inline = RuleSet.from_dict({"rules": [dict(RULE, model=doc)]}).smart[0]
	assert flat(inline.model.weights()) == pytest.approx(flat(model.weights()))


def test_smart_rule_validation():
	with pytest.raises(RuleError, match="no comparison gives blocking keys"):
		smart_rule(
			dict(RULE, comparisons=[{"fields": ["d"], "compare": "date_within", "days": [30], "key": False}])
		)
	with pytest.raises(RuleError, match="date_within gives no blocking keys"):
		smart_rule(dict(RULE, comparisons=[{"fields": ["d"], "compare": "date_within", "key": True}]))
	with pytest.raises(RuleError, match="needs 'thresholds'"):
		smart_rule({k: v for k, v in RULE.items() if k != "thresholds"})
	with pytest.raises(RuleError, match="between 0 and 1"):
		smart_rule(dict(RULE, thresholds={"warn": 95}))
	with pytest.raises(RuleError, match="unknown compare type"):
		smart_rule(dict(RULE, comparisons=[{"fields": ["x"], "compare": "soundex"}]))


# ---- CLI -----------------------------------------------------------------------------------------------------------
def write_csv(path, rows):
	with open(path, "w", encoding="utf-8", newline="") as f:
		w = csv.writer(f)
		cols = ["id", "customer_name", "phone", "mobile_no", "contact", "city"]
		w.writerow(cols)
		for rid, rec in rows:
			w.writerow([rid] + [rec[c] for c in cols[1:]])


def test_cli_train_scan_explain(tmp_path, capsys, data):
	rows, truth = data
	write_csv(tmp_path / "in.csv", rows)
	rules = write_rules(tmp_path, "model.json")
	labels = tmp_path / "labels.csv"
	labels.write_text("id_a,id_b,label\nR0000,R0001,0\n", encoding="utf-8")
	argv = ["train", str(tmp_path / "in.csv"), "--rules", str(rules), "--id-column", "id"]
	assert main([*argv, "--labels", str(labels), "--out", str(tmp_path / "model.json")]) == 0
	model = json.loads((tmp_path / "model.json").read_text(encoding="utf-8"))
	assert model["trained"]["labels"]["pairs"] == 1
	capsys.readouterr()
	pairs = tmp_path / "pairs.csv"
	assert (
		main(
			[
				"scan",
				str(tmp_path / "in.csv"),
				"--rules",
				str(rules),
				"--id-column",
				"id",
				"--pairs",
				str(pairs),
			]
		)
		== 0
	)
	found = list(csv.DictReader(pairs.open(encoding="utf-8")))
	assert found and {r["rule"] for r in found} == {"smart"}
	a, b = found[0]["id_a"], found[0]["id_b"]
	assert main(["explain", str(tmp_path / "in.csv"), a, b, "--rules", str(rules), "--id-column", "id"]) == 0
	out = capsys.readouterr().out
	assert "smart rule 'smart': probability" in out and "prior" in out and "total" in out
	# bad input: a clear error, exit 2, no model written
	bad = tmp_path / "bad.csv"
	bad.write_text("id_a,id_b,label\nR0000,GHOST,1\n", encoding="utf-8")
	out_model = tmp_path / "never.json"
	assert main([*argv, "--labels", str(bad), "--out", str(out_model)]) == 2
	assert "unknown id 'GHOST'" in capsys.readouterr().err and not out_model.exists()
	(tmp_path / "model.json").write_text("[]", encoding="utf-8")
	assert main(["scan", str(tmp_path / "in.csv"), "--rules", str(rules), "--id-column", "id"]) == 2
	assert "not a model object" in capsys.readouterr().err


# ---- any text: no exception ------------------------------------------------------------------------------------------
FUZZ_RULE = {
	"name": "fuzz",
	"kind": "smart",
	"comparisons": [
		{"name": "name", "fields": ["a"], "compare": "company_name", "bands": [90], "key_threshold": 85},
		{"name": "person", "fields": ["a"], "compare": "person_name", "bands": [90], "key": False},
		{"name": "text", "fields": ["b"], "compare": "fuzzy", "edits": [1], "scorer": "jaro_winkler"},
		{"name": "words", "fields": ["b"], "compare": "fuzzy_tokens", "bands": [80], "key": False},
		{"name": "items", "fields": ["b"], "compare": "set_overlap", "bands": [50], "key": False},
		{"name": "date", "fields": ["b"], "compare": "date_within", "days": [30], "key": False},
		{"name": "phone", "fields": ["b"], "compare": "phone"},
	],
	"thresholds": {"log": 0.5},
}


@settings(max_examples=150, deadline=None)
@given(
	st.dictionaries(st.sampled_from(["a", "b"]), st.text(max_size=40)),
	st.dictionaries(st.sampled_from(["a", "b"]), st.text(max_size=40)),
)
def test_smart_rule_is_total(x, y):
	rule = smart_rule(FUZZ_RULE)
	m = rule.compare(x, y, "y", always=True)
	w = m.waterfall
	assert w["total"] == pytest.approx(w["prior"] + sum(r["weight"] for r in w["comparisons"]), abs=1e-3)
	assert 0.0 <= m.probability <= 1.0
	rule.record_keys(x)
	assert "total" in m.explain


def test_weights_are_monotone_along_each_ladder():
	"""A site whose true duplicates all differ in the legal form (city prefix, 有限责任公司): EM sees almost no
	"exact" name among the candidates and, left alone, weighed "exact" below "equal" (a pair with the same
	name and the same phone then scored under the log threshold). Trained weights never fall along a ladder,
	and an exact name weighs at least what an equal one does."""
	rng = random.Random(7)
	han = (
		"安邦宝贝北辰博雅灿烂昌盛晨光辰星达丰德润东方鼎盛方圆飞扬丰泰福瑞富源光明广厦国华海纳汉唐浩然和美恒通"
	)
	industries = ["科技", "贸易", "餐饮", "物流", "实业", "电子"]
	records = []
	for i in range(6000):
		core = "".join(rng.choices(han, k=rng.randint(3, 5))) + rng.choice(industries)
		records.append((f"s{i}", {"customer_name": core + "有限公司", "phone_1": ""}))
		if i % 20 == 0:
			records.append((f"d{i}", {"customer_name": "南京" + core + "有限责任公司", "phone_1": ""}))
	for i in range(16):
		phone = f"139{rng.randrange(10**8):08d}"
		name = "".join(rng.choices(han, k=4)) + "贸易有限公司"
		records += [
			(f"p{i}a", {"customer_name": name, "phone_1": phone}),
			(f"p{i}b", {"customer_name": "上海" + name, "phone_1": phone}),
		]
	rule = RuleSet.from_dict(
		{
			"rules": [
				{
					"name": "s",
					"kind": "smart",
					"comparisons": [
						{"name": "phone", "fields": ["phone_1"], "compare": "phone"},
						{
							"name": "name",
							"fields": ["customer_name"],
							"compare": "company_name",
							"bands": [92, 80],
							"key_threshold": 90,
						},
					],
					"thresholds": {"block": 0.999, "warn": 0.95, "log": 0.8},
				}
			]
		},
		load_models=False,
	).smart[0]
	model = train_smart(rule, records)
	for comp, params in zip(rule.comparisons, model.levels, strict=True):
		weights = [p.weight for p in params[:-1]]  # "else" aside
		assert weights == sorted(weights, reverse=True), (
			comp.name,
			[(p.label, round(p.weight, 2)) for p in params],
		)
	assert model.trained["levels_raised"] >= 1  # this data does make EM break the order
	rule.model = model
	m = rule.compare(
		{"customer_name": "金陵博雅科技有限公司", "phone_1": "13912345678"},
		{"customer_name": "金陵博雅科技有限公司", "phone_1": "139 1234 5678"},
		always=True,
	)
	exact = m.waterfall["comparisons"][1]
	assert exact["level"] == "exact"
	assert model.levels[1][0].weight >= model.levels[1][1].weight  # exact >= equal
	assert m.probability >= 0.999
