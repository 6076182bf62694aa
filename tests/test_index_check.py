"""The key index (memory and SQLite) and check_record: candidates come from keys, never from a table scan."""

from __future__ import annotations

import sqlite3

import pytest

from crm_dedup.engine import MemoryIndex, SQLiteIndex, check_record, load_rules
from crm_dedup.engine.index import KeyIndex

STORED = {
	"C001": {
		"customer_name": "南京金陵餐饮有限公司",
		"contact_person": "张伟",
		"phone_1": "13612345678",
		"email_id": "zhangwei@jinling-food.cn",
		"tax_id": "91110000802100433B",
		"city": "南京",
	},
	"C003": {
		"customer_name": "上海远大科技有限公司",
		"contact_person": "李娜",
		"phone_1": "021-62345678",
		"mobile_no": "13912345678",
		"email_id": "lina@yuanda-tech.com",
		"city": "上海",
	},
	"C005": {
		"customer_name": "杭州西湖茶业有限公司",
		"contact_person": "王芳",
		"phone_1": "0571-87654321",
		"mobile_no": "15012345678",
		"email_id": "wangfang@xihutea.cn",
		"city": "杭州",
	},
	"C006": {
		"customer_name": "深圳华强电子有限公司",
		"contact_person": "刘洋",
		"phone_1": "0755-83456789",
		"mobile_no": "18612345678",
		"city": "深圳",
	},
	"C011": {
		"customer_name": "武汉长江物流有限公司",
		"contact_person": "黄强",
		"mobile_no": "13312345678",
		"city": "武汉",
	},
	"C017": {
		"customer_name": "青岛海湾啤酒有限公司",
		"contact_person": "孙涛",
		"mobile_no": "15812345678",
		"city": "青岛",
	},
}

QUERIES = [
	# same USCC written with spaces and lower case: block on uscc
	({"tax_id": "9111 0000 8021 0043 3b", "customer_name": "金陵餐饮"}, [("C001", "uscc")]),
	# C003's mobile typed into phone_3 by another rep
	({"customer_name": "远大科技(上海)股份有限公司", "phone_3": "+86 139-1234-5678"}, [("C003", "phones")]),
	({"email_id": " WangFang@XihuTea.CN "}, [("C005", "email")]),
	({"customer_name": "深圳華強電子有限公司", "city": "深圳"}, [("C006", "name+city")]),
	({"customer_name": "武汉长江物流有限责任公司", "city": ""}, [("C011", "name+city")]),
	({"customer_name": "青岛海湾啤酒销售有限公司", "contact_person": "Sun Tao"}, [("C017", "contact+name")]),
	({"customer_name": "南京秦淮餐饮有限公司", "city": "南京", "phone_1": "13612345679"}, []),
	({}, []),
]

FIELDS = [
	"customer_name",
	"contact_person",
	"phone_1",
	"phone_2",
	"phone_3",
	"mobile_no",
	"email_id",
	"tax_id",
	"city",
]


@pytest.fixture(scope="module")
def rules(example_rules_path):
	return load_rules(example_rules_path)


def fill(index: KeyIndex, rules, records=STORED):
	for rid, rec in records.items():
		index.put(rid, rules.keys(rules.prepare(rec, id=rid)), rec)
	return index


@pytest.fixture(params=["memory", "sqlite"])
def index(request, tmp_path):
	if request.param == "memory":
		yield MemoryIndex()
	else:
		idx = SQLiteIndex(tmp_path / "idx.sqlite")
		yield idx
		idx.close()


def answers(rules, index, record, **kw):
	return [
		(m.id, m.rule, m.action, round(m.score, 1), m.explain)
		for m in check_record(rules, record, index, **kw)
	]


@pytest.mark.parametrize("query,expected", QUERIES)
def test_check_finds_the_stored_duplicate(rules, index, query, expected):
	fill(index, rules)
	got = check_record(rules, query, index)
	assert [(m.id, m.rule) for m in got] == expected


def test_memory_and_sqlite_give_the_same_answers(rules, tmp_path):
	mem = fill(MemoryIndex(), rules)
	sql = fill(SQLiteIndex(tmp_path / "same.sqlite"), rules)
	queries = [q for q, _ in QUERIES] + list(STORED.values())
	for q in queries:
		assert answers(rules, mem, q) == answers(rules, sql, q)
	assert answers(rules, mem, STORED["C001"])[0][0] == "C001"  # a stored record finds itself...
	assert answers(rules, mem, STORED["C001"], exclude=["C001"]) == []  # ...unless excluded
	assert answers(rules, sql, STORED["C001"], exclude=["C001"]) == []
	sql.close()


def test_sqlite_index_persists(rules, tmp_path):
	path = tmp_path / "p.sqlite"
	fill(SQLiteIndex(path), rules).close()
	again = SQLiteIndex(path, create=False)
	assert len(again) == len(STORED)
	assert [m.id for m in check_record(rules, {"mobile_no": "158 1234 5678"}, again)] == ["C017"]
	again.close()


def test_reindexing_the_same_id_updates_never_duplicates(rules, index):
	fill(index, rules)
	moved = dict(STORED["C005"], mobile_no="15099998888", email_id="")
	for _ in range(3):
		index.put("C005", rules.keys(rules.prepare(moved, id="C005")), moved)
	assert len(index) == len(STORED)
	assert check_record(rules, {"mobile_no": "15012345678"}, index) == []  # the old number is gone
	got = check_record(rules, {"phone_2": "150-9999-8888"}, index)
	assert [(m.id, m.hits[0].value_b) for m in got] == [("C005", "15099998888")]  # once, with new values
	index.remove("C005")
	assert check_record(rules, {"phone_2": "150-9999-8888"}, index) == []
	assert len(index) == len(STORED) - 1


def test_sqlite_reindex_leaves_no_stale_rows(rules, tmp_path):
	path = tmp_path / "rows.sqlite"
	idx = fill(SQLiteIndex(path), rules)
	before = idx.db.execute("SELECT COUNT(*) FROM keys").fetchone()[0]
	fill(idx, rules)
	idx.close()
	db = sqlite3.connect(path)
	assert db.execute("SELECT COUNT(*) FROM records").fetchone()[0] == len(STORED)
	assert db.execute("SELECT COUNT(*) FROM keys").fetchone()[0] == before
	db.close()


def test_exclude_accepts_non_string_ids(rules):
	idx = MemoryIndex()
	idx.put(42, rules.keys(rules.prepare(STORED["C006"])), STORED["C006"])
	assert [m.id for m in check_record(rules, STORED["C006"], idx)] == ["42"]
	assert check_record(rules, STORED["C006"], idx, exclude=[42]) == []


class CountingIndex(MemoryIndex):
	"""Records which ids a check asks for, and how many postings it reads."""

	def __init__(self):
		super().__init__()
		self.requested: list[str] = []
		self.posting_reads: list[tuple[str, str, int, int]] = []

	def records(self, ids):
		ids = list(ids)
		self.requested.extend(ids)
		return super().records(ids)

	def postings(self, rule, key, limit):
		out = super().postings(rule, key, limit)
		self.posting_reads.append((rule, key, limit, len(out)))
		return out


def test_records_sharing_no_key_are_never_compared(rules):
	idx = fill(CountingIndex(), rules)
	# 1,000 unrelated customers: different names, phones, emails, cities
	for n in range(1000):
		rec = {
			"customer_name": f"测试{n:04d}号贸易有限公司",
			"mobile_no": f"1770000{n:04d}",
			"email_id": f"u{n}@x{n}.cn",
			"city": "北京",
		}
		idx.put(f"X{n}", rules.keys(rules.prepare(rec)), rec)
	idx.requested.clear()
	got = check_record(rules, {"customer_name": "远大科技(上海)有限公司", "phone_3": "13912345678"}, idx)
	assert [m.id for m in got] == ["C003"]
	assert set(idx.requested) == {"C003"}  # only the record sharing a key was fetched and scored
	assert len(idx.posting_reads) <= 20  # a handful of key look-ups, not one per stored record


def test_too_common_keys_are_bounded(rules):
	idx = CountingIndex()
	# a number typed on many records that no placeholder list knows (13800000000 is on the built-in list)
	placeholder = {"customer_name": "", "mobile_no": "13912340000"}
	for n in range(700):
		idx.put(f"P{n}", rules.keys(rules.prepare(placeholder)), dict(placeholder, contact_person=f"客户{n}"))
	fill(idx, rules)
	idx.requested.clear()
	got = check_record(
		rules, {"mobile_no": "139-1234-0000", "email_id": "lina@yuanda-tech.com"}, idx, cap=100
	)
	# the placeholder phone is shared by 700 records: the lookup reads at most cap + 1 postings of it and
	# fetches at most cap of them; the real duplicate (by e-mail) is still found
	assert all(limit == 101 and found <= 101 for _, _, limit, found in idx.posting_reads)
	assert len(idx.requested) <= 101
	assert "C003" in [m.id for m in got]
	assert sum(m.rule == "phones" for m in got) <= 100


def test_lookup_skips_a_too_common_key_when_a_rarer_one_exists():
	idx = MemoryIndex()
	for n in range(700):
		idx.put(f"P{n}", {"r": {"0|co:common"}})
	idx.put("T", {"r": {"0|co:common", "0|co:rare"}})
	assert idx.lookup({"r": {"0|co:common", "0|co:rare"}}, cap=100) == ({"T": {"r"}}, {"r"})
	only_common, incomplete = idx.lookup({"r": {"0|co:common"}}, cap=100)
	assert len(only_common) == 100 and incomplete == {"r"}
	found, incomplete = idx.lookup({"r": {"0|co:common"}}, cap=1000)
	assert found.keys() == {f"P{n}" for n in range(700)} | {"T"} and incomplete == set()
	# keys are per rule: the same key string under another rule finds nothing
	assert idx.lookup({"other": {"0|co:rare"}}) == ({}, set())


def test_fuzzy_person_name_found_through_the_index():
	"""check must find what compare accepts: 张伟 vs Zang Wei scores 94 (z/zh), above the default 90."""
	from crm_dedup.engine import RuleSet

	rules = RuleSet.from_dict(
		{
			"rules": [
				{
					"name": "contact",
					"action": "warn",
					"conditions": [{"fields": ["full_name"], "match": "person_name"}],
				}
			]
		}
	)
	for idx in (MemoryIndex(),):
		for rid, name in [("P1", "Zang Wei"), ("P2", "Zhang Wen"), ("P3", "李娜"), ("P4", "Zhangwei")]:
			idx.put(rid, rules.keys(rules.prepare({"full_name": name})), {"full_name": name})
		got = check_record(rules, {"full_name": "张伟"}, idx)
		assert [m.id for m in got] == ["P4", "P1"]  # exact pinyin first, then the z/zh confusion


@pytest.mark.parametrize(
	"stored",
	[
		"湖南酷然厨卫养生会所",  # two characters inserted inside the name (seen in benchmarks' generated data)
		"酷然厨卫(湖南)养生会所",
		"长沙酷然养生会所有限公司",
	],
)
def test_fuzzy_company_found_through_the_index(rules, stored):
	"""contact+name blocks on company_name at 80: 酷然养生会所 ~ 酷然厨卫养生会所 scores 1 - 2/14 = 86."""
	query = {"customer_name": "湖南酷然养生会所", "contact_person": "陈大利", "city": "长沙"}
	rec = {"customer_name": stored, "contact_person": "陈大利", "city": "长沙市"}
	assert rules.compare(rules.prepare(query), rules.prepare(rec, id="K1")) is not None
	idx = MemoryIndex()
	idx.put("K1", rules.keys(rules.prepare(rec)), rec)
	assert [(m.id, m.rule) for m in check_record(rules, query, idx)][:1] in (
		[("K1", "contact+name")],
		[("K1", "name+city")],
	)
