# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt
"""The block / warn / log decision for the hits of one save."""

from __future__ import annotations

from typing import Any

import frappe
from frappe import _

from crm_dedup.core.collision_log import record_collisions
from crm_dedup.core.display import describe
from crm_dedup.core.errors import DedupDuplicateError, DedupWarning
from crm_dedup.core.lookup import DuplicateHit
from crm_dedup.core.roles import can_override

OVERRIDE_KEY = "__dedup_override"  # sent by the form's "Save anyway"


def act(doc: Any, hits: list[DuplicateHit], event: str) -> None:
	"""Block / warn / log for the hits of one save."""
	if not hits:
		return
	blocks = [h for h in hits if h.action == "block"]
	warns = [h for h in hits if h.action == "warn"]
	logs = [h for h in hits if h.action == "log"]
	if blocks:
		record_collisions(doc, blocks, "Blocked", event, survive_rollback=True)
		raise_duplicate(doc, blocks)
	if warns:
		if override_requested(doc) and can_override():
			record_collisions(doc, warns, "Saved Anyway", event, survive_rollback=False)
			record_collisions(doc, logs, "Logged", event, survive_rollback=False, notify=False)
			return
		record_collisions(doc, warns, "Warned", event, survive_rollback=True)
		raise_warning(doc, warns)
	if logs:
		record_collisions(doc, logs, "Logged", event, survive_rollback=False, notify=False)


def override_requested(doc: Any) -> bool:
	return bool(doc.flags.dedup_override or doc.flags.dedup_override_requested or doc.get(OVERRIDE_KEY))


def raise_duplicate(doc: Any, hits: list[DuplicateHit]) -> None:
	title, message = describe(doc, hits)
	frappe.throw(message, exc=DedupDuplicateError, title=title)


def raise_warning(doc: Any, hits: list[DuplicateHit]) -> None:
	title, message = describe(doc, hits)
	if can_override():
		message += "<br>" + _("To save it anyway, use Save anyway in the duplicate dialog of the form.")
	else:
		message += "<br>" + _("Ask the owner or a manager if this really is a different record.")
	frappe.throw(message, exc=DedupWarning, title=title)
