# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt
"""Rule scope filters: a Dedup Rule's "Applies when" (which new or edited records it checks) and "Search
within: records matching a filter" (which existing records it compares them with), in the shape of Frappe's
list filters (``[[doctype, fieldname, operator, value], ...]``, as ``frappe.ui.FilterGroup`` gives them).

Filters are checked against the target DocType's meta when a rule is saved (``filter_errors``) and evaluated
on the plain records of ``core.records`` (``matches``): a field of the DocType by its name, a child-table field
by its path (``items.item_code``, true when any row meets it). Tree operators (``descendants of`` ...) read the
tree's lft/rgt once per request.
"""

from __future__ import annotations

import json
from typing import Any

import frappe
from frappe import _
from frappe.model import default_fields
from frappe.utils import cstr
from frappe.utils.data import compare
from frappe.utils.nestedset import get_ancestors_of, get_descendants_of

OPERATORS = (
	"=",
	"!=",
	">",
	"<",
	">=",
	"<=",
	"like",
	"not like",
	"in",
	"not in",
	"is",
	"descendants of",
	"descendants of (inclusive)",
	"not descendants of",
	"ancestors of",
	"not ancestors of",
)
TREE_OPERATORS = {o for o in OPERATORS if "descendants" in o or "ancestors" in o}
NUMERIC = {"Int", "Float", "Currency", "Percent", "Check", "Rating", "Duration"}


def parse(text: Any) -> list[list]:
	"""Stored filters (JSON text, a list or a dict) as a list of [doctype or None, fieldname, operator, value];
	ValueError with a readable message when the text is not filters."""
	if text in (None, "", "[]", "{}"):
		return []
	data = text
	if isinstance(text, str):
		try:
			data = json.loads(text)
		except json.JSONDecodeError as e:
			raise ValueError(_("the filters are not valid JSON: {0}").format(e.msg)) from None
	if isinstance(data, dict):
		data = [[None, k, *(v if isinstance(v, list) and len(v) == 2 else ["=", v])] for k, v in data.items()]
	if not isinstance(data, list):
		raise ValueError(_("the filters must be a list"))
	out = []
	for f in data:
		if not isinstance(f, list | tuple) or len(f) not in (3, 4, 5):
			raise ValueError(_("{0} is not a filter of the form [field, operator, value]").format(f))
		f = list(f[:4]) if len(f) >= 4 else [None, *f]
		out.append(f)
	return out


def _field(doctype: str, f: list) -> tuple[str, Any] | None:
	"""(record path, docfield or None for a standard field) of one filter, or None when the field is unknown."""
	fdt, fieldname = f[0] or doctype, f[1]
	meta = frappe.get_meta(doctype)
	if fdt == doctype:
		if fieldname in default_fields or fieldname in ("_assign", "_user_tags"):
			return fieldname, None
		df = meta.get_field(fieldname)
		return (fieldname, df) if df and df.fieldtype not in frappe.model.no_value_fields else None
	for table in meta.get_table_fields():
		if table.options == fdt:
			df = frappe.get_meta(fdt).get_field(fieldname)
			if df:
				return f"{table.fieldname}.{fieldname}", df
	return None


def filter_errors(doctype: str, filters: list[list]) -> list[str]:
	"""What is wrong with these filters for records of ``doctype`` (empty: nothing)."""
	errors = []
	for f in filters:
		if _field(doctype, f) is None:
			errors.append(
				_("{0} has no field {1}").format(_(f[0] or doctype), f[1])
				if (f[0] or doctype) == doctype
				else _("{0} is not a child table of {1}, or has no field {2}").format(
					_(f[0]), _(doctype), f[1]
				)
			)
		elif str(f[2]).lower() not in OPERATORS:
			errors.append(_("the operator {0} (on {1}) is not supported here").format(f[2], f[1]))
	return errors


def paths(doctype: str, filters: list[list]) -> list[str]:
	"""The record paths these filters read."""
	out = []
	for f in filters:
		got = _field(doctype, f)
		if got and got[0] not in out:
			out.append(got[0])
	return out


def matches(doctype: str, filters: list[list], record: dict) -> bool:
	"""Whether a record (``core.records`` shape) meets every filter; an unknown field never matches."""
	for f in filters:
		got = _field(doctype, f)
		if got is None:
			return False
		path, df = got
		value = record.get(path)
		values = value if isinstance(value, list) else [value]
		if "." in path:  # child rows: any row; no rows at all is one blank row
			values = values or [None]
		if not any(_holds(df, str(f[2]).lower(), v, f[3]) for v in values):
			return False
	return True


def _holds(df: Any, op: str, value: Any, want: Any) -> bool:
	if op == "is":
		blank = value in (None, "") or (df is not None and df.fieldtype in NUMERIC and not value)
		return blank if str(want).lower() == "not set" else not blank
	if op in TREE_OPERATORS:
		return _tree(df, op, value, want)
	if op in ("in", "not in"):
		items = want if isinstance(want, list | tuple) else [w.strip() for w in cstr(want).split(",")]
		inside = cstr(value) in {cstr(i) for i in items}
		return inside if op == "in" else not inside
	fieldtype = df.fieldtype if df is not None else None
	if op in ("like", "not like"):
		return compare(cstr(value), op, cstr(want))
	if fieldtype in NUMERIC or fieldtype in ("Date", "Datetime"):
		try:
			return compare(value, op, want, fieldtype)
		except (TypeError, ValueError):
			return False
	try:
		return compare(cstr(value), op, cstr(want))
	except TypeError:
		return False


def _tree(df: Any, op: str, value: Any, want: Any) -> bool:
	"""descendants of / ancestors of for a Link to a tree DocType (Territory, Customer Group, ...)."""
	if df is None or df.fieldtype != "Link" or not value:
		return op.startswith("not ")
	cache = getattr(frappe.local, "crm_dedup_tree", None)
	if cache is None:
		cache = frappe.local.crm_dedup_tree = {}
	key = (df.options, want)
	if key not in cache:
		cache[key] = (
			set(get_descendants_of(df.options, want, ignore_permissions=True) or []),
			set(get_ancestors_of(df.options, want) or []),
		)
	descendants, ancestors = cache[key]
	if op == "descendants of (inclusive)":
		return value == want or value in descendants
	if op == "descendants of":
		return value in descendants
	if op == "not descendants of":
		return value not in descendants
	if op == "ancestors of":
		return value in ancestors
	return value not in ancestors


def summary(
	applies: list[list], search_within: str | None, scope_fields: list[str], search: list[list]
) -> str:
	"""One line for the rule list: what the rule applies to and what it searches."""
	parts = []
	if applies:
		parts.append(_("when {0}").format(describe(applies)))
	if search_within == "Same values of fields" and scope_fields:
		parts.append(_("within same {0}").format(", ".join(scope_fields)))
	elif search_within == "Records matching a filter" and search:
		parts.append(_("within {0}").format(describe(search)))
	return "; ".join(parts) or _("everywhere")


def describe(filters: list[list]) -> str:
	out = []
	for f in filters:
		value = ", ".join(map(cstr, f[3])) if isinstance(f[3], list | tuple) else cstr(f[3])
		out.append(f"{f[1]} {f[2]} {value}".strip())
	return " & ".join(out)
