"""Check one record against an index: look up candidates by key, score only those."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .index import DEFAULT_CAP, KeyIndex
from .match import Match
from .rules import RuleSet


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
	candidates = index.candidates(keys, exclude=exclude, cap=cap)
	if not candidates:
		return []
	stored = index.records(candidates)
	matches = []
	for cid, rec in stored.items():
		m = rules.compare(query, rules.prepare(rec, id=cid))
		if m is not None:
			matches.append(m)
	matches.sort(key=Match.sort_key)
	return matches[:limit] if limit else matches
