# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt
"""Fields of the Contacts and Addresses linked to a record (ERPNext keeps most phones there).

A rule on Customer (or Lead, Supplier, any doctype a Contact or Address links to through its Dynamic Link
table ``links``) may read ``contacts.<path>`` and ``addresses.<path>``, where ``<path>`` is a field or child
field of Contact / Address: ``contacts.phone_nos.phone``, ``contacts.mobile_no``, ``contacts.email_ids.email_id``,
``addresses.phone``. The value is the list of that path's values over every linked Contact (Address).

The key index follows: when a Contact or Address is saved (its phone changed, a link added or removed) or
deleted, every record it links to now or linked to before the save is re-indexed in the same transaction
(``core.related_index``). ``core.records.load_related`` reads the values.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import frappe

RELATED = {"contacts": "Contact", "addresses": "Address"}  # relation -> doctype linking through `links`
LINK_TABLE = "Dynamic Link"
# what the rule form offers for each relation (any other field of Contact / Address may be typed)
OFFERED = {
	"contacts": ["phone_nos.phone", "mobile_no", "phone", "email_ids.email_id", "email_id"],
	"addresses": ["phone", "fax", "email_id"],
}


def is_related(path: str) -> bool:
	return path.split(".", 1)[0] in RELATED and "." in path


def split_related(paths: Iterable[str]) -> tuple[list[str], dict[str, list[str]]]:
	"""(the record's own paths, {relation: sub-paths of the linked doctype})."""
	own: list[str] = []
	related: dict[str, list[str]] = {}
	for p in paths:
		if is_related(p):
			rel, sub = p.split(".", 1)
			if sub not in related.setdefault(rel, []):
				related[rel].append(sub)
		elif p not in own:
			own.append(p)
	return own, related


def linked_names(doctype: str, names: Iterable[str], relation: str, db: Any = None) -> dict[str, list[str]]:
	"""{record name: names of the Contacts (Addresses) linked to it}."""
	names = tuple(dict.fromkeys(str(n) for n in names))
	out: dict[str, list[str]] = defaultdict(list)
	if not names:
		return out
	link = frappe.qb.DocType(LINK_TABLE)
	q = (
		frappe.qb.from_(link)
		.select(link.link_name, link.parent)
		.where(
			(link.parenttype == RELATED[relation])
			& (link.parentfield == "links")
			& (link.link_doctype == doctype)
			& link.link_name.isin(names)
		)
		.orderby(link.parent)
	)
	for link_name, parent in (db or frappe.db).sql(q.get_sql()):
		if parent not in out[link_name]:
			out[link_name].append(parent)
	return out
