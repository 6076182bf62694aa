# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt
"""Alerts of the ownership workflow: a Notification Log (bell) plus a
realtime message to the user's open desk (e-mail as each user's Notification Settings say); coalesced — at most one alert per type, user and record an hour —
and each type switchable in Dedup Settings."""

from __future__ import annotations

import frappe
from frappe.utils import cint

COALESCE_SECONDS = 3600
REALTIME_EVENT = "crm_dedup_ownership"
SWITCH = {
	"routed": "alert_routed",
	"release": "alert_release",
	"claim": "alert_claim",
	"dispute": "alert_dispute",
}


def enabled(kind: str) -> bool:
	value = frappe.db.get_single_value("Dedup Settings", SWITCH[kind]) if kind in SWITCH else 1
	return value is None or bool(cint(value))


def alert(kind: str, user: str | None, doctype: str, name: str, subject: str, message: str = "") -> bool:
	"""Alerts ``user`` about record (doctype, name); False when switched off, coalesced or without a user."""
	if not user or user in ("Guest",) or not enabled(kind):
		return False
	key = f"crm_dedup:alert:{kind}:{user}:{doctype}:{name}"
	if frappe.cache.get_value(key):
		return False
	frappe.cache.set_value(key, 1, expires_in_sec=COALESCE_SECONDS)
	# an alert never costs the save or the job it reports on (a broken outgoing e-mail account, say)
	frappe.db.savepoint("crm_dedup_alert")
	try:
		_notify(user, doctype, name, subject, message)
	except Exception:
		frappe.db.rollback(save_point="crm_dedup_alert")
		frappe.log_error(title=f"crm_dedup: {kind} alert to {user} failed")
		return False
	frappe.publish_realtime(
		REALTIME_EVENT,
		{"kind": kind, "doctype": doctype, "name": name, "subject": subject},
		user=user,
		after_commit=True,
	)
	return True


def _notify(user: str, doctype: str, name: str, subject: str, message: str) -> None:
	frappe.get_doc(
		{
			"doctype": "Notification Log",
			"for_user": user,
			"type": "Alert",
			"document_type": doctype,
			"document_name": name,
			"subject": subject,
			"email_content": message or subject,
		}
	).insert(ignore_permissions=True)
