"""Everything that points at a record: finding the references of the merged-away records and relinking them
to the survivor (Link, Dynamic Link and name-holding Data fields, child tables, comments, communications,
files, assignments, shares, tags, follows), merging the hidden list columns and refreshing fetched copies."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import frappe
from frappe.model import optional_fields
from frappe.model.dynamic_links import get_dynamic_links
from frappe.model.rename_doc import get_link_fields
from frappe.query_builder import Field
from frappe.utils import cint, cstr

from crm_dedup.merge.changelog import ChangeRecorder
from crm_dedup.merge.common import LOG_DOCTYPE, json_list, norm, raw_row, rows_with, set_column, set_single

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

# Copies of a party's display name that transactions keep (refreshed when the value is the old name)
DISPLAY_COPY_FIELDS = ("customer_name", "title", "contact_display", "lead_name", "party_name_title")
# Dynamic Link fields whose document keeps a copy of the party name: (doctype, field) -> {copy: source}
DYNAMIC_FETCHES = {
	("Quotation", "party_name"): {"Customer": {"customer_name": "customer_name"}},
	("Opportunity", "party_name"): {"Customer": {"customer_name": "customer_name"}},
}


@dataclass(frozen=True)
class Target:
	doctype: str  # table holding the reference
	field: str  # column holding the name
	dt_field: str | None  # column holding the doctype (Dynamic Link / name Data fields), None for Link
	issingle: bool
	kind: str  # link | dynamic | data


@dataclass
class Reference:
	target: Target
	name: str  # row name (the parent doctype's name for singles)
	old: str  # referenced name
	parent: str | None = None
	parenttype: str | None = None


# ---------------------------------------------------------------------------------------------------------
# Finding references
# ---------------------------------------------------------------------------------------------------------


def _skip_relink_doctypes() -> set[str]:
	skip = set(SKIP_RELINK_DOCTYPES)
	skip.update(frappe.get_all("DocType", filters={"module": ("in", SKIP_RELINK_MODULES)}, pluck="name"))
	return skip


def reference_targets(doctype: str) -> list[Target]:
	"""Every column that can hold a name of ``doctype``: Link fields (standard, custom, property setter),
	Dynamic Link fields (standard and custom) and the name-holding Data fields of Frappe's own doctypes."""
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
			refs += _single_references(target, doctype, names)
			continue
		for row in _referencing_rows(target, doctype, names):
			if (target.doctype, row.name) in exclude:
				continue
			if row.get("parenttype") and (row.parenttype, row.parent) in exclude:
				continue
			refs.append(Reference(target, row.name, row.ref_value, row.get("parent"), row.get("parenttype")))
	return refs


def _single_references(target: Target, doctype: str, names: list[str]) -> list[Reference]:
	values = frappe.db.get_singles_dict(target.doctype)
	if values.get(target.field) in names and (not target.dt_field or values.get(target.dt_field) == doctype):
		return [Reference(target, target.doctype, values.get(target.field))]
	return []


def _referencing_rows(target: Target, doctype: str, names: list[str]) -> list[dict]:
	"""Rows of the target's table holding one of ``names`` (with parent and parenttype for child tables)."""
	try:
		meta = frappe.get_meta(target.doctype)
		table = frappe.qb.DocType(target.doctype)
		columns = [table.name, Field(target.field).as_("ref_value")]
		if meta.istable:
			columns += [table.parent, table.parenttype]
		condition = Field(target.field).isin(names)
		if target.dt_field:
			condition &= Field(target.dt_field) == doctype
		return frappe.qb.from_(table).select(*columns).where(condition).run(as_dict=True)
	except frappe.DoesNotExistError:
		frappe.clear_last_message()
		return []
	except Exception as e:
		# a custom field or doctype whose table/column is gone (app removed without cleanup)
		if frappe.db.is_table_missing(e) or frappe.db.is_missing_column(e):
			return []
		raise


# ---------------------------------------------------------------------------------------------------------
# Relinking
# ---------------------------------------------------------------------------------------------------------


def relink(
	survivor: str, references: list[Reference], recorder: ChangeRecorder, report: Callable[[int], None]
) -> None:
	"""Point every reference at the survivor; rows that would then duplicate an existing row are deleted."""
	plain: dict[tuple[Target, str], list[str]] = defaultdict(list)
	done = 0
	for ref in references:
		target = ref.target
		if target.issingle:
			recorder.set(target.doctype, target.doctype, target.field, ref.old, survivor, target.kind)
			set_single(target.doctype, target.field, survivor)
			continue
		if target.doctype in DEDUPE_KEYS:
			_relink_or_drop(target, ref, survivor, recorder)
			done += 1
			continue
		plain[(target, ref.old)].append(ref.name)
	for (target, old), names in plain.items():
		for name in names:
			recorder.set(target.doctype, name, target.field, old, survivor, target.kind)
		set_column(target.doctype, names, target.field, survivor)
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
	row = raw_row(target.doctype, ref.name)
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
		set_column(target.doctype, [ref.name], target.field, new)
		return
	kept = duplicate[0]
	if target.doctype == "DocShare":
		for right in DOCSHARE_RIGHTS:
			if cint(row.get(right)) and not cint(kept.get(right)):
				recorder.set("DocShare", kept.name, right, kept.get(right), 1, "dedupe")
				set_column("DocShare", [kept.name], right, 1)
	recorder.delete(target.doctype, row, "dedupe")
	frappe.db.delete(target.doctype, {"name": ref.name})


def cancel_duplicate_assignments(
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
			set_column("ToDo", [todo.name], "status", "Cancelled")


# ---------------------------------------------------------------------------------------------------------
# Hidden list columns (_assign, _comments, _liked_by, _seen, _user_tags)
# ---------------------------------------------------------------------------------------------------------


def merge_hidden_columns(doctype: str, survivor: str, merged: list[dict], recorder: ChangeRecorder) -> None:
	"""The survivor's hidden columns get the merged-away records' entries (from their snapshots)."""
	raw = raw_row(doctype, survivor)
	for column in optional_fields:
		if column not in raw:
			continue
		old = raw.get(column)
		sources = [m.get("__hidden", {}).get(column) for m in merged if m.get("doctype") == doctype]
		new = _merged_column(column, old, sources)
		if cstr(new) != cstr(old):
			recorder.set(doctype, survivor, column, old, new, "hidden")
			frappe.db.set_value(doctype, survivor, column, new, update_modified=False)


def _merged_column(column: str, old, sources: list):
	if column == "_user_tags":
		tags = [t for t in cstr(old).split(",") if t]
		for src in sources:
			tags += [t for t in cstr(src).split(",") if t and t not in tags]
		return ("," + ",".join(tags)) if tags else old
	items = json_list(old)
	if column == "_comments":
		names = {c.get("name") for c in items if isinstance(c, dict)}
		for src in sources:
			for c in json_list(src):
				if isinstance(c, dict) and c.get("name") not in names:
					items.append(c)
					names.add(c.get("name"))
	else:
		for src in sources:
			items += [x for x in json_list(src) if x not in items]
	return json.dumps(items) if items else old


# ---------------------------------------------------------------------------------------------------------
# Fetched and display copies
# ---------------------------------------------------------------------------------------------------------


def refresh_copies(doctype: str, survivor, references: list[Reference], titles: dict, recorder) -> None:
	"""Fetched copies (``fetch_from: <link>.<field>``), Quotation/Opportunity ``customer_name`` and display
	copies (``customer_name``, ``title``, ``contact_display``...) equal to a merged-away record's title."""
	by_target: dict[Target, list[Reference]] = defaultdict(list)
	for ref in references:
		if not ref.target.issingle and ref.target.kind != "data":
			by_target[ref.target].append(ref)
	for target, refs in by_target.items():
		copies = _copy_fields(doctype, target)
		if copies:
			_refresh_target(target, refs, copies, survivor, titles, recorder)


def _copy_fields(doctype: str, target: Target) -> dict[str, str | None]:
	"""Columns of the target's table holding a copy of the referenced record: copy field -> survivor field
	(None: a display copy of the title)."""
	try:
		meta = frappe.get_meta(target.doctype)
	except frappe.DoesNotExistError:
		return {}
	copies: dict[str, str | None] = {}
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
	columns = set(frappe.db.get_table_columns(target.doctype))
	return {c: source for c, source in copies.items() if c in columns}


def _refresh_target(target: Target, refs: list[Reference], copies: dict, survivor, titles: dict, recorder):
	new_title = survivor.get_title()
	old_by_name = {r.name: r.old for r in refs}
	for row in rows_with(target.doctype, list(old_by_name), list(copies)):
		for column, source in copies.items():
			current = row.get(column)
			if source is None:
				if cstr(current) != cstr(titles.get(old_by_name[row.name])) or not new_title:
					continue
				new = new_title
			else:
				new = survivor.get(source)
			if norm(current) == norm(new):
				continue
			recorder.set(target.doctype, row.name, column, current, new, "fetched")
			set_column(target.doctype, [row.name], column, new)
