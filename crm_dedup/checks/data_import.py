# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt
"""Duplicate checks of Data Import rows, and the dry run of an attached import file.

**During an import** Frappe's importer inserts (or saves) every row in the one background job, commits each
successful row on its own, and for a failing row saves ``frappe.local.message_log`` to the Data Import Log
and rolls the row back. ``crm_dedup.checks.events.validate`` recognises an import row by
``doc.flags.updater_reference`` and hands the hits of the rules with "apply on data import" to
``on_import_row``:

- **Block**: the collision is logged on the side connection (so it survives the row's rollback, outcome
  "Import Rejected"), messages left over from earlier successful rows are cleared (they would otherwise leak
  into this row's log), and the row fails with the same message as the form (record, owner, rule, fields);
- **Warn**: the row is imported; the collision is logged ("Import Flagged") with the row and the pair is put
  in an open Duplicate Set, so the new record shows the "重复 / Duplicate" indicator and can be merged;
- **Log only**: logged with the row.

Rows of the same file are caught by the ordinary check: a row imported earlier in the job (also a warned
one) was committed together with its Dedup Key rows, so a later row finds it in the key index. An update row
never matches the record it updates.

**The dry run** (``dry_run``, button on the Data Import form) parses the attached file with Frappe's own
importer classes and checks every row against the key index and against the earlier rows of the file,
imports nothing and writes nothing.
"""

from __future__ import annotations

from typing import Any

import frappe
from frappe import _
from frappe.core.doctype.data_import.importer import get_id_field
from frappe.utils import escape_html, get_fullname

from crm_dedup.checks.decision import raise_duplicate
from crm_dedup.core.collision_log import record_collisions
from crm_dedup.core.config import ACTION_LABELS, compiled, get_rules
from crm_dedup.core.display import describe, field_label, hit_view, match_label
from crm_dedup.core.lookup import DuplicateHit, find_duplicates
from crm_dedup.core.records import doc_to_record
from crm_dedup.core.sets import add_pair_to_sets
from crm_dedup.engine import MemoryIndex, check_record

INSERT = "Insert New Records"
UPDATE = "Update Existing Records"
MAX_DRY_RUN_ROWS = 20000


# ==== import rows =======================================================================================
def on_import_row(doc: Any, hits: list[DuplicateHit]) -> None:
	"""Decides a Data Import row (called by crm_dedup.checks.events.validate with the rule hits of the row)."""
	if not doc.is_new():
		# an update row never matches the record it updates
		hits = [h for h in hits if not (h.doctype == doc.doctype and h.name == doc.name)]
	if not hits:
		return
	blocks = [h for h in hits if h.action == "block"]
	warns = [h for h in hits if h.action == "warn"]
	logs = [h for h in hits if h.action == "log"]
	if blocks:
		record_collisions(doc, blocks, "Import Rejected", "import", survive_rollback=True)
		# non-raising msgprints of earlier, successful rows are still in the message log; they would be
		# saved to this row's import log next to our message
		frappe.clear_messages()
		raise_duplicate(doc, blocks)
	if warns:
		record_collisions(doc, warns, "Import Flagged", "import", survive_rollback=False)
		_flag(doc, warns)
	if logs:
		record_collisions(doc, logs, "Logged", "import", survive_rollback=False, notify=False)


def _flag(doc: Any, hits: list[DuplicateHit]) -> None:
	"""Puts a warned row and the records it resembles in an open Duplicate Set (written with the row)."""
	for h in hits[:5]:
		if h.doctype != doc.doctype or not doc.name:
			continue
		try:
			add_pair_to_sets(doc.doctype, doc.name, h.name, h.match)
		except Exception:
			frappe.log_error(title="crm_dedup: could not record a flagged import row")


# ==== dry run ===========================================================================================
@frappe.whitelist()
def dry_run(data_import: str) -> dict:
	"""Which rows of the attached file would be blocked, warned or logged, and why. Imports nothing.

	Returns {doctype, import_type, total, counts: {Block, Warn, Log}, rows: [{row, action, source, ...}]}.
	"""
	frappe.has_permission("Data Import", "read", data_import, throw=True)
	di = frappe.get_doc("Data Import", data_import)
	doctype = di.reference_doctype
	frappe.has_permission(doctype, "read", throw=True)
	if not (di.import_file or di.google_sheets_url):
		frappe.throw(_("Attach the file to import first."), title=_("No file"))
	rules = get_rules(doctype, "import")
	out: dict[str, Any] = {
		"doctype": doctype,
		"import_type": di.import_type,
		"total": 0,
		"counts": {"Block": 0, "Warn": 0, "Log": 0},
		"rows": [],
		"rules": [r.name for r in rules.rules] if rules else [],
	}
	if rules is None:
		out["message"] = _("No enabled Dedup Rule for {0} applies on data import.").format(_(doctype))
		return out

	importer = di.get_importer()
	payloads = importer.import_file.get_payloads_for_import()
	if len(payloads) > MAX_DRY_RUN_ROWS:
		frappe.throw(
			_("The dry run checks at most {0} rows; this file has {1}.").format(
				MAX_DRY_RUN_ROWS, len(payloads)
			)
		)
	out["total"] = len(payloads)
	comp = compiled()
	fields = list(
		dict.fromkeys(
			comp.query_fields(doctype, "import") + [p for r in rules.rules for p in comp.rule_paths(r.name)]
		)
	)
	in_file = MemoryIndex()
	row_label: dict[str, int] = {}
	for n, payload in enumerate(payloads):
		rows = [r.row_number for r in payload.rows]
		row_no = rows[0] if rows else n + 1
		doc = _row_doc(doctype, di.import_type, payload.doc)
		if doc is None:
			continue
		record = doc_to_record(doc, fields)
		applicable = comp.ruleset(comp.applicable(doctype, "import", record))  # "Applies when"
		existing = [
			h
			for h in find_duplicates(doc, doctype, event="import", exclude_self=True)
			if not (di.import_type == UPDATE and h.doctype == doctype and h.name == doc.name)
		]
		own_id = f"row:{row_no}"
		exclude = [own_id]
		if di.import_type == UPDATE and doc.name:
			exclude += [f"name:{doc.name}"]
		earlier = check_record(applicable, record, in_file, exclude=exclude) if applicable else []
		entry = _entry(doc, row_no, existing, earlier, row_label)
		if entry:
			out["rows"].append(entry)
			out["counts"][entry["action"]] += 1
		if not entry or entry["action"] != "Block":
			# the row would be imported: later rows are checked against it as well
			# under the rules whose "Search within" filter it meets
			keys = rules.keys(rules.prepare(record))
			keys = {r: k for r, k in keys.items() if comp.searchable(r, record)}
			key = f"name:{doc.name}" if di.import_type == UPDATE and doc.name else own_id
			in_file.put(key, keys, record)
			row_label[key] = row_no
	return out


def _row_doc(doctype: str, import_type: str, payload: Any) -> Any:
	"""The document the importer would save for a row, built in memory only."""
	if import_type == UPDATE:
		id_value = payload.get(get_id_field(doctype).fieldname)
		if not id_value or not frappe.db.exists(doctype, id_value):
			return None
		doc = frappe.get_doc(doctype, id_value)
		doc.update(payload)
		return doc
	doc = frappe.new_doc(doctype)
	doc.update(payload)
	return doc


def _entry(
	doc: Any, row_no: int, existing: list[DuplicateHit], earlier: list, row_label: dict[str, int]
) -> dict | None:
	"""One line of the dry-run report: the worst action of the row, and why."""
	order = {"block": 0, "warn": 1, "log": 2}
	best_db = min(existing, key=lambda h: (order.get(h.action, 3), h.match.sort_key())) if existing else None
	best_file = min(earlier, key=lambda m: (order.get(m.action, 3), m.sort_key())) if earlier else None
	if best_db is None and best_file is None:
		return None
	use_file = best_file is not None and (
		best_db is None or order.get(best_file.action, 3) < order.get(best_db.action, 3)
	)
	meta = frappe.get_meta(doc.doctype)
	title_field = meta.get_title_field()
	row_title = str(doc.get(title_field) or doc.get("name") or "")
	if use_file:
		m = best_file
		other_row = row_label.get(str(m.id))
		fields = "; ".join(
			_("{0} {1} matches {2} {3} ({4}, {5})").format(
				field_label(doc.doctype, h.field_a),
				h.value_a,
				field_label(doc.doctype, h.field_b),
				h.value_b,
				match_label(h.match),
				round(h.score, 1),
			)
			for h in m.hits
			if not h.skipped
		)
		message = _("Row {0} of this file already has this {1} (rule {2}, score {3}): {4}").format(
			other_row, _(doc.doctype), escape_html(m.rule), round(m.score, 1), escape_html(fields)
		)
		return {
			"row": row_no,
			"title": row_title,
			"action": ACTION_LABELS.get(m.action, m.action).split()[0],
			"source": "file",
			"other_row": other_row,
			"rule": m.rule,
			"score": round(m.score, 1),
			"message": message,
		}
	h = best_db
	title, message = describe(doc, [h] + [x for x in existing if x is not h])
	v = hit_view(doc.doctype, h)
	return {
		"row": row_no,
		"title": row_title,
		"action": ACTION_LABELS.get(h.action, h.action).split()[0],
		"source": "existing",
		"existing_doctype": h.doctype,
		"existing": v["name"],
		"existing_title": v["display"],
		"owner": h.owner,
		"owner_name": get_fullname(h.owner) if h.owner else "",
		"rule": h.match.rule,
		"score": round(h.match.score, 1),
		"message_title": title,
		"message": message,
	}
