# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt
"""Collision-aware routing (分配规则): a new record that a rule set to "Route to Existing Owner" matches is
assigned to the owner of the existing record, by whatever path it was created (desk, REST, Data Import, web
form, e-mail to Lead, server code: they all run the document's hooks).

Runs in ``on_update`` of the insert, after Frappe's Assignment Rules (Frappe's hooks run first): on a routed
record their open assignments are cancelled and the existing owner's takes their place; a record no routing
rule matched keeps what the Assignment Rules gave it. An owner who is disabled or may not read the record is
replaced by the policy's fallback user (or the first enabled user of its fallback role), and the choice is
logged. The owner is alerted; the creator is told who received the record.
"""

from __future__ import annotations

from typing import Any

import frappe
from frappe import _
from frappe.desk.form import assign_to
from frappe.utils import get_fullname

from crm_dedup.core.config import compiled
from crm_dedup.ownership.alerts import alert
from crm_dedup.ownership.log import log
from crm_dedup.ownership.policy import owner_field, policy_of


def on_update(doc: Any, method: str | None = None) -> None:
	"""doc_events "*" on_update: routes a just-inserted record the checks found a routing match for."""
	if not doc.flags.in_insert or not doc.flags.crm_dedup_hits or doc.flags.crm_dedup_routed:
		return  # (a save inside the insert, e.g. ERPNext's Lead contact, runs on_update again)
	comp = compiled()
	routed = [
		h
		for h in doc.flags.crm_dedup_hits
		if h.action != "block" and (comp.rules.get(h.match.rule) or {}).get("route")
	]
	if routed:
		doc.flags.crm_dedup_routed = True
		route(doc, routed[0])


def usable(user: str | None, doc: Any) -> bool:
	if not user or not frappe.db.get_value("User", user, "enabled"):
		return False
	return bool(frappe.has_permission(doc.doctype, "read", doc, user=user))


def fallback(doc: Any) -> str | None:
	policy = policy_of(doc.doctype)
	if policy is None:
		return None
	if policy.fallback_user and usable(policy.fallback_user, doc):
		return policy.fallback_user
	if policy.fallback_role:
		for user in frappe.get_all(
			"Has Role",
			filters={"role": policy.fallback_role, "parenttype": "User"},
			pluck="parent",
			order_by="parent asc",
		):
			if user not in ("Administrator", "Guest") and usable(user, doc):
				return user
	return None


def route(doc: Any, hit: Any) -> str | None:
	"""Assigns ``doc`` to the owner of ``hit`` (or the fallback); returns the user who received it."""
	target, event, detail = hit.owner, "Routed", None
	if not usable(target, doc):
		detail = _("{0} is disabled or may not read this {1}").format(target or _("nobody"), _(doc.doctype))
		target, event = fallback(doc), "Routed to Fallback"
	if not target:
		log(
			event,
			doc.doctype,
			doc.name,
			existing_doctype=hit.doctype,
			existing_name=hit.name,
			rule=hit.match.rule,
			detail=(detail or "") + "; " + _("no fallback user or role configured"),
		)
		return None
	for todo in frappe.get_all(
		"ToDo",
		filters={
			"reference_type": doc.doctype,
			"reference_name": doc.name,
			"status": "Open",
			"assignment_rule": ["is", "set"],
			"allocated_to": ["!=", target],
		},
		fields=["name", "allocated_to"],
	):
		assign_to.set_status(
			doc.doctype,
			doc.name,
			todo=todo.name,
			assign_to=todo.allocated_to,
			status="Cancelled",
			ignore_permissions=True,
		)
	assign_to.add(
		{
			"assign_to": [target],
			"doctype": doc.doctype,
			"name": doc.name,
			"description": _("Routed to you: it matches {0} {1} (rule {2}).").format(
				_(hit.doctype), hit.name, hit.match.rule
			),
		},
		ignore_permissions=True,
	)
	field = owner_field(doc.doctype)
	df = frappe.get_meta(doc.doctype).get_field(field) if field and "." not in field else None
	if df is not None and df.fieldtype == "Link" and df.options == "User":
		frappe.db.set_value(doc.doctype, doc.name, field, target, update_modified=False)
		doc.set(field, target)
	log(
		event,
		doc.doctype,
		doc.name,
		new_owner=target,
		existing_doctype=hit.doctype,
		existing_name=hit.name,
		rule=hit.match.rule,
		detail=detail,
	)
	alert(
		"routed",
		target,
		doc.doctype,
		doc.name,
		_("New {0} {1} was routed to you: it matches your {2} {3}.").format(
			_(doc.doctype), doc.name, _(hit.doctype), hit.name
		),
	)
	frappe.msgprint(
		_("This {0} matches {1} {2}, so it was assigned to {3}.").format(
			_(doc.doctype), _(hit.doctype), hit.name, get_fullname(target)
		),
		title=_("Routed to the existing owner"),
		indicator="blue",
		alert=True,
	)
	return target
