"""Check one record against an index: look up candidates by key, score only those.

Two things keep a check cheap without changing its answer:

- a stored record is prepared lazily (``LazyValues``): a comparison prepares only the fields it reaches, and
  most candidates fail on their first condition;
- a rule whose blocking keys are complete (every blocking condition is an equality type: exact, normalized,
  phone, email, id_code) can only fire for a candidate that shares one of its keys, so for the other
  candidates it is not evaluated at all, unless the lookup of its keys was cut short by a too common key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .index import DEFAULT_CAP, KeyIndex
from .match import COMPARATORS, FUZZY_TYPES, Comparator, Match, Value
from .rules import Condition, Prepared, Rule, RuleSet

# Rough cost of preparing one value of each type (µs): conditions are tried cheapest first.
_COST = {"exact": 1, "normalized": 1, "email": 1, "person_name": 17, "company_name": 25, "fuzzy": 5}
_COST_DEFAULT = 30  # phone, id_code


class LazyValues(dict):
	"""``Prepared.values`` that prepares a signature the first time a comparison asks for it.

	``compact`` may hold already prepared values as (field, raw, norm, note) tuples (from a worker process).
	"""

	__slots__ = ("rules", "record", "compact")

	def __init__(self, rules: RuleSet, record: Mapping[str, Any], compact: dict | None = None) -> None:
		super().__init__()
		self.rules = rules
		self.record = record
		self.compact = compact

	def __missing__(self, signature: tuple) -> list[Value]:
		packed = self.compact.get(signature) if self.compact else None
		if packed is not None:
			values = [Value(*v) for v in packed]
		else:
			values = self.rules.prepare_values(self.record, signature)
		self[signature] = values
		return values

	def ready(self, signature: tuple) -> bool:
		return dict.__contains__(self, signature) or bool(self.compact and signature in self.compact)


def lazy_prepare(rules: RuleSet, record: Mapping[str, Any], id: Any = None) -> Prepared:
	return Prepared(id, record, LazyValues(rules, record))


def key_complete(rule: Rule) -> bool:
	"""True when the rule can only fire for two records that share one of its blocking keys.

	That holds when every blocking condition compares by equality of the prepared value and its key is that
	value (the base Comparator behaviour of the exact types); fuzzy types' keys only find likely candidates.
	"""
	for i in rule.blocking_conditions:
		cond = rule.conditions[i]
		cmp = type(COMPARATORS[cond.match])
		if (
			cond.match in FUZZY_TYPES
			or cmp.compare is not Comparator.compare
			or cmp.keys is not Comparator.keys
		):
			return False
	return True


def condition_fails(cond: Condition, va: list[Value], vb: list[Value]) -> bool:
	"""Exactly when ``RuleSet.compare_rule`` gives up on this condition (so the rule cannot fire)."""
	if not va or not vb:
		return cond.blank != "ignore"
	compare = COMPARATORS[cond.match].compare
	threshold = cond.threshold if cond.match in FUZZY_TYPES else 100.0
	for x in va:
		for y in vb:
			if compare(x.norm, y.norm).score >= threshold:
				return False
	return True


def _cost(cond: Condition, a: Prepared, b: Prepared) -> int:
	cost = 0
	for p in (a, b):
		vals = p.values
		if not (isinstance(vals, LazyValues) and not vals.ready(cond.signature)):
			continue
		cost += _COST.get(cond.match, _COST_DEFAULT)
	return cost


def may_fire(rule: Rule, a: Prepared, b: Prepared) -> bool:
	"""False when some condition of ``rule`` certainly fails for (a, b); conditions whose values are already
	prepared are tried first, then the cheapest to prepare. True means: ask ``compare_rule``."""
	conds = rule.conditions
	if len(conds) > 1:
		conds = sorted(conds, key=lambda c: _cost(c, a, b))
	for cond in conds:
		sig = cond.signature
		if condition_fails(cond, a.values[sig], b.values[sig]):
			return False
	return True


def compare_lazily(rules: RuleSet, a: Prepared, b: Prepared, candidates: Iterable[Rule]) -> Match | None:
	"""``rules.compare(a, b, candidates)``, with rules that certainly do not fire skipped cheaply."""
	for rule in candidates:
		if may_fire(rule, a, b):
			m = rules.compare_rule(rule, a, b)
			if m is not None:
				return m
	return None


def check_record(
	rules: RuleSet,
	record: Mapping[str, Any],
	index: KeyIndex,
	exclude: Iterable[str] = (),
	cap: int = DEFAULT_CAP,
	limit: int | None = None,
) -> list[Match]:
	"""Every stored record some rule matches, best first (lowest priority number, then highest score).

	``exclude`` names ids that must never match (the record itself, when an update is checked).
	"""
	query = rules.prepare(record)
	keys = rules.keys(query)
	if not keys:
		return []
	candidates, incomplete = index.lookup(keys, exclude=exclude, cap=cap)
	if not candidates:
		return []
	always = {r.name for r in rules.rules if r.name in incomplete or not key_complete(r)}
	smart = {s.name: s for s in rules.smart}
	by_shared: dict[frozenset, list[Rule]] = {}
	todo: dict[str, list[Rule]] = {}
	for cid, shared in candidates.items():
		fs = frozenset(shared)
		to_eval = by_shared.get(fs)
		if to_eval is None:
			to_eval = by_shared[fs] = [r for r in rules.rules if r.name in always or r.name in fs]
		if to_eval or (smart and not fs.isdisjoint(smart)):
			todo[cid] = to_eval
	if not todo:
		return []
	stored = index.records(todo)
	matches = []
	smart_query = {name: s.prepare(record) for name, s in smart.items()}
	for cid, rec in stored.items():
		m = compare_lazily(rules, query, lazy_prepare(rules, rec, id=cid), todo[cid]) if todo[cid] else None
		for name in smart_query.keys() & candidates[cid]:  # smart rules score candidates under their keys
			sm = smart[name].compare_prepared(smart_query[name], smart[name].prepare(rec), cid)
			if sm is not None and (m is None or sm.sort_key() < m.sort_key()):
				m = sm
		if m is not None:
			matches.append(m)
	matches.sort(key=Match.sort_key)
	return matches[:limit] if limit else matches
