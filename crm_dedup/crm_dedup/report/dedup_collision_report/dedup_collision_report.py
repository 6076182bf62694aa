# Copyright (c) 2025, crm_dedup contributors
# For license information, please see license.txt
"""Collisions (撞单) by owner, by rep or by week.

A collision is an existing record someone ran into:

- at save time: one Dedup Collision Log row (the rep is ``attempted_by``, the owner ``existing_owner``);
- in a collision query: one hit of a Dedup Query Log (the rep is the asking user, the owner the hit's owner).
"""

import json
from collections import defaultdict
from datetime import date, timedelta

import frappe
from frappe import _
from frappe.utils import add_days, get_datetime, get_fullname, getdate

GROUPS = ("Owner", "Rep", "Week")
SOURCES = ("All", "Save Attempts", "Queries")
# Dedup Collision Log outcome -> column
OUTCOME_COLUMNS = {
	"Blocked": "blocked",
	"Import Rejected": "blocked",
	"Warned": "warned",
	"Import Flagged": "warned",
	"Saved Anyway": "saved_anyway",
	"Logged": "logged",
}
COUNT_FIELDS = ("blocked", "warned", "saved_anyway", "logged", "query_hits", "masked_hits", "total")


def execute(filters: dict | None = None):
	filters = frappe._dict(filters or {})
	group_by = filters.get("group_by") or "Owner"
	if group_by not in GROUPS:
		frappe.throw(_("Group By must be one of {0}").format(", ".join(_(g) for g in GROUPS)))
	source = filters.get("source") or "All"
	from_date = getdate(filters.get("from_date") or add_days(date.today(), -90))
	to_date = getdate(filters.get("to_date") or date.today())
	if from_date > to_date:
		frappe.throw(_("From Date must be before To Date"))
	start, end = get_datetime(from_date), get_datetime(add_days(to_date, 1))

	events = []
	if source in ("All", "Save Attempts"):
		events += save_time_collisions(start, end)
	if source in ("All", "Queries"):
		events += query_collisions(start, end)
	if filters.get("user"):
		events = [e for e in events if filters.user in (e["rep"], e["owner"])]

	data = aggregate(events, group_by)
	return columns(group_by), data, None, chart(data, group_by), summary(data)


def save_time_collisions(start, end) -> list[dict]:
	if not frappe.db.table_exists("Dedup Collision Log"):
		return []
	log = frappe.qb.DocType("Dedup Collision Log")
	rows = (
		frappe.qb.from_(log)
		.select(log.attempted_by, log.attempted_at, log.creation, log.existing_owner, log.outcome)
		.where((log.creation >= start) & (log.creation < end))
	).run(as_dict=True)
	return [
		{
			"rep": r.attempted_by,
			"owner": r.existing_owner,
			"at": r.attempted_at or r.creation,
			"kind": OUTCOME_COLUMNS.get(r.outcome, "logged"),
		}
		for r in rows
	]


def query_collisions(start, end) -> list[dict]:
	log = frappe.qb.DocType("Dedup Query Log")
	rows = (
		frappe.qb.from_(log)
		.select(log.user, log.queried_at, log.creation, log.hits_summary)
		.where((log.creation >= start) & (log.creation < end) & (log.hit_count > 0))
	).run(as_dict=True)
	out = []
	for r in rows:
		try:
			hits = json.loads(r.hits_summary or "[]")
		except ValueError:
			hits = []
		for h in hits:
			out.append(
				{
					"rep": r.user,
					"owner": h.get("owner"),
					"at": r.queried_at or r.creation,
					"kind": "query_hits",
					"masked": not h.get("can_read"),
				}
			)
	return out


def week_of(value) -> date:
	d = getdate(value)
	return d - timedelta(days=d.weekday())


def aggregate(events: list[dict], group_by: str) -> list[dict]:
	groups: dict = defaultdict(lambda: dict.fromkeys(COUNT_FIELDS, 0))
	for e in events:
		if group_by == "Week":
			key = week_of(e["at"])
		else:
			key = e["owner" if group_by == "Owner" else "rep"] or ""
		g = groups[key]
		g[e["kind"]] += 1
		g["total"] += 1
		if e.get("masked"):
			g["masked_hits"] += 1
	data = []
	for key, counts in groups.items():
		row = {"group": key, **counts}
		if group_by == "Week":
			row["label"] = _("Week of {0}").format(frappe.format(key, {"fieldtype": "Date"}))
		else:
			row["label"] = get_fullname(key) if key else _("Unknown", context="Dedup Collision Report")
		data.append(row)
	if group_by == "Week":
		data.sort(key=lambda r: r["group"])
	else:
		data.sort(key=lambda r: (-r["total"], r["label"]))
	return data


def columns(group_by: str) -> list[dict]:
	first = {
		"Owner": {
			"label": _("Owner", context="Dedup Collision Report"),
			"fieldtype": "Link",
			"options": "User",
			"width": 200,
		},
		"Rep": {
			"label": _("Rep", context="Dedup Collision Report"),
			"fieldtype": "Link",
			"options": "User",
			"width": 200,
		},
		"Week": {"label": _("Week", context="Dedup Collision Report"), "fieldtype": "Date", "width": 120},
	}[group_by]
	cols = [
		{"fieldname": "group", **first},
		{
			"fieldname": "label",
			"label": _("Name", context="Dedup Collision Report"),
			"fieldtype": "Data",
			"width": 160,
		},
	]
	for fieldname, label, width in (
		("blocked", _("Blocked", context="Dedup Collision Report"), 100),
		("warned", _("Warned", context="Dedup Collision Report"), 100),
		("saved_anyway", _("Saved Anyway", context="Dedup Collision Report"), 120),
		("logged", _("Logged", context="Dedup Collision Report"), 90),
		("query_hits", _("Query Hits"), 110),
		("masked_hits", _("Masked Query Hits"), 150),
		("total", _("Total Collisions"), 130),
	):
		cols.append({"fieldname": fieldname, "label": label, "fieldtype": "Int", "width": width})
	return cols


def chart(data: list[dict], group_by: str) -> dict | None:
	if not data:
		return None
	rows = data if group_by == "Week" else data[:20]
	save_time = [r["blocked"] + r["warned"] + r["saved_anyway"] + r["logged"] for r in rows]
	return {
		"data": {
			"labels": [r["label"] for r in rows],
			"datasets": [
				{"name": _("Save Attempts"), "values": save_time},
				{"name": _("Query Hits"), "values": [r["query_hits"] for r in rows]},
			],
		},
		"type": "line" if group_by == "Week" else "bar",
		"barOptions": {"stacked": 1},
		"colors": ["#e24c4c", "#5e64ff"],
		"fieldtype": "Int",
	}


def summary(data: list[dict]) -> list[dict]:
	def total(field: str) -> int:
		return sum(r[field] for r in data)

	return [
		{
			"value": total("blocked"),
			"label": _("Blocked", context="Dedup Collision Report"),
			"indicator": "Red",
			"datatype": "Int",
		},
		{
			"value": total("warned"),
			"label": _("Warned", context="Dedup Collision Report"),
			"indicator": "Orange",
			"datatype": "Int",
		},
		{
			"value": total("saved_anyway"),
			"label": _("Saved Anyway", context="Dedup Collision Report"),
			"indicator": "Orange",
			"datatype": "Int",
		},
		{"value": total("query_hits"), "label": _("Query Hits"), "indicator": "Blue", "datatype": "Int"},
	]
