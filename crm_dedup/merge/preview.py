"""What the merge dialog shows: the records side by side with the default survivorship, and the duplicates
the rules find for a record (the picker)."""

from __future__ import annotations

import frappe
from frappe import _
from frappe.utils import cint, cstr

from crm_dedup.core.lookup import find_duplicates
from crm_dedup.core.owners import first_entry_order
from crm_dedup.merge.common import BACKGROUND_THRESHOLD, ROW_META_FIELDS, MergeError, is_empty
from crm_dedup.merge.lead import activity_count, lead_activities
from crm_dedup.merge.references import find_references
from crm_dedup.merge.survivorship import default_values, fills_empty, mergeable_fields, union_child_rows

ROWS_SHOWN = 20
# besides the same doctype, the picker offers these (record doctype, found doctype) pairs
SUGGESTED_CROSS = {("Lead", "Customer")}


def build_preview(doctype: str, refs: list[tuple[str, str]]) -> dict:
	"""The preview of merging ``refs`` (validated, readable by the user); see ``api.get_merge_preview``."""
	meta = frappe.get_meta(doctype)
	docs = [frappe.get_doc(dt, name) for dt, name in refs]
	same = [d for d in docs if d.doctype == doctype]
	if not same:
		frappe.throw(
			_("Select at least one {0} to keep.").format(_(doctype)), MergeError, title=_("Cannot merge")
		)
	# the default survivor: the record that keeps the customer under the first-entry policy (Dedup Settings)
	order = first_entry_order(doctype, [d.name for d in same])
	survivor = next(d for d in same if d.name == order[0])
	records = [_record_row(doc, doctype) for doc in docs]
	total = sum(r["linked"] for r, doc in zip(records, docs, strict=True) if doc is not survivor)
	return {
		"doctype": doctype,
		"title_field": meta.get_title_field(),
		"records": records,
		"survivor": survivor.name,
		"fields": [_field_row(df, same) for df in mergeable_fields(meta)],
		"tables": _table_rows(meta, survivor, same),
		"defaults": default_values(meta, survivor, same),
		"carried": {
			doc.name: {k: len(v) for k, v in lead_activities(doc.name).items()}
			for doc in docs
			if doc.doctype == "Lead" and doctype == "Customer"
		},
		"total_linked": total,
		"background": total > BACKGROUND_THRESHOLD,
		"threshold": BACKGROUND_THRESHOLD,
	}


def _record_row(doc, doctype: str) -> dict:
	if doc.doctype == doctype:
		count = len(find_references(doctype, [doc.name], exclude=[(doctype, doc.name)]))
	else:
		count = activity_count(doc.name)
	return {
		"doctype": doc.doctype,
		"name": doc.name,
		"title": doc.get_title() or doc.name,
		"creation": doc.creation,
		"modified": doc.modified,
		"owner": doc.owner,
		"linked": count,
	}


def _field_row(df, same: list) -> dict:
	values = {d.name: d.get(df.fieldname) for d in same}
	distinct = {cstr(v) for v in values.values() if not is_empty(v)}
	return {
		"fieldname": df.fieldname,
		"label": _(df.label or df.fieldname),
		"fieldtype": df.fieldtype,
		"options": df.options,
		"hidden": cint(df.hidden),
		"fills_empty": fills_empty(df),
		"values": values,
		"differs": len(distinct) > 1 or (len(distinct) == 1 and any(is_empty(v) for v in values.values())),
	}


def _table_rows(meta, survivor, same: list) -> list[dict]:
	union = union_child_rows(survivor, same)
	tables = []
	for tdf in meta.get_table_fields():
		counts = {d.name: len(d.get(tdf.fieldname)) for d in same}
		if not any(counts.values()):
			continue
		tables.append(
			{
				"fieldname": tdf.fieldname,
				"label": _(tdf.label or tdf.fieldname),
				"child_doctype": tdf.options,
				"counts": counts,
				"after_union": len(survivor.get(tdf.fieldname)) + len(union.get(tdf.fieldname, [])),
				"rows": {d.name: [row_summary(r) for r in d.get(tdf.fieldname)][:ROWS_SHOWN] for d in same},
			}
		)
	return tables


def row_summary(row) -> str:
	parts = []
	for key, value in row.as_dict().items():
		if key in ROW_META_FIELDS or is_empty(value) or key.startswith("is_") or isinstance(value, list):
			continue
		parts.append(cstr(value))
		if len(parts) >= 3:
			break
	return " · ".join(parts)


def duplicate_suggestions(doctype: str, name: str) -> list[dict]:
	"""Records the enabled rules find for ``name`` (same doctype, and Customers for a Lead) that the user
	may read."""
	doc = frappe.get_doc(doctype, name)
	out = []
	for hit in find_duplicates(doc, doctype, event="insert", exclude_self=True, limit=20):
		if hit.doctype != doctype and (doctype, hit.doctype) not in SUGGESTED_CROSS:
			continue
		if not frappe.has_permission(hit.doctype, "read", doc=hit.name):
			continue
		out.append(
			{
				"doctype": hit.doctype,
				"name": hit.name,
				"title": hit.title,
				"score": hit.match.score,
				"explain": hit.match.explain,
			}
		)
	return out
