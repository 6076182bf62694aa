# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt
"""The comparison of one scan step under rule scope.

"Search within: same values of fields" lives in the engine (a scoped rule's keys carry the scope), so it needs
nothing here. "Applies when" and "Search within: records matching a filter" are Frappe filters the engine does
not know: the rules that have them are scanned in groups (one per distinct pair of filters), and a pair found
by such a group is kept only when one record could have been the new record and the other one the rule
searches — (applies(a) and searchable(b)) or (applies(b) and searchable(a)). A pair several groups find keeps
its strictest match (Block before Warn before Log only, then priority and score), and the sets are rebuilt from
the kept pairs (strong links only, ``engine.sets``), so a scan never pairs two records that no rule's scope would compare.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable

from crm_dedup.core import scope
from crm_dedup.core.config import ACTION_ORDER, compiled
from crm_dedup.engine import Match, ScanResult, build_sets, scan_all


def _group_key(rule: dict) -> str:
	if not (rule["applies"] or rule["search"]):
		return ""
	return json.dumps([rule["applies"], rule["search"]], sort_keys=True, default=str)


def keyed_apart(names: list[str]) -> bool:
	"""Whether a chunked scan of these rules can key its chunks apart and judge them in one place
	(``engine.key_chunk`` / ``scan_keyed``): condition rules only, none with a scope filter."""
	comp = compiled()
	rs = comp.ruleset(names)
	return not rs.smart and all(not _group_key(comp.rules[n]) for n in names)


def scan_step(
	doctype: str,
	names: list[str],
	records: list[tuple[str, dict]],
	progress: Callable[[str, int, int], None] | None,
	skip: set[tuple[str, str]] | None,
) -> ScanResult:
	"""``engine.scan_all`` (condition and smart rules) over ``records`` for the rules ``names`` of ``doctype``,
	scope filters honoured."""
	comp = compiled()
	groups: dict[str, list[str]] = defaultdict(list)
	for n in names:
		groups[_group_key(comp.rules[n])].append(n)
	if list(groups) == [""]:
		return scan_all(comp.ruleset(names), records, progress=progress, total=len(records), skip_pairs=skip)
	by_id = {str(rid): rec for rid, rec in records}
	best: dict[tuple[str, str], Match] = {}
	stats: Counter = Counter()
	for g, (key, group) in enumerate(groups.items()):
		result = scan_all(
			comp.ruleset(group),
			records,
			progress=_part(progress, g, len(groups)),
			total=len(records),
			skip_pairs=skip,
		)
		stats.update({k: v for k, v in result.stats.items() if k in ("compared", "oversized_keys")})
		keep = _gate(doctype, comp.rules[group[0]], by_id) if key else None
		for a, b, m in result.pairs:
			if keep is not None and not keep(a, b):
				continue
			old = best.get((a, b))
			if old is None or _strength(m) < _strength(old):
				best[(a, b)] = m
	pairs = [(a, b, m) for (a, b), m in sorted(best.items())]
	# sets from strong links only (engine.sets), as an ungated scan builds them
	clusters, possible, cut = build_sets(pairs, compiled().ruleset(names).set_threshold)
	stats.update(
		pairs=len(pairs),
		clusters=len(clusters),
		largest_set=max((len(c) for c in clusters), default=0),
		possible=len(possible),
		split_links=cut,
	)
	return ScanResult(pairs=pairs, clusters=clusters, possible=possible, stats=dict(stats))


def _strength(m: Match) -> tuple:
	return (ACTION_ORDER.get(m.action, 9), *m.sort_key())


def _gate(doctype: str, rule: dict, by_id: dict[str, dict]) -> Callable[[str, str], bool]:
	memo: dict[str, tuple[bool, bool]] = {}

	def sides(rid: str) -> tuple[bool, bool]:
		got = memo.get(rid)
		if got is None:
			rec = by_id.get(rid, {})
			applies = not rule["applies"] or scope.matches(doctype, rule["applies"], rec)
			searchable = not rule["search"] or scope.matches(doctype, rule["search"], rec)
			got = memo[rid] = (applies, searchable)
		return got

	def keep(a: str, b: str) -> bool:
		(app_a, in_a), (app_b, in_b) = sides(a), sides(b)
		return (app_a and in_b) or (app_b and in_a)

	return keep


def _part(progress: Callable | None, part: int, parts: int) -> Callable | None:
	"""The engine's progress of one group, as a monotonic share of the whole step (prepare 40 %, compare
	60 %, as the step's progress maps them)."""
	if progress is None:
		return None

	def on_progress(phase: str, done: int, total: int) -> None:
		f = done / total if total else 0.0
		overall = (part + (0.4 * f if phase == "prepare" else 0.4 + 0.6 * f)) / parts
		if overall < 0.4:
			progress("prepare", round(overall / 0.4 * 1000), 1000)
		else:
			progress("compare", round((overall - 0.4) / 0.6 * 1000), 1000)

	return on_progress
