# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt
"""Whitelisted methods of the save-time checks: the form's pre-save duplicate check and the list of DocTypes
that have rules (the desk registers its form check for those only)."""

from __future__ import annotations

import json

import frappe
from frappe import _

from crm_dedup.core import ratelimit
from crm_dedup.core.collision_log import record_collisions
from crm_dedup.core.config import compiled, config
from crm_dedup.core.display import describe, hit_view
from crm_dedup.core.lookup import find_duplicates
from crm_dedup.core.records import unchanged
from crm_dedup.core.roles import can_override

CHECKS_PER_HOUR = 1200  # form checks per user per hour (each save of a form with rules makes one)


@frappe.whitelist(methods=["POST"])
def check_duplicates(doc: str | dict) -> dict:
	"""Duplicates of a form's unsaved document, as the Warn dialog shows them (names masked unless readable).

	Called by the desk form before it saves. A Block or Warn result is logged as an attempt (the save is not
	sent); the server-side check on save stays the authority.
	"""
	data = json.loads(doc) if isinstance(doc, str) else dict(doc)
	doctype = data.get("doctype")
	if not doctype or not isinstance(doctype, str):
		frappe.throw(_("A document with a doctype is required"), frappe.ValidationError)
	name = data.get("name")
	is_new = bool(data.get("__islocal")) or not name or not frappe.db.exists(doctype, name)
	frappe.has_permission(doctype, "create" if is_new else "write", doc=None if is_new else name, throw=True)
	ratelimit.check("checks", CHECKS_PER_HOUR, _("Too many duplicate checks; please try again later."))

	empty = {"action": None, "matches": [], "can_override": False}
	comp = compiled()
	event = "insert" if is_new else "edit"
	if not comp.target_rules(doctype, event):
		return empty
	document = frappe.get_doc(data)
	if not is_new:
		before = frappe.get_doc(doctype, name)
		if unchanged(before, document, comp.query_fields(doctype, event)):
			return empty
	hits = find_duplicates(document, doctype, event=event)
	if not hits:
		return empty
	blocks = [h for h in hits if h.action == "block"]
	warns = [h for h in hits if h.action == "warn"]
	shown = blocks or warns or hits
	action = shown[0].action
	if action in ("block", "warn"):
		record_collisions(
			document,
			shown,
			"Blocked" if action == "block" else "Warned",
			event,
			survive_rollback=True,
			source="Desk",
		)
	title, message = describe(document, shown)
	return {
		"action": action,
		"can_override": action == "warn" and can_override(),
		"title": title,
		"message": message,
		"matches": [hit_view(doctype, h) for h in shown[:10]],
		"more": max(0, len(shown) - 10),
	}


@frappe.whitelist()
def dedup_doctypes() -> list[str]:
	"""DocTypes that have an enabled rule (the desk registers its form check for these only)."""
	if frappe.session.user == "Guest":
		frappe.throw(_("Not permitted"), frappe.PermissionError)
	return sorted(config()["targets"])
