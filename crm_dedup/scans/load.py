"""Loading the records a scan compares: whole tables page by page, or a list of names in bulk.

Records are what ``crm_dedup.core.records.load_records`` gives (plain fields, child-table paths as lists of
their non-blank values), read with keyset pagination and tuples instead of one ``name in (...)`` query per
thousand names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import frappe
from frappe import _

from crm_dedup.core import scope
from crm_dedup.core.config import compiled
from crm_dedup.core.records import load_records, split_paths

LOAD_BATCH = 5000  # names per bulk load
PAGE = 20000  # rows per keyset page of a full-table load

Progress = Callable[..., None]


def all_names(doctype: str) -> list[str]:
	dt = frappe.qb.DocType(doctype)
	return frappe.qb.from_(dt).select(dt.name).orderby(dt.name).run(pluck=True)


def step_paths(step: dict) -> list[str]:
	"""The field paths the rules of one scan step read."""
	comp = compiled()
	out: dict[str, None] = {}
	for name in step["rules"]:
		if name in comp.rules:
			out.update(dict.fromkeys(comp.rule_paths(name)))
			out.update(dict.fromkeys(scope.paths(step["doctype"], comp.rules[name]["applies"])))
	return list(out)


def step_ruleset(step: dict) -> Any:
	"""The engine RuleSet of one scan step; fails when one of its rules went away while the scan ran."""
	comp = compiled()
	missing = [r for r in step["rules"] if r not in comp.rules]
	if missing:
		raise frappe.ValidationError(
			_("Rule {0} was disabled or deleted while the scan ran.").format(", ".join(missing))
		)
	return comp.ruleset(step["rules"])


def iter_records(
	doctype: str, names: list[str], paths: list[str], progress: Progress | None, lo: float, hi: float
) -> Iterator[tuple[str, dict]]:
	"""(name, record) for ``names``, loaded in bulk (one query per table per LOAD_BATCH names)."""
	total = max(len(names), 1)
	for start in range(0, len(names), LOAD_BATCH):
		batch = names[start : start + LOAD_BATCH]
		recs = load_records(doctype, batch, paths)
		for n in batch:
			rec = recs.get(n)
			if rec is not None:
				yield n, rec
		if progress:
			done = min(start + LOAD_BATCH, len(names))
			progress(
				lo + (hi - lo) * done / total,
				_("Loading {0}: {1} of {2}").format(_(doctype), done, len(names)),
			)


def iter_table(
	doctype: str,
	paths: list[str],
	first: str | None = None,
	last: str | None = None,
	progress: Progress | None = None,
	lo: float = 0.0,
	hi: float = 0.0,
	total: int = 0,
) -> Iterator[tuple[str, dict]]:
	"""(name, record) of every record of ``doctype`` (names in [first, last] when given), in name order."""
	plain, tables = split_paths(doctype, paths)
	cols = ["name", *[p for p in plain if p != "name"]]
	after: str | None = None
	done = 0
	while True:
		rows = _page(doctype, cols, after, first, last)
		if not rows:
			return
		page: dict[str, dict] = {}
		for row in rows:
			rec = dict(zip(cols, row, strict=True))
			name = rec["name"] if "name" in plain else rec.pop("name")
			for table, (_child, child_cols) in tables.items():
				for c in child_cols:
					rec[f"{table}.{c}"] = []
			page[name] = rec
		_add_children(doctype, tables, page)
		yield from page.items()
		done += len(rows)
		after = rows[-1][0]
		if progress:
			progress(
				lo + (hi - lo) * min(1.0, done / (total or done)),
				_("Loading {0}: {1} of {2}").format(_(doctype), done, total or done),
			)
		if len(rows) < PAGE:
			return


def _page(doctype: str, cols: list[str], after: str | None, first: str | None, last: str | None) -> list:
	"""One keyset page: the next PAGE rows (``cols``, name first) after ``after`` within [first, last]."""
	dt = frappe.qb.DocType(doctype)
	q = frappe.qb.from_(dt).select(*[dt[c] for c in cols]).orderby(dt.name).limit(PAGE)
	if after is not None:
		q = q.where(dt.name > after)
	elif first is not None:
		q = q.where(dt.name >= first)
	if last is not None:
		q = q.where(dt.name <= last)
	return q.run()


def _add_children(doctype: str, tables: dict[str, tuple[str, list[str]]], page: dict[str, dict]) -> None:
	"""Appends the non-blank child-table values of the page's records, in row order."""
	for table, (child, child_cols) in tables.items():
		c = frappe.qb.DocType(child)
		rows = (
			frappe.qb.from_(c)
			.select(c.parent, *[c[col] for col in child_cols])
			.where((c.parenttype == doctype) & (c.parentfield == table) & c.parent.isin(list(page)))
			.orderby(c.parent)
			.orderby(c.idx)
			.run()
		)
		for row in rows:
			rec = page.get(row[0])
			if rec is None:
				continue
			for col, v in zip(child_cols, row[1:], strict=True):
				if v not in (None, ""):
					rec[f"{table}.{col}"].append(v)
