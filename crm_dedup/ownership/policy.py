# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt
"""Ownership policies (Dedup Settings > Ownership Policies): per DocType, how long a record stays protected for
its owner, which linked documents renew the protection, who receives routed records when the owner cannot, and
the custom fields that show the public pool on the record (list filter, list column, form indicator)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import frappe
from frappe import _
from frappe.custom.doctype.custom_field.custom_field import create_custom_fields
from frappe.utils import cint

from crm_dedup.core.config import config, split_fields
from crm_dedup.core.owners import DEFAULT_ACTIVITY, FIRST_ENTRY_DEFAULT

POOL_FIELD = "dedup_public_pool"
UNTIL_FIELD = "dedup_protected_until"
ACTIVITY_FIELD = "dedup_last_activity"
POLICIES = (FIRST_ENTRY_DEFAULT, "Earliest activity", "Manager decides")


@dataclass(frozen=True)
class Policy:
	doctype: str
	days: int
	warn_days: int
	activity: tuple[str, ...]
	first_entry: str
	fallback_user: str | None
	fallback_role: str | None

	@property
	def pools(self) -> bool:
		"""A protection period of 0 days means the DocType has no public pool."""
		return self.days > 0


def _policy(row: Any) -> Policy:
	return Policy(
		doctype=row.ref_doctype,
		days=cint(row.protection_days),
		warn_days=max(0, cint(row.warn_days)),
		activity=tuple(split_fields(row.activity_doctypes)) or DEFAULT_ACTIVITY,
		first_entry=row.first_entry_policy or POLICIES[0],
		fallback_user=row.fallback_user or None,
		fallback_role=row.fallback_role or None,
	)


def policies() -> dict[str, Policy]:
	"""{doctype: Policy}, read once per request."""
	got = getattr(frappe.local, "crm_dedup_policies", None)
	if got is None:
		rows = []
		if frappe.db.table_exists("Dedup Ownership Policy"):
			rows = frappe.get_all(
				"Dedup Ownership Policy",
				filters={"parenttype": "Dedup Settings"},
				fields=["*"],
				order_by="idx asc",
			)
		got = frappe.local.crm_dedup_policies = {r.ref_doctype: _policy(r) for r in rows}
	return got


def clear() -> None:
	frappe.local.crm_dedup_policies = None


def policy_of(doctype: str) -> Policy | None:
	return policies().get(doctype)


def owner_field(doctype: str) -> str:
	"""The configured owner field of ``doctype`` ("" when none: then assignments say who owns it)."""
	return (config()["owner_fields"].get(doctype) or "").strip()


def policy_errors(rows: list[Any]) -> list[str]:
	"""What is wrong with the Ownership Policies table (Dedup Settings validation)."""
	errors, seen = [], set()
	for row in rows:
		where = _("Ownership Policies row {0}").format(row.idx)
		if row.ref_doctype in seen:
			errors.append(_("{0}: {1} is listed twice").format(where, _(row.ref_doctype)))
		seen.add(row.ref_doctype)
		meta = frappe.get_meta(row.ref_doctype) if frappe.db.exists("DocType", row.ref_doctype) else None
		if meta is None or meta.istable or meta.issingle:
			errors.append(
				_("{0}: {1} is not a DocType with records of its own").format(where, row.ref_doctype)
			)
			continue
		if cint(row.protection_days) < 0:
			errors.append(
				_("{0}: the protection period cannot be negative (0 means: never released)").format(where)
			)
		if cint(row.warn_days) < 0:
			errors.append(_("{0}: Warn Days Before cannot be negative").format(where))
		for dt in split_fields(row.activity_doctypes):
			if not frappe.db.exists("DocType", dt):
				errors.append(_("{0}: qualifying activity {1} is not a DocType").format(where, dt))
		if row.first_entry_policy and row.first_entry_policy not in POLICIES:
			errors.append(_("{0}: unknown first-entry policy {1}").format(where, row.first_entry_policy))
	return errors


def ensure_fields(doctypes: list[str]) -> None:
	"""The read-only custom fields that show a record's protection: Public Pool (list column and filter),
	Protected Until, Last Activity."""
	fields = {}
	for dt in doctypes:
		if not frappe.db.exists("DocType", dt):
			continue
		own = [f.fieldname for f in frappe.get_meta(dt).fields if not f.fieldname.startswith("dedup_")]
		fields[dt] = [
			{
				"fieldname": "dedup_ownership_section",
				"fieldtype": "Section Break",
				"label": "Ownership",
				"insert_after": own[-1] if own else None,
				"collapsible": 1,
			},
			{
				"fieldname": POOL_FIELD,
				"fieldtype": "Check",
				"label": "Public Pool",
				"read_only": 1,
				"in_standard_filter": 1,
				"in_list_view": 1,
				"no_copy": 1,
				"insert_after": "dedup_ownership_section",
				"description": "Released to the public pool: any rep may claim it",
			},
			{
				"fieldname": UNTIL_FIELD,
				"fieldtype": "Date",
				"label": "Protected Until",
				"read_only": 1,
				"no_copy": 1,
				"insert_after": POOL_FIELD,
			},
			{
				"fieldname": ACTIVITY_FIELD,
				"fieldtype": "Datetime",
				"label": "Last Qualifying Activity",
				"read_only": 1,
				"no_copy": 1,
				"insert_after": UNTIL_FIELD,
			},
		]
	if fields:
		create_custom_fields(fields, ignore_validate=True, update=True)
