"""Lead -> Customer: merging a Lead into a Customer converts it as ERPNext's own conversion
(``erpnext/crm/utils.py``) does. The Lead is kept and marked Converted; its comments are copied to the
Customer, its communications, open events, contacts and addresses linked, its open tasks moved."""

from __future__ import annotations

import json

import frappe
from erpnext.crm.utils import get_linked_communication_list, get_open_events, get_open_todos
from frappe.query_builder.functions import Max
from frappe.utils import cint, cstr

from crm_dedup.merge.changelog import ChangeRecorder
from crm_dedup.merge.common import json_list, raw_row, set_column


def lead_activities(lead: str) -> dict[str, list]:
	"""What ERPNext's conversion carries: comments, communications, open tasks and open events, plus
	contacts and addresses linked to the Lead."""
	return {
		"comments": frappe.get_all(
			"Comment",
			filters={"reference_doctype": "Lead", "reference_name": lead, "comment_type": "Comment"},
			pluck="name",
		),
		"communications": get_linked_communication_list("Lead", lead),
		"tasks": [t.name for t in get_open_todos("Lead", lead)],
		"events": [e.name for e in get_open_events("Lead", lead)],
		"contacts_addresses": frappe.get_all(
			"Dynamic Link",
			filters={
				"parenttype": ("in", ["Contact", "Address"]),
				"link_doctype": "Lead",
				"link_name": lead,
			},
			fields=["parent", "parenttype"],
		),
	}


def activity_count(lead: str) -> int:
	return sum(len(v) for v in lead_activities(lead).values())


def carry_lead(lead, customer, recorder: ChangeRecorder) -> None:
	"""Converts ``lead`` into ``customer`` (both documents), recording every change."""
	activities = lead_activities(lead.name)
	hidden_before = raw_row(customer.doctype, customer.name)
	_mark_converted(lead.name, recorder)
	_copy_comments(activities["comments"], customer, recorder)
	_link_communications(activities["communications"], customer, recorder)
	assigned = _move_tasks(activities["tasks"], customer, recorder)
	_link_events(activities["events"], customer, recorder)
	_link_contacts_and_addresses(activities["contacts_addresses"], customer, recorder)
	_record_hidden_columns(customer, hidden_before, assigned, recorder)


def _mark_converted(lead: str, recorder: ChangeRecorder) -> None:
	status = frappe.db.get_value("Lead", lead, "status")
	if status != "Converted":
		recorder.set("Lead", lead, "status", status, "Converted", "lead")
		frappe.db.set_value("Lead", lead, "status", "Converted", update_modified=False)


def _copy_comments(names: list[str], customer, recorder: ChangeRecorder) -> None:
	for name in names:
		comment = frappe.get_doc("Comment", name)
		copy = frappe.copy_doc(comment)
		copy.reference_doctype = customer.doctype
		copy.reference_name = customer.name
		copy.owner = comment.owner
		copy.flags.ignore_permissions = True
		copy.insert()
		recorder.insert("Comment", copy.name, "lead")


def _link_communications(names: list[str], customer, recorder: ChangeRecorder) -> None:
	for name in names:
		if frappe.db.exists(
			"Communication Link",
			{"parent": name, "link_doctype": customer.doctype, "link_name": customer.name},
		):
			continue
		link = {
			"link_doctype": customer.doctype,
			"link_name": customer.name,
			"link_title": customer.get_title(),
		}
		add_child_row("Communication", name, "timeline_links", link, recorder)


def _move_tasks(names: list[str], customer, recorder: ChangeRecorder) -> set[str]:
	"""Open ToDos of the Lead now refer to the Customer; returns their users."""
	assigned = set()
	for name in names:
		for field, value in (("reference_type", customer.doctype), ("reference_name", customer.name)):
			old = frappe.db.get_value("ToDo", name, field)
			recorder.set("ToDo", name, field, old, value, "lead")
			set_column("ToDo", [name], field, value)
		assigned.add(frappe.db.get_value("ToDo", name, "allocated_to"))
	return assigned


def _link_events(names: list[str], customer, recorder: ChangeRecorder) -> None:
	for name in names:
		if frappe.db.exists(
			"Event Participants",
			{"parent": name, "reference_doctype": customer.doctype, "reference_docname": customer.name},
		):
			continue
		participant = {"reference_doctype": customer.doctype, "reference_docname": customer.name}
		add_child_row("Event", name, "event_participants", participant, recorder)


def _link_contacts_and_addresses(rows: list, customer, recorder: ChangeRecorder) -> None:
	for row in rows:
		if frappe.db.exists(
			"Dynamic Link",
			{
				"parent": row.parent,
				"parenttype": row.parenttype,
				"link_doctype": customer.doctype,
				"link_name": customer.name,
			},
		):
			continue
		link = {
			"link_doctype": customer.doctype,
			"link_name": customer.name,
			"link_title": customer.get_title(),
		}
		add_child_row(row.parenttype, row.parent, "links", link, recorder)


def _record_hidden_columns(
	customer, hidden_before: dict, assigned: set[str], recorder: ChangeRecorder
) -> None:
	"""The copied comments updated the customer's _comments cache (Comment.on_update); the moved tasks
	belong in its _assign."""
	current = raw_row(customer.doctype, customer.name)
	if cstr(current.get("_comments")) != cstr(hidden_before.get("_comments")):
		recorder.set(
			customer.doctype,
			customer.name,
			"_comments",
			hidden_before.get("_comments"),
			current.get("_comments"),
			"lead",
		)
	users = json_list(current.get("_assign"))
	new_users = users + sorted(u for u in assigned - set(users) if u)
	if new_users != users:
		value = json.dumps(new_users)
		recorder.set(customer.doctype, customer.name, "_assign", current.get("_assign"), value, "lead")
		frappe.db.set_value(customer.doctype, customer.name, "_assign", value, update_modified=False)


def add_child_row(
	parenttype: str, parent: str, parentfield: str, data: dict, recorder: ChangeRecorder
) -> None:
	"""Appends a child row to a document without saving the document (no hooks), recording the insert."""
	child_dt = frappe.get_meta(parenttype).get_field(parentfield).options
	table = frappe.qb.DocType(child_dt)
	idx = (
		frappe.qb.from_(table)
		.select(Max(table.idx))
		.where(
			(table.parent == parent) & (table.parenttype == parenttype) & (table.parentfield == parentfield)
		)
		.run()[0][0]
	)
	row = frappe.new_doc(child_dt, parent_doc=None, parentfield=parentfield)
	row.update(data)
	row.parent = parent
	row.parenttype = parenttype
	row.parentfield = parentfield
	row.idx = cint(idx) + 1
	row.db_insert()
	recorder.insert(child_dt, row.name, "lead")
