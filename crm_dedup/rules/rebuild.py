# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt
"""The key index rebuild: re-creates the Dedup Key rows of one rule or of all (``enqueue_rebuild`` runs it as a job
on the long queue, with progress on the rule form; ``bench --site SITE execute crm_dedup.rules.rebuild.rebuild``)."""

from __future__ import annotations

from typing import Any

import frappe
from frappe import _
from frappe.utils import now_datetime

from crm_dedup.core.config import Compiled, clear_cache, compiled
from crm_dedup.core.keys import BATCH, TABLE, insert_rows, stored_key
from crm_dedup.core.records import load_records, map_record


def enqueue_rebuild(rule: str | None = None) -> None:
	"""Rebuilds the index (of one rule, or all) in a background job on the long queue."""
	frappe.enqueue(
		"crm_dedup.rules.rebuild.rebuild",
		queue="long",
		timeout=4 * 3600,
		job_id=f"crm_dedup_rebuild::{frappe.local.site}::{rule or '*'}",
		deduplicate=True,
		enqueue_after_commit=True,
		rule=rule,
	)


def rebuild(rule: str | None = None, commit: bool = True, progress: bool = True) -> dict:
	"""Re-creates the Dedup Key rows of one rule (or of every enabled rule) from the records.

	``bench --site SITE execute crm_dedup.rules.rebuild.rebuild [--kwargs "{'rule': 'R'}"]``. Commits per batch
	of records (``commit=False`` in tests) and publishes progress to the desk.
	"""
	clear_cache()
	comp = compiled()
	if rule:
		if rule not in comp.rules:
			frappe.db.sql(f"delete from `{TABLE}` where rule=%s", rule)
			_set_status(rule, _("Not indexed (rule disabled)"), 0)
			_commit(commit)
			return {rule: 0}
		rule_names = [rule]
	else:
		rule_names = list(comp.rules)
		# keys of rules that are gone or disabled (read from the table, not from a filtered configuration)
		live = tuple(frappe.get_all("Dedup Rule", filters={"enabled": 1}, pluck="name")) or ("",)
		frappe.db.sql(f"delete from `{TABLE}` where rule not in %(live)s", {"live": live})
	counts: dict[str, int] = {}
	# progress on the form the rebuild was started from: the rule's, or Dedup Settings for all rules
	where = ("Dedup Rule", rule) if rule else ("Dedup Settings", "Dedup Settings")
	for rname in rule_names:
		counts[rname] = _rebuild_rule(comp, rname, commit, progress, where)
	return counts


def _rebuild_rule(comp: Compiled, rname: str, commit: bool, progress: bool, where: tuple[str, str]) -> int:
	r = comp.rules[rname]
	rs = comp.ruleset((rname,))
	_set_status(rname, _("Rebuilding"), None)
	frappe.db.sql(f"delete from `{TABLE}` where rule=%s", rname)
	_commit(commit)
	sources: list[tuple[str, dict | None]] = [(r["target"], None)]
	sources += [(other, fmap) for other, fmap in r["cross"].items()]
	totals = {src: frappe.db.count(src) for src, _f in sources}
	grand = sum(totals.values()) or 1
	done = 0
	nkeys = 0
	for src, fmap in sources:
		if fmap is None:
			paths = comp.rule_paths(rname)
		else:
			paths = list(dict.fromkeys(p for ps in fmap.values() for p in ps))
		last = ""
		while True:
			names = frappe.db.sql(
				f"select name from `tab{src}` where name > %s order by name limit {BATCH}", last, pluck=True
			)
			if not names:
				break
			last = names[-1]
			recs = load_records(src, names, paths)
			rows = []
			for name, rec in recs.items():
				if fmap is not None:
					rec = map_record(rec, fmap)
				elif not comp.searchable(rname, rec):
					continue
				for k in rs.keys(rs.prepare(rec)).get(rname, ()):  # condition or smart rule
					rows.append((rname, stored_key(k), src, name))
			rows.sort()
			insert_rows(rows)
			nkeys += len(rows)
			done += len(names)
			_commit(commit)
			if progress:
				frappe.publish_progress(
					min(99, done * 100 / grand),
					title=_("Rebuilding key index"),
					doctype=where[0],
					docname=where[1],
					description=_("{0}: {1} of {2} records").format(rname, done, grand),
				)
	_set_status(rname, _("Indexed"), nkeys)
	_commit(commit)
	if progress:
		frappe.publish_progress(
			100, title=_("Rebuilding key index"), doctype=where[0], docname=where[1], description=rname
		)
	return nkeys


def _set_status(rule: str, status: str, nkeys: int | None) -> None:
	values: dict[str, Any] = {"index_status": status}
	if nkeys is not None:
		values.update({"last_indexed": now_datetime(), "indexed_keys": nkeys})
	frappe.db.set_value("Dedup Rule", rule, values, update_modified=False)


def _commit(commit: bool) -> None:
	if commit:
		frappe.db.commit()
