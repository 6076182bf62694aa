# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt
"""Dedup Ownership Log: one row per claim, refused claim, release, release warning and routed record."""

from __future__ import annotations

import frappe
from frappe.utils import now_datetime

from crm_dedup.core import sidedb


def log(event: str, doctype: str, name: str, survive_rollback: bool = False, **values) -> None:
	"""One log row; ``survive_rollback``: written and committed on the side connection at once (a refused claim
	is rolled back, its log row stays)."""
	row = {
		"doctype": "Dedup Ownership Log",
		"event": event,
		"at": now_datetime(),
		"user": frappe.session.user,
		"ref_doctype": doctype,
		"ref_name": name,
		**{k: v for k, v in values.items() if v is not None},
	}
	if survive_rollback:
		sidedb.survive_rollback(lambda: _insert(row), "crm_dedup ownership log")
	else:
		_insert(row)


def _insert(row: dict) -> None:
	frappe.get_doc(row).insert(ignore_permissions=True, ignore_links=True)
