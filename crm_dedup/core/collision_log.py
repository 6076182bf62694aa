# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt
"""The Dedup Collision Log and the owner's notification: who tried to save what, which existing record it hit,
and what happened (Blocked, Warned, Saved Anyway, Logged, Import Rejected, Import Flagged)."""

from __future__ import annotations

import json
from typing import Any

import frappe
from frappe import _
from frappe.utils import escape_html, get_fullname, now_datetime

from crm_dedup.core import sidedb
from crm_dedup.core.config import ACTION_LABELS, config
from crm_dedup.core.display import can_read, shown
from crm_dedup.core.lookup import DuplicateHit

MAX_LOGGED = 5  # collision log rows per attempt (best matches first)
NOTIFY_EVERY = 600  # seconds: one notification per (owner, record, user) in this window
# request paths of a save from the desk form (the form's own check runs through the checks API)
DESK_PATHS = ("frappe.desk.form.save.savedocs", "crm_dedup.checks.api.check_duplicates")


def record_collisions(
	doc: Any,
	hits: list[DuplicateHit],
	outcome: str,
	event: str,
	survive_rollback: bool = True,
	notify: bool = True,
	source: str | None = None,
) -> None:
	"""One Dedup Collision Log row per hit (best first, at most MAX_LOGGED) and a notification to each existing
	owner. ``survive_rollback``: written and committed on the side connection at once, so they stay even
	though the save they describe is rolled back; otherwise written in the save's own transaction."""
	if not hits:
		return
	source = source or detect_source(doc)
	user = frappe.session.user
	rows = [_log_row(doc, h, outcome, event, source, user) for h in hits[:MAX_LOGGED]]
	notes = _notifications(doc, hits, outcome, user) if notify else []

	def write() -> None:
		for row in rows:
			frappe.get_doc(row).insert(ignore_permissions=True, ignore_links=True)
		for n in notes:
			frappe.get_doc(n).insert(ignore_permissions=True, ignore_links=True)

	if survive_rollback:
		sidedb.survive_rollback(write, "crm_dedup collision log")
	else:
		write()


def _log_row(doc: Any, h: DuplicateHit, outcome: str, event: str, source: str, user: str) -> dict:
	meta = frappe.get_meta(doc.doctype)
	title_field = meta.get_title_field()
	matched = "; ".join(
		f"{ch.field_a}={ch.value_a} ~ {h.doctype}.{ch.field_b}={ch.value_b} ({ch.match} {ch.score:.0f})"
		for ch in h.match.hits
		if not ch.skipped
	)
	return {
		"doctype": "Dedup Collision Log",
		"attempted_by": user,
		"attempted_at": now_datetime(),
		"outcome": outcome,
		"source": source,
		"event": {"insert": "Insert", "edit": "Edit", "import": "Import"}.get(event, "Insert"),
		"rule": h.match.rule,
		"action": ACTION_LABELS.get(h.action, "Block"),
		"score": round(h.match.score, 1),
		"ref_doctype": doc.doctype,
		# a form's unsaved document has a temporary name (new-customer-1): not a record anyone can open
		"ref_name": None if str(doc.name or "").startswith("new-") else doc.name,
		"ref_title": str(doc.get(title_field) or doc.name or "")[:140],
		"existing_doctype": h.doctype,
		"existing_name": h.name,
		"existing_title": str(h.title or h.name)[:140],
		"existing_owner": h.owner,
		"matched_fields": matched,
		"explanation": json.dumps(
			{"match": h.match.to_dict(), "explain": h.match.explain}, ensure_ascii=False, indent=1
		),
	}


def _notifications(doc: Any, hits: list[DuplicateHit], outcome: str, user: str) -> list[dict]:
	if not config().get("notify_owner", True):
		return []
	out = []
	seen = set()
	for h in hits[:MAX_LOGGED]:
		owner = h.owner
		if not owner or owner == user or owner in ("Guest",) or (owner, h.doctype, h.name) in seen:
			continue
		seen.add((owner, h.doctype, h.name))
		key = f"crm_dedup:notified:{owner}:{h.doctype}:{h.name}:{user}:{outcome}"
		if frappe.cache.get_value(key, expires=True):
			continue
		frappe.cache.set_value(key, 1, expires_in_sec=NOTIFY_EVERY)
		# the owner comes from an owner field: it may be someone who cannot read the record (one mask for all)
		readable = can_read(h.doctype, h.name, owner)
		subject = {
			"Blocked": _("{0} was blocked from saving a duplicate of your {1} {2} (rule {3})"),
			"Warned": _("{0} was warned about a duplicate of your {1} {2} (rule {3})"),
			"Saved Anyway": _("{0} saved a likely duplicate of your {1} {2} anyway (rule {3})"),
		}.get(outcome, _("{0} touched a duplicate of your {1} {2} (rule {3})"))
		out.append(
			{
				"doctype": "Notification Log",
				"for_user": owner,
				"from_user": user,
				"type": "Alert",
				"document_type": h.doctype,
				"document_name": h.name if readable else None,
				"subject": subject.format(
					escape_html(get_fullname(user)),
					_(h.doctype),
					f"<b>{escape_html(shown(h.title or h.name, readable))}</b>",
					escape_html(h.match.rule),
				),
				"email_content": escape_html(h.match.explain) if readable else "",
			}
		)
	return out


def detect_source(doc: Any) -> str:
	if is_data_import(doc):
		return "Data Import"
	request = getattr(frappe.local, "request", None)
	if request is not None:
		path = getattr(request, "path", "") or ""
		if path.endswith(DESK_PATHS):
			return "Desk"
		return "API"
	if getattr(frappe.local, "job", None) or getattr(frappe.flags, "in_background_job", False):
		return "Background Job"
	return "Script"


def is_data_import(doc: Any) -> bool:
	ref = doc.flags.updater_reference
	return isinstance(ref, dict) and ref.get("doctype") == "Data Import"
