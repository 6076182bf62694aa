# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt
"""Who owns a record, for one record (``owner_of``) and for many in bulk (``owners_of``), per Dedup Settings:
the configured owner field (a User, or a Sales Person / Employee resolved to its user); else the owner of a
linked party (Contact/Address -> Customer/Lead); else the first assigned user; else the creator.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import frappe

from crm_dedup.core.activity import last_activity
from crm_dedup.core.config import config, split_fields
from crm_dedup.core.records import FRESH_DB, PARTY_LINK_TABLE, as_list, load_records, record_info


def owner_of(doctype: str, name: str, _depth: int = 0) -> str | None:
	"""The user who owns a record, per Dedup Settings: the configured owner field (a User, or a Sales Person /
	Employee resolved to its user); else the owner of a linked party (Contact/Address -> Customer/Lead);
	else the first assigned user; else the creator."""
	cfg = config()
	fieldpath = cfg["owner_fields"].get(doctype)
	if fieldpath:
		rec = load_records(doctype, [name], [fieldpath]).get(name)
		if rec is None:
			rec = load_records(doctype, [name], [fieldpath], db=FRESH_DB).get(name)
		for v in as_list((rec or {}).get(fieldpath)):
			user = resolve_user(doctype, fieldpath, v)
			if user:
				return user
	if _depth == 0:
		meta = frappe.get_meta(doctype)
		for df in meta.get_table_fields():
			if df.options != PARTY_LINK_TABLE:
				continue
			for row in frappe.get_all(
				PARTY_LINK_TABLE,
				filters={"parenttype": doctype, "parent": name, "parentfield": df.fieldname},
				fields=["link_doctype", "link_name"],
				order_by="idx asc",
			):
				if row.link_doctype in cfg["owner_fields"]:
					user = owner_of(row.link_doctype, row.link_name, _depth + 1)
					if user:
						return user
	info = record_info(doctype, name)
	if assigned := info.get("_assign"):
		try:
			users = json.loads(assigned)
		except ValueError:
			users = []
		if users:
			return users[0]
	return info.get("owner")


def resolve_user(doctype: str, path: str, value: Any) -> str | None:
	"""The user behind one value of an owner field (a User, Sales Person or Employee link)."""
	meta = frappe.get_meta(doctype)
	if "." in path:
		table, child_field = path.split(".", 1)
		tdf = meta.get_field(table)
		df = frappe.get_meta(tdf.options).get_field(child_field) if tdf else None
	else:
		df = meta.get_field(path)
	target = df.options if df and df.fieldtype == "Link" else None
	if target == "Sales Person":
		employee = frappe.db.get_value("Sales Person", value, "employee")
		return frappe.db.get_value("Employee", employee, "user_id") if employee else None
	if target == "Employee":
		return frappe.db.get_value("Employee", value, "user_id")
	if target in (None, "User") and frappe.db.exists("User", value):
		return value
	return None


def owners_of(doctype: str, names: Iterable[str]) -> dict[str, dict]:
	"""{name: {title, owner, creation}} for many records of one doctype, in bulk; the owner as ``owner_of``
	decides."""
	names = list(dict.fromkeys(names))
	if not names:
		return {}
	meta = frappe.get_meta(doctype)
	title_field = meta.get_title_field()
	cfg = config()
	owner_path = cfg["owner_fields"].get(doctype) or ""
	owner_df = meta.get_field(owner_path) if owner_path and "." not in owner_path else None
	cols = ["name", "creation", "owner", "_assign"]
	if title_field and title_field != "name" and meta.get_field(title_field):
		cols.append(title_field)
	if owner_df and owner_df.fieldname not in cols:
		cols.append(owner_df.fieldname)
	has_party = any(df.options == PARTY_LINK_TABLE for df in meta.get_table_fields())
	dt = frappe.qb.DocType(doctype)
	out: dict[str, dict] = {}
	resolve: dict[str, list[str]] = defaultdict(list)
	slow: list[str] = []
	for start in range(0, len(names), 1000):
		for row in (
			frappe.qb.from_(dt)
			.select(*[dt[c] for c in cols])
			.where(dt.name.isin(names[start : start + 1000]))
			.run(as_dict=True)
		):
			fallback = row.owner
			if row.get("_assign"):
				try:
					assigned = json.loads(row["_assign"]) or []
				except ValueError:
					assigned = []
				if assigned:
					fallback = assigned[0]
			out[row.name] = {
				"title": row.get(title_field) if title_field in row else row.name,
				"owner": fallback,
				"creation": row.creation,
			}
			if owner_df is not None and row.get(owner_df.fieldname):
				resolve[row.get(owner_df.fieldname)].append(row.name)
			elif owner_path or has_party:
				slow.append(row.name)  # a child-table owner path or a linked party: one by one
	if resolve:
		users = resolve_users(owner_df.options if owner_df.fieldtype == "Link" else None, list(resolve))
		for value, recs in resolve.items():
			user = users.get(value)
			for r in recs:
				if user:
					out[r]["owner"] = user
				elif has_party:  # the field names nobody: the linked party's owner, as owner_of decides
					slow.append(r)
	for n in slow[:2000]:
		out[n]["owner"] = owner_of(doctype, n) or out[n]["owner"]
	return out


def resolve_users(target: str | None, values: list[str]) -> dict[str, str]:
	"""{value: user} for values of a link to ``target`` (User, Employee, Sales Person; None: User)."""
	if target == "Sales Person":
		sp = frappe.get_all("Sales Person", filters={"name": ["in", values]}, fields=["name", "employee"])
		emps = resolve_users("Employee", [r.employee for r in sp if r.employee])
		return {r.name: emps.get(r.employee) for r in sp if r.employee and emps.get(r.employee)}
	if target == "Employee":
		return {
			r.name: r.user_id
			for r in frappe.get_all("Employee", filters={"name": ["in", values]}, fields=["name", "user_id"])
			if r.user_id
		}
	if target in (None, "User"):
		return {u: u for u in frappe.get_all("User", filters={"name": ["in", values]}, pluck="name")}
	return {}


# ---- first-entry priority (先录入优先) ------------------------------------------------------------------------
FIRST_ENTRY_DEFAULT = "Earliest creation"
DEFAULT_ACTIVITY = ("Communication", "Comment", "Event", "ToDo", "Quotation", "Opportunity", "Sales Order")


def first_entry_policy(doctype: str) -> tuple[str, tuple[str, ...]]:
	"""(policy, activity DocTypes) of ``doctype`` from Dedup Settings > Ownership Policies (default: earliest
	creation)."""
	if not frappe.db.table_exists("Dedup Ownership Policy"):
		return FIRST_ENTRY_DEFAULT, DEFAULT_ACTIVITY
	row = frappe.db.get_value(
		"Dedup Ownership Policy",
		{"parenttype": "Dedup Settings", "ref_doctype": doctype},
		["first_entry_policy", "activity_doctypes"],
		as_dict=True,
	)
	if not row:
		return FIRST_ENTRY_DEFAULT, DEFAULT_ACTIVITY
	activity = tuple(split_fields(row.activity_doctypes))
	return row.first_entry_policy or FIRST_ENTRY_DEFAULT, activity or DEFAULT_ACTIVITY


def first_entry_order(doctype: str, names: list[str]) -> list[str]:
	"""``names`` with the record that keeps the customer first, per the first-entry policy: earliest creation, or
	earliest qualifying activity (records without any after those with some, by creation); "Manager decides"
	keeps the given order."""
	policy, activity = first_entry_policy(doctype)
	if policy == "Manager decides" or len(names) < 2:
		return list(names)
	created = dict(frappe.get_all(doctype, {"name": ["in", names]}, ["name", "creation"], as_list=True))
	if policy == "Earliest activity":
		acts = last_activity(doctype, names, activity)
		return sorted(names, key=lambda n: (n not in acts, acts.get(n) or created.get(n), created.get(n)))
	return sorted(names, key=lambda n: (created.get(n) is None, created.get(n)))
