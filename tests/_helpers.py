"""Helpers shared by the test modules (imported as ``from _helpers import ...``)."""

from __future__ import annotations

from pathlib import Path

from crm_dedup.engine import RuleSet

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def one_rule(match: str, fields=("v",), threshold=None, blank="fail", name="r", action="block", priority=1):
	"""A rule set with a single one-condition rule, for testing one match type at a time."""
	cond = {"fields": list(fields), "match": match, "blank": blank}
	if threshold is not None:
		cond["threshold"] = threshold
	return RuleSet.from_dict(
		{"rules": [{"name": name, "priority": priority, "action": action, "conditions": [cond]}]}
	)


def compare(rules: RuleSet, a: dict, b: dict):
	"""The best Match of record b for query a (or None)."""
	return rules.compare(rules.prepare(a, id="A"), rules.prepare(b, id="B"))


def matches(rules: RuleSet, a, b) -> bool:
	"""Whether two single values (or records) match; checks both directions agree."""
	ra = a if isinstance(a, dict) else {"v": a}
	rb = b if isinstance(b, dict) else {"v": b}
	ab = compare(rules, ra, rb)
	ba = compare(rules, rb, ra)
	assert (ab is None) == (ba is None), f"compare is not symmetric for {a!r} / {b!r}"
	return ab is not None
