"""Reviewing a duplicate set: "not a duplicate" (a whole set or one pair), reopen, refresh; and the sets a
completed merge closes (``on_merge_log``, the ``on_update`` hook of Dedup Merge Log).

Marking one pair keeps the records still connected by the other pairs in the set; a part no longer connected
becomes a set of its own. Members merged away or deleted leave their sets; a set left with one record becomes
Merged (when a merge log covers it) or Resolved.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import frappe
from frappe import _
from frappe.utils import now_datetime

from crm_dedup.core.owners import owners_of
from crm_dedup.core.pairs import add_not_duplicate, forget_set
from crm_dedup.core.roles import require_manager
from crm_dedup.core.sets import LIKELY, PAIR_FIELDS, SET_DOCTYPE, open_sets_for, set_values, write_sets
from crm_dedup.engine import UnionFind

MERGE_LOG = "Dedup Merge Log"


def _open_for_review(duplicate_set: str) -> Any:
	require_manager(_("review duplicate sets"))
	frappe.has_permission(SET_DOCTYPE, "write", duplicate_set, throw=True)
	return frappe.get_doc(SET_DOCTYPE, duplicate_set)


@frappe.whitelist(methods=["POST"])
def mark_not_duplicate(duplicate_set: str, pair: str | None = None, reason: str | None = None) -> dict:
	"""Marks a whole set (every two of its records) or one of its pairs as "not a duplicate"."""
	doc = _open_for_review(duplicate_set)
	if doc.status != "Open":
		frappe.throw(_("Only an open set can be marked."), title=_("Not open"))
	if not pair:
		return _mark_set(doc, reason)
	row = next((p for p in doc.pairs if p.name == pair), None)
	if row is None:
		frappe.throw(_("Pair {0} is not part of {1}.").format(pair, doc.name))
	add_not_duplicate(row.doctype_a, row.name_a, row.doctype_b, row.name_b, doc.name, reason)
	row.not_duplicate = 1
	split = _regroup(doc)
	doc.flags.ignore_permissions = True
	doc.save()
	doc.add_comment(
		"Info", _("Marked {0} and {1} as not duplicates. {2}").format(row.name_a, row.name_b, reason or "")
	)
	return {"status": doc.status, "split": split}


def _mark_set(doc: Any, reason: str | None) -> dict:
	members = [(m.member_doctype, m.member_name) for m in doc.members]
	added = 0
	for i in range(len(members)):
		for j in range(i + 1, len(members)):
			added += add_not_duplicate(*members[i], *members[j], doc.name, reason)
	for p in doc.pairs:
		p.not_duplicate = 1
	doc.status = "Not Duplicate"
	doc.closed_by = frappe.session.user
	doc.flags.ignore_permissions = True
	doc.save()
	doc.add_comment("Info", _("Marked as not duplicates ({0} pairs). {1}").format(added, reason or ""))
	return {"status": doc.status, "pairs": added}


def _regroup(doc: Any) -> list[str]:
	"""After a pair was marked: members = the largest part still connected by unmarked pairs; other parts
	of two or more records become new sets. Returns the names of the new sets."""
	live = [p for p in doc.pairs if not p.not_duplicate]
	if not live:
		doc.status = "Not Duplicate"
		doc.closed_by = frappe.session.user
		return []
	parts = _connected_parts(live)
	keep = set(parts[0])
	doc.members = [m for m in doc.members if m.member_name in keep]
	doc.member_count = len(doc.members)
	doc.pair_count = len([p for p in doc.pairs if p.name_a in keep and p.name_b in keep])
	new = []
	now = now_datetime()
	for part in parts[1:]:
		inside = set(part)
		rows = [
			{**{k: p.get(k) for k in PAIR_FIELDS}, "_priority": 10}
			for p in live
			if p.name_a in inside and p.name_b in inside
		]
		info = owners_of(doc.ref_doctype, part)
		data = set_values(doc.ref_doctype, part, rows, info, doc.scan, now, doc.confidence or LIKELY)
		data["first_seen"] = doc.first_seen or now
		write_sets([data], [], now)
		new.append(data["name"])
	doc.pairs = [p for p in doc.pairs if p.name_a in keep and p.name_b in keep or p.not_duplicate]
	return new


def _connected_parts(pairs: list[Any]) -> list[list[str]]:
	"""The records connected by ``pairs``, one sorted list per part, the largest first."""
	ids: dict[str, int] = {}
	uf = UnionFind()
	for p in pairs:
		uf.union(ids.setdefault(p.name_a, len(ids)), ids.setdefault(p.name_b, len(ids)))
	groups: dict[int, list[str]] = defaultdict(list)
	for n, i in ids.items():
		groups[uf.find(i)].append(n)
	return sorted((sorted(g) for g in groups.values()), key=lambda g: -len(g))


@frappe.whitelist(methods=["POST"])
def reopen_set(duplicate_set: str) -> dict:
	"""Undoes "not a duplicate" of a set: its pairs are checked again by scans and saves."""
	doc = _open_for_review(duplicate_set)
	forget_set(doc.name)
	for p in doc.pairs:
		p.not_duplicate = 0
	doc.status = "Open"
	doc.closed_by = None
	doc.flags.ignore_permissions = True
	doc.save()
	_refresh(doc)
	return {"status": frappe.db.get_value(SET_DOCTYPE, doc.name, "status")}


@frappe.whitelist(methods=["POST"])
def refresh_set(duplicate_set: str) -> dict:
	"""Drops members that no longer exist (merged away or deleted); a set left with one record becomes
	Merged when a Dedup Merge Log covers its records, else Resolved. Called when a set is opened."""
	frappe.has_permission(SET_DOCTYPE, "read", duplicate_set, throw=True)
	changed = _refresh(frappe.get_doc(SET_DOCTYPE, duplicate_set))
	return {"changed": changed, "status": frappe.db.get_value(SET_DOCTYPE, duplicate_set, "status")}


def _refresh(doc: Any) -> bool:
	if doc.status != "Open":
		return False
	gone = {
		(m.member_doctype, m.member_name)
		for m in doc.members
		if not frappe.db.exists(m.member_doctype, m.member_name)
	}
	names = [(m.member_doctype, m.member_name) for m in doc.members]
	if not gone and len(set(names)) == len(names):
		return False
	log = _merge_log_for(doc.ref_doctype, [n for _dt, n in names]) if gone else None
	return _prune(doc, gone, log)


# ==== merged / deleted members ===========================================================================
def on_merge_log(doc: Any, method: str | None = None) -> None:
	"""doc_event of Dedup Merge Log: when a merge completes, the open sets holding its records lose the
	merged-away records; a set left with one record becomes Merged. Runs in the merge's transaction."""
	if doc.get("status") != "Merged" or not frappe.db.table_exists(SET_DOCTYPE):
		return
	doctype = doc.get("merged_doctype")
	merged = _merged_refs(doc.get("merged_records"))
	names = [doc.get("survivor"), *[n for dt, n in merged if dt == doctype]]
	by_member, _sets = open_sets_for(doctype, [n for n in names if n])
	for set_name in sorted(set(by_member.values())):
		_prune(frappe.get_doc(SET_DOCTYPE, set_name), set(merged), doc.name)


def _merged_refs(raw: Any) -> list[tuple[str, str]]:
	try:
		items = json.loads(raw or "[]") if isinstance(raw, str) else (raw or [])
	except ValueError:
		return []
	return [(str(r[0]), str(r[1])) for r in items if isinstance(r, list | tuple) and len(r) >= 2]


def _prune(doc: Any, gone: set[tuple[str, str]], merge_log: str | None) -> bool:
	"""Removes ``gone`` records (and the same record listed twice) from an open set; closes a set left with
	one record (Merged when a merge log is known, else Resolved). Returns whether the set changed."""
	seen: set[tuple[str, str]] = set()
	keep = []
	for m in doc.members:
		key = (m.member_doctype, m.member_name)
		if key in gone or key in seen:
			continue
		seen.add(key)
		keep.append(m)
	if len(keep) == len(doc.members) and not merge_log:
		return False
	doc.members = keep
	doc.pairs = [
		p for p in doc.pairs if (p.doctype_a, p.name_a) not in gone and (p.doctype_b, p.name_b) not in gone
	]
	if merge_log:
		doc.merge_log = merge_log
	if len(keep) <= 1:
		doc.status = "Merged" if merge_log else "Resolved"
	doc.flags.ignore_permissions = True
	doc.flags.ignore_links = True  # the set's Last Scan may have been deleted
	doc.save()
	return True


def _merge_log_for(doctype: str, names: list[str]) -> str | None:
	"""The latest completed Dedup Merge Log whose survivor or merged records include one of ``names``."""
	if not names or not frappe.db.table_exists(MERGE_LOG):
		return None
	wanted = set(names)
	for row in frappe.get_all(
		MERGE_LOG,
		filters={"merged_doctype": doctype, "status": "Merged"},
		or_filters={"survivor": ["in", names]},
		fields=["name", "survivor", "merged_records"],
		order_by="creation desc",
		limit=50,
	):
		merged = {n for _dt, n in _merged_refs(row.merged_records)}
		if merged & wanted:
			return row.name
	return None
