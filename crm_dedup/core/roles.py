# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt
"""Who may do what: the one place for the roles that manage duplicates (merge, review sets, scan, edit rules'
index) and for the Dedup Settings list of roles that may save past a Warn rule."""

from __future__ import annotations

import frappe
from frappe import _

from crm_dedup.core.config import config

MANAGER_ROLE = "Dedup Manager"
MANAGER_ROLES = ("System Manager", MANAGER_ROLE)
# who may save past a Warn rule on a new site (Dedup Settings > Override Roles; admins change it there)
DEFAULT_OVERRIDE_ROLES = (MANAGER_ROLE, "Sales Manager", "System Manager")
# roles every user has: holding them is no reason to see or probe anybody's records
EVERYONE_ROLES = ("All", "Guest", "Desk User")


def is_manager(user: str | None = None) -> bool:
	"""Administrator, or a user with System Manager or Dedup Manager."""
	user = user or frappe.session.user
	return user == "Administrator" or bool(set(MANAGER_ROLES) & set(frappe.get_roles(user)))


def require_manager(action: str) -> None:
	"""Throws PermissionError unless the session user is a manager; ``action`` names what was refused
	("merge duplicates", "review duplicate sets" ...), already translated by the caller."""
	if not is_manager():
		frappe.throw(
			_("Only users with the role {0} or {1} may {2}.").format(
				_(MANAGER_ROLES[1]), _(MANAGER_ROLES[0]), action
			),
			frappe.PermissionError,
			title=_("Not permitted"),
		)


def can_override(user: str | None = None) -> bool:
	"""Whether ``user`` has a role allowed (in Dedup Settings) to save past a Warn rule."""
	user = user or frappe.session.user
	if user == "Administrator":
		return True
	return bool(set(config()["override_roles"]) & set(frappe.get_roles(user)))
