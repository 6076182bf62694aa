# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt
"""Who may ask, how often, and the Dedup Query Log of every query."""

from __future__ import annotations

import frappe
from frappe import _
from frappe.utils import cint

from crm_dedup.collision_query.layout import rule_doctypes
from crm_dedup.core import ratelimit
from crm_dedup.core.roles import EVERYONE_ROLES, is_manager
from crm_dedup.core.sidedb import survive_rollback

BUCKET = "collision_query"
RATE_WINDOW = 3600  # seconds


class CollisionQueryRateLimited(frappe.TooManyRequestsError):
	pass


def check_access(user: str) -> None:
	"""May query: a manager, or a user one of whose own roles reads or creates a doctype the rules cover.

	The roles every user has (All, Guest, Desk User) do not count: they let anyone create and read their own
	Contacts, which is no reason to probe everyone else's customers. A role restricted to the records one
	created ("if owner") counts: that is the sales rep this page is for.
	"""
	if user == "Guest":
		raise frappe.PermissionError(_("Log in to run a collision query."))
	if is_manager(user):
		return
	roles = set(frappe.get_roles(user)) - set(EVERYONE_ROLES)
	for dt in rule_doctypes():
		for perm in frappe.get_meta(dt).permissions:
			if perm.role in roles and not cint(perm.permlevel) and (perm.read or perm.create):
				return
	raise frappe.PermissionError(
		_("You need a role that reads Customers, Leads or Contacts to run a collision query.")
	)


def rate_limit() -> int:
	"""Queries per user per hour (Dedup Settings); 0 means unlimited."""
	value = frappe.db.get_single_value("Dedup Settings", "query_rate_limit")
	return 60 if value is None else cint(value)


def count_query(user: str) -> tuple[int, int]:
	"""Counts one query for ``user`` in the current hour; returns (count incl. this one, limit)."""
	return ratelimit.hit(BUCKET, RATE_WINDOW, user), rate_limit()


def remaining_queries(user: str | None = None) -> int | None:
	return ratelimit.remaining(BUCKET, rate_limit(), RATE_WINDOW, user)


def reset_rate_limit(user: str) -> None:
	ratelimit.reset(BUCKET, user, RATE_WINDOW)


def write_log(values: dict) -> int | None:
	"""Dedup Query Log row, committed on a side connection (kept on rollback, on GET, on 429)."""

	def insert():
		doc = frappe.get_doc({"doctype": "Dedup Query Log", **values})
		# the side connection may not see a user created in the current, uncommitted transaction
		doc.flags.ignore_links = True
		doc.insert(ignore_permissions=True)
		return doc.name

	return survive_rollback(insert, what="crm_dedup collision query log")
