# Copyright (c) 2026, crm_dedup contributors
# For license information, please see license.txt
"""Likely placeholders in this site's own data: values of rule fields shared by many records whose other rule
fields differ (a 13800138000 on 300 unrelated customers). Values that already count as placeholders are not
listed. Each row can be added to the placeholders of Dedup Settings, which rebuilds the key index.
"""

from __future__ import annotations

import frappe
from frappe import _
from frappe.utils import cint

from crm_dedup.core.config import compiled
from crm_dedup.core.display import field_label, match_label
from crm_dedup.core.records import load_records
from crm_dedup.core.roles import require_manager
from crm_dedup.engine import common_values

MAX_RECORDS = 200_000  # records read at the most (newest first)
BATCH = 5000


def execute(filters: dict | None = None):
	filters = frappe._dict(filters or {})
	require_manager(_("see the common values of the rule fields"))
	doctype = filters.get("doctype") or "Customer"
	comp = compiled()
	names = comp.target_rules(doctype)
	rs = comp.ruleset(names)
	if rs is None:
		frappe.throw(_("{0} has no enabled Dedup Rule.").format(_(doctype)), title=_("Dedup Common Values"))
	frappe.has_permission(doctype, "read", throw=True)
	min_records = max(cint(filters.get("min_records")) or 5, 2)
	rows = common_values(rs, _records(doctype, comp.query_fields(doctype)), min_records=min_records)
	data = []
	for r in rows:
		data.append(
			{
				"field": r["field"],
				"field_label": field_label(doctype, r["field"]),
				"match": match_label(r["match"]),
				"value": r["value"],
				"records": r["records"],
				"distinct_others": r["distinct_others"],
				"examples": ", ".join(str(i) for i in r["example_ids"]),
			}
		)
	return _columns(), data


def _records(doctype: str, paths: list[str]):
	"""(name, record) of the newest MAX_RECORDS records, read in batches."""
	names = frappe.get_all(doctype, order_by="creation desc", limit=MAX_RECORDS, pluck="name")
	for start in range(0, len(names), BATCH):
		chunk = names[start : start + BATCH]
		recs = load_records(doctype, chunk, paths)
		for name in chunk:
			if name in recs:
				yield name, recs[name]


def _columns() -> list[dict]:
	return [
		{"fieldname": "field_label", "label": _("Field"), "fieldtype": "Data", "width": 160},
		{"fieldname": "match", "label": _("Match Type"), "fieldtype": "Data", "width": 120},
		{"fieldname": "value", "label": _("Value"), "fieldtype": "Data", "width": 180},
		{"fieldname": "records", "label": _("Records"), "fieldtype": "Int", "width": 90},
		{
			"fieldname": "distinct_others",
			"label": _("Distinct Other Values"),
			"fieldtype": "Data",
			"width": 150,
		},
		{"fieldname": "examples", "label": _("Examples"), "fieldtype": "Data", "width": 260},
		{"fieldname": "field", "label": _("Field Path"), "fieldtype": "Data", "hidden": 1},
	]
