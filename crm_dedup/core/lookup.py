# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt
"""Duplicate search: the existing records that the enabled rules match for a document or a dict, through the
key index, with the records it merely relates to (its own Contacts, the Lead it came from, pairs marked "not a
duplicate") dropped.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import frappe

from crm_dedup.core.config import ACTION_ORDER, compiled
from crm_dedup.core.guard import lock_keys
from crm_dedup.core.keys import MariaDBIndex
from crm_dedup.core.owners import owner_of, owners_of
from crm_dedup.core.pairs import is_not_duplicate
from crm_dedup.core.records import PARTY_LINK_TABLE, doc_to_record, record_info
from crm_dedup.core.records import get_value as _get
from crm_dedup.engine import Match, check_record


@dataclass
class DuplicateHit:
	"""An existing record a rule matched."""

	doctype: str
	name: str
	match: Match
	owner: str | None = None
	created: Any = None
	title: str | None = None
	extra: dict = field(default_factory=dict)

	@property
	def action(self) -> str:
		return self.match.action

	def to_dict(self) -> dict:
		return {
			"doctype": self.doctype,
			"name": self.name,
			"owner": self.owner,
			"created": str(self.created) if self.created else None,
			"title": self.title,
			"match": self.match.to_dict(),
		}


def find_duplicates(
	doc_or_dict: Any,
	doctype: str | None = None,
	event: str = "insert",
	exclude_self: bool = True,
	lock: bool = False,
	limit: int | None = None,
) -> list[DuplicateHit]:
	"""Existing records that an enabled rule for ``event`` matches: Block hits first, then Warn, then Log only;
	within an action by priority and score. A record matched by rules of different actions appears once per
	action.

	Searches the target doctype and every cross-checked doctype through the key index. ``lock=True`` (the
	save path) first takes the database locks on the record's Block-rule keys, so two transactions saving the
	same new record are serialised until the first commits; the lookup then reads the latest committed keys.
	"""
	doctype = doctype or _get(doc_or_dict, "doctype")
	comp = compiled()
	if not comp.target_rules(doctype, event):
		return []
	record = doc_to_record(doc_or_dict, comp.query_fields(doctype, event))
	own = comp.applicable(doctype, event, record)  # "Applies when"
	if not own:
		return []
	views: list[tuple[str, tuple[str, ...], dict | None]] = [(doctype, own, None)]
	views += comp.cross_views(doctype, event, own)
	self_name = _get(doc_or_dict, "name") if exclude_self else None

	if lock:
		to_lock: dict[str, set[str]] = {}
		rs_own = comp.ruleset(own)
		for rule, keys in rs_own.keys(rs_own.prepare(record)).items():
			if comp.action(rule) == "block":
				to_lock[rule] = keys
		if to_lock:
			lock_keys(to_lock, timeout=comp.cfg.get("lock_timeout") or 10)

	found: list[tuple[str, Match]] = []
	for src, names, fmap in views:
		if fmap is None:
			paths = list(
				dict.fromkeys(comp.query_fields(doctype) + [p for n in names for p in comp.rule_paths(n)])
			)
		else:
			paths = list(dict.fromkeys(p for ps in fmap.values() for p in ps))
		index = MariaDBIndex(src, paths, fmap)
		rs_all = comp.ruleset(names)
		index.prefetch(rs_all.keys(rs_all.prepare(record)))
		exclude = [self_name] if (self_name and src == doctype) else []
		# one search per action (a Log-only rule with a lower priority number must not hide a Block rule that
		# fires for the same pair: the engine reports one rule per pair) and per "Search within" filter
		groups: dict[tuple[str, str], list[str]] = defaultdict(list)
		for n in names:
			search = comp.rules[n]["search"] if fmap is None else []
			groups[(comp.action(n), json.dumps(search, sort_keys=True, default=str))].append(n)
		for group in groups.values():
			rs = comp.ruleset(group)
			for m in check_record(rs, record, index, exclude=exclude):
				if fmap is None and not comp.searchable(m.rule, index.records([m.id]).get(str(m.id), {})):
					continue
				found.append((src, m))

	found = _drop_related(doc_or_dict, doctype, found)
	found.sort(key=lambda t: (ACTION_ORDER.get(t[1].action, 9), *t[1].sort_key()))
	if limit:
		found = found[:limit]
	return _describe(found)


def _drop_related(doc: Any, doctype: str, found: list[tuple[str, Match]]) -> list[tuple[str, Match]]:
	"""Drops matches that are not duplicates but relatives of the record: records it links to (a Customer's
	Lead, a Contact's Customer), records linking to it (a Customer's own Contacts), pairs marked "not a
	duplicate"."""
	if not found:
		return found
	name = _get(doc, "name")
	meta = frappe.get_meta(doctype)
	links: set[tuple[str, str]] = set()
	for df in meta.get_link_fields():
		if v := _get(doc, df.fieldname):
			links.add((df.options, str(v)))
	for df in meta.get_table_fields():
		if df.options == PARTY_LINK_TABLE:
			for row in _get(doc, df.fieldname) or []:
				if _get(row, "link_doctype") and _get(row, "link_name"):
					links.add((_get(row, "link_doctype"), str(_get(row, "link_name"))))
	out = []
	for src, m in found:
		if (src, str(m.id)) in links:
			continue
		if name and src != doctype and _links_to(src, str(m.id), doctype, name):
			continue
		if name and is_not_duplicate(doctype, name, src, str(m.id)):
			continue
		out.append((src, m))
	return out


def _links_to(src: str, src_name: str, doctype: str, name: str) -> bool:
	"""Whether record (src, src_name) points at (doctype, name) by a Link field or a Dynamic Link row."""
	meta = frappe.get_meta(src)
	for df in meta.get_link_fields():
		if df.options == doctype and frappe.db.get_value(src, src_name, df.fieldname) == name:
			return True
	for df in meta.get_table_fields():
		if df.options == PARTY_LINK_TABLE and frappe.db.exists(
			PARTY_LINK_TABLE,
			{"parenttype": src, "parent": src_name, "link_doctype": doctype, "link_name": name},
		):
			return True
	return False


def _describe(found: list[tuple[str, Match]]) -> list[DuplicateHit]:
	"""Owner, creation and title of every hit: one bulk read per doctype (``owners_of``); a record this
	transaction cannot see yet (committed by the save it waited for) is read on the side connection."""
	names: dict[str, list[str]] = defaultdict(list)
	for src, m in found:
		names[src].append(str(m.id))
	info = {src: owners_of(src, ids) for src, ids in names.items()}
	hits = []
	for src, m in found:
		name = str(m.id)
		row = info[src].get(name)
		if row is None:
			fresh = record_info(src, name)
			row = {
				"owner": owner_of(src, name),
				"creation": fresh.get("creation"),
				"title": fresh.get("title"),
			}
		hits.append(
			DuplicateHit(
				doctype=src,
				name=name,
				match=m,
				owner=row.get("owner"),
				created=row.get("creation"),
				title=row.get("title"),
			)
		)
	return hits
