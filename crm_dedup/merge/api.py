"""Whitelisted methods of the merge dialog and of the Dedup Merge Log form, and the background merge job.

Every method needs the Dedup Manager or System Manager role (``core.roles``) and the document permission on
each record it touches: read to preview, write to merge or undo."""

from __future__ import annotations

import json

import frappe
from frappe import _
from frappe.utils.background_jobs import is_job_enqueued

from crm_dedup.core.roles import require_manager
from crm_dedup.merge.changelog import new_log, queued_refs
from crm_dedup.merge.common import BACKGROUND_THRESHOLD, LOG_DOCTYPE, MERGE_DOCTYPES, MergeError
from crm_dedup.merge.lead import activity_count
from crm_dedup.merge.preview import build_preview, duplicate_suggestions
from crm_dedup.merge.references import find_references
from crm_dedup.merge.run import merge
from crm_dedup.merge.undo import undo
from crm_dedup.merge.validation import check_doc_permission, parse_refs, parse_values, validate_refs

JOB_METHOD = "crm_dedup.merge.api.run_merge_job"
DONE_EVENT = "crm_dedup_merge_done"


def _require_merge_role() -> None:
	require_manager(_("merge duplicates or undo a merge"))


@frappe.whitelist()
def get_merge_preview(doctype: str, names: list | str) -> dict:
	"""Records side by side with default survivorship, for the merge dialog.

	Returns ``records`` (doctype, name, title, creation, owner, linked row count), ``survivor`` (default:
	the first record of ``doctype``), ``fields`` (fieldname, label, fieldtype, options, fills_empty, values
	by name, differs), ``tables`` (rows per record, rows after the union for the default survivor),
	``defaults`` (chosen value per field for the default survivor), ``carried`` (what a Lead brings into a
	Customer), ``total_linked`` and ``background`` (whether the merge will run as a background job)."""
	_require_merge_role()
	refs = parse_refs(doctype, names)
	validate_refs(doctype, None, refs)
	for dt, name in refs:
		check_doc_permission(dt, name, "read")
	return build_preview(doctype, refs)


@frappe.whitelist()
def get_duplicate_suggestions(doctype: str, name: str) -> list[dict]:
	"""Records the enabled rules find for ``name`` (same doctype, and Customers for a Lead), for the picker."""
	_require_merge_role()
	check_doc_permission(doctype, name, "read")
	if doctype not in MERGE_DOCTYPES:
		return []
	return duplicate_suggestions(doctype, name)


@frappe.whitelist(methods=["POST"])
def merge_records(doctype: str, survivor: str, others: list | str, values: dict | str | None = None) -> dict:
	"""Merge ``others`` into ``survivor``. ``values``: {fieldname: value} chosen in the dialog (fields not
	given take the default: the survivor's value, else the first non-empty one). ``others`` may name Leads
	(``{"doctype": "Lead", "name": ...}``) when ``doctype`` is Customer.

	Returns ``{"log": name, "survivor": name, "changes": n}``, or ``{"queued": True, "log", "job_id"}`` for a
	large merge that runs in the background."""
	_require_merge_role()
	other_refs = [r for r in parse_refs(doctype, others) if r != (doctype, survivor)]
	values = parse_values(values)
	validate_refs(doctype, survivor, [(doctype, survivor), *other_refs])
	check_doc_permission(doctype, survivor)
	for dt, name in other_refs:
		check_doc_permission(dt, name)

	size = _merge_size(doctype, other_refs)
	if size > BACKGROUND_THRESHOLD and not frappe.flags.crm_dedup_merge_sync:
		return _enqueue_merge(doctype, survivor, other_refs, values, size)
	log = merge(doctype, survivor, other_refs, values)
	return {"log": log.name, "survivor": survivor, "changes": log.change_count}


@frappe.whitelist(methods=["POST"])
def undo_merge(log: str) -> dict:
	"""Restore the merged-away records from the snapshot and point every relinked row back. Refuses, listing
	what is missing, when a changed row no longer exists or a merged-away name has been taken again."""
	_require_merge_role()
	row = frappe.db.get_value(LOG_DOCTYPE, log, ["merged_doctype", "survivor", "status"], as_dict=True)
	if not row:
		frappe.throw(
			_("Dedup Merge Log {0} not found.").format(log), frappe.DoesNotExistError, title=_("Not found")
		)
	if row.status != "Merged":  # said before the permission check: the survivor may be gone since
		frappe.throw(
			_("Only a merge with status Merged can be undone; {0} is {1}.").format(log, _(row.status)),
			MergeError,
			title=_("Cannot undo merge"),
		)
	check_doc_permission(row.merged_doctype, row.survivor)
	return undo(log)


def _merge_size(doctype: str, other_refs: list[tuple[str, str]]) -> int:
	"""Rows a merge relinks or carries: references of the merged-away records plus the Leads' activities."""
	same_names = [name for dt, name in other_refs if dt == doctype]
	size = len(find_references(doctype, same_names, exclude=[(doctype, n) for n in same_names]))
	return size + sum(activity_count(name) for dt, name in other_refs if dt != doctype)


def _job_id(doctype: str, survivor: str) -> str:
	return f"crm_dedup_merge::{doctype}::{survivor}"


def _enqueue_merge(doctype: str, survivor: str, other_refs: list, values: dict, size: int) -> dict:
	"""The only enqueue site of the merge."""
	job_id = _job_id(doctype, survivor)
	if is_job_enqueued(job_id):
		frappe.throw(
			_("A merge into {0} {1} is already running. Wait for it to finish.").format(_(doctype), survivor),
			MergeError,
			title=_("Merge running"),
		)
	log = new_log(doctype, survivor, other_refs, values, status="Queued")
	log.job_id = job_id
	log.relinked_count = size
	log.insert(ignore_permissions=True)
	frappe.enqueue(
		JOB_METHOD,
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
			queued_refs(log),
			json.loads(log.chosen_values or "{}"),
			log=log,
			progress=True,
		)
		frappe.db.commit()
		_notify(log, "Merged")
	except Exception:
		frappe.db.rollback()
		error = frappe.get_traceback(with_context=True)
		frappe.db.set_value(LOG_DOCTYPE, log_name, {"status": "Failed", "error": error})
		frappe.db.commit()
		_notify(log, "Failed")


def _notify(log, status: str) -> None:
	frappe.publish_realtime(
		DONE_EVENT,
		{"log": log.name, "status": status, "doctype": log.merged_doctype, "survivor": log.survivor},
		user=log.merged_by,
	)
