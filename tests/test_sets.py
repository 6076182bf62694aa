"""Duplicate sets from strong links only (issue #17): weak links never merge two sets, unsupported joins split."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_dedup.engine import (
	RuleError,
	RuleSet,
	build_sets,
	is_strong,
	possible_pairs,
	scan_records,
	size_distribution,
)
from crm_dedup.engine.match import ConditionHit, Match


def link(a: str, b: str, action: str = "block", score: float = 100.0, skipped: bool = False, fields: int = 2):
	"""A matched pair whose rule has ``fields`` agreeing conditions (and a blank one passed over: ``skipped``)."""
	hits = [ConditionHit("phone", f"p{i}", "1", f"p{i}", "1", score) for i in range(fields)]
	if skipped:
		hits.append(ConditionHit("normalized", "city", "", "city", "", 0.0, "blank, ignored", skipped=True))
	return (a, b, Match(b, f"r-{action}", action, 1, score, hits))


def test_strong_links():
	assert is_strong(link("1", "2")[2])
	assert is_strong(link("1", "2", "warn", 95)[2]) and not is_strong(link("1", "2", "warn", 94.9)[2])
	assert not is_strong(link("1", "2", "warn", 100, skipped=True)[2])  # half the evidence
	assert not is_strong(link("1", "2", "warn", 100)[2], threshold=101)


def test_a_weak_link_never_merges_two_sets():
	pairs = [link("1", "2"), link("3", "4"), link("2", "3", "warn", 90)]
	sets, possible, cut = build_sets(pairs)
	assert sets == [["1", "2"], ["3", "4"]] and cut == 0
	assert [(a, b) for a, b, _ in possible] == [("2", "3")]


def test_a_strong_warn_link_does_merge():
	pairs = [link("1", "2"), link("3", "4"), link("2", "3", "warn", 98), link("1", "3", "warn", 96)]
	sets, possible, _ = build_sets(pairs)
	assert sets == [["1", "2", "3", "4"]] and possible == []


def test_weak_links_pair_lone_records_mutual_best_only():
	"""1 ~ 2 (90) and 2 ~ 3 (92): 2 and 3 are each other's best, 1 is left with a possible link; a chain of
	weak links never grows a set."""
	pairs = [link("1", "2", "warn", 90), link("2", "3", "warn", 92), link("3", "4", "log", 80)]
	sets, possible, _ = build_sets(pairs)
	assert sets == [["2", "3"]]
	assert sorted((a, b) for a, b, _ in possible) == [("1", "2"), ("3", "4")]


def test_a_weak_link_on_one_field_pairs_nothing_but_is_a_possible_pair():
	"""A name 91 similar and nothing else compared (汉瑞盛亿 ~ 汉瑞亿): no set; the mutual best such link between
	two records in no set is a possible pair, and a chain of them still pairs each record once."""
	pairs = [
		link("1", "2", "warn", 91, fields=1),
		link("2", "3", "warn", 92, fields=1),
		link("5", "6", "warn", 90, fields=2),
		link("7", "8"),
		link("8", "9", "warn", 93, fields=1),
	]
	sets, possible, _ = build_sets(pairs)
	assert sets == [["5", "6"], ["7", "8"]]
	assert [(a, b) for a, b, _ in possible] == [("1", "2"), ("2", "3"), ("8", "9")]
	assert [(a, b) for a, b, _ in possible_pairs(sets, possible)] == [("2", "3")]


def test_a_possible_pair_is_explained_by_its_strongest_link():
	pairs = [link("1", "2", "log", 94, fields=1), link("2", "1", "warn", 91, fields=1)]
	sets, possible, _ = build_sets(pairs)
	assert sets == [] and [(a, b, m.action) for a, b, m in possible_pairs(sets, possible)] == [
		("2", "1", "warn")
	]


def test_a_half_evidence_weak_link_pairs_nothing():
	sets, possible, _ = build_sets([link("1", "2", "warn", 100, skipped=True)])
	assert sets == [] and len(possible) == 1 and possible_pairs(sets, possible) == []


def test_a_weak_link_to_a_set_stays_possible():
	sets, possible, _ = build_sets([link("1", "2"), link("2", "3", "warn", 90)])
	assert sets == [["1", "2"]] and [(a, b) for a, b, _ in possible] == [("2", "3")]


def test_two_groups_joined_by_one_link_are_split_at_it():
	"""A1-A2-A3 (a triangle) and B1-B2 joined by one link A3~B1 (a re-used landline): two sets, the link kept
	as a possible link."""
	pairs = [
		link("a1", "a2"),
		link("a1", "a3"),
		link("a2", "a3"),
		link("b1", "b2"),
		link("a3", "b1"),
	]
	sets, possible, cut = build_sets(pairs)
	assert sets == [["a1", "a2", "a3"], ["b1", "b2"]] and cut == 1
	assert [(a, b) for a, b, _ in possible] == [("a3", "b1")]


def test_the_weakest_of_two_joins_is_cut_first():
	"""1=2=3 and 5=6 and 7=8 in a chain 3 -(warn 96)- 5 -(block)- 7 ... each join has two records or more on
	both sides; the warn link is cut first, then the block one."""
	tri = [link("1", "2"), link("1", "3"), link("2", "3")]
	pairs = tri + [link("5", "6"), link("7", "8"), link("3", "5", "warn", 96), link("6", "7")]
	sets, possible, cut = build_sets(pairs)
	assert sets == [["1", "2", "3"], ["5", "6"], ["7", "8"]] and cut == 2
	assert sorted((a, b) for a, b, _ in possible) == [("3", "5"), ("6", "7")]


def test_a_star_is_never_split():
	"""An original and five copies typed from it, linked to it alone: one set of six."""
	pairs = [link("0", str(i)) for i in range(1, 6)]
	sets, possible, cut = build_sets(pairs)
	assert sets == [["0", "1", "2", "3", "4", "5"]] and possible == [] and cut == 0


def test_a_dense_group_is_kept_whole():
	ids = [str(i) for i in range(8)]
	pairs = [link(a, b) for i, a in enumerate(ids) for b in ids[i + 1 :] if (int(a) + int(b)) % 3]
	sets, _, cut = build_sets(pairs)
	assert sets == [ids] and cut == 0


def test_size_distribution():
	assert size_distribution([["1", "2", "3"], ["4", "5"], ["6", "7"]]) == {2: 2, 3: 1}


def test_set_threshold_option():
	base = {"rules": [{"name": "r", "conditions": [{"fields": ["v"], "match": "exact"}]}]}
	assert RuleSet.from_dict(base).set_threshold == 95.0
	rules = RuleSet.from_dict(dict(base, options={"set_threshold": 101}))
	assert rules.set_threshold == 101.0 and rules.to_dict()["options"]["set_threshold"] == 101.0
	assert RuleSet.from_dict(rules.to_dict()).set_threshold == 101.0
	for bad in (-1, 102, "95", True):
		with pytest.raises(RuleError, match="set_threshold"):
			RuleSet.from_dict(dict(base, options={"set_threshold": bad}))


def test_scan_result_sets_and_possible_links():
	"""A Block phone rule and a Warn name rule: the name link between two phone sets is a possible link."""
	rules = RuleSet.from_dict(
		{
			"rules": [
				{
					"name": "phone",
					"priority": 1,
					"action": "block",
					"conditions": [{"fields": ["p"], "match": "phone"}],
				},
				{
					"name": "name",
					"priority": 2,
					"action": "warn",
					"conditions": [{"fields": ["n"], "match": "company_name", "threshold": 80}],
				},
			]
		}
	)
	records = [
		("1", {"p": "13612345678", "n": "金陵餐饮有限公司"}),
		("2", {"p": "+86 136 1234 5678", "n": ""}),
		("3", {"p": "13912345678", "n": "金陵餐饮店"}),  # 字号 金陵, a shop ending added: 85, a weak link
		("4", {"p": "139-1234-5678", "n": ""}),
	]
	result = scan_records(rules, records)
	assert result.clusters == [["1", "2"], ["3", "4"]]
	assert [(a, b, m.rule) for a, b, m in result.possible] == [("1", "3", "name")]
	assert result.size_distribution() == {2: 2}
	assert result.stats["largest_set"] == 2 and result.stats["possible"] == 1


@settings(max_examples=150, deadline=None)
@given(
	st.lists(
		st.tuples(
			st.integers(0, 14),
			st.integers(0, 14),
			st.sampled_from(["block", "warn", "log"]),
			st.sampled_from([80.0, 90.0, 95.0, 100.0]),
			st.integers(1, 2),
		),
		max_size=40,
	)
)
def test_sets_properties(raw):
	pairs = [link(str(a), str(b), act, sc, fields=f) for a, b, act, sc, f in raw if a != b]
	sets, possible, _ = build_sets(pairs)
	members = [i for s in sets for i in s]
	assert len(members) == len(set(members))  # a record is in one set at most
	assert all(len(s) >= 2 for s in sets)
	set_of = {i: n for n, s in enumerate(sets) for i in s}
	# every pair is either inside one set or a possible link; weak links never join two sets
	for a, b, m in pairs:
		inside = a in set_of and set_of.get(a) == set_of.get(b)
		assert inside != any(p[0] == a and p[1] == b and p[2] is m for p in possible)
	# possible pairs: links of the list, between records in no set, each record in one of them at most
	lone = possible_pairs(sets, possible)
	paired = [i for a, b, _ in lone for i in (a, b)]
	assert len(paired) == len(set(paired)) and not set(paired) & set(set_of)
	assert all(any(p[2] is m for p in possible) for _a, _b, m in lone)
	# a one-field weak link never builds a set on its own
	for s_ in sets:
		inside = [m for a, b, m in pairs if a in s_ and b in s_]
		assert any(is_strong(m) or len(m.hits) >= 2 for m in inside)
	if len({frozenset((a, b)) for a, b, _ in pairs}) == len(pairs):  # the result does not depend on the order
		assert build_sets(list(reversed(pairs)))[0] == sets
