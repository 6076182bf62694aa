# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt
"""Field paths against the meta: which fields a rule condition may name, and whether a match type fits a field
(rule validation, the rule form's field picker, Dedup Settings' owner fields)."""

from __future__ import annotations

from typing import Any

import frappe
from frappe import _

from crm_dedup.core.config import MATCH_LABELS, MATCH_TYPES
from crm_dedup.core.display import field_label
from crm_dedup.core.related import OFFERED, RELATED, is_related

TEXT_TYPES = frozenset(
	{
		"Data",
		"Small Text",
		"Text",
		"Long Text",
		"Read Only",
		"Link",
		"Dynamic Link",
		"Select",
		"Autocomplete",
		"Phone",
	}
)
FIELD_TYPES_FOR = {
	"normalized": TEXT_TYPES,
	"fuzzy": TEXT_TYPES,
	"company_name": TEXT_TYPES,
	"person_name": TEXT_TYPES,
	"phone": frozenset({"Data", "Phone", "Small Text", "Text", "Read Only"}),
	"email": frozenset({"Data", "Small Text", "Text", "Read Only", "Link"}),
	"id_code": frozenset({"Data", "Small Text", "Read Only", "Link"}),
	"fuzzy_tokens": TEXT_TYPES | {"Text Editor"},
	"set_overlap": TEXT_TYPES | {"Table MultiSelect"},
	"set_containment": TEXT_TYPES | {"Table MultiSelect"},
	"date_within": frozenset({"Date", "Datetime"}),
}
STANDARD_PATHS = {"name": "Data", "owner": "Link", "creation": "Datetime", "modified": "Datetime"}


def resolve_path(doctype: str, path: str) -> tuple[Any, str | None]:
	"""(docfield or None, error message or None) for a field path of ``doctype``."""
	from frappe.model import no_value_fields

	meta = frappe.get_meta(doctype)
	if is_related(path):  # contacts.phone_nos.phone: a field of the linked Contacts
		rel, sub = path.split(".", 1)
		return resolve_path(RELATED[rel], sub)
	if "." in path:
		table, child_field = path.split(".", 1)
		tdf = meta.get_field(table)
		if not tdf:
			return None, _("{0} has no field {1}").format(_(doctype), table)
		if tdf.fieldtype not in ("Table", "Table MultiSelect"):
			return None, _("{0}.{1} is not a child table, so {2} cannot be read from it").format(
				_(doctype), table, path
			)
		child_meta = frappe.get_meta(tdf.options)
		df = child_meta.get_field(child_field)
		if not df:
			return None, _("child table {0} ({1}) has no field {2}").format(table, tdf.options, child_field)
	else:
		if path in STANDARD_PATHS:
			return frappe._dict(fieldname=path, fieldtype=STANDARD_PATHS[path], label=_(path.title())), None
		df = meta.get_field(path)
		if not df:
			return None, _("{0} has no field {1}").format(_(doctype), path)
	if df.fieldtype in no_value_fields:
		return None, _("{0} is a {1} field and holds no value to compare").format(path, _(df.fieldtype))
	if getattr(df, "is_virtual", 0):
		return None, _("{0} is a virtual field (not stored) and cannot be indexed").format(path)
	return df, None


def check_condition_field(doctype: str, path: str, match: str) -> str | None:
	"""An error message when ``path`` does not exist in ``doctype`` or its type does not fit ``match``."""
	df, error = resolve_path(doctype, path)
	if error:
		return error
	return _type_error(path, df, match)


def _type_error(path: str, df: Any, match: str) -> str | None:
	allowed = FIELD_TYPES_FOR.get(match)
	label = MATCH_LABELS.get(match, match)
	if allowed is not None and df.fieldtype not in allowed:
		return _("{0} is a {1} field; a {2} match needs one of: {3}").format(
			path, _(df.fieldtype), _(label), ", ".join(_(t) for t in sorted(allowed))
		)
	if df.fieldtype == "Data" and df.get("options"):
		kind = df.get("options")
		if match == "phone" and kind in ("Email", "URL", "Name"):
			return _("{0} holds an {1}, not a phone number").format(path, _(kind))
		if match == "email" and kind in ("Phone", "URL", "Name"):
			return _("{0} holds a {1}, not an email address").format(path, _(kind))
	return None


def _fits(path: str, df: Any) -> list[str]:
	"""Match type labels (Dedup Rule Condition values) this field can be used with."""
	return [label for label, match in MATCH_TYPES.items() if _type_error(path, df, match) is None]


def field_options(doctype: str) -> list[dict]:
	"""Every field of ``doctype`` a condition can use: standard, custom and child-table fields."""
	from frappe.model import no_value_fields

	meta = frappe.get_meta(doctype)
	name_df = frappe._dict(fieldname="name", fieldtype="Data")
	out = [
		{
			"value": "name",
			"label": _("ID"),
			"fieldtype": "Data",
			"group": _(doctype),
			"custom": 0,
			"fits": _fits("name", name_df),
		}
	]
	children = []
	for df in meta.fields:
		if df.fieldtype in ("Table", "Table MultiSelect"):
			children.append(df)
			continue
		if df.fieldtype in no_value_fields or getattr(df, "is_virtual", 0):
			continue
		out.append(
			{
				"value": df.fieldname,
				"label": _(df.label or df.fieldname),
				"fieldtype": df.fieldtype,
				"options": df.options if df.fieldtype == "Data" else None,
				"group": _(doctype),
				"custom": int(bool(df.get("is_custom_field"))),
				"fits": _fits(df.fieldname, df),
			}
		)
	out += _related_options(doctype)
	for tdf in children:
		child_meta = frappe.get_meta(tdf.options)
		for df in child_meta.fields:
			if df.fieldtype in no_value_fields or getattr(df, "is_virtual", 0):
				continue
			out.append(
				{
					"value": f"{tdf.fieldname}.{df.fieldname}",
					"label": f"{_(tdf.label or tdf.fieldname)} › {_(df.label or df.fieldname)}",
					"fieldtype": df.fieldtype,
					"options": df.options if df.fieldtype == "Data" else None,
					"group": f"{_(tdf.label or tdf.fieldname)} ({_(tdf.options)})",
					"custom": int(bool(df.get("is_custom_field") or tdf.get("is_custom_field"))),
					"fits": _fits(f"{tdf.fieldname}.{df.fieldname}", df),
				}
			)
	return out


def _related_options(doctype: str) -> list[dict]:
	"""Fields of the Contacts and Addresses linked to a record (``core.related``), for doctypes they link to."""
	if doctype in RELATED.values() or frappe.get_meta(doctype).istable:
		return []
	out = []
	for rel, subs in OFFERED.items():
		other = RELATED[rel]
		for sub in subs:
			df, error = resolve_path(other, sub)
			if error:
				continue
			path = f"{rel}.{sub}"
			out.append(
				{
					"value": path,
					"label": field_label(doctype, path),
					"fieldtype": df.fieldtype,
					"options": df.options if df.fieldtype == "Data" else None,
					"group": _("Linked {0}").format(_(other)),
					"custom": 0,
					"fits": _fits(path, df),
				}
			)
	return out
