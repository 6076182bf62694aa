"""Collision query (撞单查询): "is this customer already someone's?" asked before any record is created.

The page ``collision-query`` and integrations call the same whitelisted function, :func:`collision_query`,
and get the same answer. Nothing here matches anything: the inputs are laid out from the enabled Dedup
Rules (via ``bridge.get_rules``) and the answer comes from ``bridge.find_duplicates``. This module only
decides what the asking user may see:

- a hit on a record the user may read shows its title (linked), status, last activity and the matched values;
- a hit on a record the user may not read shows only that it exists, who owns it and since when: the title
  and the matched values are masked (``金陵**有限公司``), status and activity are withheld;
- every query counts against ``Dedup Settings.query_rate_limit`` (per user per hour) and is written to
  Dedup Query Log on a side connection, so it is kept even when the request is rolled back or is a GET.
"""

import json
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import frappe
from frappe import _
from frappe.utils import cint, get_datetime, get_fullname, now_datetime

ALL = "All"
DEFAULT_DOCTYPES = ("Customer", "Lead", "Contact")
MANAGER_ROLES = ("System Manager", "Dedup Manager")
# match types whose values mean the same thing in every doctype: in "All" mode one input per type
SEMANTIC_TYPES = ("company_name", "person_name", "phone", "email", "id_code")
MATCH_TYPE_LABELS = {
	"company_name": "Company Name",
	"person_name": "Person Name",
	"phone": "Phone",
	"email": "Email",
	"id_code": "ID Code",
	"exact": "Exact",
	"normalized": "Normalized",
	"fuzzy": "Fuzzy Normalized",
}
MAX_RESULTS = 100
MAX_INPUT_LENGTH = 140
RATE_WINDOW = 3600  # seconds
# legal forms kept visible when a company name is masked (presentation only; matching is the engine's)
LEGAL_SUFFIXES = (
	"股份有限公司",
	"有限责任公司",
	"有限公司",
	"集团公司",
	"集团",
	"公司",
	"Co., Ltd.",
	"Co.,Ltd.",
	"Co. Ltd.",
	"Company Limited",
	"Limited",
	"Ltd.",
	"Ltd",
	"Inc.",
	"LLC",
	"GmbH",
)


class CollisionQueryRateLimited(frappe.TooManyRequestsError):
	pass


# ---- inputs laid out from the rules ------------------------------------------------------------------


@dataclass
class QueryInput:
	"""One box on the page: a field group of one doctype, or (All mode) one kind of value."""

	key: str
	label: str
	match_types: list[str] = field(default_factory=list)
	fields: dict[str, list[str]] = field(default_factory=dict)  # doctype -> fieldnames it fills
	description: str = ""
	rules: list[str] = field(default_factory=list)

	def to_dict(self) -> dict:
		return {
			"key": self.key,
			"label": self.label,
			"match_types": self.match_types,
			"fields": self.fields,
			"description": self.description,
			"rules": self.rules,
		}


def _rules_of(doctype: str) -> list:
	"""Engine rules of the enabled Dedup Rules targeting ``doctype`` (every event), best priority first."""
	from crm_dedup import bridge

	ruleset = bridge.get_rules(doctype)
	return list(ruleset.rules) if ruleset else []


def rule_doctypes() -> list[str]:
	"""Customer, Lead, Contact and every doctype an enabled Dedup Rule targets, in that order."""
	from crm_dedup import bridge

	out = list(DEFAULT_DOCTYPES)
	out += sorted(dt for dt in bridge.config().get("targets", {}) if dt not in out)
	return [dt for dt in out if frappe.db.exists("DocType", dt)]


def searchable_doctypes() -> list[str]:
	"""The doctypes with at least one enabled rule (what "All" searches)."""
	return [dt for dt in rule_doctypes() if _rules_of(dt)]


def _rule_target(rule: str | None, default: str) -> str:
	"""The doctype whose fieldnames a rule's match explanation uses (a cross check maps into the target's)."""
	from crm_dedup import bridge

	return (bridge.compiled().rules.get(rule or "") or {}).get("target") or default


def field_label(doctype: str, fieldname: str) -> str:
	"""The field's label as the doctype shows it, translated; a child field ``table.field`` by its table."""
	meta = frappe.get_meta(doctype)
	if "." in fieldname:
		table, child_field = fieldname.split(".", 1)
		df = meta.get_field(table)
		if df and df.options:
			child_label = frappe.get_meta(df.options).get_label(child_field)
			return f"{_(df.label or table)} › {_(child_label)}"
		return fieldname
	df = meta.get_field(fieldname)
	if df:
		return _(df.label or fieldname)
	return _(meta.get_label(fieldname))


def _group_label(doctype: str, fields: list[str]) -> str:
	"""A group is labelled by its first plain field (``phone`` of phone/mobile_no/phone_nos.phone)."""
	plain = [f for f in fields if "." not in f]
	return field_label(doctype, (plain or fields)[0])


def doctype_inputs(doctype: str) -> list[QueryInput]:
	"""The inputs of one doctype: every field its enabled rules use, overlapping field groups merged."""
	groups: list[dict] = []  # {"fields": [...], "match": [...], "rules": [...]}
	for rule in _rules_of(doctype):
		for cond in rule.conditions:
			touching = [i for i, g in enumerate(groups) if set(g["fields"]) & set(cond.fields)]
			merged = {"fields": [], "match": [], "rules": []}
			for i in touching:
				for k in merged:
					merged[k] += [x for x in groups[i][k] if x not in merged[k]]
			merged["fields"] += [f for f in cond.fields if f not in merged["fields"]]
			if cond.match not in merged["match"]:
				merged["match"].append(cond.match)
			if rule.name not in merged["rules"]:
				merged["rules"].append(rule.name)
			# the merged group takes the place of the earliest one: the page order follows rule priority
			pos = touching[0] if touching else len(groups)
			groups = [g for i, g in enumerate(groups) if i not in touching]
			groups.insert(pos, merged)
	out = []
	for g in groups:
		labels = [field_label(doctype, f) for f in g["fields"]]
		out.append(
			QueryInput(
				key=g["fields"][0],
				label=_group_label(doctype, g["fields"]),
				match_types=g["match"],
				fields={doctype: g["fields"]},
				description=", ".join(labels) if len(labels) > 1 else "",
				rules=g["rules"],
			)
		)
	return out


def all_inputs(doctypes: list[str]) -> list[QueryInput]:
	"""All mode: one input per kind of value, filled into each doctype's fields of that match type.

	Phone, email, company name, person name and ID code mean the same in every doctype; an exact /
	normalized / fuzzy condition is shared only between doctypes that use the same fieldnames.
	"""
	inputs: OrderedDict[str, QueryInput] = OrderedDict()
	for dt in doctypes:
		for rule in _rules_of(dt):
			for cond in rule.conditions:
				if cond.match in SEMANTIC_TYPES:
					key, label = cond.match, _(MATCH_TYPE_LABELS[cond.match])
				else:
					key = f"{cond.match}:{','.join(cond.fields)}"
					label = _group_label(dt, list(cond.fields))
				qi = inputs.get(key)
				if qi is None:
					qi = inputs[key] = QueryInput(key=key, label=label, match_types=[cond.match])
				fields = qi.fields.setdefault(dt, [])
				fields += [f for f in cond.fields if f not in fields]
				if rule.name not in qi.rules:
					qi.rules.append(rule.name)
	for qi in inputs.values():
		qi.description = ", ".join(_(dt) for dt in qi.fields)
	# a stable order whatever the rule priorities: the kinds of value a rep has at hand first
	order = {t: i for i, t in enumerate(SEMANTIC_TYPES)}
	return sorted(inputs.values(), key=lambda qi: order.get(qi.key, len(order)))


# ---- permission, rate limit, log -------------------------------------------------------------------


EVERYONE_ROLES = ("All", "Guest", "Desk User")


def _check_access(user: str) -> None:
	"""May query: a manager, or a user one of whose own roles reads or creates a doctype the rules cover.

	The roles every user has (All, Guest, Desk User) do not count: they let anyone create and read their own
	Contacts, which is no reason to probe everyone else's customers. A role restricted to the records one
	created ("if owner") counts: that is the sales rep this page is for.
	"""
	if user == "Guest":
		raise frappe.PermissionError(_("Log in to run a collision query."))
	roles = set(frappe.get_roles(user))
	if user == "Administrator" or roles & set(MANAGER_ROLES):
		return
	roles -= set(EVERYONE_ROLES)
	for dt in rule_doctypes():
		for perm in frappe.get_meta(dt).permissions:
			if perm.role in roles and not cint(perm.permlevel) and (perm.read or perm.create):
				return
	raise frappe.PermissionError(
		_("You need a role that reads Customers, Leads or Contacts to run a collision query.")
	)


def rate_limit() -> int:
	"""Queries per user per hour (Dedup Settings); 0 means unlimited."""
	value = frappe.db.get_single_value("Dedup Settings", "query_rate_limit")
	return 60 if value is None else cint(value)


def _rate_key(user: str) -> str:
	window = int(time.time() // RATE_WINDOW)
	return frappe.cache.make_key(f"crm_dedup:collision_query:{user}:{window}")


def _count_query(user: str) -> tuple[int, int]:
	"""Counts one query for ``user`` in the current hour; returns (count incl. this one, limit)."""
	limit = rate_limit()
	key = _rate_key(user)
	pipe = frappe.cache.pipeline()
	pipe.incrby(key, 1)
	pipe.expire(key, RATE_WINDOW)
	count = cint(pipe.execute()[0])
	return count, limit


def remaining_queries(user: str | None = None) -> int | None:
	limit = rate_limit()
	if not limit:
		return None
	used = cint(frappe.cache.get(_rate_key(user or frappe.session.user)))
	return max(0, limit - used)


def reset_rate_limit(user: str) -> None:
	frappe.cache.delete(_rate_key(user))


def _write_log(values: dict) -> int | None:
	"""Dedup Query Log row, committed on a side connection (kept on rollback, on GET, on 429)."""

	def insert():
		doc = frappe.get_doc({"doctype": "Dedup Query Log", **values})
		# the side connection may not see a user created in the current, uncommitted transaction
		doc.flags.ignore_links = True
		doc.insert(ignore_permissions=True)
		return doc.name

	try:
		from crm_dedup.sidedb import survive_rollback
	except ImportError:  # pragma: no cover - the side connection is part of the core
		name = insert()
		frappe.db.commit()
		return name
	return survive_rollback(insert, what="crm_dedup collision query log")


# ---- answer ------------------------------------------------------------------------------------------


def mask(value: Any) -> str:
	"""Hide all but a little of a value: 金陵华东贸易有限公司 -> 金陵**有限公司, 13812345678 -> 138**78.

	The mask is always ``**`` so the length is not revealed either.
	"""
	s = str(value or "").strip()
	if not s:
		return ""
	for suffix in LEGAL_SUFFIXES:
		if s.lower().endswith(suffix.lower()) and len(s) - len(suffix) >= 2:
			core = s[: len(s) - len(suffix)]
			head = 2 if len(core.strip()) >= 4 else 1
			space = " " if core.endswith(" ") else ""
			return core[:head].rstrip() + "**" + space + s[len(s) - len(suffix) :]
	n = len(s)
	if n <= 2:
		return s[0] + "*"
	if n <= 5:
		return s[0] + "**"
	head, tail = max(1, n // 4), max(1, n // 5)
	return s[:head] + "**" + s[n - tail :]


def _hit_attr(hit: Any, name: str) -> Any:
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
	from frappe.query_builder.functions import Max

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
	m = _hit_attr(hit, "match")
	return float(getattr(m, "score", 0) or 0)


def _sort_key(hit: Any) -> tuple:
	m = _hit_attr(hit, "match")
	return (-_score(hit), getattr(m, "priority", 99), str(_hit_attr(hit, "created") or ""))


def _row(hit: Any, user: str) -> dict:
	"""One result line, exactly as the page shows it."""
	doctype, name = _hit_attr(hit, "doctype"), _hit_attr(hit, "name")
	m = _hit_attr(hit, "match")
	owner = _hit_attr(hit, "owner")
	can_read = bool(frappe.has_permission(doctype, "read", doc=name, user=user))
	title = _hit_attr(hit, "title") or _title(doctype, name)
	fields_of = _rule_target(getattr(m, "rule", None), doctype)
	matched = []
	for h in getattr(m, "hits", []) or []:
		if h.skipped:
			continue
		value = h.value_b if can_read else mask(h.value_b)
		matched.append(
			{
				"field": h.field_b,
				"label": field_label(fields_of, h.field_b) if _has_field(fields_of, h.field_b) else h.field_b,
				"match": h.match,
				"value": value,
				"score": round(float(h.score), 1),
				"note": (h.note or "") if can_read else "",
			}
		)
	row = {
		"doctype": doctype,
		"doctype_label": _(doctype),
		"can_read": can_read,
		"name": name if can_read else None,
		"title": title if can_read else mask(title),
		"url": frappe.utils.get_url_to_form(doctype, name) if can_read else None,
		"owner": owner,
		"owner_name": get_fullname(owner) if owner else "",
		"status": _status(doctype, name) if can_read else None,
		"created": _iso(_hit_attr(hit, "created")),
		"last_activity": _iso(_last_activity(doctype, name)) if can_read else None,
		"rule": getattr(m, "rule", None),
		"action": getattr(m, "action", None),
		"matched_fields": matched,
		"matched": "; ".join(f"{x['label']}: {x['value']} ({x['score']:g})" for x in matched),
		"score": round(_score(hit), 1),
	}
	return row


def _has_field(doctype: str, fieldname: str) -> bool:
	meta = frappe.get_meta(doctype)
	if "." in fieldname:
		return meta.has_field(fieldname.split(".", 1)[0])
	return meta.has_field(fieldname)


def _clean_inputs(inputs: dict | str | None) -> dict[str, str]:
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


def _records(doctype: str, inputs: dict[str, str], layout: list[QueryInput]) -> dict[str, dict]:
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


def _search(records: dict[str, dict]) -> list[Any]:
	"""Every duplicate the rules find, one per record (the best), best first."""
	from crm_dedup import bridge

	best: dict[tuple[str, str], Any] = {}
	for dt, record in records.items():
		for hit in bridge.find_duplicates(record, dt, event=None, exclude_self=False) or []:
			key = (_hit_attr(hit, "doctype"), _hit_attr(hit, "name"))
			if key not in best or _sort_key(hit) < _sort_key(best[key]):
				best[key] = hit
	return sorted(best.values(), key=_sort_key)


def _placeholders(records: dict[str, dict], layout: list[QueryInput], inputs: dict[str, str]) -> list[dict]:
	"""The inputs that are placeholders (无, 13800138000…) for the rules that read them: they count as blank."""
	from crm_dedup import bridge

	out = []
	for key, value in inputs.items():
		qi = next((q for q in layout if q.key == key or any(key in fs for fs in q.fields.values())), None)
		if qi is None:
			continue
		for dt, fields in qi.fields.items():
			reason = next((r for f in fields if (r := bridge.placeholder_reason(dt, f, value))), None)
			if reason:
				out.append({"input": key, "value": value, "label": qi.label, "reason": reason})
				break
	return out


def _no_match_message(searched: list[str], placeholders: list[dict], inputs: dict[str, str]) -> str:
	if placeholders and len(placeholders) == len(inputs):
		return _("Every value you typed is a placeholder, so there is nothing to compare: type a real value.")
	return _("No duplicate found under the current rules ({0}).").format(", ".join(_(d) for d in searched))


@frappe.whitelist()
def get_query_fields() -> dict:
	"""The page layout: doctypes to switch between, and the inputs of each doctype and of All mode."""
	user = frappe.session.user
	_check_access(user)
	doctypes = rule_doctypes()
	by_doctype = {dt: [qi.to_dict() for qi in doctype_inputs(dt)] for dt in doctypes}
	searchable = [dt for dt in doctypes if by_doctype[dt]]
	return {
		"doctypes": [{"value": dt, "label": _(dt), "has_rules": bool(by_doctype[dt])} for dt in doctypes],
		"searchable": searchable,
		"inputs": {ALL: [qi.to_dict() for qi in all_inputs(searchable)], **by_doctype},
		"rate_limit": rate_limit(),
		"remaining": remaining_queries(user),
	}


@frappe.whitelist()
def collision_query(doctype: str = ALL, inputs: dict | str | None = None, limit: int = 50) -> dict:
	"""Is this customer already someone's? Checks the inputs against the enabled Dedup Rules.

	:param doctype: a doctype with rules, or "All" to search every one of them at once.
	:param inputs: {input key: value}; keys as returned by :func:`get_query_fields` (in single-doctype mode
	        a fieldname of the group works too).
	:param limit: at most this many results (1-100).
	:returns: {"doctype", "searched", "inputs", "results": [row], "count", "message", "remaining", "log"};
	        a row is what the page shows: doctype, title (masked unless readable), url, owner, status, created,
	        last_activity, rule, matched_fields, score.
	"""
	user = frappe.session.user
	_check_access(user)

	doctype = (doctype or ALL).strip()
	doctypes = searchable_doctypes()
	if not doctypes:
		frappe.throw(
			_("No Dedup Rule is enabled: there is nothing to check against."), title=_("Collision Query")
		)
	if doctype != ALL and doctype not in doctypes:
		frappe.throw(_("{0} has no enabled Dedup Rule.").format(_(doctype)), title=_("Collision Query"))
	clean = _clean_inputs(inputs)
	if not clean:
		frappe.throw(_("Type at least one value to check."), title=_("Collision Query"))
	searched = doctypes if doctype == ALL else [doctype]
	layout = all_inputs(searched) if doctype == ALL else doctype_inputs(doctype)
	records = _records(doctype, clean, layout)
	limit = min(max(cint(limit) or 50, 1), MAX_RESULTS)

	log = {
		"user": user,
		"queried_at": now_datetime(),
		"query_doctype": doctype,
		"inputs": json.dumps(clean, ensure_ascii=False, sort_keys=True),
		"ip_address": getattr(frappe.local, "request_ip", None),
	}
	count, max_per_hour = _count_query(user)
	if max_per_hour and count > max_per_hour:
		_write_log({**log, "status": "Rate Limited", "hit_count": 0, "masked_hits": 0})
		frappe.throw(
			_("You have reached the limit of {0} collision queries per hour. Try again later.").format(
				max_per_hour
			),
			exc=CollisionQueryRateLimited,
			title=_("Too Many Queries"),
		)

	placeholders = _placeholders(records, layout, clean)
	hits = _search(records)
	rows = [_row(hit, user) for hit in hits[:limit]]
	# managers see the real names in the log; shown rows only (at most MAX_RESULTS)
	summary = [
		{
			"doctype": _hit_attr(h, "doctype"),
			"name": _hit_attr(h, "name"),
			"owner": _hit_attr(h, "owner"),
			"rule": r["rule"],
			"score": r["score"],
			"can_read": r["can_read"],
		}
		for h, r in zip(hits, rows, strict=False)
	]
	log_name = _write_log(
		{
			**log,
			"status": "Answered",
			"hit_count": len(hits),
			"masked_hits": sum(1 for r in rows if not r["can_read"]),
			"hits_summary": json.dumps(summary, ensure_ascii=False, default=str),
		}
	)
	return {
		"doctype": doctype,
		"searched": searched,
		"inputs": clean,
		"results": rows,
		"count": len(hits),
		"message": ""
		if rows
		else _no_match_message(searched, placeholders, clean),
		"placeholders": placeholders,
		"remaining": max(0, max_per_hour - count) if max_per_hour else None,
		"log": log_name,
	}
