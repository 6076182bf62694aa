# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt
"""The page layout: one input per field group of the enabled rules of a doctype, or (All mode) one per kind of
value, so the page shows exactly the fields the active rules use."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

import frappe
from frappe import _

from crm_dedup.core import scope
from crm_dedup.core.config import compiled, config, get_rules
from crm_dedup.core.display import field_label

ALL = "All"
DEFAULT_DOCTYPES = ("Customer", "Lead", "Contact")
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


@dataclass
class QueryInput:
	"""One box on the page: a field group of one doctype, or (All mode) one kind of value."""

	key: str
	label: str
	match_types: list[str] = field(default_factory=list)
	fields: dict[str, list[str]] = field(default_factory=dict)  # doctype -> fieldnames it fills
	description: str = ""
	rules: list[str] = field(default_factory=list)
	fieldtype: str = "Data"  # scope inputs: the field's own type (a Link to Territory is picked, not typed)
	options: str = ""

	def to_dict(self) -> dict:
		return {
			"fieldtype": self.fieldtype,
			"options": self.options,
			"key": self.key,
			"label": self.label,
			"match_types": self.match_types,
			"fields": self.fields,
			"description": self.description,
			"rules": self.rules,
		}


def _rules_of(doctype: str) -> list:
	"""Engine rules of the enabled Dedup Rules targeting ``doctype`` (every event), condition rules and smart
	rules, best priority first."""
	ruleset = get_rules(doctype)
	if not ruleset:
		return []
	return sorted((*ruleset.rules, *ruleset.smart), key=lambda r: (r.priority, r.name))


def _conditions(rule) -> list[tuple[tuple[str, ...], str]]:
	"""(fields, match type) of each condition of a rule, or of each comparison of a smart rule."""
	if hasattr(rule, "comparisons"):
		return [(tuple(c.fields), c.compare) for c in rule.comparisons]
	return [(tuple(c.fields), c.match) for c in rule.conditions]


def rule_doctypes() -> list[str]:
	"""Customer, Lead, Contact and every doctype an enabled Dedup Rule targets, in that order."""
	out = list(DEFAULT_DOCTYPES)
	out += sorted(dt for dt in config().get("targets", {}) if dt not in out)
	return [dt for dt in out if frappe.db.exists("DocType", dt)]


def searchable_doctypes() -> list[str]:
	"""The doctypes with at least one enabled rule (what "All" searches)."""
	return [dt for dt in rule_doctypes() if _rules_of(dt)]


def rule_target(rule: str | None, default: str) -> str:
	"""The doctype whose fieldnames a rule's match explanation uses (a cross check maps into the target's)."""
	return (compiled().rules.get(rule or "") or {}).get("target") or default


def _group_label(doctype: str, fields: list[str]) -> str:
	"""A group is labelled by its first plain field (``phone`` of phone/mobile_no/phone_nos.phone)."""
	plain = [f for f in fields if "." not in f]
	return field_label(doctype, (plain or fields)[0])


def doctype_inputs(doctype: str) -> list[QueryInput]:
	"""The inputs of one doctype: every field its enabled rules use, overlapping field groups merged."""
	groups: list[dict] = []  # {"fields": [...], "match": [...], "rules": [...]}
	for rule in _rules_of(doctype):
		for cond_fields, cond_match in _conditions(rule):
			touching = [i for i, g in enumerate(groups) if set(g["fields"]) & set(cond_fields)]
			merged = {"fields": [], "match": [], "rules": []}
			for i in touching:
				for k in merged:
					merged[k] += [x for x in groups[i][k] if x not in merged[k]]
			merged["fields"] += [f for f in cond_fields if f not in merged["fields"]]
			if cond_match not in merged["match"]:
				merged["match"].append(cond_match)
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
	return out + scope_inputs(doctype)


def _scope_fields(doctype: str) -> dict[str, list[str]]:
	"""{field: rule names} of the plain fields that scope the enabled rules of ``doctype``: "Search within"
	scope fields and the fields of "Applies when" filters. The page asks for them so that a rep's query is
	answered by the rules that would apply to the record typed, within the same scope as a save."""
	comp = compiled()
	out: dict[str, list[str]] = {}
	for rule in _rules_of(doctype):
		cfg = comp.rules.get(rule.name) or {}
		paths = list(getattr(rule, "within", ())) + scope.paths(doctype, cfg.get("applies") or [])
		for f in paths:
			if "." not in f and rule.name not in out.setdefault(f, []):
				out[f].append(rule.name)
	return out


def scope_inputs(doctype: str) -> list[QueryInput]:
	out = []
	for f, rules in _scope_fields(doctype).items():
		df = frappe.get_meta(doctype).get_field(f)
		fieldtype = df.fieldtype if df and df.fieldtype in ("Link", "Select", "Date") else "Data"
		out.append(
			QueryInput(
				key=f,
				label=field_label(doctype, f),
				match_types=["scope"],
				fields={doctype: [f]},
				description=_("Scope: only the rules that apply to this value answer, and only within it"),
				rules=rules,
				fieldtype=fieldtype,
				options=(df.options or "") if fieldtype in ("Link", "Select") else "",
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
			for cond_fields, cond_match in _conditions(rule):
				if cond_match in SEMANTIC_TYPES:
					key, label = cond_match, _(MATCH_TYPE_LABELS[cond_match])
				else:
					key = f"{cond_match}:{','.join(cond_fields)}"
					label = _group_label(dt, list(cond_fields))
				qi = inputs.get(key)
				if qi is None:
					qi = inputs[key] = QueryInput(key=key, label=label, match_types=[cond_match])
				fields = qi.fields.setdefault(dt, [])
				fields += [f for f in cond_fields if f not in fields]
				if rule.name not in qi.rules:
					qi.rules.append(rule.name)
	for dt in doctypes:
		for f, rules in _scope_fields(dt).items():
			qi = inputs.get(f"scope:{f}")
			if qi is None:
				(one,) = [q for q in scope_inputs(dt) if q.key == f]
				qi = inputs[f"scope:{f}"] = QueryInput(
					key=f"scope:{f}",
					label=one.label,
					match_types=["scope"],
					fieldtype=one.fieldtype,
					options=one.options,
				)
			qi.fields.setdefault(dt, [f])
			qi.rules += [r for r in rules if r not in qi.rules]
	for qi in inputs.values():
		qi.description = ", ".join(_(dt) for dt in qi.fields)
	# a stable order whatever the rule priorities: the kinds of value a rep has at hand first
	order = {t: i for i, t in enumerate(SEMANTIC_TYPES)}
	return sorted(inputs.values(), key=lambda qi: order.get(qi.key, len(order)))
