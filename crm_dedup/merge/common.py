"""Constants, the merge's error class and the raw row helpers every step of a merge uses."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import frappe
from frappe.query_builder import Field
from frappe.utils import cstr

MERGE_DOCTYPES = ("Customer", "Contact", "Lead")
# (survivor doctype, merged-away doctype) pairs besides same-doctype merges; the Lead is kept (converted)
CROSS_MERGES = {("Customer", "Lead")}
LOG_DOCTYPE = "Dedup Merge Log"
BACKGROUND_THRESHOLD = 500
CHUNK = 500

# Columns of a child row that are bookkeeping, not content
ROW_META_FIELDS = {
	"name",
	"owner",
	"creation",
	"modified",
	"modified_by",
	"docstatus",
	"idx",
	"parent",
	"parentfield",
	"parenttype",
	"doctype",
	"__islocal",
	"__unsaved",
}


class MergeError(frappe.ValidationError):
	pass


def is_empty(value: Any) -> bool:
	return value is None or (isinstance(value, str) and not value.strip())


def norm(value: Any) -> str:
	"""A value as text that compares equal for equal numbers (``1``, ``1.0``, ``"1.000"``, ``True``)."""
	if value is None:
		return ""
	if isinstance(value, bool):
		return str(int(value))
	if isinstance(value, int | float | Decimal):
		return repr(float(value))
	text = cstr(value)
	if re.fullmatch(r"-?\d+(\.\d+)?", text):
		return repr(float(text))
	return text


def json_list(value: Any) -> list:
	if not value:
		return []
	try:
		data = json.loads(value) if isinstance(value, str) else value
	except ValueError:
		return []
	return list(data) if isinstance(data, list) else []


def set_column(doctype: str, names: list[str], field: str, value: Any) -> None:
	for start in range(0, len(names), CHUNK):
		table = frappe.qb.DocType(doctype)
		frappe.qb.update(table).set(Field(field), value).where(
			table.name.isin(names[start : start + CHUNK])
		).run()


def set_single(doctype: str, field: str, value: Any) -> None:
	singles = frappe.qb.DocType("Singles")
	frappe.qb.update(singles).set(singles.value, value).where(
		(singles.doctype == doctype) & (singles.field == field)
	).run()


def full_rows(doctype: str, names: list[str]) -> list[dict]:
	rows = []
	for start in range(0, len(names), CHUNK):
		table = frappe.qb.DocType(doctype)
		rows += (
			frappe.qb.from_(table)
			.select("*")
			.where(table.name.isin(names[start : start + CHUNK]))
			.run(as_dict=True)
		)
	return rows


def raw_row(doctype: str, name: str) -> dict:
	rows = full_rows(doctype, [name])
	return rows[0] if rows else {}


def rows_with(doctype: str, names: list[str], columns: list[str]) -> list[dict]:
	rows = []
	table = frappe.qb.DocType(doctype)
	for start in range(0, len(names), CHUNK):
		rows += (
			frappe.qb.from_(table)
			.select(table.name, *[Field(c) for c in columns])
			.where(table.name.isin(names[start : start + CHUNK]))
			.run(as_dict=True)
		)
	return rows


def insert_row(doctype: str, row: dict) -> None:
	table = frappe.qb.DocType(doctype)
	columns = [c for c in row if c in set(frappe.db.get_table_columns(doctype))]
	frappe.qb.into(table).columns(*columns).insert(*[row[c] for c in columns]).run()
