"""Undo a merge: restore the merged-away records from the snapshot and play the change log backwards. A
column changed since the merge is left as it is and reported; rows that are gone block the undo."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import frappe
from frappe import _
from frappe.query_builder import Field
from frappe.utils import escape_html, now_datetime
from frappe.utils.global_search import update_global_search

from crm_dedup.core.guard import index_doc
from crm_dedup.merge.common import CHUNK, LOG_DOCTYPE, MergeError, insert_row, norm, set_column, set_single
from crm_dedup.merge.run import no_commits

SAVEPOINT = "crm_dedup_undo"
SHOWN_BLOCKERS = 50


def undo(log: str) -> dict:
	"""Undo the merge of a Merged log, all-or-nothing (savepoint). Callers check permissions. Refuses,
	listing what is missing, when a changed row no longer exists or a merged-away name has been taken again."""
	log_doc = frappe.get_doc(LOG_DOCTYPE, log)
	if log_doc.status != "Merged":
		frappe.throw(
			_("Only a merge with status Merged can be undone; {0} is {1}.").format(log, _(log_doc.status)),
			MergeError,
			title=_("Cannot undo merge"),
		)
	frappe.db.get_value(LOG_DOCTYPE, log, "name", for_update=True)
	changes = json.loads(log_doc.changes or "[]")
	snapshot = json.loads(log_doc.snapshot or "{}")
	_refuse_blocked(undo_blockers(log_doc, changes))
	with no_commits():
		frappe.db.savepoint(SAVEPOINT)
		try:
			report = _undo(log_doc, changes, snapshot)
		except Exception:
			frappe.db.rollback(save_point=SAVEPOINT)
			raise
		frappe.db.release_savepoint(SAVEPOINT)
	return report


def _refuse_blocked(blockers: list[str]) -> None:
	if not blockers:
		return
	shown = "".join(f"<li>{escape_html(b)}</li>" for b in blockers[:SHOWN_BLOCKERS])
	more = ""
	if len(blockers) > SHOWN_BLOCKERS:
		more = "<p>" + _("... and {0} more.").format(len(blockers) - SHOWN_BLOCKERS) + "</p>"
	frappe.throw(
		_("This merge cannot be undone because these rows no longer exist or their names are taken:")
		+ f"<ul>{shown}</ul>{more}",
		MergeError,
		title=_("Cannot undo merge"),
	)


# ---------------------------------------------------------------------------------------------------------
# What blocks an undo
# ---------------------------------------------------------------------------------------------------------


def undo_blockers(log_doc, changes: list[dict]) -> list[str]:
	"""Rows the undo would write that are gone, and names of deleted rows or records that are taken again."""
	out = []
	survivor = (log_doc.merged_doctype, log_doc.survivor)
	if not frappe.db.exists(*survivor):
		out.append(
			_("{0} {1} (the surviving record; undo the later merge that removed it first)").format(
				_(survivor[0]), survivor[1]
			)
		)
	by_dt = _touched_names(changes)
	existing = _existing_names(by_dt)
	reported = set()
	for c in changes:
		key = (c["dt"], c["dn"])
		if key in reported:
			continue
		problem = _blocker(c, by_dt, existing, survivor)
		if problem is not None:
			reported.add(key)
			if problem:
				out.append(problem)
	return out


def _touched_names(changes: list[dict]) -> dict[str, set[str]]:
	by_dt: dict[str, set[str]] = defaultdict(set)
	for c in changes:
		if c["op"] == "set" and not (c["dt"] == c["dn"] and frappe.get_meta(c["dt"]).issingle):
			by_dt[c["dt"]].add(c["dn"])
		elif c["op"] in ("del", "rec"):
			by_dt[c["dt"]].add(c["dn"])
	return by_dt


def _existing_names(by_dt: dict[str, set[str]]) -> dict[str, set[str]]:
	existing: dict[str, set[str]] = defaultdict(set)
	for dt, names in by_dt.items():
		if not frappe.db.table_exists(dt):
			continue
		name_list = list(names)
		for start in range(0, len(name_list), CHUNK):
			existing[dt].update(
				frappe.get_all(dt, filters={"name": ("in", name_list[start : start + CHUNK])}, pluck="name")
			)
	return existing


def _blocker(c: dict, by_dt: dict, existing: dict, survivor: tuple[str, str]) -> str | None:
	"""The problem a change makes for the undo; ``""`` for a problem already reported, None for none."""
	dt, dn = c["dt"], c["dn"]
	if c["op"] == "set" and dn in by_dt[dt] and dn not in existing[dt]:
		return "" if (dt, dn) == survivor else _("{0} {1} (no longer exists)").format(_(dt), dn)
	if c["op"] == "rec" and dn in existing[dt]:
		return _("{0} {1} (a record with this name exists again)").format(_(dt), dn)
	if c["op"] == "del" and dn in existing[dt]:
		return _("{0} {1} (a row with this name exists again)").format(_(dt), dn)
	return None


# ---------------------------------------------------------------------------------------------------------
# Playing the change log backwards
# ---------------------------------------------------------------------------------------------------------


def _undo(log_doc, changes: list[dict], snapshot: dict) -> dict:
	skipped: list[str] = []
	restored = _replay_backwards(changes, snapshot, skipped)
	doctype, survivor = log_doc.merged_doctype, log_doc.survivor
	frappe.clear_document_cache(doctype, survivor)
	for dt, name in restored:
		frappe.clear_document_cache(dt, name)
		index_doc(frappe.get_doc(dt, name))
	survivor_doc = frappe.get_doc(doctype, survivor)
	index_doc(survivor_doc)
	survivor_doc.add_comment(
		"Edit",
		_("Undid the merge {0}: restored {1}").format(
			log_doc.name, ", ".join(frappe.bold(n) for _dt, n in restored)
		),
	)
	log_doc.status = "Undone"
	log_doc.undone_by = frappe.session.user
	log_doc.undone_on = now_datetime()
	log_doc.undo_report = "\n".join(skipped)
	log_doc.save(ignore_permissions=True)  # on_update: other features (scans) see the undo
	return {"log": log_doc.name, "restored": [n for _dt, n in restored], "skipped": skipped}


def _replay_backwards(changes: list[dict], snapshot: dict, skipped: list[str]) -> list[tuple[str, str]]:
	"""Undoes every change, last first; consecutive ``set`` changes are undone in bulk. Returns the restored
	merged-away records."""
	merged = {(m["doctype"], m["name"]): m for m in snapshot.get("merged", [])}
	restored = []
	batch: list[dict] = []
	batch_keys: set[tuple[str, str, str]] = set()
	for c in reversed(changes):
		if c["op"] == "set":
			key = (c["dt"], c["dn"], c["f"])
			if key in batch_keys:  # the same column changed twice: undo the later change first
				_undo_sets(batch, skipped)
				batch, batch_keys = [], set()
			batch.append(c)
			batch_keys.add(key)
			continue
		_undo_sets(batch, skipped)
		batch, batch_keys = [], set()
		if c["op"] == "ins":
			frappe.db.delete(c["dt"], {"name": c["dn"]})
		elif c["op"] == "del":
			insert_row(c["dt"], c["row"])
		elif c["op"] == "rec" and (c["dt"], c["dn"]) in merged:
			_restore_record(merged[(c["dt"], c["dn"])])
			restored.append((c["dt"], c["dn"]))
	_undo_sets(batch, skipped)
	return restored


def _undo_sets(changes: list[dict], skipped: list[str]) -> None:
	"""Puts back the old value of each ``set`` change whose column still holds the merge's value; a column
	changed since is left as it is and reported. Reads and writes in bulk per (doctype, column)."""
	groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
	for c in changes:
		groups[(c["dt"], c["f"])].append(c)
	for (doctype, field), items in groups.items():
		single = frappe.get_meta(doctype).issingle
		current = _current_values(doctype, field, list({c["dn"] for c in items}), single)
		by_old: dict[str, tuple[Any, list[str]]] = {}
		for c in items:
			if norm(current.get(c["dn"])) != norm(c["new"]):
				skipped.append(
					_("{0} {1}: {2} was changed after the merge and is left as is").format(
						_(doctype), c["dn"], field
					)
				)
				continue
			by_old.setdefault(json.dumps(c["old"]), (c["old"], []))[1].append(c["dn"])
		for old, names in by_old.values():
			if single:
				set_single(doctype, field, old)
			else:
				set_column(doctype, names, field, old)


def _current_values(doctype: str, field: str, names: list[str], single: bool) -> dict:
	if single:
		return {doctype: frappe.db.get_single_value(doctype, field)}
	current = {}
	table = frappe.qb.DocType(doctype)
	for start in range(0, len(names), CHUNK):
		rows = (
			frappe.qb.from_(table)
			.select(table.name, Field(field).as_("value"))
			.where(table.name.isin(names[start : start + CHUNK]))
			.run(as_dict=True)
		)
		current.update({r.name: r.value for r in rows})
	return current


def _restore_record(data: dict) -> None:
	"""Insert a merged-away record with its own name, child rows and hidden columns from the snapshot."""
	data = dict(data)
	hidden = data.pop("__hidden", {}) or {}
	doc = frappe.get_doc(data)
	doc.flags.ignore_permissions = True
	doc.flags.ignore_links = True
	doc.flags.ignore_mandatory = True
	doc.db_insert()
	for child in doc.get_all_children():
		child.db_insert()
	if hidden:
		frappe.db.set_value(doc.doctype, doc.name, hidden, update_modified=False)
	update_global_search(doc)
