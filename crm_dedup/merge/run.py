"""The merge itself: all steps in order, all-or-nothing under one savepoint. Callers check permissions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import frappe
from frappe import _
from frappe.utils import cint

from crm_dedup.core.guard import index_doc
from crm_dedup.core.keys import unindex
from crm_dedup.merge.changelog import ChangeRecorder, new_log, snapshot, write_log
from crm_dedup.merge.lead import carry_lead
from crm_dedup.merge.references import (
	cancel_duplicate_assignments,
	find_references,
	merge_hidden_columns,
	refresh_copies,
	relink,
)
from crm_dedup.merge.save import delete_record, save_survivor
from crm_dedup.merge.survivorship import default_values, mergeable_fields, union_child_rows
from crm_dedup.merge.validation import validate_refs

SAVEPOINT = "crm_dedup_merge"


def merge(
	doctype: str,
	survivor: str,
	other_refs: list[tuple[str, str]],
	values: dict | None = None,
	log=None,
	progress: bool = False,
):
	"""Merge now, all-or-nothing (savepoint). Callers check permissions. Returns the Dedup Merge Log."""
	with no_commits():
		frappe.db.savepoint(SAVEPOINT)
		try:
			log = _merge(doctype, survivor, [tuple(r) for r in other_refs], values or {}, log, progress)
		except Exception:
			frappe.db.rollback(save_point=SAVEPOINT)
			frappe.clear_document_cache(doctype, survivor)
			raise
		frappe.db.release_savepoint(SAVEPOINT)
	return log


@contextmanager
def no_commits() -> Iterator[None]:
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


class Progress:
	"""Publishes the relinking progress of a background merge (a no-op for a merge in a request)."""

	def __init__(self, survivor: str, log, enabled: bool):
		self.title = _("Merging into {0}").format(survivor)
		self.expected = cint(log.relinked_count) if log else 0
		self.enabled = enabled

	def __call__(self, done: int, total: int | None = None) -> None:
		if self.enabled:
			total = total or max(done, self.expected) or 1
			frappe.publish_progress(min(99, done * 100 / total), title=self.title, description=_("Relinking"))

	def done(self) -> None:
		if self.enabled:
			frappe.publish_progress(100, title=self.title, description=_("Done"))


def _merge(doctype: str, survivor_name: str, other_refs: list, values: dict, log, progress: bool):
	report = Progress(survivor_name, log, progress)
	survivor, others = _lock_and_load(doctype, survivor_name, other_refs)
	same = [d for d in others if d.doctype == doctype]
	leads = [d for d in others if d.doctype != doctype]
	snap = {"survivor": snapshot(survivor), "merged": [snapshot(d) for d in others]}
	recorder = ChangeRecorder(progress=report if progress else None)
	titles = {d.name: d.get_title() for d in same}

	chosen = _chosen_values(survivor, same, leads, values)
	rows_to_add = union_child_rows(survivor, [survivor, *same])
	_delete_merged(same, recorder)
	save_survivor(survivor, chosen, rows_to_add, recorder)
	survivor = frappe.get_doc(doctype, survivor_name)
	_relink_all(survivor, [d.name for d in same], titles, recorder, report)
	# before the hidden columns: copied comments update the survivor's _comments
	for lead in leads:
		carry_lead(lead, survivor, recorder)
	merge_hidden_columns(doctype, survivor.name, snap["merged"], recorder)

	_comment_and_index(survivor, other_refs)
	log = write_log(log or new_log(doctype, survivor_name, other_refs, values, "Merged"), snap, recorder)
	report.done()
	frappe.clear_document_cache(doctype, survivor_name)
	return log


def _lock_and_load(doctype: str, survivor: str, other_refs: list) -> tuple:
	"""Locks every record (in the order given), checks them again and loads them."""
	refs = [(doctype, survivor), *other_refs]
	for dt, name in refs:
		frappe.db.get_value(dt, name, "name", for_update=True)
	validate_refs(doctype, survivor, refs)
	return frappe.get_doc(doctype, survivor), [frappe.get_doc(dt, name) for dt, name in other_refs]


def _chosen_values(survivor, same: list, leads: list, values: dict) -> dict:
	"""Final values of the survivor: the defaults, overridden by the user's choice of mergeable fields."""
	meta = survivor.meta
	chosen = default_values(meta, survivor, [survivor, *same])
	allowed = {df.fieldname for df in mergeable_fields(meta)}
	for fieldname, value in values.items():
		if fieldname in allowed:
			chosen[fieldname] = value
	if survivor.doctype == "Customer" and leads and not survivor.lead_name and "lead_name" not in values:
		chosen["lead_name"] = leads[0].name
	return chosen


def _delete_merged(same: list, recorder: ChangeRecorder) -> None:
	"""The merged-away records go (no on_trash: a merge is no deletion), and so do their keys."""
	for doc in same:
		recorder.record(doc.doctype, doc.name)
		delete_record(doc)
		unindex(doc.doctype, doc.name)


def _relink_all(survivor, merged: list[str], titles: dict, recorder: ChangeRecorder, report) -> None:
	"""Everything that pointed at a merged-away record points at the survivor."""
	references = find_references(survivor.doctype, merged)
	total = len(references) or 1
	relink(survivor.name, references, recorder, lambda n: report(n, total))
	cancel_duplicate_assignments(survivor.doctype, survivor.name, references, recorder)
	refresh_copies(survivor.doctype, survivor, references, titles, recorder)


def _comment_and_index(survivor, other_refs: list) -> None:
	"""A comment on the survivor (kept on undo, as history) and its keys in the index."""
	merged_names = ", ".join(frappe.bold(n) for _dt, n in other_refs)
	survivor.add_comment(
		"Edit", _("Merged {0} into {1} (duplicates)").format(merged_names, frappe.bold(survivor.name))
	)
	index_doc(survivor)
