"""Merge duplicate Customers, Contacts and Leads into one record, and undo such a merge.

Frappe's ``rename_doc(merge=True)`` keeps only the target's values, drops the source's child rows, leaves
duplicate link rows behind and deletes the source for good. A merge here:

1. locks every record, snapshots each of them (``as_dict()`` incl. child rows and the hidden ``_assign`` /
   ``_comments`` / ``_liked_by`` / ``_user_tags`` / ``_seen`` columns);
2. deletes the merged-away records (without their ``on_trash``: a merge is no deletion, so ERPNext's side
   effects such as "Lead back to Interested" or "delete contacts linked only to this customer" never run);
3. saves the survivor with the chosen field values and the union of all child rows (same phone / e-mail /
   link once), recording every field and child row that changed, plus the known side effects of that save;
4. points every row that referenced a merged-away record at the survivor: Link fields in all doctypes and
   child tables incl. custom fields and property setters, every Dynamic Link field (Contact/Address links,
   Comment, Communication + timeline links, ToDo, DocShare, Document Follow, Tag Link, Activity Log, ...),
   and the name-holding Data fields Frappe uses (File, Version, Notification Log, Energy Point Log, ...);
   a relinked row that would duplicate an existing one (a contact linked to both customers) is deleted;
   duplicate open assignments are cancelled; the hidden columns are merged into the survivor's;
5. refreshes fetched copies (``customer_name`` on transactions, ``fetch_from`` fields, titles);
6. Lead -> Customer: the Lead is kept, marked Converted and linked (``Customer.lead_name``); its comments are
   copied, its communications, open events, contacts and addresses linked, its open tasks moved - as
   ERPNext's own conversion (``erpnext/crm/utils.py``) does;
7. updates the key index and writes a **Dedup Merge Log** holding the snapshots, the chosen values and
   every change (``set`` with the old value, ``ins`` of a new row, ``del`` with the full row), so that
   ``undo_merge`` can restore the records and point every row back.

Everything runs inside one transaction under a savepoint: any failure rolls every step back. Merges that
touch more than ``BACKGROUND_THRESHOLD`` rows run as a background job (the single enqueue site of this
module) and report progress with ``frappe.publish_progress``.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import frappe
from frappe import _
from frappe.model import no_value_fields, optional_fields, table_fields
from frappe.query_builder import Field
from frappe.utils import cint, cstr, now_datetime
from frappe.utils.global_search import update_global_search

from crm_dedup import bridge

MERGE_DOCTYPES = ("Customer", "Contact", "Lead")
# (survivor doctype, merged-away doctype) pairs besides same-doctype merges; the Lead is kept (converted)
CROSS_MERGES = {("Customer", "Lead")}
MERGE_ROLES = ("Dedup Manager", "System Manager")
LOG_DOCTYPE = "Dedup Merge Log"
BACKGROUND_THRESHOLD = 500
CHUNK = 500

# Doctypes whose references are never relinked: our own bookkeeping (keys, logs, scan results keep
# pointing at the record they describe) and Frappe's archive of deleted documents.
SKIP_RELINK_MODULES = ("Crm Dedup",)
SKIP_RELINK_DOCTYPES = {"Deleted Document", LOG_DOCTYPE}

# Data fields (not Dynamic Link) that hold a document name next to a doctype field
NAME_DATA_FIELDS = (
	("File", "attached_to_doctype", "attached_to_name"),
	("Version", "ref_doctype", "docname"),
	("Notification Log", "document_type", "document_name"),
	("Energy Point Log", "reference_doctype", "reference_name"),
	("Comment", "link_doctype", "link_name"),
	("Email Queue", "reference_doctype", "reference_name"),
)

# After relinking, a row of these doctypes equal to an existing one on these columns is a duplicate
DEDUPE_KEYS = {
	"Dynamic Link": ("parenttype", "parent", "parentfield", "link_doctype", "link_name"),
	"Communication Link": ("parenttype", "parent", "parentfield", "link_doctype", "link_name"),
	"Event Participants": ("parenttype", "parent", "parentfield", "reference_doctype", "reference_docname"),
	"Prospect Lead": ("parenttype", "parent", "parentfield", "lead"),
	"Tag Link": ("document_type", "document_name", "tag"),
	"Document Follow": ("ref_doctype", "ref_docname", "user"),
	"DocShare": ("share_doctype", "share_name", "user", "everyone"),
	"User Permission": ("user", "allow", "for_value", "applicable_for", "apply_to_all_doctypes"),
}
DOCSHARE_RIGHTS = ("read", "write", "share", "submit")

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
# Copies of a party's display name that transactions keep (refreshed when the value is the old name)
DISPLAY_COPY_FIELDS = ("customer_name", "title", "contact_display", "lead_name", "party_name_title")
# Dynamic Link fields whose document keeps a copy of the party name: (doctype, field) -> {copy: source}
DYNAMIC_FETCHES = {
	("Quotation", "party_name"): {"Customer": {"customer_name": "customer_name"}},
	("Opportunity", "party_name"): {"Customer": {"customer_name": "customer_name"}},
}
SKIP_MERGE_FIELDS = {"naming_series", "amended_from"}
HIDDEN_LIST_COLUMNS = ("_assign", "_liked_by", "_seen")


class MergeError(frappe.ValidationError):
	pass


# ---------------------------------------------------------------------------------------------------------
# Permissions and arguments
# ---------------------------------------------------------------------------------------------------------


def has_merge_role(user: str | None = None) -> bool:
	user = user or frappe.session.user
	return user == "Administrator" or bool(set(MERGE_ROLES) & set(frappe.get_roles(user)))


def check_merge_role() -> None:
	"""Dedup Manager or System Manager only (``frappe.only_for`` is a no-op in tests, so not used)."""
	if not has_merge_role():
		frappe.throw(
			_("Only users with the role {0} or {1} may merge duplicates or undo a merge.").format(
				frappe.bold(_("Dedup Manager")), frappe.bold(_("System Manager"))
			),
			frappe.PermissionError,
			title=_("Not Permitted"),
		)


def _check_doc_permission(doctype: str, name: str, ptype: str = "write") -> None:
	if not frappe.has_permission(doctype, ptype, doc=name):
		frappe.throw(
			_("You need {0} permission on {1} {2} to merge it.").format(_(ptype), _(doctype), name),
			frappe.PermissionError,
			title=_("Not Permitted"),
		)


def _parse_refs(doctype: str, names: Any) -> list[tuple[str, str]]:
	"""Names as a list (or JSON list) of names of ``doctype``, ``{"doctype", "name"}`` or ``[doctype, name]``."""
	if isinstance(names, str):
		text = names.strip()
		names = frappe.parse_json(text) if text.startswith("[") else [text]
	refs: list[tuple[str, str]] = []
	for item in names or []:
		if isinstance(item, dict):
			ref = (item.get("doctype") or doctype, item.get("name"))
		elif isinstance(item, list | tuple) and len(item) == 2:
			ref = (item[0], item[1])
		else:
			ref = (doctype, item)
		if not ref[1]:
			continue
		ref = (cstr(ref[0]), cstr(ref[1]))
		if ref not in refs:
			refs.append(ref)
	return refs


def _parse_values(values: Any) -> dict:
	if not values:
		return {}
	if isinstance(values, str):
		values = frappe.parse_json(values)
	if not isinstance(values, dict):
		frappe.throw(_("Chosen values must be an object of field names and values."), title=_("Merge"))
	return dict(values)


def _validate_refs(doctype: str, survivor: str | None, refs: list[tuple[str, str]]) -> None:
	if doctype not in MERGE_DOCTYPES:
		frappe.throw(
			_("Merging is supported for {0} only, not for {1}.").format(
				", ".join(_(d) for d in MERGE_DOCTYPES), _(doctype)
			),
			MergeError,
			title=_("Cannot merge"),
		)
	if len(refs) < 2:
		frappe.throw(_("Select at least two records to merge."), MergeError, title=_("Cannot merge"))
	for dt, name in refs:
		if dt != doctype and (doctype, dt) not in CROSS_MERGES:
			frappe.throw(
				_("{0} {1} cannot be merged into a {2}.").format(_(dt), name, _(doctype)),
				MergeError,
				title=_("Cannot merge"),
			)
		if not frappe.db.exists(dt, name):
			frappe.throw(
				_("{0} {1} does not exist (already merged or deleted?).").format(_(dt), frappe.bold(name)),
				frappe.DoesNotExistError,
				title=_("Cannot merge"),
			)
	if survivor is not None and (doctype, survivor) not in refs:
		frappe.throw(
			_("The surviving record must be one of the {0} records being merged.").format(_(doctype)),
			MergeError,
			title=_("Cannot merge"),
		)


# ---------------------------------------------------------------------------------------------------------
# Field survivorship
# ---------------------------------------------------------------------------------------------------------


def _mergeable_fields(meta) -> list:
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


def _is_empty(value: Any) -> bool:
	return value is None or (isinstance(value, str) and not value.strip())


def _fills_empty(df) -> bool:
	"""Numbers and checks always have a value: the survivor's one stays unless the user picks another."""
	return df.fieldtype not in ("Check", "Int", "Float", "Currency", "Percent", "Rating", "Duration")


def _is_filler(doctype: str, fieldname: str, value: Any) -> bool:
	"""Blank, or a placeholder (无, 不详, 13800138000…): never chosen over a real value."""
	return _is_empty(value) or (
		isinstance(value, str) and bridge.placeholder_reason(doctype, fieldname, value) is not None
	)


def default_values(meta, survivor_doc, docs: list) -> dict:
	"""Survivor's value, else the first real value among the records (in the order given); a placeholder
	(无, N/A, 13800138000…) counts as blank, so it never wins over a real value."""
	out = {}
	for df in _mergeable_fields(meta):
		value = survivor_doc.get(df.fieldname)
		if _fills_empty(df) and _is_filler(meta.name, df.fieldname, value):
			for doc in docs:
				if not _is_filler(meta.name, df.fieldname, doc.get(df.fieldname)):
					value = doc.get(df.fieldname)
					break
		out[df.fieldname] = value
	return out


def _phone_region() -> str:
	try:
		return frappe.db.get_single_value("Dedup Settings", "default_phone_region") or "CN"
	except Exception:
		return "CN"


def _child_row_key(child_doctype: str, row: dict, region: str) -> tuple:
	from crm_dedup.engine.normalize import normalize_email, normalize_phone

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
	region = region or _phone_region()
	out: dict[str, list[dict]] = {}
	for tdf in survivor_doc.meta.get_table_fields():
		child_dt = tdf.options
		rows = [d.as_dict() for d in survivor_doc.get(tdf.fieldname)]
		seen = {_child_row_key(child_dt, r, region) for r in rows}
		primaries = {k for r in rows for k, v in r.items() if k.startswith("is_primary") and cint(v)}
		added = []
		for doc in docs:
			if doc is survivor_doc or doc.doctype != survivor_doc.doctype:
				continue
			for row in doc.get(tdf.fieldname):
				data = {k: v for k, v in row.as_dict().items() if k not in ROW_META_FIELDS}
				key = _child_row_key(child_dt, data, region)
				if key in seen:
					continue
				seen.add(key)
				for flag in [k for k in data if k.startswith("is_primary")]:
					if flag in primaries:
						data[flag] = 0
					elif cint(data[flag]):
						primaries.add(flag)
				added.append(data)
		if added:
			out[tdf.fieldname] = added
	return out


# ---------------------------------------------------------------------------------------------------------
# Change recording
# ---------------------------------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
	if isinstance(value, Decimal):
		return float(value)
	if isinstance(value, str | int | float | bool) or value is None:
		return value
	return cstr(value)


class ChangeRecorder:
	"""Every change, in order. ``set``: a column's old and new value; ``ins``: a row that was inserted;
	``del``: a row that was deleted (full row); ``rec``: a merged-away record (restored from the snapshot)."""

	def __init__(self, progress: Callable[[int], None] | None = None):
		self.changes: list[dict] = []
		self.progress = progress

	def set(self, doctype: str, name: str, field: str, old: Any, new: Any, kind: str) -> None:
		self.changes.append(
			{
				"op": "set",
				"dt": doctype,
				"dn": name,
				"f": field,
				"old": _jsonable(old),
				"new": _jsonable(new),
				"kind": kind,
			}
		)
		self._tick()

	def insert(self, doctype: str, name: str, kind: str) -> None:
		self.changes.append({"op": "ins", "dt": doctype, "dn": name, "kind": kind})
		self._tick()

	def delete(self, doctype: str, row: dict, kind: str) -> None:
		row = {k: _jsonable(v) for k, v in row.items()}
		self.changes.append({"op": "del", "dt": doctype, "dn": row["name"], "row": row, "kind": kind})
		self._tick()

	def record(self, doctype: str, name: str) -> None:
		self.changes.append({"op": "rec", "dt": doctype, "dn": name, "kind": "merged_record"})

	def _tick(self) -> None:
		if self.progress and len(self.changes) % 100 == 0:
			self.progress(len(self.changes))


def _set_column(doctype: str, names: list[str], field: str, value: Any) -> None:
	for start in range(0, len(names), CHUNK):
		table = frappe.qb.DocType(doctype)
		frappe.qb.update(table).set(Field(field), value).where(
			table.name.isin(names[start : start + CHUNK])
		).run()


def _set_single(doctype: str, field: str, value: Any) -> None:
	singles = frappe.qb.DocType("Singles")
	frappe.qb.update(singles).set(singles.value, value).where(
		(singles.doctype == doctype) & (singles.field == field)
	).run()


def _full_rows(doctype: str, names: list[str]) -> list[dict]:
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


def _insert_row(doctype: str, row: dict) -> None:
	table = frappe.qb.DocType(doctype)
	columns = [c for c in row if c in set(frappe.db.get_table_columns(doctype))]
	frappe.qb.into(table).columns(*columns).insert(*[row[c] for c in columns]).run()


def _raw_row(doctype: str, name: str) -> dict:
	rows = _full_rows(doctype, [name])
	return rows[0] if rows else {}


# ---------------------------------------------------------------------------------------------------------
# Finding references
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
	doctype: str  # table holding the reference
	field: str  # column holding the name
	dt_field: str | None  # column holding the doctype (Dynamic Link / name Data fields), None for Link
	issingle: bool
	kind: str  # link | dynamic | data


def _skip_relink_doctypes() -> set[str]:
	skip = set(SKIP_RELINK_DOCTYPES)
	skip.update(frappe.get_all("DocType", filters={"module": ("in", SKIP_RELINK_MODULES)}, pluck="name"))
	return skip


def reference_targets(doctype: str) -> list[Target]:
	"""Every column that can hold a name of ``doctype``: Link fields (standard, custom, property setter),
	Dynamic Link fields (standard and custom) and the name-holding Data fields of Frappe's own doctypes."""
	from frappe.model.dynamic_links import get_dynamic_links
	from frappe.model.rename_doc import get_link_fields

	skip = _skip_relink_doctypes()
	targets: dict[tuple[str, str], Target] = {}

	frappe.flags.link_fields = {}  # get_link_fields caches per request; custom fields may have changed
	for lf in get_link_fields(doctype):
		if lf["parent"] in skip:
			continue
		targets.setdefault(
			(lf["parent"], lf["fieldname"]),
			Target(lf["parent"], lf["fieldname"], None, bool(lf.get("issingle")), "link"),
		)

	for df in get_dynamic_links():
		if df.parent in skip or (df.parent, df.fieldname) in targets:
			continue
		try:
			meta = frappe.get_meta(df.parent)
		except frappe.DoesNotExistError:
			continue
		if meta.is_virtual:
			continue
		targets[(df.parent, df.fieldname)] = Target(
			df.parent, df.fieldname, df.options, meta.issingle, "dynamic"
		)

	for parent, dt_field, field in NAME_DATA_FIELDS:
		if (parent, field) in targets or parent in skip or not frappe.db.table_exists(parent):
			continue
		columns = frappe.db.get_table_columns(parent)
		if dt_field in columns and field in columns:
			targets[(parent, field)] = Target(parent, field, dt_field, False, "data")
	return list(targets.values())


@dataclass
class Reference:
	target: Target
	name: str  # row name (the parent doctype's name for singles)
	old: str  # referenced name
	parent: str | None = None
	parenttype: str | None = None


def find_references(
	doctype: str, names: list[str], exclude: Iterable[tuple[str, str]] = ()
) -> list[Reference]:
	"""Rows of every target that reference one of ``names`` of ``doctype``. Rows of the records in
	``exclude`` (and their child rows) are left out: they are deleted by the merge."""
	exclude = set(exclude)
	refs: list[Reference] = []
	if not names:
		return refs
	for target in reference_targets(doctype):
		if target.issingle:
			values = frappe.db.get_singles_dict(target.doctype)
			if values.get(target.field) in names and (
				not target.dt_field or values.get(target.dt_field) == doctype
			):
				refs.append(Reference(target, target.doctype, values.get(target.field)))
			continue
		try:
			meta = frappe.get_meta(target.doctype)
			table = frappe.qb.DocType(target.doctype)
			columns = [table.name, Field(target.field).as_("ref_value")]
			if meta.istable:
				columns += [table.parent, table.parenttype]
			condition = Field(target.field).isin(names)
			if target.dt_field:
				condition &= Field(target.dt_field) == doctype
			rows = frappe.qb.from_(table).select(*columns).where(condition).run(as_dict=True)
		except frappe.DoesNotExistError:
			frappe.clear_last_message()
			continue
		except Exception as e:
			# a custom field or doctype whose table/column is gone (app removed without cleanup)
			if frappe.db.is_table_missing(e) or frappe.db.is_missing_column(e):
				continue
			raise
		for row in rows:
			if (target.doctype, row.name) in exclude:
				continue
			if meta.istable and (row.parenttype, row.parent) in exclude:
				continue
			refs.append(Reference(target, row.name, row.ref_value, row.get("parent"), row.get("parenttype")))
	return refs


# ---------------------------------------------------------------------------------------------------------
# Preview
# ---------------------------------------------------------------------------------------------------------


@frappe.whitelist()
def get_merge_preview(doctype: str, names: list | str) -> dict:
	"""Records side by side with default survivorship, for the merge dialog.

	Returns ``records`` (doctype, name, title, creation, owner, linked row count), ``survivor`` (default:
	the first record of ``doctype``), ``fields`` (fieldname, label, fieldtype, options, fills_empty, values
	by name, differs), ``tables`` (rows per record, rows after the union for the default survivor),
	``defaults`` (chosen value per field for the default survivor), ``carried`` (what a Lead brings into a
	Customer), ``total_linked`` and ``background`` (whether the merge will run as a background job)."""
	check_merge_role()
	refs = _parse_refs(doctype, names)
	_validate_refs(doctype, None, refs)
	for dt, name in refs:
		_check_doc_permission(dt, name, "read")

	meta = frappe.get_meta(doctype)
	docs = [frappe.get_doc(dt, name) for dt, name in refs]
	same = [d for d in docs if d.doctype == doctype]
	if not same:
		frappe.throw(
			_("Select at least one {0} to keep.").format(_(doctype)), MergeError, title=_("Cannot merge")
		)
	survivor = same[0]

	records = []
	total = 0
	for doc in docs:
		if doc.doctype == doctype:
			count = len(find_references(doctype, [doc.name], exclude=[(doctype, doc.name)]))
		else:
			count = sum(len(v) for v in _lead_activities(doc.name).values())
		total += count if doc is not survivor else 0
		records.append(
			{
				"doctype": doc.doctype,
				"name": doc.name,
				"title": doc.get_title() or doc.name,
				"creation": doc.creation,
				"modified": doc.modified,
				"owner": doc.owner,
				"linked": count,
			}
		)

	fields = []
	for df in _mergeable_fields(meta):
		values = {d.name: d.get(df.fieldname) for d in same}
		distinct = {cstr(v) for v in values.values() if not _is_empty(v)}
		fields.append(
			{
				"fieldname": df.fieldname,
				"label": _(df.label or df.fieldname),
				"fieldtype": df.fieldtype,
				"options": df.options,
				"hidden": cint(df.hidden),
				"fills_empty": _fills_empty(df),
				"values": values,
				"differs": len(distinct) > 1
				or (len(distinct) == 1 and any(_is_empty(v) for v in values.values())),
			}
		)

	union = union_child_rows(survivor, same)
	tables = []
	for tdf in meta.get_table_fields():
		counts = {d.name: len(d.get(tdf.fieldname)) for d in same}
		if not any(counts.values()):
			continue
		tables.append(
			{
				"fieldname": tdf.fieldname,
				"label": _(tdf.label or tdf.fieldname),
				"child_doctype": tdf.options,
				"counts": counts,
				"after_union": len(survivor.get(tdf.fieldname)) + len(union.get(tdf.fieldname, [])),
				"rows": {d.name: [_row_summary(r) for r in d.get(tdf.fieldname)][:20] for d in same},
			}
		)

	carried = {}
	for doc in docs:
		if doc.doctype == "Lead" and doctype == "Customer":
			carried[doc.name] = {k: len(v) for k, v in _lead_activities(doc.name).items()}

	return {
		"doctype": doctype,
		"title_field": meta.get_title_field(),
		"records": records,
		"survivor": survivor.name,
		"fields": fields,
		"tables": tables,
		"defaults": default_values(meta, survivor, same),
		"carried": carried,
		"total_linked": total,
		"background": total > BACKGROUND_THRESHOLD,
		"threshold": BACKGROUND_THRESHOLD,
	}


@frappe.whitelist()
def get_duplicate_suggestions(doctype: str, name: str) -> list[dict]:
	"""Records the enabled rules find for ``name`` (same doctype, and Customers for a Lead), for the picker."""
	check_merge_role()
	_check_doc_permission(doctype, name, "read")
	if doctype not in MERGE_DOCTYPES:
		return []
	doc = frappe.get_doc(doctype, name)
	out = []
	for hit in bridge.find_duplicates(doc, doctype, event="insert", exclude_self=True, limit=20):
		if hit.doctype != doctype and (doctype, hit.doctype) not in {("Lead", "Customer")}:
			continue
		if not frappe.has_permission(hit.doctype, "read", doc=hit.name):
			continue
		out.append(
			{
				"doctype": hit.doctype,
				"name": hit.name,
				"title": hit.title,
				"score": hit.match.score,
				"explain": hit.match.explain,
			}
		)
	return out


def _row_summary(row) -> str:
	parts = []
	for key, value in row.as_dict().items():
		if key in ROW_META_FIELDS or _is_empty(value) or key.startswith("is_") or isinstance(value, list):
			continue
		parts.append(cstr(value))
		if len(parts) >= 3:
			break
	return " · ".join(parts)


# ---------------------------------------------------------------------------------------------------------
# Merge
# ---------------------------------------------------------------------------------------------------------


@frappe.whitelist()
def merge_records(doctype: str, survivor: str, others: list | str, values: dict | str | None = None) -> dict:
	"""Merge ``others`` into ``survivor``. ``values``: {fieldname: value} chosen in the dialog (fields not
	given take the default: the survivor's value, else the first non-empty one). ``others`` may name Leads
	(``{"doctype": "Lead", "name": ...}``) when ``doctype`` is Customer.

	Returns ``{"log": name, "survivor": name, "changes": n}``, or ``{"queued": True, "log", "job_id"}`` for a
	large merge that runs in the background."""
	check_merge_role()
	other_refs = [r for r in _parse_refs(doctype, others) if r != (doctype, survivor)]
	values = _parse_values(values)
	_validate_refs(doctype, survivor, [(doctype, survivor), *other_refs])
	_check_doc_permission(doctype, survivor)
	for dt, name in other_refs:
		_check_doc_permission(dt, name)

	same_names = [name for dt, name in other_refs if dt == doctype]
	size = len(find_references(doctype, same_names, exclude=[(doctype, n) for n in same_names]))
	size += sum(len(v) for dt, name in other_refs if dt != doctype for v in _lead_activities(name).values())
	if size > BACKGROUND_THRESHOLD and not frappe.flags.crm_dedup_merge_sync:
		return _enqueue_merge(doctype, survivor, other_refs, values, size)

	log = merge(doctype, survivor, other_refs, values)
	return {"log": log.name, "survivor": survivor, "changes": log.change_count}


def _job_id(doctype: str, survivor: str) -> str:
	return f"crm_dedup_merge::{doctype}::{survivor}"


def _enqueue_merge(doctype: str, survivor: str, other_refs: list, values: dict, size: int) -> dict:
	"""The only enqueue site of this module."""
	from frappe.utils.background_jobs import is_job_enqueued

	job_id = _job_id(doctype, survivor)
	if is_job_enqueued(job_id):
		frappe.throw(
			_("A merge into {0} {1} is already running. Wait for it to finish.").format(_(doctype), survivor),
			MergeError,
			title=_("Merge running"),
		)
	log = _new_log(doctype, survivor, other_refs, values, status="Queued")
	log.job_id = job_id
	log.relinked_count = size
	log.insert(ignore_permissions=True)
	frappe.enqueue(
		"crm_dedup.merge.run_merge_job",
		queue="long",
		timeout=3600,
		job_id=job_id,
		deduplicate=True,
		enqueue_after_commit=True,
		log_name=log.name,
	)
	return {"queued": True, "log": log.name, "job_id": job_id, "rows": size}


def run_merge_job(log_name: str) -> None:
	"""Background merge: runs the queued log's merge, marks it Merged or Failed."""
	log = frappe.get_doc(LOG_DOCTYPE, log_name)
	if log.status != "Queued":
		return
	try:
		merge(
			log.merged_doctype,
			log.survivor,
			[tuple(r) for r in json.loads(log.merged_records or "[]")],
			json.loads(log.chosen_values or "{}"),
			log=log,
			progress=True,
		)
		frappe.db.commit()
		frappe.publish_realtime(
			"crm_dedup_merge_done",
			{"log": log.name, "status": "Merged", "doctype": log.merged_doctype, "survivor": log.survivor},
			user=log.merged_by,
		)
	except Exception:
		frappe.db.rollback()
		error = frappe.get_traceback(with_context=True)
		frappe.db.set_value(LOG_DOCTYPE, log_name, {"status": "Failed", "error": error})
		frappe.db.commit()
		frappe.publish_realtime(
			"crm_dedup_merge_done",
			{"log": log_name, "status": "Failed", "doctype": log.merged_doctype, "survivor": log.survivor},
			user=log.merged_by,
		)


def _new_log(doctype: str, survivor: str, other_refs: list, values: dict, status: str):
	log = frappe.new_doc(LOG_DOCTYPE)
	log.merged_doctype = doctype
	log.survivor = survivor
	log.status = status
	log.merged_by = frappe.session.user
	log.merged_on = now_datetime()
	log.merged_records = json.dumps([list(r) for r in other_refs])
	log.merged_names = "\n".join(name if dt == doctype else f"{dt}: {name}" for dt, name in other_refs)
	log.chosen_values = frappe.as_json(values or {})
	return log


def merge(
	doctype: str,
	survivor: str,
	other_refs: list[tuple[str, str]],
	values: dict | None = None,
	log=None,
	progress: bool = False,
):
	"""Merge now, all-or-nothing (savepoint). Callers check permissions. Returns the Dedup Merge Log."""
	savepoint = "crm_dedup_merge"
	with _no_commits():
		frappe.db.savepoint(savepoint)
		try:
			log = _merge(doctype, survivor, [tuple(r) for r in other_refs], values or {}, log, progress)
		except Exception:
			frappe.db.rollback(save_point=savepoint)
			frappe.clear_document_cache(doctype, survivor)
			raise
		frappe.db.release_savepoint(savepoint)
	return log


@contextmanager
def _no_commits():
	"""Makes ``frappe.db.commit`` a no-op while the block runs, so that hooks of the documents a merge saves
	(ERPNext's ``call_log.link_existing_conversations`` commits after a Contact insert) cannot end the merge's
	savepoint half-way; the caller (request or background job) commits the whole merge at the end."""
	db = frappe.local.db
	had_own = "commit" in vars(db)
	previous = db.commit
	db.commit = lambda *args, **kwargs: None
	try:
		yield
	finally:
		if had_own:
			db.commit = previous
		else:
			del db.commit


def _merge(doctype, survivor_name, other_refs, values, log, progress):
	meta = frappe.get_meta(doctype)
	title = _("Merging into {0}").format(survivor_name)

	def report(done: int, total: int | None = None) -> None:
		if progress:
			total = total or max(done, cint(log.relinked_count) if log else done) or 1
			frappe.publish_progress(min(99, done * 100 / total), title=title, description=_("Relinking"))

	# 1. lock and snapshot
	for dt, name in [(doctype, survivor_name), *other_refs]:
		frappe.db.get_value(dt, name, "name", for_update=True)
	_validate_refs(doctype, survivor_name, [(doctype, survivor_name), *other_refs])
	survivor = frappe.get_doc(doctype, survivor_name)
	others = [frappe.get_doc(dt, name) for dt, name in other_refs]
	same = [d for d in others if d.doctype == doctype]
	leads = [d for d in others if d.doctype != doctype]
	snapshot = {
		"survivor": _snapshot(survivor),
		"merged": [_snapshot(d) for d in others],
	}
	recorder = ChangeRecorder(progress=(lambda n: report(n)) if progress else None)
	titles = {d.name: d.get_title() for d in same}

	# 2. final values of the survivor
	chosen = default_values(meta, survivor, [survivor, *same])
	allowed = {df.fieldname for df in _mergeable_fields(meta)}
	for fieldname, value in values.items():
		if fieldname in allowed:
			chosen[fieldname] = value
	if doctype == "Customer" and leads and not survivor.lead_name and "lead_name" not in values:
		chosen["lead_name"] = leads[0].name
	rows_to_add = union_child_rows(survivor, [survivor, *same])

	# 3. delete the merged-away records (no on_trash: a merge is no deletion)
	for doc in same:
		recorder.record(doc.doctype, doc.name)
		_delete_record(doc)
		_unindex(doc.doctype, doc.name)

	# 4. save the survivor
	_save_survivor(survivor, chosen, rows_to_add, recorder)
	survivor = frappe.get_doc(doctype, survivor_name)

	# 5. relink everything that pointed at a merged-away record
	same_names = [d.name for d in same]
	references = find_references(doctype, same_names)
	total = len(references) or 1
	_relink(doctype, survivor, references, recorder, lambda n: report(n, total))
	_cancel_duplicate_assignments(doctype, survivor.name, references, recorder)
	_refresh_copies(doctype, survivor, references, titles, recorder)

	# 6. Lead -> Customer (before the hidden columns: copied comments update the survivor's _comments)
	for lead in leads:
		_carry_lead(lead, survivor, recorder)
	_merge_hidden_columns(doctype, survivor.name, snapshot["merged"], recorder)

	# 7. comment (kept on undo, as history), key index, log
	merged_names = ", ".join(frappe.bold(n) for _dt, n in other_refs)
	survivor.add_comment(
		"Edit", _("Merged {0} into {1} (duplicates)").format(merged_names, frappe.bold(survivor.name))
	)
	_index(survivor)

	if log is None:
		log = _new_log(doctype, survivor_name, other_refs, values, status="Merged")
	log.status = "Merged"
	log.merged_on = now_datetime()
	log.snapshot = frappe.as_json(snapshot, indent=None)
	log.changes = frappe.as_json(recorder.changes, indent=None)
	log.relinked_count = sum(1 for c in recorder.changes if c["kind"] in ("link", "dynamic", "data"))
	log.change_count = len(recorder.changes)
	log.summary = frappe.as_json(summarize(recorder.changes), indent=None)
	log.error = None
	if log.is_new():
		log.insert(ignore_permissions=True)
	else:
		log.save(ignore_permissions=True)
	if progress:
		frappe.publish_progress(100, title=title, description=_("Done"))
	frappe.clear_document_cache(doctype, survivor_name)
	return log


def summarize(changes: list[dict]) -> dict:
	"""Counts per kind and per doctype for the log's summary."""
	by_kind: dict[str, int] = defaultdict(int)
	by_doctype: dict[str, int] = defaultdict(int)
	for c in changes:
		by_kind[f"{c['op']}:{c['kind']}"] += 1
		if c["kind"] in ("link", "dynamic", "data", "dedupe"):
			by_doctype[c["dt"]] += 1
	return {"by_kind": dict(by_kind), "relinked_by_doctype": dict(by_doctype)}


def _snapshot(doc) -> dict:
	data = doc.as_dict(no_default_fields=False)
	raw = _raw_row(doc.doctype, doc.name)
	data["__hidden"] = {k: raw.get(k) for k in optional_fields if k in raw}
	return json.loads(frappe.as_json(data, indent=None))


def _delete_record(doc) -> None:
	from frappe.utils.global_search import delete_for_document

	for tdf in doc.meta.get_table_fields():
		frappe.db.delete(tdf.options, {"parent": doc.name, "parenttype": doc.doctype})
	frappe.db.delete(doc.doctype, {"name": doc.name})
	delete_for_document(doc)
	frappe.clear_document_cache(doc.doctype, doc.name)


def _save_survivor(survivor, chosen: dict, rows_to_add: dict, recorder: ChangeRecorder) -> None:
	before = _snapshot(survivor)
	watched = _watch_side_effects(survivor, chosen)
	linked_before = _linked_contacts_and_addresses(survivor.doctype, survivor.name)
	for fieldname, value in chosen.items():
		survivor.set(fieldname, value)
	for fieldname, rows in rows_to_add.items():
		for row in rows:
			survivor.append(fieldname, row)
	survivor.flags.ignore_permissions = True
	survivor.flags.ignore_mandatory = True
	survivor.flags.ignore_links = True
	survivor.flags.ignore_dedup = True  # no save-time duplicate check (events.py) inside a merge
	survivor.save()
	after = _snapshot(frappe.get_doc(survivor.doctype, survivor.name))
	_record_doc_diff(survivor.doctype, before, after, recorder)
	_record_watched(watched, recorder)
	_record_new_docs(
		_linked_contacts_and_addresses(survivor.doctype, survivor.name) - linked_before, recorder
	)


def _record_doc_diff(doctype: str, before: dict, after: dict, recorder: ChangeRecorder) -> None:
	skip = {"modified", "modified_by", "__hidden", "__onload", "__last_sync_on"}
	meta = frappe.get_meta(doctype)
	table_names = {tdf.fieldname: tdf.options for tdf in meta.get_table_fields()}
	for key, new in after.items():
		if key in skip or key in table_names or key.startswith("__"):
			continue
		if _norm(before.get(key)) != _norm(new):
			recorder.set(doctype, after["name"], key, before.get(key), new, "survivor")
	for fieldname, child_dt in table_names.items():
		old_rows = {r["name"]: r for r in before.get(fieldname) or []}
		new_rows = {r["name"]: r for r in after.get(fieldname) or []}
		for name, row in new_rows.items():
			if name not in old_rows:
				recorder.insert(child_dt, name, "survivor_row")
				continue
			for key, value in row.items():
				if key in skip or key.startswith("__"):
					continue
				if _norm(old_rows[name].get(key)) != _norm(value):
					recorder.set(child_dt, name, key, old_rows[name].get(key), value, "survivor_row")
		for name, row in old_rows.items():
			if name not in new_rows:
				recorder.delete(child_dt, row, "survivor_row")


def _watch_side_effects(survivor, chosen: dict) -> list[tuple[str, str, dict]]:
	"""Documents the survivor's save changes through its controller hooks: remember their values."""
	watch: list[tuple[str, str, tuple[str, ...]]] = []
	if survivor.doctype == "Customer":
		for lead in {survivor.get("lead_name"), chosen.get("lead_name")} - {None, ""}:
			watch.append(("Lead", lead, ("status",)))
	elif survivor.doctype == "Contact":
		for link in survivor.get("links"):
			if link.link_doctype == "Lead":
				watch.append(("Lead", link.link_name, ("phone", "mobile_no")))
	elif survivor.doctype == "Lead":
		for row in frappe.get_all("Prospect Lead", {"lead": survivor.name}, pluck="name"):
			watch.append(("Prospect Lead", row, ("lead_name", "email", "mobile_no", "lead_owner", "status")))
	if (
		survivor.doctype == "Customer"
		and chosen.get("customer_group")
		and chosen.get("customer_group") != survivor.customer_group
	):
		# Customer.on_update -> update_customer_groups rewrites customer_group on linked documents
		from frappe.model.utils.rename_doc import get_fetch_fields

		ignore = ["Lead", "Opportunity", "POS Profile", "Tax Rule", "Pricing Rule"]
		for d in get_fetch_fields("Customer", "Customer Group", ignore):
			for name in frappe.get_all(d.doctype, {d.master_fieldname: survivor.name}, pluck="name"):
				watch.append((d.doctype, name, (d.linked_to_fieldname,)))
	out = []
	for dt, name, fields in watch:
		if frappe.db.exists(dt, name):
			out.append((dt, name, frappe.db.get_value(dt, name, fields, as_dict=True)))
	return out


def _linked_contacts_and_addresses(doctype: str, name: str) -> set[tuple[str, str]]:
	return {
		(r.parenttype, r.parent)
		for r in frappe.get_all(
			"Dynamic Link",
			filters={
				"link_doctype": doctype,
				"link_name": name,
				"parenttype": ("in", ["Contact", "Address"]),
			},
			fields=["parent", "parenttype"],
		)
	}


def _record_watched(watched: list, recorder: ChangeRecorder) -> None:
	for dt, name, old in watched:
		new = frappe.db.get_value(dt, name, list(old), as_dict=True) or {}
		for field, value in old.items():
			if _norm(value) != _norm(new.get(field)):
				recorder.set(dt, name, field, value, new.get(field), "side_effect")


def _record_new_docs(refs: Iterable[tuple[str, str]], recorder: ChangeRecorder) -> None:
	"""Documents the survivor's save created (Customer.on_update may create a primary contact/address)."""
	for dt, name in refs:
		doc = frappe.get_doc(dt, name)
		for child in doc.get_all_children():
			recorder.insert(child.doctype, child.name, "side_effect")
		recorder.insert(dt, name, "side_effect")


def _norm(value: Any) -> str:
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


def _relink(doctype, survivor, references: list[Reference], recorder, report) -> None:
	"""Point every reference at the survivor; rows that would then duplicate an existing row are deleted."""
	plain: dict[tuple[Target, str], list[str]] = defaultdict(list)
	done = 0
	for ref in references:
		target = ref.target
		if target.issingle:
			recorder.set(target.doctype, target.doctype, target.field, ref.old, survivor.name, target.kind)
			_set_single(target.doctype, target.field, survivor.name)
			continue
		if target.doctype in DEDUPE_KEYS:
			_relink_or_drop(target, ref, survivor.name, recorder)
			done += 1
			continue
		plain[(target, ref.old)].append(ref.name)
	for (target, old), names in plain.items():
		for name in names:
			recorder.set(target.doctype, name, target.field, old, survivor.name, target.kind)
		_set_column(target.doctype, names, target.field, survivor.name)
		done += len(names)
		report(done)
	_clear_caches(references)


def _clear_caches(references: list[Reference]) -> None:
	docs = set()
	for ref in references:
		if ref.target.issingle:
			docs.add((ref.target.doctype, ref.target.doctype))
		elif ref.parent and ref.parenttype:
			docs.add((ref.parenttype, ref.parent))
		else:
			docs.add((ref.target.doctype, ref.name))
	for doctype, name in docs:
		frappe.clear_document_cache(doctype, name)


def _relink_or_drop(target: Target, ref: Reference, new: str, recorder: ChangeRecorder) -> None:
	row = _raw_row(target.doctype, ref.name)
	if not row:
		return
	keys = DEDUPE_KEYS[target.doctype]
	wanted = {k: (new if k == target.field else row.get(k)) for k in keys if k in row}
	table = frappe.qb.DocType(target.doctype)
	condition = table.name != ref.name
	for k, v in wanted.items():
		condition &= Field(k).isnull() if v is None else Field(k) == v
	duplicate = frappe.qb.from_(table).select("*").where(condition).limit(1).run(as_dict=True)
	if not duplicate:
		recorder.set(target.doctype, ref.name, target.field, ref.old, new, target.kind)
		_set_column(target.doctype, [ref.name], target.field, new)
		return
	kept = duplicate[0]
	if target.doctype == "DocShare":
		for right in DOCSHARE_RIGHTS:
			if cint(row.get(right)) and not cint(kept.get(right)):
				recorder.set("DocShare", kept.name, right, kept.get(right), 1, "dedupe")
				_set_column("DocShare", [kept.name], right, 1)
	recorder.delete(target.doctype, row, "dedupe")
	frappe.db.delete(target.doctype, {"name": ref.name})


def _cancel_duplicate_assignments(
	doctype: str, survivor: str, references: list[Reference], recorder: ChangeRecorder
) -> None:
	"""A moved open ToDo of a user who already had an open ToDo on the survivor is cancelled (as Frappe's
	rename-merge does for common assignees); assignments the merged-away records had are kept otherwise."""
	moved = {r.name for r in references if r.target.doctype == "ToDo" and r.target.field == "reference_name"}
	if not moved:
		return
	todos = frappe.get_all(
		"ToDo",
		filters={"reference_type": doctype, "reference_name": survivor, "status": "Open"},
		fields=["name", "allocated_to", "status"],
	)
	own_users = {t.allocated_to for t in todos if t.name not in moved}
	for todo in todos:
		if todo.name in moved and todo.allocated_to in own_users:
			recorder.set("ToDo", todo.name, "status", todo.status, "Cancelled", "dedupe")
			_set_column("ToDo", [todo.name], "status", "Cancelled")


def _merge_hidden_columns(doctype: str, survivor: str, merged: list[dict], recorder) -> None:
	raw = _raw_row(doctype, survivor)
	for column in optional_fields:
		if column not in raw:
			continue
		old = raw.get(column)
		sources = [m.get("__hidden", {}).get(column) for m in merged if m.get("doctype") == doctype]
		if column == "_user_tags":
			tags = [t for t in cstr(old).split(",") if t]
			for src in sources:
				tags += [t for t in cstr(src).split(",") if t and t not in tags]
			new = ("," + ",".join(tags)) if tags else old
		elif column == "_comments":
			items = _json_list(old)
			names = {c.get("name") for c in items if isinstance(c, dict)}
			for src in sources:
				for c in _json_list(src):
					if isinstance(c, dict) and c.get("name") not in names:
						items.append(c)
						names.add(c.get("name"))
			new = json.dumps(items) if items else old
		else:
			items = _json_list(old)
			for src in sources:
				items += [x for x in _json_list(src) if x not in items]
			new = json.dumps(items) if items else old
		if cstr(new) != cstr(old):
			recorder.set(doctype, survivor, column, old, new, "hidden")
			frappe.db.set_value(doctype, survivor, column, new, update_modified=False)


def _json_list(value: Any) -> list:
	if not value:
		return []
	try:
		data = json.loads(value) if isinstance(value, str) else value
	except ValueError:
		return []
	return list(data) if isinstance(data, list) else []


def _refresh_copies(doctype, survivor, references: list[Reference], titles: dict, recorder) -> None:
	"""Fetched copies (``fetch_from: <link>.<field>``), Quotation/Opportunity ``customer_name`` and display
	copies (``customer_name``, ``title``, ``contact_display``...) equal to a merged-away record's title."""
	new_title = survivor.get_title()
	by_target: dict[Target, list[Reference]] = defaultdict(list)
	for ref in references:
		if not ref.target.issingle and ref.target.kind != "data":
			by_target[ref.target].append(ref)
	for target, refs in by_target.items():
		try:
			meta = frappe.get_meta(target.doctype)
		except frappe.DoesNotExistError:
			continue
		copies: dict[str, str | None] = {}  # copy field -> survivor field (None: display copy by title)
		for df in meta.fields:
			if df.fetch_from and df.fetch_from.startswith(target.field + "."):
				copies[df.fieldname] = df.fetch_from.split(".", 1)[1]
		dyn = DYNAMIC_FETCHES.get((target.doctype, target.field), {}).get(doctype, {})
		copies.update(dyn)
		if target.kind == "link" or dyn:
			for fieldname in DISPLAY_COPY_FIELDS:
				if meta.has_field(fieldname) and fieldname not in copies:
					copies[fieldname] = None
		copies.pop(target.field, None)  # never the reference itself
		columns = [c for c in copies if c in frappe.db.get_table_columns(target.doctype)]
		if not columns:
			continue
		names = [r.name for r in refs]
		old_by_name = {r.name: r.old for r in refs}
		for row in _rows_with(target.doctype, names, columns):
			for column in columns:
				source = copies[column]
				current = row.get(column)
				if source is None:
					if cstr(current) != cstr(titles.get(old_by_name[row.name])) or not new_title:
						continue
					new = new_title
				else:
					new = survivor.get(source)
				if _norm(current) == _norm(new):
					continue
				recorder.set(target.doctype, row.name, column, current, new, "fetched")
				_set_column(target.doctype, [row.name], column, new)


def _rows_with(doctype: str, names: list[str], columns: list[str]) -> list[dict]:
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


# ---------------------------------------------------------------------------------------------------------
# Lead -> Customer
# ---------------------------------------------------------------------------------------------------------


def _lead_activities(lead: str) -> dict[str, list]:
	"""What ERPNext's conversion carries (erpnext/crm/utils.py): comments, communications, open tasks and
	open events, plus contacts and addresses linked to the Lead."""
	from erpnext.crm.utils import get_linked_communication_list, get_open_events, get_open_todos

	return {
		"comments": frappe.get_all(
			"Comment",
			filters={"reference_doctype": "Lead", "reference_name": lead, "comment_type": "Comment"},
			pluck="name",
		),
		"communications": get_linked_communication_list("Lead", lead),
		"tasks": [t.name for t in get_open_todos("Lead", lead)],
		"events": [e.name for e in get_open_events("Lead", lead)],
		"contacts_addresses": frappe.get_all(
			"Dynamic Link",
			filters={
				"parenttype": ("in", ["Contact", "Address"]),
				"link_doctype": "Lead",
				"link_name": lead,
			},
			fields=["parent", "parenttype"],
		),
	}


def _carry_lead(lead, customer, recorder: ChangeRecorder) -> None:
	activities = _lead_activities(lead.name)
	hidden_before = _raw_row(customer.doctype, customer.name)
	assigned = set()

	status = frappe.db.get_value("Lead", lead.name, "status")
	if status != "Converted":
		recorder.set("Lead", lead.name, "status", status, "Converted", "lead")
		frappe.db.set_value("Lead", lead.name, "status", "Converted", update_modified=False)

	for name in activities["comments"]:
		comment = frappe.get_doc("Comment", name)
		copy = frappe.copy_doc(comment)
		copy.reference_doctype = customer.doctype
		copy.reference_name = customer.name
		copy.owner = comment.owner
		copy.flags.ignore_permissions = True
		copy.insert()
		recorder.insert("Comment", copy.name, "lead")

	for name in activities["communications"]:
		if frappe.db.exists(
			"Communication Link",
			{"parent": name, "link_doctype": customer.doctype, "link_name": customer.name},
		):
			continue
		_add_child_row(
			"Communication",
			name,
			"timeline_links",
			{
				"link_doctype": customer.doctype,
				"link_name": customer.name,
				"link_title": customer.get_title(),
			},
			recorder,
		)

	for name in activities["tasks"]:
		for field, value in (("reference_type", customer.doctype), ("reference_name", customer.name)):
			old = frappe.db.get_value("ToDo", name, field)
			recorder.set("ToDo", name, field, old, value, "lead")
			_set_column("ToDo", [name], field, value)
		assigned.add(frappe.db.get_value("ToDo", name, "allocated_to"))

	for name in activities["events"]:
		if frappe.db.exists(
			"Event Participants",
			{"parent": name, "reference_doctype": customer.doctype, "reference_docname": customer.name},
		):
			continue
		_add_child_row(
			"Event",
			name,
			"event_participants",
			{"reference_doctype": customer.doctype, "reference_docname": customer.name},
			recorder,
		)

	for row in activities["contacts_addresses"]:
		if frappe.db.exists(
			"Dynamic Link",
			{
				"parent": row.parent,
				"parenttype": row.parenttype,
				"link_doctype": customer.doctype,
				"link_name": customer.name,
			},
		):
			continue
		_add_child_row(
			row.parenttype,
			row.parent,
			"links",
			{
				"link_doctype": customer.doctype,
				"link_name": customer.name,
				"link_title": customer.get_title(),
			},
			recorder,
		)

	# the copied comments updated the customer's _comments cache (Comment.on_update); the moved tasks
	# belong in its _assign
	current = _raw_row(customer.doctype, customer.name)
	if cstr(current.get("_comments")) != cstr(hidden_before.get("_comments")):
		recorder.set(
			customer.doctype,
			customer.name,
			"_comments",
			hidden_before.get("_comments"),
			current.get("_comments"),
			"lead",
		)
	users = _json_list(current.get("_assign"))
	new_users = users + sorted(u for u in assigned - set(users) if u)
	if new_users != users:
		value = json.dumps(new_users)
		recorder.set(customer.doctype, customer.name, "_assign", current.get("_assign"), value, "lead")
		frappe.db.set_value(customer.doctype, customer.name, "_assign", value, update_modified=False)


def _add_child_row(parenttype: str, parent: str, parentfield: str, data: dict, recorder) -> None:
	child_dt = frappe.get_meta(parenttype).get_field(parentfield).options
	idx = frappe.db.sql(
		f"select ifnull(max(idx), 0) from `tab{child_dt}` where parent=%s and parenttype=%s and parentfield=%s",
		(parent, parenttype, parentfield),
	)[0][0]
	row = frappe.new_doc(child_dt, parent_doc=None, parentfield=parentfield)
	row.update(data)
	row.parent = parent
	row.parenttype = parenttype
	row.parentfield = parentfield
	row.idx = cint(idx) + 1
	row.db_insert()
	recorder.insert(child_dt, row.name, "lead")


# ---------------------------------------------------------------------------------------------------------
# Key index (core issue #3); merge works without it
# ---------------------------------------------------------------------------------------------------------


def _key_index():
	try:
		from crm_dedup import key_index
	except ImportError:
		return None
	return key_index


def _unindex(doctype: str, name: str) -> None:
	key_index = _key_index()
	if key_index and hasattr(key_index, "unindex"):
		key_index.unindex(doctype, name)


def _index(doc) -> None:
	key_index = _key_index()
	if key_index and hasattr(key_index, "index_doc"):
		key_index.index_doc(doc)


# ---------------------------------------------------------------------------------------------------------
# Undo
# ---------------------------------------------------------------------------------------------------------


@frappe.whitelist()
def undo_merge(log: str) -> dict:
	"""Restore the merged-away records from the snapshot and point every relinked row back. Refuses, listing
	what is missing, when a changed row no longer exists or a merged-away name has been taken again."""
	check_merge_role()
	log_doc = frappe.get_doc(LOG_DOCTYPE, log)
	if log_doc.status != "Merged":
		frappe.throw(
			_("Only a merge with status Merged can be undone; {0} is {1}.").format(log, _(log_doc.status)),
			MergeError,
			title=_("Cannot undo merge"),
		)
	_check_doc_permission(log_doc.merged_doctype, log_doc.survivor)

	frappe.db.get_value(LOG_DOCTYPE, log, "name", for_update=True)
	changes = json.loads(log_doc.changes or "[]")
	snapshot = json.loads(log_doc.snapshot or "{}")
	blockers = undo_blockers(log_doc, changes)
	if blockers:
		shown = "".join(f"<li>{frappe.utils.escape_html(b)}</li>" for b in blockers[:50])
		more = (
			"<p>" + _("... and {0} more.").format(len(blockers) - 50) + "</p>" if len(blockers) > 50 else ""
		)
		frappe.throw(
			_("This merge cannot be undone because these rows no longer exist or their names are taken:")
			+ f"<ul>{shown}</ul>{more}",
			MergeError,
			title=_("Cannot undo merge"),
		)

	savepoint = "crm_dedup_undo"
	with _no_commits():
		frappe.db.savepoint(savepoint)
		try:
			report = _undo(log_doc, changes, snapshot)
		except Exception:
			frappe.db.rollback(save_point=savepoint)
			raise
		frappe.db.release_savepoint(savepoint)
	return report


def undo_blockers(log_doc, changes: list[dict]) -> list[str]:
	out = []
	survivor = (log_doc.merged_doctype, log_doc.survivor)
	if not frappe.db.exists(*survivor):
		out.append(
			_("{0} {1} (the surviving record; undo the later merge that removed it first)").format(
				_(survivor[0]), survivor[1]
			)
		)
	existing: dict[str, set[str]] = defaultdict(set)
	by_dt: dict[str, set[str]] = defaultdict(set)
	for c in changes:
		if c["op"] == "set" and not (c["dt"] == c["dn"] and frappe.get_meta(c["dt"]).issingle):
			by_dt[c["dt"]].add(c["dn"])
		elif c["op"] in ("del", "rec"):
			by_dt[c["dt"]].add(c["dn"])
	for dt, names in by_dt.items():
		if not frappe.db.table_exists(dt):
			continue
		name_list = list(names)
		for start in range(0, len(name_list), CHUNK):
			existing[dt].update(
				frappe.get_all(dt, filters={"name": ("in", name_list[start : start + CHUNK])}, pluck="name")
			)
	reported = set()
	for c in changes:
		key = (c["dt"], c["dn"])
		if key in reported:
			continue
		if c["op"] == "set" and c["dn"] in by_dt[c["dt"]] and c["dn"] not in existing[c["dt"]]:
			if key != survivor:
				out.append(_("{0} {1} (no longer exists)").format(_(c["dt"]), c["dn"]))
			reported.add(key)
		elif c["op"] == "rec" and c["dn"] in existing[c["dt"]]:
			out.append(_("{0} {1} (a record with this name exists again)").format(_(c["dt"]), c["dn"]))
			reported.add(key)
		elif c["op"] == "del" and c["dn"] in existing[c["dt"]]:
			out.append(_("{0} {1} (a row with this name exists again)").format(_(c["dt"]), c["dn"]))
			reported.add(key)
	return out


def _undo(log_doc, changes: list[dict], snapshot: dict) -> dict:
	merged = {(m["doctype"], m["name"]): m for m in snapshot.get("merged", [])}
	skipped: list[str] = []
	restored = []
	batch: list[dict] = []
	batch_keys: set[tuple[str, str, str]] = set()
	for c in reversed(changes):
		op = c["op"]
		if op == "set":
			key = (c["dt"], c["dn"], c["f"])
			if key in batch_keys:  # the same column changed twice: undo the later change first
				_undo_sets(batch, skipped)
				batch, batch_keys = [], set()
			batch.append(c)
			batch_keys.add(key)
			continue
		_undo_sets(batch, skipped)
		batch, batch_keys = [], set()
		if op == "ins":
			frappe.db.delete(c["dt"], {"name": c["dn"]})
		elif op == "del":
			_insert_row(c["dt"], c["row"])
		elif op == "rec":
			data = merged.get((c["dt"], c["dn"]))
			if data:
				_restore_record(data)
				restored.append((c["dt"], c["dn"]))
	_undo_sets(batch, skipped)

	doctype, survivor = log_doc.merged_doctype, log_doc.survivor
	frappe.clear_document_cache(doctype, survivor)
	for dt, name in restored:
		frappe.clear_document_cache(dt, name)
		_index(frappe.get_doc(dt, name))
	survivor_doc = frappe.get_doc(doctype, survivor)
	_index(survivor_doc)
	survivor_doc.add_comment(
		"Edit",
		_("Undid the merge {0}: restored {1}").format(
			log_doc.name, ", ".join(frappe.bold(n) for _dt, n in restored)
		),
	)

	log_doc.status = "Undone"
	log_doc.undone_by = frappe.session.user
	log_doc.undone_on = now_datetime()
	log_doc.undo_report = "\n".join(skipped)
	log_doc.save(ignore_permissions=True)  # on_update: other features (scans) see the undo
	return {"log": log_doc.name, "restored": [n for _dt, n in restored], "skipped": skipped}


def _undo_sets(changes: list[dict], skipped: list[str]) -> None:
	"""Puts back the old value of each ``set`` change whose column still holds the merge's value; a column
	changed since is left as it is and reported. Reads and writes in bulk per (doctype, column)."""
	groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
	for c in changes:
		groups[(c["dt"], c["f"])].append(c)
	for (doctype, field), items in groups.items():
		if frappe.get_meta(doctype).issingle:
			current = {doctype: frappe.db.get_single_value(doctype, field)}
		else:
			current = {}
			names = list({c["dn"] for c in items})
			table = frappe.qb.DocType(doctype)
			for start in range(0, len(names), CHUNK):
				rows = (
					frappe.qb.from_(table)
					.select(table.name, Field(field).as_("value"))
					.where(table.name.isin(names[start : start + CHUNK]))
					.run(as_dict=True)
				)
				current.update({r.name: r.value for r in rows})
		by_old: dict[str, tuple[Any, list[str]]] = {}
		for c in items:
			if _norm(current.get(c["dn"])) != _norm(c["new"]):
				skipped.append(
					_("{0} {1}: {2} was changed after the merge and is left as is").format(
						_(doctype), c["dn"], field
					)
				)
				continue
			by_old.setdefault(json.dumps(c["old"]), (c["old"], []))[1].append(c["dn"])
		for old, names in by_old.values():
			if frappe.get_meta(doctype).issingle:
				_set_single(doctype, field, old)
			else:
				_set_column(doctype, names, field, old)


def _restore_record(data: dict) -> None:
	"""Insert a merged-away record with its own name, child rows and hidden columns from the snapshot."""
	data = dict(data)
	hidden = data.pop("__hidden", {}) or {}
	doc = frappe.get_doc(data)
	doc.flags.ignore_permissions = True
	doc.flags.ignore_links = True
	doc.flags.ignore_mandatory = True
	doc.db_insert()
	for child in doc.get_all_children():
		child.db_insert()
	if hidden:
		frappe.db.set_value(doc.doctype, doc.name, hidden, update_modified=False)
	update_global_search(doc)
