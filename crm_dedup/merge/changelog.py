"""The merge's change log: every change in order, the snapshots of the records, the Dedup Merge Log."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import frappe
from frappe.model import optional_fields
from frappe.utils import cstr, now_datetime

from crm_dedup.merge.common import LOG_DOCTYPE, raw_row

RELINK_KINDS = ("link", "dynamic", "data")


def jsonable(value: Any) -> Any:
	if isinstance(value, Decimal):
		return float(value)
	if isinstance(value, str | int | float | bool) or value is None:
		return value
	return cstr(value)


class ChangeRecorder:
	"""Every change, in order. ``set``: a column's old and new value; ``ins``: a row that was inserted;
	``del``: a row that was deleted (full row); ``rec``: a merged-away record (restored from the snapshot)."""

	def __init__(self, progress: Callable[[int], None] | None = None):
		self.changes: list[dict] = []
		self.progress = progress

	def set(self, doctype: str, name: str, field: str, old: Any, new: Any, kind: str) -> None:
		self.changes.append(
			{
				"op": "set",
				"dt": doctype,
				"dn": name,
				"f": field,
				"old": jsonable(old),
				"new": jsonable(new),
				"kind": kind,
			}
		)
		self._tick()

	def insert(self, doctype: str, name: str, kind: str) -> None:
		self.changes.append({"op": "ins", "dt": doctype, "dn": name, "kind": kind})
		self._tick()

	def delete(self, doctype: str, row: dict, kind: str) -> None:
		row = {k: jsonable(v) for k, v in row.items()}
		self.changes.append({"op": "del", "dt": doctype, "dn": row["name"], "row": row, "kind": kind})
		self._tick()

	def record(self, doctype: str, name: str) -> None:
		self.changes.append({"op": "rec", "dt": doctype, "dn": name, "kind": "merged_record"})

	def _tick(self) -> None:
		if self.progress and len(self.changes) % 100 == 0:
			self.progress(len(self.changes))


def snapshot(doc) -> dict:
	"""The document with its child rows and hidden columns (``_assign``, ``_comments`` ...), as JSON data."""
	data = doc.as_dict(no_default_fields=False)
	raw = raw_row(doc.doctype, doc.name)
	data["__hidden"] = {k: raw.get(k) for k in optional_fields if k in raw}
	return json.loads(frappe.as_json(data, indent=None))


def summarize(changes: list[dict]) -> dict:
	"""Counts per kind and per doctype for the log's summary."""
	by_kind: dict[str, int] = defaultdict(int)
	by_doctype: dict[str, int] = defaultdict(int)
	for c in changes:
		by_kind[f"{c['op']}:{c['kind']}"] += 1
		if c["kind"] in (*RELINK_KINDS, "dedupe"):
			by_doctype[c["dt"]] += 1
	return {"by_kind": dict(by_kind), "relinked_by_doctype": dict(by_doctype)}


def new_log(doctype: str, survivor: str, other_refs: list, values: dict, status: str):
	"""An unsaved Dedup Merge Log of a merge about to run (or queued)."""
	log = frappe.new_doc(LOG_DOCTYPE)
	log.merged_doctype = doctype
	log.survivor = survivor
	log.status = status
	log.merged_by = frappe.session.user
	log.merged_on = now_datetime()
	log.merged_records = json.dumps([list(r) for r in other_refs])
	log.merged_names = "\n".join(name if dt == doctype else f"{dt}: {name}" for dt, name in other_refs)
	log.chosen_values = frappe.as_json(values or {})
	return log


def write_log(log, snap: dict, recorder: ChangeRecorder):
	"""Marks the log Merged with the snapshots and every change, and saves it."""
	log.status = "Merged"
	log.merged_on = now_datetime()
	log.snapshot = frappe.as_json(snap, indent=None)
	log.changes = frappe.as_json(recorder.changes, indent=None)
	log.relinked_count = sum(1 for c in recorder.changes if c["kind"] in RELINK_KINDS)
	log.change_count = len(recorder.changes)
	log.summary = frappe.as_json(summarize(recorder.changes), indent=None)
	log.error = None
	if log.is_new():
		log.insert(ignore_permissions=True)
	else:
		log.save(ignore_permissions=True)
	return log


def queued_refs(log) -> list[tuple[str, str]]:
	return [tuple(r) for r in json.loads(log.merged_records or "[]")]
