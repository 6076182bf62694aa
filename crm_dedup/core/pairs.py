"""Pairs of records someone confirmed are "not a duplicate" (**Dedup Not Duplicate**).

Core because both sides need them: the save-time checks drop such a pair (``is_not_duplicate``), batch scans
pass them to the engine as ``skip_pairs`` (``not_duplicate_pairs``), and marking a duplicate set writes them
(``add_not_duplicate``). One row per pair, stored in one order (the smaller (doctype, name) first).
"""

from __future__ import annotations

import frappe
from frappe.utils import now_datetime

NOT_DUP_DOCTYPE = "Dedup Not Duplicate"


def is_not_duplicate(doctype_a: str, name_a: str, doctype_b: str, name_b: str) -> bool:
	"""Whether the pair was marked "not a duplicate" (either order). Called by the save-time checks."""
	if not (name_a and name_b and doctype_a and doctype_b):
		return False
	t = frappe.qb.DocType(NOT_DUP_DOCTYPE)
	one_way = (
		(t.doctype_a == doctype_a)
		& (t.name_a == str(name_a))
		& (t.doctype_b == doctype_b)
		& (t.name_b == str(name_b))
	)
	other_way = (
		(t.doctype_a == doctype_b)
		& (t.name_a == str(name_b))
		& (t.doctype_b == doctype_a)
		& (t.name_b == str(name_a))
	)
	try:
		rows = frappe.qb.from_(t).select(t.name).where(one_way | other_way).limit(1).run()
	except Exception as e:
		if frappe.db.is_table_missing(e):
			return False
		raise
	return bool(rows)


def not_duplicate_pairs(doctype: str) -> set[tuple[str, str]]:
	"""Every pair of ``doctype`` marked "not a duplicate", in both orders (the engine's ``skip_pairs``)."""
	t = frappe.qb.DocType(NOT_DUP_DOCTYPE)
	out: set[tuple[str, str]] = set()
	for a, b in (
		frappe.qb.from_(t)
		.select(t.name_a, t.name_b)
		.where((t.doctype_a == doctype) & (t.doctype_b == doctype))
		.run()
	):
		out.add((str(a), str(b)))
		out.add((str(b), str(a)))
	return out


def add_not_duplicate(
	doctype_a: str,
	name_a: str,
	doctype_b: str,
	name_b: str,
	duplicate_set: str | None = None,
	reason: str | None = None,
) -> bool:
	"""Marks the pair "not a duplicate"; False when it is one record or already marked."""
	if (doctype_a, name_a) == (doctype_b, name_b) or is_not_duplicate(doctype_a, name_a, doctype_b, name_b):
		return False
	(da, na), (db_, nb) = sorted([(doctype_a, str(name_a)), (doctype_b, str(name_b))])
	frappe.get_doc(
		{
			"doctype": NOT_DUP_DOCTYPE,
			"doctype_a": da,
			"name_a": na,
			"doctype_b": db_,
			"name_b": nb,
			"duplicate_set": duplicate_set,
			"reason": reason,
			"marked_by": frappe.session.user,
			"marked_at": now_datetime(),
		}
	).insert(ignore_permissions=True, ignore_links=True)
	return True


def forget_set(duplicate_set: str) -> None:
	"""Removes the marks written for one duplicate set (its Reopen)."""
	t = frappe.qb.DocType(NOT_DUP_DOCTYPE)
	frappe.qb.from_(t).delete().where(t.duplicate_set == duplicate_set).run()
