# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt
"""How a matched record is shown, the one masking policy included.

Every answer that shows a record the user may not read (the save dialog and its message, Data Import row
messages, the Collision Query, duplicate sets) goes through ``mask``: a company name keeps one or two characters
and its legal form (金陵华东贸易有限公司 -> 金陵**有限公司); any other value keeps its first character (张三丰 ->
张**), its first and last from six characters on (金陵华东贸易 -> 金**易), its first two and last two from ten on
(13912345678 -> 13**78). The mask is always ``**``, so the length is not revealed. docs/collision-query.md promises exactly this.
"""

from __future__ import annotations

from typing import Any

import frappe
from frappe import _
from frappe.utils import escape_html, get_fullname, get_link_to_form

from crm_dedup.core import tokens
from crm_dedup.core.config import ACTION_LABELS, MATCH_LABELS
from crm_dedup.core.lookup import DuplicateHit
from crm_dedup.core.related import RELATED, is_related
from crm_dedup.engine import legal_form_suffix


def mask(value: Any) -> str:
	"""What a user who may not read a record sees of one of its values (see the module docstring)."""
	s = str(value or "").strip()
	if not s:
		return ""
	suffix = legal_form_suffix(s)
	if suffix and len(s) - len(suffix) >= 2:
		core = s[: len(s) - len(suffix)]
		head = 2 if len(core.strip()) >= 4 else 1
		space = " " if core.endswith(" ") else ""
		return core[:head].rstrip() + "**" + space + suffix
	if len(s) >= 10:
		return s[:2] + "**" + s[-2:]
	if len(s) >= 6:
		return s[0] + "**" + s[-1]
	return s[0] + "**"


def can_read(doctype: str, name: str, user: str | None = None) -> bool:
	try:
		return bool(frappe.has_permission(doctype, "read", doc=name, user=user))
	except Exception:
		return False


def field_label(doctype: str, path: str) -> str:
	"""The translated label of a field path (``table.field`` as "Table › Field"); the path when unknown."""
	meta = frappe.get_meta(doctype)
	if is_related(path):  # contacts.phone_nos.phone -> "Contact › Contact Numbers › Number"
		rel, sub = path.split(".", 1)
		return f"{_(RELATED[rel])} › {field_label(RELATED[rel], sub)}"
	if "." in path:
		table, child_field = path.split(".", 1)
		tdf = meta.get_field(table)
		if tdf:
			child = frappe.get_meta(tdf.options)
			return f"{_(tdf.label or table)} › {_(child.get_label(child_field) or child_field)}"
		return path
	return _(meta.get_label(path) or path)


def match_label(match_type: str) -> str:
	return _(MATCH_LABELS.get(match_type, match_type))


def action_label(action: str) -> str:
	return _(ACTION_LABELS.get(action, action))


def shown(value: Any, readable: bool) -> str:
	"""A value as the user may see it."""
	return str(value if value is not None else "") if readable else mask(value)


def hit_view(doctype: str, hit: DuplicateHit, user: str | None = None) -> dict:
	"""What the user saving a ``doctype`` record may see of a hit (every value masked unless readable)."""
	readable = can_read(hit.doctype, hit.name, user)
	title = hit.title or hit.name
	label = title if title == hit.name else f"{title} ({hit.name})"
	fields = [
		{
			"label": field_label(doctype, h.field_a),
			"value": h.value_a,
			"existing_label": field_label(doctype, h.field_b),
			"existing_value": shown(h.value_b, readable),
			"match": match_label(h.match),
			"score": round(h.score, 1),
			"note": h.note if readable else "",
			"skipped": h.skipped,
		}
		for h in hit.match.hits
	]
	return {
		"doctype": hit.doctype,
		"doctype_label": _(hit.doctype),
		"name": hit.name if readable else None,
		"dispute_key": tokens.issue(hit.doctype, hit.name, user),  # a masked record can still be disputed
		"display": label if readable else mask(title),
		"readable": readable,
		"url": frappe.utils.get_url_to_form(hit.doctype, hit.name) if readable else None,
		"owner": hit.owner,
		"owner_name": get_fullname(hit.owner) if hit.owner else _("nobody"),
		"rule": hit.match.rule,
		"action": hit.action,
		"action_label": action_label(hit.action),
		"score": round(hit.match.score, 1),
		"fields": fields,
		"smart": smart_view(hit.match, readable),
	}


def smart_view(match: Any, readable: bool) -> dict | None:
	"""A smart hit's waterfall as the dialog draws it: prior, each comparison's level and weight, the total and
	the probability (the existing record's values masked unless readable)."""
	w = getattr(match, "waterfall", None)
	if not w:
		return None
	return {
		"prior": round(w["prior"], 2),
		"total": round(w["total"], 2),
		"probability": round(w["probability"], 4),
		"trained": bool(w.get("trained")),
		"comparisons": [
			{
				"comparison": r["comparison"],
				"level": r["level"],
				"weight": round(r["weight"], 2),
				"value_a": r.get("value_a") or "",
				"value_b": shown(r.get("value_b"), readable) if r.get("value_b") else "",
			}
			for r in w["comparisons"]
		],
	}


def describe(doc: Any, hits: list[DuplicateHit]) -> tuple[str, str]:
	"""(title, HTML message) naming the best hit: record (link or masked), owner, rule, fields, score."""
	best = hits[0]
	v = hit_view(doc.doctype, best)
	if v["readable"]:
		name = get_link_to_form(best.doctype, best.name, escape_html(v["display"]))
	else:
		name = escape_html(v["display"])
	title = _("Duplicate {0}: {1} already exists").format(_(doc.doctype), escape_html(v["display"]))
	lines = [
		_("{0} {1} already exists and belongs to {2}.").format(
			_(best.doctype), f"<b>{name}</b>", f"<b>{escape_html(v['owner_name'])}</b>"
		),
		_("Rule {0} matched with score {1}.").format(f"<b>{escape_html(v['rule'])}</b>", v["score"]),
	]
	items = "".join(
		"<li>{}</li>".format(
			_("{0} {1} matches {2} {3} ({4}, {5})").format(
				escape_html(f["label"]),
				f"<b>{escape_html(str(f['value']))}</b>",
				escape_html(f["existing_label"]),
				f"<b>{escape_html(str(f['existing_value']))}</b>",
				escape_html(f["match"]),
				f["score"],
			)
		)
		for f in v["fields"]
		if not f["skipped"]
	)
	message = "<br>".join(lines) + f"<ul>{items}</ul>"
	if len(hits) > 1:
		message += _("{0} more existing records match.").format(len(hits) - 1)
	return title, message
