# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt
"""Save-time duplicate checks and key-index maintenance: the ``doc_events`` of every doctype ("*").

Every handler returns at once for doctypes that no enabled rule touches (``core.config.is_active_for``: a dict
lookup in the cached configuration).

validate  ->  insert, edit of a rule field, or a Data Import row  ->  core.lookup.find_duplicates (locks the
Block-rule keys first)  ->  Block: log + notify (surviving the rollback), raise DedupDuplicateError;
Warn: same with DedupWarning unless the user may and did choose "Save anyway" (``__dedup_override`` sent by
the form, or ``doc.flags.dedup_override`` set by server code); Log only: a log row committed with the save.
The keys are written in validate too, under the locks (core.guard); on_update / on_trash / after_rename keep
them current.
"""

from __future__ import annotations

from typing import Any

import frappe

from crm_dedup.checks.data_import import on_import_row
from crm_dedup.checks.decision import OVERRIDE_KEY, act
from crm_dedup.core import guard
from crm_dedup.core.collision_log import is_data_import
from crm_dedup.core.config import compiled, config, is_active_for
from crm_dedup.core.errors import DedupBusyError, DedupDuplicateError, DedupWarning
from crm_dedup.core.keys import unindex
from crm_dedup.core.lookup import find_duplicates
from crm_dedup.core.records import unchanged


# ---- doc_events ----------------------------------------------------------------------------------------
def before_validate(doc: Any, method: str | None = None) -> None:
	"""Keeps the form's "Save anyway" request (an unknown key of the posted doc) as a flag."""
	if doc.get(OVERRIDE_KEY) and is_active_for(doc.doctype):
		doc.flags.dedup_override_requested = True


def before_insert(doc: Any, method: str | None = None) -> None:
	"""Marks every document inserted in this process, so that a refused save can tell the records its own
	hooks created (core.guard.forget_refused)."""
	doc.flags.crm_dedup_inserted = True


def validate(doc: Any, method: str | None = None) -> None:
	if _skip(doc) or doc.doctype not in config()["targets"]:
		return
	comp = compiled()
	is_import = is_data_import(doc)
	new = doc.is_new()
	event = "import" if is_import else ("insert" if new else "edit")
	if not comp.target_rules(doc.doctype, event):
		return
	if not new:
		before = doc.get_doc_before_save()
		fields = comp.query_fields(doc.doctype, event)
		if before is not None and unchanged(before, doc, fields):
			return  # no rule field changed: not re-checked
	guard.enter(doc)
	try:
		hits = find_duplicates(doc, doc.doctype, event=event, lock=True)
		doc.flags.crm_dedup_hits = hits  # read after the save by other capabilities (routing)
		if is_import:
			on_import_row(doc, hits)
		else:
			act(doc, hits, event)
		# the keys are written now, under the locks, before any later hook of this save can commit
		guard.index_doc(doc)
	except (DedupDuplicateError, DedupWarning, DedupBusyError):
		guard.leave(doc)
		guard.forget_refused(doc)
		raise


def on_update(doc: Any, method: str | None = None) -> None:
	if _skip(doc) or not is_active_for(doc.doctype):
		return
	comp = compiled()
	before = doc.get_doc_before_save()
	# a new record is always indexed: a controller that calls db_set in on_update (ERPNext Customer
	# creating its primary Contact) loads "doc before save" from the row just inserted, so it looks unchanged
	if (
		not doc.flags.in_insert
		and before is not None
		and unchanged(before, doc, comp.index_fields(doc.doctype))
	):
		return
	guard.enter(doc)
	guard.index_doc(doc)


def on_change(doc: Any, method: str | None = None) -> None:
	"""The last event of a save: its key locks are released by the next commit (or rollback)."""
	guard.leave(doc)


def on_trash(doc: Any, method: str | None = None) -> None:
	if not is_active_for(doc.doctype):
		return
	unindex(doc.doctype, doc.name)


def after_rename(
	doc: Any, method: str | None = None, old: str = "", new: str = "", merge: bool = False
) -> None:
	if not is_active_for(doc.doctype):
		return
	guard.rename(doc.doctype, old, new or doc.name, merge=bool(merge))


def _skip(doc: Any) -> bool:
	return bool(
		doc.flags.ignore_dedup
		or frappe.flags.ignore_dedup
		or frappe.flags.in_install
		or frappe.flags.in_migrate
		or frappe.flags.in_uninstall
	)
