"""Which value survives: the fields a user chooses between, their defaults, and the union of child rows."""

from __future__ import annotations

from typing import Any

from frappe.model import no_value_fields, table_fields
from frappe.utils import cint, cstr

from crm_dedup.core.config import config, placeholder_reason
from crm_dedup.engine import normalize_email, normalize_phone
from crm_dedup.merge.common import ROW_META_FIELDS, is_empty

SKIP_MERGE_FIELDS = {"naming_series", "amended_from"}
# Child rows of the merged doctypes: rows with the same key are one row in the union
CHILD_ROW_KEYS: dict[str, tuple[str, ...]] = {
	"Contact Email": ("email_id",),
	"Contact Phone": ("phone",),
	"Dynamic Link": ("link_doctype", "link_name"),
	"Customer Credit Limit": ("company",),
	"Party Account": ("company",),
	"Sales Team": ("sales_person",),
	"Allowed To Transact With": ("company",),
	"Portal User": ("user",),
}
ALWAYS_VALUED = ("Check", "Int", "Float", "Currency", "Percent", "Rating", "Duration")


def mergeable_fields(meta) -> list:
	"""Value fields a user chooses between; fetched copies and read-only (computed) fields are left to the
	controller."""
	out = []
	for df in meta.fields:
		if df.fieldtype in no_value_fields or df.fieldtype in table_fields:
			continue
		if df.fieldname in SKIP_MERGE_FIELDS or df.is_virtual or df.read_only:
			continue
		if df.fetch_from and not df.fetch_if_empty:
			continue
		out.append(df)
	return out


def fills_empty(df) -> bool:
	"""Numbers and checks always have a value: the survivor's one stays unless the user picks another."""
	return df.fieldtype not in ALWAYS_VALUED


def is_filler(doctype: str, fieldname: str, value: Any) -> bool:
	"""Blank, or a placeholder (无, 不详, 13800138000…): never chosen over a real value."""
	return is_empty(value) or (
		isinstance(value, str) and placeholder_reason(doctype, fieldname, value) is not None
	)


def default_values(meta, survivor_doc, docs: list) -> dict:
	"""Survivor's value, else the first real value among the records (in the order given); a placeholder
	(无, N/A, 13800138000…) counts as blank, so it never wins over a real value."""
	out = {}
	for df in mergeable_fields(meta):
		value = survivor_doc.get(df.fieldname)
		if fills_empty(df) and is_filler(meta.name, df.fieldname, value):
			for doc in docs:
				if not is_filler(meta.name, df.fieldname, doc.get(df.fieldname)):
					value = doc.get(df.fieldname)
					break
		out[df.fieldname] = value
	return out


def phone_region() -> str:
	return config()["region"]


def child_row_key(child_doctype: str, row: dict, region: str) -> tuple:
	if child_doctype == "Contact Phone":
		return ("phone", normalize_phone(cstr(row.get("phone")), region) or cstr(row.get("phone")).strip())
	if child_doctype == "Contact Email":
		return ("email", normalize_email(cstr(row.get("email_id"))))
	keys = CHILD_ROW_KEYS.get(child_doctype)
	if keys:
		return tuple(cstr(row.get(k)).strip() for k in keys)
	return tuple(
		(k, cstr(v))
		for k, v in sorted(row.items())
		if k not in ROW_META_FIELDS and not k.startswith("is_primary") and not isinstance(v, list)
	)


def union_child_rows(survivor_doc, docs: list, region: str | None = None) -> dict[str, list[dict]]:
	"""Rows to append to each table of the survivor: the others' rows whose key is not there yet.
	Primary flags of appended rows are cleared when the survivor already has a primary row."""
	region = region or phone_region()
	out: dict[str, list[dict]] = {}
	for tdf in survivor_doc.meta.get_table_fields():
		added = _new_rows(survivor_doc, docs, tdf.fieldname, tdf.options, region)
		if added:
			out[tdf.fieldname] = added
	return out


def _new_rows(survivor_doc, docs: list, fieldname: str, child_dt: str, region: str) -> list[dict]:
	rows = [d.as_dict() for d in survivor_doc.get(fieldname)]
	seen = {child_row_key(child_dt, r, region) for r in rows}
	primaries = {k for r in rows for k, v in r.items() if k.startswith("is_primary") and cint(v)}
	added = []
	for doc in docs:
		if doc is survivor_doc or doc.doctype != survivor_doc.doctype:
			continue
		for row in doc.get(fieldname):
			data = {k: v for k, v in row.as_dict().items() if k not in ROW_META_FIELDS}
			key = child_row_key(child_dt, data, region)
			if key in seen:
				continue
			seen.add(key)
			for flag in [k for k in data if k.startswith("is_primary")]:
				if flag in primaries:
					data[flag] = 0
				elif cint(data[flag]):
					primaries.add(flag)
			added.append(data)
	return added
