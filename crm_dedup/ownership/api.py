# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt
"""Whitelisted methods of ownership: claim a record from the public pool, read a record's protection, refresh
the pool of a DocType now (managers)."""

from __future__ import annotations

import frappe
from frappe import _

from crm_dedup.core import tokens
from crm_dedup.core.owners import owner_of
from crm_dedup.core.roles import require_manager
from crm_dedup.ownership import claim as claims
from crm_dedup.ownership import disputes, pool
from crm_dedup.ownership.policy import policy_of


@frappe.whitelist(methods=["POST"])
def claim(doctype: str, name: str) -> dict:
	"""Claims a record of the public pool for the session user (race-safe; checked like a save)."""
	frappe.has_permission(doctype, "read", name, throw=True)
	return claims.claim(doctype, name)


@frappe.whitelist()
def protection(doctype: str, name: str) -> dict:
	"""{has_policy, in_pool, protected_until, last_activity, owner} of one record (form indicator)."""
	frappe.has_permission(doctype, "read", name, throw=True)
	if policy_of(doctype) is None:
		return {"has_policy": False}
	return {"has_policy": True, "owner": owner_of(doctype, name), **pool.status(doctype, name)}


@frappe.whitelist(methods=["POST"])
def refresh_pool(doctype: str) -> dict:
	"""Recomputes protection and the public pool of ``doctype`` now (as the daily job does)."""
	require_manager(_("refresh the public pool"))
	policy = policy_of(doctype)
	if policy is None:
		frappe.throw(
			_("{0} has no ownership policy in Dedup Settings.").format(_(doctype)), title=_("No policy")
		)
	return pool.refresh(doctype, policy)


@frappe.whitelist(methods=["POST"])
def file_dispute(
	reason: str,
	existing_doctype: str | None = None,
	existing_name: str | None = None,
	dispute_key: str | None = None,
	ref_doctype: str | None = None,
	ref_name: str | None = None,
	values: dict | str | None = None,
) -> str:
	"""Files a dispute about an existing record the session user was stopped on: by (doctype, name) when they
	may read it, or by the ``dispute_key`` of a Collision Query row (a record they may not read)."""
	if dispute_key:
		got = tokens.resolve(dispute_key)
		if got is None:
			frappe.throw(_("This result has expired: run the query again."), title=_("Expired"))
		existing_doctype, existing_name = got
	elif not (existing_doctype and existing_name):
		frappe.throw(_("Name the record you dispute."), title=_("Nothing to dispute"))
	else:
		frappe.has_permission(existing_doctype, "read", existing_name, throw=True)
	if isinstance(values, str):
		values = frappe.parse_json(values) if values.strip() else None
	if ref_name:
		frappe.has_permission(ref_doctype, "read", ref_name, throw=True)
	return disputes.file(existing_doctype, existing_name, reason, ref_doctype, ref_name, values)


@frappe.whitelist(methods=["POST"])
def decide_dispute(dispute: str, decision: str, note: str | None = None) -> dict:
	"""Decides an open dispute (Dedup Manager, or a Sales Manager above the owner in the Sales Person tree)."""
	frappe.has_permission("Dedup Dispute", "read", dispute, throw=True)
	return disputes.decide(dispute, decision, note)


@frappe.whitelist()
def dispute_view(dispute: str) -> dict:
	"""Both records side by side for the review form: the fields the rules compare, owners, recent activity."""
	frappe.has_permission("Dedup Dispute", "read", dispute, throw=True)
	return disputes.side_by_side(dispute)
