# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt
"""The key index follows the Contacts and Addresses linked to a record (``core.related``): hooks on their
``on_update`` and ``after_delete`` re-index every record a Contact/Address links to now or linked to before
the save, in the same transaction."""

from __future__ import annotations

from typing import Any

import frappe

from crm_dedup.core.config import compiled
from crm_dedup.core.guard import reindex_committed
from crm_dedup.core.related import RELATED, is_related


def relations_used(doctype: str) -> set[str]:
	"""The relations (contacts, addresses) whose fields the rules indexing ``doctype`` read."""
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
	if frappe.flags.in_install or frappe.flags.in_migrate or not compiled().enabled:
		return
	relation = next((r for r, dt in RELATED.items() if dt == doc.doctype), None)
	if relation is None:
		return
	for link_doctype, link_name in sorted(_parties(doc)):
		if relation in relations_used(link_doctype):
			reindex_committed(link_doctype, link_name)
