"""Values shared by many unrelated records: the placeholders of this data that no list knows yet.

``common_values`` groups the records by each prepared value of each condition (values already treated as
placeholders are never prepared, so they are never reported) and keeps the values that at least
``min_records`` *different-looking* records share. Records look alike when they share a value of some other
rule field (a phone, a tax id, a company name core, ... after normalisation): the records of one value are
joined into groups that way, and ``distinct_others`` is the number of groups. Five rows of one customer that
share its phone also share its name or e-mail, so they form one group and their phone is not reported; a
filler such as ``99999`` typed on five unrelated companies forms five groups and is.

Only identifying conditions are looked at (and used to join records): those with ``blank: "fail"`` in some
rule. A condition that is ``blank: "ignore"`` everywhere (a city beside a company name) only qualifies a
match, and its values (南京, 上海) are shared by nature.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from .match import PersonForm, Value
from .rules import RuleSet


def _norm_text(norm: Any) -> str:
	if isinstance(norm, PersonForm):
		return norm.han or (norm.variants[0] if norm.variants else "")
	return str(norm)


def common_values(
	rules: RuleSet,
	records: Iterable[tuple[Any, Mapping[str, Any]]],
	min_records: int = 5,
	limit: int = 50,
) -> list[dict]:
	"""The values (after normalisation, per condition) shared by at least ``min_records`` records that look
	unrelated otherwise: likely placeholders of this data, for an admin to add to ``options.placeholders``.

	Each dict: ``field`` (the field the value is most often in), ``match``, ``value`` (its most common raw
	form), ``norm`` (the normalised value, as text), ``records`` (how many records have it),
	``distinct_others`` (into how many groups those records fall when records sharing any value of the
	other rule fields are joined: the number of apparently different customers; at least ``min_records``
	for a value to be reported) and ``example_ids`` (the first five). Most suspicious first: most
	``distinct_others``, then most ``records``. At most ``limit`` dicts.
	"""
	items = records if isinstance(records, list) else list(records)
	min_records = max(2, int(min_records))
	# identifying values only: a condition that is blank="ignore" in every rule (a city beside a name) only
	# qualifies a match, and its values are shared by nature
	sigs = [
		sig
		for sig in rules.signatures
		if any(c.signature == sig and c.blank == "fail" for r in rules.rules for c in r.conditions)
	]
	memo: dict[tuple[int, tuple], list[Value]] = {}

	def values(n: int, sig: tuple) -> list[Value]:
		got = memo.get((n, sig))
		if got is None:
			got = memo[(n, sig)] = rules.prepare_values(items[n][1], sig)
		return got

	# pass 1: per condition signature, normalised value -> the records that have it (an int while one does)
	buckets: dict[tuple, dict[Any, Any]] = {sig: {} for sig in sigs}
	for n, (_, rec) in enumerate(items):
		for sig in sigs:
			b = buckets[sig]
			for v in rules.prepare_values(rec, sig):
				got = b.setdefault(v.norm, n)
				if got is n:
					continue
				if got.__class__ is int:
					if got != n:
						b[v.norm] = [got, n]
				elif got[-1] != n:
					got.append(n)

	out = []
	for sig in sigs:
		fields, match = sig
		others = [s for s in sigs if not set(s[0]) & set(fields)]
		for norm, members in buckets[sig].items():
			if members.__class__ is int or len(members) < min_records:
				continue
			distinct = _groups(members, others, values)
			if distinct < min_records:
				continue
			raws: Counter = Counter()
			where: Counter = Counter()
			for n in members:
				for v in values(n, sig):
					if v.norm == norm:
						raws[v.raw] += 1
						where[v.field] += 1
			out.append(
				{
					"field": where.most_common(1)[0][0],
					"match": match,
					"value": raws.most_common(1)[0][0],
					"norm": _norm_text(norm),
					"records": len(members),
					"distinct_others": distinct,
					"example_ids": [str(items[n][0]) for n in members[:5]],
				}
			)
		buckets[sig] = {}
	out.sort(key=lambda d: (-d["distinct_others"], -d["records"], d["field"], d["norm"]))
	return out[: max(0, int(limit))]


def _groups(members: list[int], others: list[tuple], values) -> int:
	"""Into how many groups ``members`` fall when two records sharing a value of another signature are one."""
	parent = {n: n for n in members}

	def find(x: int) -> int:
		while parent[x] != x:
			parent[x] = parent[parent[x]]
			x = parent[x]
		return x

	groups = len(members)
	for sig in others:
		first: dict[Any, int] = {}
		for n in members:
			for v in values(n, sig):
				m = first.setdefault(v.norm, n)
				if m != n:
					a, b = find(m), find(n)
					if a != b:
						parent[a] = b
						groups -= 1
	return groups
