# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt
"""The latest qualifying activity of many records at once: the newest linked document of each activity DocType
(Communication, Comment, Event, closed ToDo, Quotation, Opportunity, Sales Order, or any DocType an admin lists).

A document counts for a record when one of its Link fields points at the record, or a Dynamic Link pair
(``reference_doctype``/``reference_name``, ``quotation_to``/``party_name`` ...) does, in the document or in one of
its child tables (Event Participants, Communication Links). Only real activity counts: a Comment of type Comment,
a ToDo once closed, a submitted or draft (not cancelled) transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import frappe
from frappe.query_builder.functions import Max

BATCH = 2000
# per activity DocType: extra conditions and the column that dates it
ONLY = {"Comment": ("comment_type", "Comment"), "ToDo": ("status", "Closed")}
DATED_BY = {"ToDo": "modified", "Communication": "communication_date"}


def _targets(meta: Any, doctype: str) -> list[tuple[str, str | None]]:
	"""[(name field, doctype field or None)] of ``meta`` that can point at a record of ``doctype``."""
	out = []
	for df in meta.fields:
		if df.fieldtype == "Link" and df.options == doctype:
			out.append((df.fieldname, None))
		elif df.fieldtype == "Dynamic Link" and df.options:
			out.append((df.fieldname, df.options))
	return out


def _latest(
	table_dt: str, parent_dt: str | None, ref: str, ref_type: str | None, doctype: str, names: list[str]
) -> list[tuple[str, datetime]]:
	"""(record, newest activity) through one field of one table (the activity or one of its child tables)."""
	act = frappe.qb.DocType(parent_dt or table_dt)
	row = frappe.qb.DocType(table_dt) if parent_dt else act
	dated = getattr(act, DATED_BY.get(parent_dt or table_dt, "creation"))
	q = frappe.qb.from_(act)
	if parent_dt:
		q = q.join(row).on((row.parent == act.name) & (row.parenttype == parent_dt))
	q = q.select(getattr(row, ref), Max(dated)).where(getattr(row, ref).isin(names))
	if ref_type:
		q = q.where(getattr(row, ref_type) == doctype)
	if (only := ONLY.get(parent_dt or table_dt)) is not None:
		q = q.where(getattr(act, only[0]) == only[1])
	if frappe.get_meta(parent_dt or table_dt).is_submittable:
		q = q.where(act.docstatus < 2)
	return q.groupby(getattr(row, ref)).run()


def last_activity(doctype: str, names: Iterable[str], activity: Iterable[str]) -> dict[str, datetime]:
	"""{record name: its newest qualifying activity} (records without any are left out)."""
	names = list(names)
	out: dict[str, datetime] = {}
	for act_dt in activity:
		if not frappe.db.exists("DocType", act_dt) or act_dt == doctype:
			continue
		meta = frappe.get_meta(act_dt)
		routes = [(act_dt, None, f, t) for f, t in _targets(meta, doctype)]
		for tdf in meta.get_table_fields():
			child = frappe.get_meta(tdf.options)
			routes += [(tdf.options, act_dt, f, t) for f, t in _targets(child, doctype)]
		for start in range(0, len(names), BATCH):
			batch = names[start : start + BATCH]
			for table_dt, parent_dt, ref, ref_type in routes:
				for name, when in _latest(table_dt, parent_dt, ref, ref_type, doctype, batch):
					if when and (name not in out or when > out[name]):
						out[name] = when
	return out
