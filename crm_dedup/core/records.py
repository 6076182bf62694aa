# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt
"""Records as the engine sees them: a ``{field path: value}`` dict. A path is a fieldname (``mobile_no``) or a
child-table field (``phone_nos.phone``), whose value is the list of that column's values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import frappe

from crm_dedup.core import related, sidedb

# where a record with no owner field of its own gets its owner from (Contact/Address -> linked party)
PARTY_LINK_TABLE = "Dynamic Link"


def get_value(obj: Any, key: str) -> Any:
	"""``key`` of a document, a dict or any object (None when absent)."""
	if obj is None:
		return None
	if isinstance(obj, Mapping):
		return obj.get(key)
	return obj.get(key) if hasattr(obj, "get") else getattr(obj, key, None)


def path_value(doc: Any, path: str) -> Any:
	"""A field path's value on a document or dict: a scalar, or a list for ``table.field``."""
	if "." in path:
		table, child_field = path.split(".", 1)
		rows = get_value(doc, table) or []
		return [v for row in rows if (v := get_value(row, child_field)) not in (None, "")]
	return get_value(doc, path)


def doc_to_record(doc: Any, fields: Iterable[str]) -> dict:
	"""{field path: value} of a document (or dict) for ``fields`` (child paths as lists). Fields of linked
	Contacts / Addresses (``contacts.phone_nos.phone``, ``core.related``) come from the database for a saved
	document, and from the dict itself for a query record."""
	own, rel = related.split_related(fields)
	out = {p: path_value(doc, p) for p in own}
	if not rel:
		return out
	name = get_value(doc, "name")
	if not isinstance(doc, Mapping) and name and get_value(doc, "doctype"):
		loaded = load_related(doc.doctype, [name], rel).get(str(name), {})
		out.update(loaded)
	else:
		out.update({f"{r}.{sub}": path_value(doc, f"{r}.{sub}") for r, subs in rel.items() for sub in subs})
	return out


def map_record(record: Mapping[str, Any], field_map: Mapping[str, list[str]]) -> dict:
	"""An other-doctype record in the target's field names: {target field: values of the mapped paths}."""
	out = {}
	for target, paths in field_map.items():
		values: list[Any] = []
		for p in paths:
			v = record.get(p)
			if isinstance(v, list | tuple):
				values.extend(v)
			elif v not in (None, ""):
				values.append(v)
		out[target] = values
	return out


def split_paths(doctype: str, paths: Iterable[str]) -> tuple[list[str], dict[str, tuple[str, list[str]]]]:
	"""(plain columns, {table fieldname: (child doctype, child columns)}) for paths that exist in the meta."""
	meta = frappe.get_meta(doctype)
	plain: list[str] = []
	tables: dict[str, tuple[str, list[str]]] = {}
	for p in paths:
		if "." in p:
			table, child_field = p.split(".", 1)
			df = meta.get_field(table)
			if not df or df.fieldtype not in ("Table", "Table MultiSelect"):
				continue
			child_meta = frappe.get_meta(df.options)
			if not (child_meta.get_field(child_field) or child_field == "name"):
				continue
			cols = tables.setdefault(table, (df.options, []))[1]
			if child_field not in cols:
				cols.append(child_field)
		elif (meta.get_field(p) and not meta.get_field(p).is_virtual) or p in ("name", "owner"):
			if p not in plain:
				plain.append(p)
	return plain, tables


def load_records(doctype: str, names: Iterable[str], paths: Iterable[str], db: Any = None) -> dict[str, dict]:
	"""{name: record} for existing ``names``, read with ``db`` (default ``frappe.db``)."""
	names = list(dict.fromkeys(str(n) for n in names))
	if not names:
		return {}
	db = db or frappe.db
	paths, rel = related.split_related(paths)
	if rel:
		out = load_records(doctype, names, paths, db)
		for name, values in load_related(doctype, list(out), rel, db).items():
			out[name].update(values)
		return out
	plain, tables = split_paths(doctype, paths)
	cols = ", ".join(f"`{c}`" for c in ["name", *[p for p in plain if p != "name"]])
	out: dict[str, dict] = {}
	for start in range(0, len(names), 1000):
		chunk = tuple(names[start : start + 1000])
		for row in db.sql(
			f"select {cols} from `tab{doctype}` where name in %(names)s", {"names": chunk}, as_dict=True
		):
			rec = {p: row.get(p) for p in plain}
			for table, (_child, child_cols) in tables.items():
				for c in child_cols:
					rec[f"{table}.{c}"] = []
			out[row["name"]] = rec
		if not tables:
			continue
		found = tuple(n for n in chunk if n in out)
		if not found:
			continue
		for table, (child, child_cols) in tables.items():
			ccols = ", ".join(f"`{c}`" for c in child_cols)
			for row in db.sql(
				f"select parent, {ccols} from `tab{child}` where parenttype=%(dt)s and parentfield=%(pf)s"
				" and parent in %(names)s order by parent, idx",
				{"dt": doctype, "pf": table, "names": found},
				as_dict=True,
			):
				rec = out.get(row["parent"])
				if rec is None:
					continue
				for c in child_cols:
					v = row.get(c)
					if v not in (None, ""):
						rec[f"{table}.{c}"].append(v)
	return out


def record_info(doctype: str, name: str) -> dict:
	"""creation, owner, _assign and title of a record (the latest committed row if this transaction does not
	see it yet)."""
	meta = frappe.get_meta(doctype)
	title_field = meta.get_title_field()
	cols = ["name", "creation", "owner", "_assign"]
	if title_field and title_field != "name" and meta.get_field(title_field):
		cols.append(title_field)
	sql = "select {} from `tab{}` where name=%s".format(", ".join(f"`{c}`" for c in cols), doctype)
	rows = frappe.db.sql(sql, name, as_dict=True)
	if not rows:
		rows = sidedb.fresh_sql(sql, name, as_dict=True)
	if not rows:
		return {}
	row = rows[0]
	row["title"] = row.get(title_field) if title_field in row else None
	return row


class _FreshDB:
	"""``db`` argument of load_records that reads the latest committed rows."""

	@staticmethod
	def sql(query: str, values: Any = None, as_dict: bool = False) -> list:
		return sidedb.fresh_sql(query, values, as_dict=as_dict)


FRESH_DB = _FreshDB()


def as_list(v: Any) -> list:
	if v in (None, ""):
		return []
	return list(v) if isinstance(v, list | tuple) else [v]


def _comparable(v: Any) -> Any:
	if isinstance(v, list | tuple):
		return tuple(str(x) for x in v if x not in (None, ""))
	return "" if v in (None, "") else str(v)


def unchanged(before: Any, doc: Any, fields: Iterable[str]) -> bool:
	"""Whether none of ``fields`` (paths, child paths included) changed between two versions of a doc."""
	return all(_comparable(path_value(before, f)) == _comparable(path_value(doc, f)) for f in fields)


def load_related(
	doctype: str, names: Iterable[str], wanted: dict[str, list[str]], db: Any = None
) -> dict[str, dict[str, list]]:
	"""{record name: {"contacts.<sub>": values over its linked Contacts, ...}} for ``wanted`` {relation: sub-paths}
	(``core.related``; every name gets every path)."""
	names = [str(n) for n in names]
	out: dict[str, dict[str, list]] = {
		n: {f"{rel}.{sub}": [] for rel, subs in wanted.items() for sub in subs} for n in names
	}
	for rel, subs in wanted.items():
		links = related.linked_names(doctype, names, rel, db)
		others = sorted({o for os_ in links.values() for o in os_})
		if not others:
			continue
		recs = load_records(related.RELATED[rel], others, subs, db)
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
