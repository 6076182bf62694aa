"""Rule scope in the engine: ``within`` compares only records with the same values of the scope fields, in
the keys (check and scan) and in the comparison itself; a blank scope value is a scope of its own."""

from __future__ import annotations

from itertools import combinations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_dedup.engine import MemoryIndex, RuleError, RuleSet, check_record, scan_records

CHAIN = "鼎盛连锁超市"


def rules(within=None, action="block", name="store"):
	rule = {
		"name": name,
		"action": action,
		"conditions": [{"fields": ["customer_name"], "match": "company_name", "threshold": 90}],
	}
	if within is not None:
		rule["within"] = within
	return RuleSet.from_dict({"rules": [rule]})


STORES = [
	("sh1", {"customer_name": CHAIN + "有限公司", "territory": "Shanghai"}),
	("sh2", {"customer_name": CHAIN + "有限公司", "territory": " shanghai "}),
	("bj1", {"customer_name": CHAIN + "有限公司", "territory": "Beijing"}),
	("nx1", {"customer_name": CHAIN + "有限公司", "territory": ""}),
	("nx2", {"customer_name": CHAIN + "有限公司"}),
]


def indexed(rs, rows):
	index = MemoryIndex()
	for rid, rec in rows:
		index.put(rid, rs.keys(rs.prepare(rec)), rec)
	return index


def test_unscoped_rule_matches_across_territories():
	rs = rules()
	found = {m.id for m in check_record(rs, STORES[0][1], indexed(rs, STORES[1:]))}
	assert found == {"sh2", "bj1", "nx1", "nx2"}


def test_scoped_rule_matches_only_within_the_same_territory():
	rs = rules(within=["territory"])
	index = indexed(rs, STORES[1:])
	assert {m.id for m in check_record(rs, STORES[0][1], index)} == {"sh2"}  # case and spaces ignored
	beijing = {"customer_name": CHAIN + "有限公司", "territory": "Beijing"}
	assert {m.id for m in check_record(rs, beijing, index)} == {"bj1"}


def test_blank_scope_is_a_scope_of_its_own():
	rs = rules(within=["territory"])
	index = indexed(rs, STORES[:3] + STORES[4:])
	assert {m.id for m in check_record(rs, STORES[3][1], index)} == {"nx2"}


def test_scope_is_checked_by_the_comparison_too():
	"""Even a candidate found through another rule's keys is not matched across scopes."""
	rs = RuleSet.from_dict(
		{
			"rules": [
				{
					"name": "store",
					"priority": 1,
					"within": ["territory"],
					"conditions": [{"fields": ["customer_name"], "match": "company_name", "threshold": 90}],
				},
				{"name": "phone", "priority": 2, "conditions": [{"fields": ["phone"], "match": "phone"}]},
			]
		}
	)
	a = {"customer_name": CHAIN, "territory": "Shanghai", "phone": "13612345678"}
	b = {"customer_name": CHAIN, "territory": "Beijing", "phone": "136 1234 5678"}
	(m,) = check_record(rs, a, indexed(rs, [("b", b)]))
	assert m.rule == "phone"


def test_scan_never_pairs_across_scopes():
	rs = rules(within=["territory"])
	result = scan_records(rs, STORES)
	pairs = {tuple(sorted((a, b))) for a, b, _m in result.pairs}
	assert pairs == {("sh1", "sh2"), ("nx1", "nx2")}


def test_keys_of_two_scopes_differ():
	rs = rules(within=["territory"])
	a = rs.keys(rs.prepare(STORES[0][1]))["store"]
	b = rs.keys(rs.prepare(STORES[2][1]))["store"]
	assert a and b and not (a & b)


def test_within_round_trips_and_is_validated():
	rs = rules(within=["territory", "company"])
	assert rs.to_dict()["rules"][0]["within"] == ["territory", "company"]
	assert RuleSet.from_dict(rs.to_dict()).rules[0].within == ("territory", "company")
	with pytest.raises(RuleError, match="within must be a list"):
		rules(within=[""])
	with pytest.raises(RuleError, match="within must be a list"):
		rules(within={"territory": 1})
	with pytest.raises(RuleError, match="unknown column"):
		rules(within=["territory"]).check_columns(["customer_name"])


SCOPES = st.sampled_from(["Shanghai", "shanghai", "Beijing", "", None, " Beijing "])
NAMES = st.sampled_from([CHAIN, CHAIN + "有限公司", "华联超市", "华联超市有限公司", "鼎盛连锁"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(NAMES, SCOPES), min_size=2, max_size=12))
def test_scoped_scan_is_the_unscoped_scan_within_scopes(rows):
	"""Property: the pairs of a scoped scan are exactly the unscoped scan's pairs whose scopes are equal."""
	recs = [(f"r{i}", {"customer_name": n, "territory": t}) for i, (n, t) in enumerate(rows)]
	scoped, plain = rules(within=["territory"]), rules()
	rule = scoped.rules[0]
	got = {tuple(sorted((a, b))) for a, b, _m in scan_records(scoped, recs).pairs}
	scope = {rid: rule.scope_of(rec) for rid, rec in recs}
	want = {tuple(sorted((a, b))) for a, b, _m in scan_records(plain, recs).pairs if scope[a] == scope[b]}
	assert got == want
	# and a check of each record against the others agrees with the scan
	for (ida, a), (idb, b) in combinations(recs, 2):
		hit = bool(check_record(scoped, a, indexed(scoped, [(idb, b)])))
		assert hit == (tuple(sorted((ida, idb))) in got)
