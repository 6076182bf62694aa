"""Arguments and permissions of a merge: which records, which values, and may the user touch them."""

from __future__ import annotations

from typing import Any

import frappe
from frappe import _
from frappe.utils import cstr

from crm_dedup.merge.common import CROSS_MERGES, MERGE_DOCTYPES, MergeError


def check_doc_permission(doctype: str, name: str, ptype: str = "write") -> None:
	if not frappe.has_permission(doctype, ptype, doc=name):
		frappe.throw(
			_("You need {0} permission on {1} {2} to merge it.").format(_(ptype), _(doctype), name),
			frappe.PermissionError,
			title=_("Not Permitted"),
		)


def parse_refs(doctype: str, names: Any) -> list[tuple[str, str]]:
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


def parse_values(values: Any) -> dict:
	if not values:
		return {}
	if isinstance(values, str):
		values = frappe.parse_json(values)
	if not isinstance(values, dict):
		frappe.throw(_("Chosen values must be an object of field names and values."), title=_("Merge"))
	return dict(values)


def validate_refs(doctype: str, survivor: str | None, refs: list[tuple[str, str]]) -> None:
	"""Supported doctype, at least two records, allowed cross-doctype pairs, all existing, survivor among
	them (when given)."""
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
		_validate_ref(doctype, dt, name)
	if survivor is not None and (doctype, survivor) not in refs:
		frappe.throw(
			_("The surviving record must be one of the {0} records being merged.").format(_(doctype)),
			MergeError,
			title=_("Cannot merge"),
		)


def _validate_ref(doctype: str, dt: str, name: str) -> None:
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
