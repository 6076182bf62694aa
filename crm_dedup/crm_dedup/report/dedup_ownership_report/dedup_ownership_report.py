# Copyright (c) 2025, crm_dedup contributors
# For license information, please see license.txt
"""撞单 monitoring (监控报告): per week and per rep or team (the Sales Person tree), how many collisions the rep ran
into, records routed to them, claims, disputes opened and decided, the median time to a decision, and transfers.

Sources: Dedup Collision Log (collisions at save time), Dedup Ownership Log (routed, claimed), Dedup Dispute
(opened by the claimant, decided, hours to decision, transfers to the claimant).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import date, timedelta

import frappe
from frappe import _
from frappe.utils import add_days, get_datetime, get_fullname, getdate

GROUPS = ("Rep", "Team")
COUNTS = ("collisions", "routed", "claims", "disputes_opened", "disputes_decided", "transfers")


def execute(filters: dict | None = None):
	filters = frappe._dict(filters or {})
	group_by = filters.get("group_by") or "Rep"
	if group_by not in GROUPS:
		frappe.throw(_("Group By must be one of {0}").format(", ".join(_(g) for g in GROUPS)))
	from_date = getdate(filters.get("from_date") or add_days(date.today(), -84))
	to_date = getdate(filters.get("to_date") or date.today())
	if from_date > to_date:
		frappe.throw(_("From Date must be before To Date"))
	start, end = get_datetime(from_date), get_datetime(add_days(to_date, 1))
	events = collisions(start, end) + ownership(start, end) + disputes(start, end)
	team = teams() if group_by == "Team" else {}
	data = aggregate(events, lambda user: team.get(user) or _("No team") if group_by == "Team" else user)
	return columns(group_by), data, None, chart(data)


def week_of(when) -> date:
	d = getdate(when)
	return d - timedelta(days=d.weekday())


def collisions(start, end) -> list[tuple]:
	log = frappe.qb.DocType("Dedup Collision Log")
	rows = (
		frappe.qb.from_(log)
		.select(log.attempted_by, log.creation)
		.where((log.creation >= start) & (log.creation < end) & (log.outcome != "Logged"))
	).run()
	return [(user, when, "collisions", None) for user, when in rows]


def ownership(start, end) -> list[tuple]:
	log = frappe.qb.DocType("Dedup Ownership Log")
	rows = (
		frappe.qb.from_(log)
		.select(log.event, log.user, log.new_owner, log.at)
		.where(
			(log.at >= start) & (log.at < end) & log.event.isin(["Routed", "Routed to Fallback", "Claimed"])
		)
	).run()
	out = []
	for event, user, new_owner, when in rows:
		if event == "Claimed":
			out.append((user, when, "claims", None))
		else:
			out.append((new_owner, when, "routed", None))
	return out


def disputes(start, end) -> list[tuple]:
	d = frappe.qb.DocType("Dedup Dispute")
	out = []
	for claimant, filed, decided, status, decision, hours in (
		frappe.qb.from_(d)
		.select(d.claimant, d.filed_at, d.decided_at, d.status, d.decision, d.hours_to_decision)
		.where(
			((d.filed_at >= start) & (d.filed_at < end)) | ((d.decided_at >= start) & (d.decided_at < end))
		)
	).run():
		if filed and start <= filed < end:
			out.append((claimant, filed, "disputes_opened", None))
		if status == "Decided" and decided and start <= decided < end:
			out.append((claimant, decided, "disputes_decided", hours))
			if decision == "Transfer to Claimant":
				out.append((claimant, decided, "transfers", None))
	return out


def teams() -> dict[str, str]:
	"""{user: their team}: the parent of the user's Sales Person (through Employee.user_id)."""
	if not (frappe.db.table_exists("Sales Person") and frappe.db.table_exists("Employee")):
		return {}
	users = dict(frappe.get_all("Employee", {"user_id": ["is", "set"]}, ["name", "user_id"], as_list=True))
	out = {}
	for sp, employee, parent in frappe.get_all(
		"Sales Person", {"employee": ["is", "set"]}, ["name", "employee", "parent_sales_person"], as_list=True
	):
		if users.get(employee):
			out[users[employee]] = parent or sp
	return out


def aggregate(events: list[tuple], key) -> list[dict]:
	rows: dict[tuple, dict] = {}
	hours: dict[tuple, list[float]] = defaultdict(list)
	for user, when, kind, h in events:
		if not user or not when:
			continue
		group = key(user)
		k = (week_of(when), group)
		row = rows.setdefault(k, {"week": k[0], "who": group, **dict.fromkeys(COUNTS, 0)})
		row[kind] += 1
		if h is not None:
			hours[k].append(h)
	out = []
	for k in sorted(rows, key=lambda k: (k[0], str(k[1]))):
		row = rows[k]
		row["median_hours"] = round(statistics.median(hours[k]), 1) if hours[k] else None
		row["who_label"] = get_fullname(row["who"]) if "@" in str(row["who"]) else row["who"]
		out.append(row)
	return out


def columns(group_by: str) -> list[dict]:
	return [
		{"fieldname": "week", "label": _("Week"), "fieldtype": "Date", "width": 110},
		{
			"fieldname": "who_label",
			"label": _("Rep") if group_by == "Rep" else _("Team"),
			"fieldtype": "Data",
			"width": 180,
		},
		{"fieldname": "collisions", "label": _("Collisions"), "fieldtype": "Int", "width": 100},
		{"fieldname": "routed", "label": _("Routed to Them"), "fieldtype": "Int", "width": 120},
		{"fieldname": "claims", "label": _("Claims"), "fieldtype": "Int", "width": 90},
		{"fieldname": "disputes_opened", "label": _("Disputes Opened"), "fieldtype": "Int", "width": 130},
		{"fieldname": "disputes_decided", "label": _("Disputes Decided"), "fieldtype": "Int", "width": 130},
		{
			"fieldname": "median_hours",
			"label": _("Median Hours to Decision"),
			"fieldtype": "Float",
			"width": 170,
		},
		{"fieldname": "transfers", "label": _("Transfers"), "fieldtype": "Int", "width": 100},
	]


def chart(data: list[dict]) -> dict | None:
	if not data:
		return None
	weeks = sorted({r["week"] for r in data})
	totals = {w: dict.fromkeys(COUNTS, 0) for w in weeks}
	for r in data:
		for c in COUNTS:
			totals[r["week"]][c] += r[c]
	labels = {
		"collisions": _("Collisions"),
		"routed": _("Routed"),
		"claims": _("Claims"),
		"disputes_opened": _("Disputes Opened"),
		"transfers": _("Transfers"),
	}
	return {
		"data": {
			"labels": [frappe.format(w, {"fieldtype": "Date"}) for w in weeks],
			"datasets": [
				{"name": label, "values": [totals[w][c] for w in weeks]} for c, label in labels.items()
			],
		},
		"type": "bar",
	}
