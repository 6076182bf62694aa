"""A whole table -> candidate pairs by shared key -> explained pairs -> clusters (union-find).

Records are grouped by blocking key, rule by rule; only records that share a key are compared. A key shared
by more than ``cap`` records is compared as a sorted neighbourhood (each record with its next ``window``
neighbours) so one placeholder value cannot make the scan quadratic; such keys are counted in the stats.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .match import Match
from .rules import Prepared, RuleSet

Progress = Callable[[str, int, int], None]


@dataclass
class ScanResult:
	pairs: list[tuple[str, str, Match]] = field(default_factory=list)  # (id_a, id_b, match), id_a < id_b
	clusters: list[list[str]] = field(default_factory=list)  # each sorted, largest first
	stats: dict[str, int] = field(default_factory=dict)

	def cluster_of(self) -> dict[str, int]:
		return {i: n for n, members in enumerate(self.clusters, 1) for i in members}


class UnionFind:
	def __init__(self) -> None:
		self.parent: dict[int, int] = {}

	def find(self, x: int) -> int:
		parent = self.parent
		root = x
		while parent.get(root, root) != root:
			root = parent[root]
		while parent.get(x, x) != root:
			parent[x], x = root, parent[x]
		return root

	def union(self, a: int, b: int) -> None:
		self.parent.setdefault(a, a)
		self.parent.setdefault(b, b)
		ra, rb = self.find(a), self.find(b)
		if ra != rb:
			if ra < rb:
				ra, rb = rb, ra
			self.parent[ra] = rb


def _sort_id(x: Any) -> tuple:
	s = str(x)
	return (0, int(s), s) if s.isdigit() else (1, 0, s)


def scan_records(
	rules: RuleSet,
	records: Iterable[tuple[Any, Mapping[str, Any]]],
	cap: int = 200,
	window: int = 20,
	progress: Progress | None = None,
	total: int | None = None,
	skip_pairs: set[tuple[str, str]] | None = None,
) -> ScanResult:
	"""Finds every matched pair among ``records`` ((id, record) pairs) and joins them into clusters.

	``skip_pairs`` holds (id_a, id_b) pairs known not to be duplicates, in either order; they never match.
	"""
	prepared: list[Prepared] = []
	buckets: dict[str, dict[str, list[int]]] = {r.name: defaultdict(list) for r in rules.rules}
	for n, (rid, rec) in enumerate(records):
		p = rules.prepare(rec, id=str(rid))
		prepared.append(p)
		for rule in rules.rules:
			for k in rules.rule_keys(rule, p):
				buckets[rule.name][k].append(n)
		if progress and n % 5000 == 4999:
			progress("prepare", n + 1, total or 0)
	count = len(prepared)
	if progress:
		progress("prepare", count, count)

	seen: set[int] = set()
	uf = UnionFind()
	result = ScanResult()
	oversized = 0
	compared = 0
	skip = skip_pairs or set()
	order = sorted(range(count), key=lambda i: _sort_id(prepared[i].id))
	rank = {i: r for r, i in enumerate(order)}
	total_buckets = sum(len(b) for b in buckets.values())
	done = 0
	for rule in rules.rules:
		for members in buckets[rule.name].values():
			done += 1
			if progress and done % 20000 == 0:
				progress("compare", done, total_buckets)
			if len(members) < 2:
				continue
			if len(members) > cap:
				oversized += 1
				members = sorted(members, key=rank.__getitem__)
				pairs = (
					(members[i], members[j])
					for i in range(len(members))
					for j in range(i + 1, min(i + 1 + window, len(members)))
				)
			else:
				pairs = (
					(members[i], members[j]) for i in range(len(members)) for j in range(i + 1, len(members))
				)
			for a, b in pairs:
				if a > b:
					a, b = b, a
				code = a * count + b
				if code in seen:
					continue
				seen.add(code)
				pa, pb = prepared[a], prepared[b]
				ida, idb = (pa.id, pb.id) if _sort_id(pa.id) <= _sort_id(pb.id) else (pb.id, pa.id)
				if skip and ((ida, idb) in skip or (idb, ida) in skip):
					continue
				compared += 1
				m = rules.compare(pa, pb)
				if m is None:
					continue
				uf.union(a, b)
				result.pairs.append((ida, idb, m))
	if progress:
		progress("compare", total_buckets, total_buckets)

	groups: dict[int, list[str]] = defaultdict(list)
	for i in list(uf.parent):
		groups[uf.find(i)].append(prepared[i].id)
	clusters = [sorted(g, key=_sort_id) for g in groups.values() if len(g) > 1]
	clusters.sort(key=lambda g: (-len(g), _sort_id(g[0])))
	result.clusters = clusters
	result.pairs.sort(key=lambda t: (_sort_id(t[0]), _sort_id(t[1])))
	result.stats = {
		"records": count,
		"compared": compared,
		"pairs": len(result.pairs),
		"clusters": len(clusters),
		"oversized_keys": oversized,
	}
	return result
