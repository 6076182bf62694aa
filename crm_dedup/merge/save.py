"""Saving the survivor and deleting the merged-away records, recording every change the save makes (its own
fields and child rows, and what its controller hooks change on other documents)."""

from __future__ import annotations

from collections.abc import Iterable

import frappe
from frappe.model.utils.rename_doc import get_fetch_fields
from frappe.utils.global_search import delete_for_document

from crm_dedup.merge.changelog import ChangeRecorder, snapshot
from crm_dedup.merge.common import norm

DIFF_SKIP = {"modified", "modified_by", "__hidden", "__onload", "__last_sync_on"}
# doctypes Customer.update_customer_groups leaves alone
CUSTOMER_GROUP_IGNORE = ["Lead", "Opportunity", "POS Profile", "Tax Rule", "Pricing Rule"]


def delete_record(doc) -> None:
	"""Deletes a merged-away record and its child rows without ``on_trash``: a merge is no deletion."""
	for tdf in doc.meta.get_table_fields():
		frappe.db.delete(tdf.options, {"parent": doc.name, "parenttype": doc.doctype})
	frappe.db.delete(doc.doctype, {"name": doc.name})
	delete_for_document(doc)
	frappe.clear_document_cache(doc.doctype, doc.name)


def save_survivor(survivor, chosen: dict, rows_to_add: dict, recorder: ChangeRecorder) -> None:
	"""Saves the chosen values and the added child rows; records the survivor's diff and the side effects."""
	before = snapshot(survivor)
	watched = _watch_side_effects(survivor, chosen)
	linked_before = _linked_contacts_and_addresses(survivor.doctype, survivor.name)
	for fieldname, value in chosen.items():
		survivor.set(fieldname, value)
	for fieldname, rows in rows_to_add.items():
		for row in rows:
			survivor.append(fieldname, row)
	survivor.flags.ignore_permissions = True
	survivor.flags.ignore_mandatory = True
	survivor.flags.ignore_links = True
	survivor.flags.ignore_dedup = True  # no save-time duplicate check inside a merge
	survivor.save()
	after = snapshot(frappe.get_doc(survivor.doctype, survivor.name))
	_record_doc_diff(survivor.doctype, before, after, recorder)
	_record_watched(watched, recorder)
	_record_new_docs(
		_linked_contacts_and_addresses(survivor.doctype, survivor.name) - linked_before, recorder
	)


def _record_doc_diff(doctype: str, before: dict, after: dict, recorder: ChangeRecorder) -> None:
	meta = frappe.get_meta(doctype)
	table_names = {tdf.fieldname: tdf.options for tdf in meta.get_table_fields()}
	for key, new in after.items():
		if key in DIFF_SKIP or key in table_names or key.startswith("__"):
			continue
		if norm(before.get(key)) != norm(new):
			recorder.set(doctype, after["name"], key, before.get(key), new, "survivor")
	for fieldname, child_dt in table_names.items():
		_record_rows_diff(child_dt, before.get(fieldname) or [], after.get(fieldname) or [], recorder)


def _record_rows_diff(child_dt: str, before: list[dict], after: list[dict], recorder: ChangeRecorder) -> None:
	old_rows = {r["name"]: r for r in before}
	new_rows = {r["name"]: r for r in after}
	for name, row in new_rows.items():
		if name not in old_rows:
			recorder.insert(child_dt, name, "survivor_row")
			continue
		for key, value in row.items():
			if key in DIFF_SKIP or key.startswith("__"):
				continue
			if norm(old_rows[name].get(key)) != norm(value):
				recorder.set(child_dt, name, key, old_rows[name].get(key), value, "survivor_row")
	for name, row in old_rows.items():
		if name not in new_rows:
			recorder.delete(child_dt, row, "survivor_row")


def _watch_side_effects(survivor, chosen: dict) -> list[tuple[str, str, dict]]:
	"""Documents the survivor's save changes through its controller hooks: remember their values."""
	watch = _watched_by_doctype(survivor, chosen) + _watched_customer_group(survivor, chosen)
	out = []
	for dt, name, fields in watch:
		if frappe.db.exists(dt, name):
			out.append((dt, name, frappe.db.get_value(dt, name, fields, as_dict=True)))
	return out


def _watched_by_doctype(survivor, chosen: dict) -> list[tuple[str, str, tuple[str, ...]]]:
	watch: list[tuple[str, str, tuple[str, ...]]] = []
	if survivor.doctype == "Customer":
		for lead in {survivor.get("lead_name"), chosen.get("lead_name")} - {None, ""}:
			watch.append(("Lead", lead, ("status",)))
	elif survivor.doctype == "Contact":
		for link in survivor.get("links"):
			if link.link_doctype == "Lead":
				watch.append(("Lead", link.link_name, ("phone", "mobile_no")))
	elif survivor.doctype == "Lead":
		for row in frappe.get_all("Prospect Lead", {"lead": survivor.name}, pluck="name"):
			watch.append(("Prospect Lead", row, ("lead_name", "email", "mobile_no", "lead_owner", "status")))
	return watch


def _watched_customer_group(survivor, chosen: dict) -> list[tuple[str, str, tuple[str, ...]]]:
	"""Customer.on_update -> update_customer_groups rewrites customer_group on linked documents."""
	group = chosen.get("customer_group")
	if survivor.doctype != "Customer" or not group or group == survivor.customer_group:
		return []
	watch = []
	for d in get_fetch_fields("Customer", "Customer Group", CUSTOMER_GROUP_IGNORE):
		for name in frappe.get_all(d.doctype, {d.master_fieldname: survivor.name}, pluck="name"):
			watch.append((d.doctype, name, (d.linked_to_fieldname,)))
	return watch


def _linked_contacts_and_addresses(doctype: str, name: str) -> set[tuple[str, str]]:
	return {
		(r.parenttype, r.parent)
		for r in frappe.get_all(
			"Dynamic Link",
			filters={
				"link_doctype": doctype,
				"link_name": name,
				"parenttype": ("in", ["Contact", "Address"]),
			},
			fields=["parent", "parenttype"],
		)
	}


def _record_watched(watched: list, recorder: ChangeRecorder) -> None:
	for dt, name, old in watched:
		new = frappe.db.get_value(dt, name, list(old), as_dict=True) or {}
		for field, value in old.items():
			if norm(value) != norm(new.get(field)):
				recorder.set(dt, name, field, value, new.get(field), "side_effect")


def _record_new_docs(refs: Iterable[tuple[str, str]], recorder: ChangeRecorder) -> None:
	"""Documents the survivor's save created (Customer.on_update may create a primary contact/address)."""
	for dt, name in refs:
		doc = frappe.get_doc(dt, name)
		for child in doc.get_all_children():
			recorder.insert(child.doctype, child.name, "side_effect")
		recorder.insert(dt, name, "side_effect")
