"""The "重复 / Duplicate" indicators: a pill in the list view and a headline on the form of every record that
belongs to an open Duplicate Set, for the DocTypes an enabled rule touches ("疑似重复 / Possible duplicate",
in grey, for a set of confidence Possible: two records paired by one weak link on one field).

Records the user may not read are shown as ``crm_dedup.core.display`` masks them (no name, masked title), in
the set's title too; the set link is given only to users who may read sets.
"""

from __future__ import annotations

import re
from typing import Any

import frappe
from frappe.utils import get_fullname

from crm_dedup.core.config import config, rules_touching
from crm_dedup.core.display import can_read, field_label, match_label, shown
from crm_dedup.core.sets import MEMBER_DOCTYPE, POSSIBLE, SET_DOCTYPE, open_set_names

MAX_NAMES = 1000  # records of one list page asked about at most
MAX_WHY = 5  # pairs explained per set on the form
_FIELD_HIT = re.compile(r"(\S+) ~ (\S+) \((\w+) (\d+)\)")


@frappe.whitelist()
def indicator_doctypes() -> list[str]:
	"""DocTypes that some enabled rule touches (the list views that ask for duplicate flags)."""
	if frappe.session.user == "Guest":
		raise frappe.PermissionError
	return sorted(config()["touching"])


@frappe.whitelist()
def get_duplicate_flags(doctype: str, names: list[str] | str) -> dict[str, dict]:
	"""{record name: {"set": open set, "possible": 0 or 1}} for the records of a list view page that belong to
	an open duplicate set; a set of confidence Likely is named before a Possible one."""
	frappe.has_permission(doctype, "read", throw=True)
	if isinstance(names, str):
		names = frappe.parse_json(names)
	names = [str(n) for n in (names or [])][:MAX_NAMES]
	if not names or not rules_touching(doctype):
		return {}
	s = frappe.qb.DocType(SET_DOCTYPE)
	m = frappe.qb.DocType(MEMBER_DOCTYPE)
	out: dict[str, dict] = {}
	for member, set_name, confidence in (
		frappe.qb.from_(m)
		.join(s)
		.on(s.name == m.parent)
		.select(m.member_name, s.name, s.confidence)
		.where((s.status == "Open") & (m.member_doctype == doctype) & m.member_name.isin(names))
		.where(m.parenttype == SET_DOCTYPE)
		.orderby(s.confidence)  # Likely before Possible
		.orderby(s.name)
		.run()
	):
		out.setdefault(member, {"set": set_name, "possible": int(confidence == POSSIBLE)})
	return out


@frappe.whitelist()
def get_record_sets(doctype: str, name: str) -> list[dict]:
	"""The open duplicate sets of one record with their other members (for the form's headline)."""
	frappe.has_permission(doctype, "read", name, throw=True)
	can_open = bool(frappe.has_permission(SET_DOCTYPE, "read"))
	out = []
	for set_name in open_set_names(doctype, [name]):
		doc = frappe.get_doc(SET_DOCTYPE, set_name)
		readable = {
			(m.member_doctype, m.member_name): (m.member_doctype, m.member_name) == (doctype, name)
			or can_read(m.member_doctype, m.member_name)
			for m in doc.members
		}
		others = [
			_member_view(m, readable[(m.member_doctype, m.member_name)])
			for m in doc.members
			if (m.member_doctype, m.member_name) != (doctype, name)
			and frappe.db.exists(m.member_doctype, m.member_name)
		]
		if not others:
			continue
		why = [
			{"rule": p.rule, "score": p.score, "fields": field_labels(doc.ref_doctype, p.matched_fields)}
			for p in doc.pairs
			if (p.name_a == name or p.name_b == name) and not p.not_duplicate
		][:MAX_WHY]
		out.append(
			{
				"set": set_name if can_open else None,
				"possible": int(doc.confidence == POSSIBLE),
				"title": _set_title(doc, readable),
				"others": others,
				"why": why,
			}
		)
	out.sort(key=lambda x: x["possible"])  # Likely sets first
	return out


def _member_view(m: Any, readable: bool) -> dict:
	return {
		"doctype": m.member_doctype,
		"name": m.member_name if readable else None,
		"title": shown(m.member_title or m.member_name, readable),
		"owner": m.record_owner,
		"owner_name": get_fullname(m.record_owner) if m.record_owner else "",
	}


def _set_title(doc: Any, readable: dict[tuple[str, str], bool]) -> str:
	"""The set's stored title ("<first member's title> (+n)"), masked when the user may not read that
	member."""
	if not doc.members:
		return doc.title or ""
	first = doc.members[0]
	if readable.get((first.member_doctype, first.member_name)):
		return doc.title or ""
	title = shown(first.member_title or first.member_name, False)
	return f"{title} (+{len(doc.members) - 1})" if len(doc.members) > 1 else title


def field_labels(doctype: str, matched_fields: str | None) -> str:
	"""'mobile_no ~ mobile_no (phone 100)' -> 'Mobile No ~ Mobile No (Phone 100)' in the user's language."""

	def one(m: re.Match) -> str:
		a, b = field_label(doctype, m.group(1)), field_label(doctype, m.group(2))
		return f"{a} ~ {b} ({match_label(m.group(3))} {m.group(4)})"

	return _FIELD_HIT.sub(one, matched_fields or "")
