# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt
"""The answer: the records the rules match for the typed values, one row per record, masked where the user may
not read it."""

from __future__ import annotations

import json
from typing import Any

import frappe
from frappe import _
from frappe.query_builder.functions import Max
from frappe.utils import cint, get_datetime, get_fullname

from crm_dedup.collision_query.layout import ALL, QueryInput, rule_target
from crm_dedup.core import tokens
from crm_dedup.core.config import placeholder_reason
from crm_dedup.core.display import can_read, field_label, mask, smart_view
from crm_dedup.core.lookup import find_duplicates

MAX_INPUT_LENGTH = 140


def hit_attr(hit: Any, name: str) -> Any:
	return hit.get(name) if isinstance(hit, dict) else getattr(hit, name, None)


def _title(doctype: str, name: str) -> str:
	meta = frappe.get_meta(doctype)
	title_field = meta.get_title_field()
	if title_field and title_field != "name" and meta.has_field(title_field):
		return frappe.db.get_value(doctype, name, title_field) or name
	return name


def _status(doctype: str, name: str) -> str:
	meta = frappe.get_meta(doctype)
	fields = [f for f in ("disabled", "status") if meta.has_field(f)]
	if not fields:
		return ""
	row = frappe.db.get_value(doctype, name, fields, as_dict=True) or {}
	if cint(row.get("disabled")):
		return _("Disabled")
	if row.get("status"):
		return _(row.status)
	return _("Enabled") if "disabled" in fields else ""


def _last_activity(doctype: str, name: str) -> Any:
	"""The later of the record's last change and its last Communication."""
	modified = frappe.db.get_value(doctype, name, "modified")
	comm = frappe.qb.DocType("Communication")
	link = frappe.qb.DocType("Communication Link")
	direct = (
		frappe.qb.from_(comm)
		.select(Max(comm.communication_date))
		.where((comm.reference_doctype == doctype) & (comm.reference_name == name))
	).run()
	linked = (
		frappe.qb.from_(comm)
		.join(link)
		.on(link.parent == comm.name)
		.select(Max(comm.communication_date))
		.where((link.link_doctype == doctype) & (link.link_name == name))
	).run()
	dates = [get_datetime(d) for d in (modified, direct[0][0], linked[0][0]) if d]
	return max(dates) if dates else None


def _iso(value: Any) -> str | None:
	return str(get_datetime(value)) if value else None


def _score(hit: Any) -> float:
	m = hit_attr(hit, "match")
	return float(getattr(m, "score", 0) or 0)


def _sort_key(hit: Any) -> tuple:
	m = hit_attr(hit, "match")
	return (-_score(hit), getattr(m, "priority", 99), str(hit_attr(hit, "created") or ""))


def result_row(hit: Any, user: str) -> dict:
	"""One result line, exactly as the page shows it."""
	doctype, name = hit_attr(hit, "doctype"), hit_attr(hit, "name")
	m = hit_attr(hit, "match")
	owner = hit_attr(hit, "owner")
	readable = can_read(doctype, name, user)
	title = hit_attr(hit, "title") or _title(doctype, name)
	fields_of = rule_target(getattr(m, "rule", None), doctype)
	matched = []
	for h in getattr(m, "hits", []) or []:
		if h.skipped:
			continue
		value = h.value_b if readable else mask(h.value_b)
		matched.append(
			{
				"field": h.field_b,
				"label": field_label(fields_of, h.field_b) if _has_field(fields_of, h.field_b) else h.field_b,
				"match": h.match,
				"value": value,
				"score": round(float(h.score), 1),
				"note": (h.note or "") if readable else "",
			}
		)
	row = {
		"dispute_key": tokens.issue(doctype, name, user),
		"doctype": doctype,
		"doctype_label": _(doctype),
		"can_read": readable,
		"name": name if readable else None,
		"title": title if readable else mask(title),
		"url": frappe.utils.get_url_to_form(doctype, name) if readable else None,
		"owner": owner,
		"owner_name": get_fullname(owner) if owner else "",
		"status": _status(doctype, name) if readable else None,
		"created": _iso(hit_attr(hit, "created")),
		"last_activity": _iso(_last_activity(doctype, name)) if readable else None,
		"rule": getattr(m, "rule", None),
		"action": getattr(m, "action", None),
		"matched_fields": matched,
		"matched": "; ".join(f"{x['label']}: {x['value']} ({x['score']:g})" for x in matched),
		"score": round(_score(hit), 1),
		"smart": smart_view(m, readable),  # a smart hit's waterfall (None for a condition rule)
	}
	return row


def _has_field(doctype: str, fieldname: str) -> bool:
	meta = frappe.get_meta(doctype)
	if "." in fieldname:
		return meta.has_field(fieldname.split(".", 1)[0])
	return meta.has_field(fieldname)


def clean_inputs(inputs: dict | str | None) -> dict[str, str]:
	if isinstance(inputs, str):
		try:
			inputs = json.loads(inputs) if inputs.strip() else {}
		except ValueError:
			frappe.throw(_("Inputs must be a JSON object."), title=_("Collision Query"))
	if not isinstance(inputs, dict):
		frappe.throw(_("Inputs must be a JSON object."), title=_("Collision Query"))
	out = {}
	for k, v in inputs.items():
		if v is None:
			continue
		v = str(v).strip()
		if v:
			out[str(k)] = v[:MAX_INPUT_LENGTH]
	return out


def records_from(doctype: str, inputs: dict[str, str], layout: list[QueryInput]) -> dict[str, dict]:
	"""{target doctype: record dict} from the inputs and the layout they were typed into.

	An input may be addressed by its key or, in single-doctype mode, by any field of its group.
	"""
	records: dict[str, dict] = {}
	unknown = []
	for key, value in inputs.items():
		qi = next((q for q in layout if q.key == key), None)
		if qi is None and doctype != ALL:
			qi = next((q for q in layout if key in q.fields.get(doctype, [])), None)
		if qi is None:
			unknown.append(key)
			continue
		for dt, fields in qi.fields.items():
			rec = records.setdefault(dt, {"doctype": dt})
			for f in fields:
				if "." in f:  # child-table path: one row of the table holds the value
					table, child_field = f.split(".", 1)
					rows = rec.setdefault(table, [{}])
					rows[0][child_field] = value
				else:
					rec[f] = value
	if unknown:
		frappe.throw(
			_("No enabled Dedup Rule uses {0} for {1}.").format(
				", ".join(frappe.bold(k) for k in unknown), _(doctype)
			),
			title=_("Unknown Input"),
		)
	return records


def search(records: dict[str, dict]) -> list[Any]:
	"""Every duplicate the rules find, one per record (the best), best first."""
	best: dict[tuple[str, str], Any] = {}
	for dt, record in records.items():
		for hit in find_duplicates(record, dt, event=None, exclude_self=False) or []:
			key = (hit_attr(hit, "doctype"), hit_attr(hit, "name"))
			if key not in best or _sort_key(hit) < _sort_key(best[key]):
				best[key] = hit
	return sorted(best.values(), key=_sort_key)


def placeholders_in(records: dict[str, dict], layout: list[QueryInput], inputs: dict[str, str]) -> list[dict]:
	"""The inputs that are placeholders (无, 13800138000…) for the rules that read them: they count as blank."""
	out = []
	for key, value in inputs.items():
		qi = next((q for q in layout if q.key == key or any(key in fs for fs in q.fields.values())), None)
		if qi is None:
			continue
		for dt, fields in qi.fields.items():
			reason = next((r for f in fields if (r := placeholder_reason(dt, f, value))), None)
			if reason:
				out.append({"input": key, "value": value, "label": qi.label, "reason": reason})
				break
	return out


def no_match_message(searched: list[str], placeholders: list[dict], inputs: dict[str, str]) -> str:
	if placeholders and len(placeholders) == len(inputs):
		return _("Every value you typed is a placeholder, so there is nothing to compare: type a real value.")
	return _("No duplicate found under the current rules ({0}).").format(", ".join(_(d) for d in searched))
