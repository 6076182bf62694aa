"""A scan's keying (``scan._key_records``, the rules compiled once with their values kept by text) gives
exactly what the plain reference gives: each record's values from ``RuleSet.prepare_values`` (through
``LazyValues``), its key hashes from ``scan._hashed_keys``, packed and dumped as ``_Judge`` reads them."""

from __future__ import annotations

import csv

import numpy as np
from _helpers import EXAMPLES
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_dedup.engine import load_rules, scan_keyed, scan_records
from crm_dedup.engine import scan as scan_module
from crm_dedup.engine.check import LazyValues
from crm_dedup.engine.match import COMPARATORS
from crm_dedup.engine.store import dump, load

RULES = load_rules(EXAMPLES / "rules.json")
# several blocking conditions (namespaced keys), a scope, a set type (merge_values), the generic fuzzy type,
# a company name blocked at two thresholds, a date (no keys) and phones over two fields
MIXED = load_rules(
	{
		"rules": [
			{
				"name": "loose",
				"conditions": [
					{"fields": ["city"], "match": "normalized", "blank": "ignore"},
					{"fields": ["email_id"], "match": "email", "blank": "ignore"},
				],
			},
			{
				"name": "scoped",
				"within": ["city"],
				"conditions": [{"fields": ["phone_1", "mobile_no"], "match": "phone"}],
			},
			{"name": "items", "conditions": [{"fields": ["items"], "match": "set_overlap", "threshold": 50}]},
			{"name": "fz", "conditions": [{"fields": ["contact_person"], "match": "fuzzy", "threshold": 80}]},
			{
				"name": "co",
				"conditions": [
					{"fields": ["customer_name"], "match": "company_name", "threshold": 85},
					{"fields": ["since"], "match": "date_within", "days": 30, "blank": "ignore"},
				],
			},
			{
				"name": "co100",
				"conditions": [{"fields": ["customer_name"], "match": "company_name", "threshold": 100}],
			},
			{"name": "tax", "conditions": [{"fields": ["tax_id", "city"], "match": "id_code"}]},
		]
	}
)


def _reference(rules, records, keep, hash=hash):
	"""``_key_records`` as it was before it was compiled: LazyValues and ``_hashed_keys`` per record."""
	plan = scan_module.key_plan(rules)
	ready = scan_module.ready_signatures(rules)
	packs = [getattr(COMPARATORS[sig[1]], "pack", None) for sig in ready]
	keys, norms_out, spill_out = [[] for _ in plan], [], []
	for rec in records:
		values = LazyValues(rules, rec)
		for r, hashes in enumerate(scan_module._hashed_keys(plan, values, hash)):
			keys[r].append(hashes)
		vals = [values[sig] for sig in ready]
		norms = tuple(
			tuple([v.norm for v in vs] if pack is None else [pack(v.norm) for v in vs])
			for vs, pack in zip(vals, packs, strict=True)
		)
		norms_out.append(dump(norms))
		packed = tuple(
			tuple((v.field, v.raw, n, v.note) for v, n in zip(vs, ns, strict=True))
			for vs, ns in zip(vals, norms, strict=True)
		)
		spill_out.append(dump((packed, rec if keep else None)))
	return keys, norms_out, spill_out


def _split(joined_part):
	data, lengths = joined_part
	ends = np.cumsum(lengths).tolist()
	return [data[a:b] for a, b in zip([0, *ends], ends, strict=False)]


def _assert_same(rules, records, keep=True, hash=hash):
	keyed, norms, spill, _notes = scan_module._key_records(rules, records, keep, hash)
	ref_keys, ref_norms, ref_spill = _reference(rules, records, keep, hash)
	# the same objects (not the same bytes: marshal marks objects referenced more than once)
	assert [load(b) for b in _split(norms)] == [load(b) for b in ref_norms]
	assert [load(b) for b in _split(spill)] == [load(b) for b in ref_spill]
	for (hashes, positions), want in zip(keyed, ref_keys, strict=True):
		assert hashes.dtype == np.int64 and positions.dtype == np.int32
		got = [[] for _ in records]
		for h, p in zip(hashes.tolist(), positions.tolist(), strict=True):
			got[p].append(h)
		assert [tuple(g) for g in got] == want


def _customers():
	with open(EXAMPLES / "customers.csv", encoding="utf-8") as f:
		return [{k: v for k, v in row.items() if k != "id"} for row in csv.DictReader(f)]


def test_keying_equals_the_reference_on_the_example_customers_twice():
	records = _customers()
	for rules in (RULES, MIXED):
		_assert_same(rules, records)
		_assert_same(rules, records, keep=False)  # the values are now kept by text: the same again
		_assert_same(rules, records, hash=scan_module.stable_hash)


def test_keying_equals_the_reference_on_odd_values():
	"""Values that are not text (None, numbers, lists of a child table), blanks, placeholders, repeated
	numbers in one field and the same number in two fields, sets for the set type, dates."""
	records = [
		{"customer_name": None, "city": 7, "phone_1": ["13612345678", "13612345678"], "items": ["a", "b"]},
		{"customer_name": "  ", "phone_1": "13612345678 / 13612345678", "mobile_no": "13612345678"},
		{"contact_person": "无", "email_id": "test@test.com", "tax_id": "N/A", "phone_1": "13800138000"},
		{"customer_name": "南京金陵餐饮有限公司", "since": "2024-01-05", "items": "a, b; c", "city": "南京"},
		{
			"customer_name": ["金陵餐饮", "Jinling Catering"],
			"contact_person": ["张伟", None, ""],
			"city": [" 南京 "],
		},
		{},
	]
	_assert_same(MIXED, records)
	_assert_same(MIXED, records[::-1])
	_assert_same(RULES, [{k: v for k, v in r.items() if k in RULES.fields} for r in records])


_TEXT = st.sampled_from(
	["", " ", "南京", "张伟", "Zhang Wei", "13612345678", "021-62345678", "+86 136 1234 5678", "无", "N/A"]
	+ ["zhangwei@jinling-food.cn", "91320100MA1XXXXX0A", "南京金陵餐饮有限公司", "金陵餐饮(南京)有限公司"]
) | st.text(max_size=12)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.fixed_dictionaries({f: _TEXT for f in sorted(MIXED.fields)}), max_size=6))
def test_keying_equals_the_reference_on_generated_records(records):
	_assert_same(MIXED, records)
	_assert_same(RULES, records)


def test_a_scan_keyed_in_chunks_equals_one_keyed_at_once():
	records = [(f"C{n}", rec) for n, rec in enumerate(_customers() * 3)]
	whole = scan_records(RULES, records, workers=1)
	chunks = [scan_module.key_chunk(RULES, records[lo : lo + 7]) for lo in range(0, len(records), 7)]
	parts = scan_keyed(RULES, iter(chunks), workers=1)
	assert [(a, b, m.rule, m.score) for a, b, m in whole.pairs] == [
		(a, b, m.rule, m.score) for a, b, m in parts.pairs
	]
	assert whole.pairs and whole.clusters == parts.clusters
