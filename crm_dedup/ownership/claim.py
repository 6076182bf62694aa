# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt
"""Claiming a record from the public pool (认领).

A claim is race-safe: the record's row is locked (``SELECT ... FOR UPDATE``), so of many reps claiming one record
at the same instant the first one owns it and every other one, once the lock is theirs, reads the committed
state and is refused ("already claimed by ..."). A claim is checked like a save: when the record duplicates one
that a colleague still protects (a Block rule matches it), it is refused with the same message a save gets.
"""

from __future__ import annotations

from datetime import timedelta

import frappe
from frappe import _
from frappe.desk.form import assign_to
from frappe.utils import get_fullname, getdate, now_datetime, today

from crm_dedup.core.display import describe
from crm_dedup.core.errors import DedupDuplicateError
from crm_dedup.core.lookup import find_duplicates
from crm_dedup.core.owners import owner_of
from crm_dedup.ownership.alerts import alert
from crm_dedup.ownership.log import log
from crm_dedup.ownership.policy import ACTIVITY_FIELD, POOL_FIELD, UNTIL_FIELD, owner_field, policy_of


class ClaimRefused(frappe.ValidationError):
	pass


def in_pool(doctype: str, name: str) -> bool:
	return bool(policy_of(doctype)) and bool(frappe.db.get_value(doctype, name, POOL_FIELD))


def claim(doctype: str, name: str, user: str | None = None) -> dict:
	"""Makes ``user`` (default: the session user) the owner of a record in the public pool.

	Returns {owner, protected_until}; raises ClaimRefused (or DedupDuplicateError) with a clear message."""
	user = user or frappe.session.user
	policy = policy_of(doctype)
	if policy is None or not policy.pools:
		frappe.throw(
			_("{0} has no public pool (no ownership policy with a protection period).").format(_(doctype)),
			ClaimRefused,
			title=_("Nothing to claim"),
		)
	row = frappe.db.sql(f"select name, `{POOL_FIELD}` from `tab{doctype}` where name=%s for update", name)
	if not row:
		frappe.throw(_("{0} {1} does not exist").format(_(doctype), name), frappe.DoesNotExistError)
	current = owner_of(doctype, name)
	if not row[0][1]:
		if current == user:
			_refuse(doctype, name, current, user, _("{0} {1} is yours already.").format(_(doctype), name))
		until = frappe.db.get_value(doctype, name, UNTIL_FIELD)
		_refuse(
			doctype,
			name,
			current,
			user,
			_("{0} {1} is not in the public pool: {2} owns it (protected until {3}).").format(
				_(doctype),
				name,
				get_fullname(current) if current else _("nobody"),
				frappe.format(until, {"fieldtype": "Date"}) if until else "—",
			),
		)
	doc = frappe.get_doc(doctype, name)
	protected = [
		h
		for h in find_duplicates(doc, doctype, event="edit")
		if h.action == "block" and h.owner and h.owner != user and not in_pool(h.doctype, h.name)
	]
	if protected:
		log(
			"Claim Refused",
			doctype,
			name,
			previous_owner=current,
			existing_doctype=protected[0].doctype,
			existing_name=protected[0].name,
			rule=protected[0].match.rule,
		)
		title, message = describe(doc, protected)
		frappe.throw(message, exc=DedupDuplicateError, title=title)
	_set_owner(doctype, name, user)
	until = getdate(today()) + timedelta(days=policy.days)
	frappe.db.set_value(
		doctype,
		name,
		{POOL_FIELD: 0, UNTIL_FIELD: until, ACTIVITY_FIELD: now_datetime()},
		update_modified=False,
	)
	log("Claimed", doctype, name, user=user, previous_owner=current, new_owner=user)
	if current and current != user:
		alert(
			"claim",
			current,
			doctype,
			name,
			_("{0} claimed {1} {2} from the public pool.").format(get_fullname(user), _(doctype), name),
		)
	return {"owner": user, "protected_until": str(until)}


def _refuse(doctype: str, name: str, current: str | None, user: str, message: str) -> None:
	log(
		"Claim Refused",
		doctype,
		name,
		survive_rollback=True,
		user=user,
		previous_owner=current,
		detail=message,
	)
	frappe.throw(message, ClaimRefused, title=_("Claim refused"))


def _set_owner(doctype: str, name: str, user: str) -> None:
	"""Writes ``user`` into the configured owner field (a User link, or a Sales Person / Employee of the user);
	without an owner field the record is assigned to the user instead (the owner resolver reads assignments)."""
	field = owner_field(doctype)
	if not field:
		for other in assign_to.get({"doctype": doctype, "name": name}) or []:
			assign_to.remove(doctype, name, other.get("owner"), ignore_permissions=True)
		assign_to.add({"assign_to": [user], "doctype": doctype, "name": name}, ignore_permissions=True)
		return
	df = frappe.get_meta(doctype).get_field(field) if "." not in field else None
	if df is None or df.fieldtype != "Link":
		frappe.throw(
			_(
				"The owner field {0} of {1} cannot be written by a claim (a child table or not a link)."
			).format(field, _(doctype)),
			ClaimRefused,
			title=_("Claim refused"),
		)
	value = user
	if df.options == "Employee":
		value = frappe.db.get_value("Employee", {"user_id": user}, "name")
	elif df.options == "Sales Person":
		employee = frappe.db.get_value("Employee", {"user_id": user}, "name")
		value = employee and frappe.db.get_value("Sales Person", {"employee": employee}, "name")
	elif df.options != "User":
		value = None
	if not value:
		frappe.throw(
			_("{0} has no {1} record, so {2} cannot be set to them.").format(
				get_fullname(user), _(df.options), _(df.label)
			),
			ClaimRefused,
			title=_("Claim refused"),
		)
	frappe.db.set_value(doctype, name, field, value, update_modified=False)
