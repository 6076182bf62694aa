# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt
"""Record tokens: an opaque handle on a record for one user for an hour, so an answer that masks a record the
user may not read (Collision Query) can still let them act on it (file a dispute) without learning its name."""

from __future__ import annotations

import frappe

TTL = 3600


def issue(doctype: str, name: str, user: str | None = None) -> str:
	token = frappe.generate_hash(length=20)
	frappe.cache.set_value(
		f"crm_dedup:token:{token}",
		{"doctype": doctype, "name": name, "user": user or frappe.session.user},
		expires_in_sec=TTL,
	)
	return token


def resolve(token: str, user: str | None = None) -> tuple[str, str] | None:
	"""(doctype, name) of a token issued to ``user`` (default: the session user) within the hour, else None."""
	got = frappe.cache.get_value(f"crm_dedup:token:{token}") if token else None
	if not got or got.get("user") != (user or frappe.session.user):
		return None
	return got["doctype"], got["name"]
