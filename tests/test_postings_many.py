"""``KeyIndex.postings_many`` and ``lookup`` over it: an index that only stores (postings, postings_many,
records), as the app's MariaDB index does, gets the same checks as MemoryIndex, with rule pruning."""

from __future__ import annotations

from collections import Counter

import pytest
from test_index_check import QUERIES, STORED, fill

from crm_dedup.engine import KeyIndex, MemoryIndex, SQLiteIndex, check_record, load_rules
from crm_dedup.engine import check as check_module


@pytest.fixture(scope="module")
def rules(example_rules_path):
	return load_rules(example_rules_path)


class StorageOnlyIndex(KeyIndex):
	"""Implements what a database index implements: writes, posting lists (one by one and in a batch) and
	records; ``lookup`` is the engine's."""

	def __init__(self):
		self._mem = MemoryIndex()
		self.batches: list[list[tuple[str, str]]] = []
		self.single_reads = 0

	def put(self, id, keys, record=None):
		self._mem.put(id, keys, record)

	def remove(self, id):
		self._mem.remove(id)

	def postings(self, rule, key, limit):
		self.single_reads += 1
		return self._mem.postings(rule, key, limit)

	def postings_many(self, pairs, limit):
		pairs = list(pairs)
		self.batches.append(pairs)
		return {p: self._mem.postings(p[0], p[1], limit) for p in pairs}

	def records(self, ids):
		return self._mem.records(ids)

	def __len__(self):
		return len(self._mem)


class PostingsOnlyIndex(StorageOnlyIndex):
	"""Only ``postings``: the default ``postings_many`` asks it once per key."""

	postings_many = KeyIndex.postings_many


def answers(rules, index, record, **kw):
	return [
		(m.id, m.rule, m.action, round(m.score, 1), m.explain)
		for m in check_record(rules, record, index, **kw)
	]


def every_query():
	return [q for q, _ in QUERIES] + list(STORED.values())


@pytest.mark.parametrize("kind", [StorageOnlyIndex, PostingsOnlyIndex])
def test_an_index_that_only_stores_gives_memory_index_answers(rules, kind):
	mem = fill(MemoryIndex(), rules)
	other = fill(kind(), rules)
	for q in every_query():
		assert answers(rules, other, q) == answers(rules, mem, q)
	assert answers(rules, other, STORED["C001"], exclude=["C001"]) == []


def test_lookup_reads_all_posting_lists_in_one_batch(rules):
	idx = fill(StorageOnlyIndex(), rules)
	query = {"customer_name": "远大科技(上海)有限公司", "phone_3": "13912345678", "email_id": "x@y.cn"}
	keys = rules.keys(rules.prepare(query))
	assert len(keys) >= 2
	idx.batches.clear()
	check_record(rules, query, idx)
	assert len(idx.batches) == 1 and idx.single_reads == 0
	assert sorted(idx.batches[0]) == sorted((r, k) for r, ks in keys.items() for k in ks)


def test_lookup_is_the_same_through_postings_many(rules, tmp_path):
	mem = fill(MemoryIndex(), rules)
	only = fill(StorageOnlyIndex(), rules)
	sql = fill(SQLiteIndex(tmp_path / "l.sqlite"), rules)
	for q in every_query():
		keys = rules.keys(rules.prepare(q))
		want = mem.lookup(keys)
		assert only.lookup(keys) == want
		assert sql.lookup(keys) == want
		assert sql.lookup(keys, exclude=["C001", "C003"]) == mem.lookup(keys, exclude=["C001", "C003"])
	sql.close()


def test_too_common_keys_through_postings_many():
	idx = StorageOnlyIndex()
	for n in range(700):
		idx.put(f"P{n}", {"r": {"0|co:common"}})
	idx.put("T", {"r": {"0|co:common", "0|co:rare"}})
	assert idx.lookup({"r": {"0|co:common", "0|co:rare"}}, cap=100) == ({"T": {"r"}}, {"r"})
	found, incomplete = idx.lookup({"r": {"0|co:common"}, "s": {"x"}}, cap=100)
	assert len(found) == 100 and incomplete == {"r"}
	assert idx.batches[-1] == [("r", "0|co:common"), ("s", "x")]


def test_sqlite_postings_many_equals_postings(tmp_path):
	idx = SQLiteIndex(tmp_path / "pm.sqlite")
	idx.begin()
	idx.put_many((f"R{n}", {"a": {f"k{n % 7}", "all"}, "b": {f"k{n % 3}"}}, {"n": n}) for n in range(300))
	idx.commit()
	pairs = [(rule, f"k{k}") for rule in ("a", "b", "c") for k in range(9)] + [("a", "all")]
	pairs += [(f"x{n}", "none") for n in range(450)]  # more than one statement's worth of keys
	pairs.append(("a", "k1"))  # a repeated pair
	for limit in (1, 5, 50, 301):
		many = idx.postings_many(pairs, limit)
		assert many.keys() == set(pairs)
		for rule, key in pairs:
			assert many[(rule, key)] == idx.postings(rule, key, limit)
	assert len(idx.postings_many([("a", "all")], 301)[("a", "all")]) == 300
	assert idx.postings_many([], 10) == {}
	idx.close()


def _evaluated(monkeypatch) -> Counter:
	"""Counts (candidate id, rule name) each time check_record considers a rule for a candidate."""
	seen: Counter = Counter()
	real = check_module.may_fire

	def counting(rule, a, b):
		seen[(b.id, rule.name)] += 1
		return real(rule, a, b)

	monkeypatch.setattr(check_module, "may_fire", counting)
	return seen


@pytest.mark.parametrize("kind", [MemoryIndex, StorageOnlyIndex, PostingsOnlyIndex])
def test_rules_with_complete_keys_are_pruned_for_every_index(rules, kind, monkeypatch):
	idx = fill(kind(), rules)
	seen = _evaluated(monkeypatch)
	# shares only a mobile number with C003 (phones: complete keys), nothing else with anyone
	got = check_record(rules, {"customer_name": "无关公司", "phone_3": "13912345678"}, idx)
	assert [(m.id, m.rule) for m in got] == [("C003", "phones")]
	evaluated = {name for (cid, name) in seen if cid == "C003"}
	# uscc and email have complete keys the pair does not share: never evaluated
	assert "uscc" not in evaluated and "email" not in evaluated
	assert "phones" in evaluated


def test_pruning_needs_a_complete_lookup(rules, monkeypatch):
	"""A rule whose lookup was cut short by a too common key is evaluated for every candidate."""

	every_rule = {r.name for r in rules.rules}

	class Incomplete(StorageOnlyIndex):
		def lookup(self, keys, exclude=(), cap=100):
			found, _ = super().lookup(keys, exclude, cap)
			return found, every_rule

	pruned = fill(StorageOnlyIndex(), rules)
	unpruned = fill(Incomplete(), rules)
	query = {"customer_name": "无关公司", "phone_3": "13912345678"}
	seen = _evaluated(monkeypatch)
	a = answers(rules, pruned, query)
	with_pruning = dict(seen)
	seen.clear()
	b = answers(rules, unpruned, query)
	assert a == b == [("C003", "phones", "block", 100.0, a[0][4])]
	assert ("C003", "uscc") not in with_pruning and ("C003", "uscc") in seen
	assert sum(with_pruning.values()) < sum(seen.values())
