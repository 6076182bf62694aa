# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt
"""Fields of the Contacts and Addresses linked to a record (ERPNext keeps most phones there).

A rule on Customer (or Lead, Supplier, any doctype a Contact or Address links to through its Dynamic Link
table ``links``) may read ``contacts.<path>`` and ``addresses.<path>``, where ``<path>`` is a field or child
field of Contact / Address: ``contacts.phone_nos.phone``, ``contacts.mobile_no``, ``contacts.email_ids.email_id``,
``addresses.phone``. The value is the list of that path's values over every linked Contact (Address).

The key index follows: when a Contact or Address is saved (its phone changed, a link added or removed) or
deleted, every record it links to now or linked to before the save is re-indexed in the same transaction.
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


def load_related(
	doctype: str, names: Iterable[str], related: dict[str, list[str]], db: Any = None
) -> dict[str, dict[str, list]]:
	"""{record name: {"contacts.<sub>": values over its linked Contacts, ...}} (every name gets every path)."""
	from crm_dedup.core.records import load_records

	names = [str(n) for n in names]
	out: dict[str, dict[str, list]] = {
		n: {f"{rel}.{sub}": [] for rel, subs in related.items() for sub in subs} for n in names
	}
	for rel, subs in related.items():
		links = linked_names(doctype, names, rel, db)
		others = sorted({o for os_ in links.values() for o in os_})
		if not others:
			continue
		recs = load_records(RELATED[rel], others, subs, db)
		for name, linked in links.items():
			for other in linked:
				rec = recs.get(other) or {}
				for sub in subs:
					v = rec.get(sub)
					values = out[name][f"{rel}.{sub}"]
					for x in v if isinstance(v, list) else [v]:
						if x not in (None, "") and x not in values:
							values.append(x)
	return out


def relations_used(doctype: str) -> set[str]:
	"""The relations (contacts, addresses) whose fields the rules indexing ``doctype`` read."""
	from crm_dedup.core.config import compiled

	return {p.split(".", 1)[0] for p in compiled().index_fields(doctype) if is_related(p)}


def _parties(doc: Any) -> set[tuple[str, str]]:
	"""(link_doctype, link_name) the Contact/Address links to now and linked to before this save."""
	out = {
		(row.link_doctype, row.link_name)
		for row in doc.get("links") or []
		if row.link_doctype and row.link_name
	}
	before = doc.get_doc_before_save() if hasattr(doc, "get_doc_before_save") else None
	if before is not None:
		out |= {
			(r.link_doctype, r.link_name) for r in before.get("links") or [] if r.link_doctype and r.link_name
		}
	return out


def reindex_parties(doc: Any, method: str | None = None) -> None:
	"""Contact / Address on_update and after_delete: the records it links to get their keys again."""
	from crm_dedup.core.config import compiled
	from crm_dedup.core.guard import reindex_committed

	if frappe.flags.in_install or frappe.flags.in_migrate or not compiled().enabled:
		return
	relation = next((r for r, dt in RELATED.items() if dt == doc.doctype), None)
	if relation is None:
		return
	for link_doctype, link_name in sorted(_parties(doc)):
		if relation in relations_used(link_doctype):
			reindex_committed(link_doctype, link_name)
