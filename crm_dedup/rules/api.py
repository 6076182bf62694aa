# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt
"""Whitelisted methods of the rule form: field picker and field check, target DocType search, presets, index
rebuild, and adding values of the Dedup Common Values report to the placeholders."""

from __future__ import annotations

import json

import frappe
from frappe import _

from crm_dedup.core.config import MATCH_TYPES, compiled
from crm_dedup.core.roles import require_manager
from crm_dedup.rules import fields as rule_fields
from crm_dedup.rules.presets import PRESETS, build_preset
from crm_dedup.rules.rebuild import enqueue_rebuild


def _rule_editor() -> None:
	if not frappe.has_permission("Dedup Rule", "write"):
		frappe.throw(_("Only users who may edit Dedup Rules can do this"), frappe.PermissionError)


@frappe.whitelist()
def field_options(doctype: str) -> list[dict]:
	"""Fields of ``doctype`` a rule condition can use (standard, custom and child-table fields)."""
	_rule_editor()
	if not frappe.db.exists("DocType", doctype):
		frappe.throw(_("DocType {0} does not exist").format(doctype))
	return rule_fields.field_options(doctype)


@frappe.whitelist()
def check_field(doctype: str, path: str, match_type: str) -> str | None:
	"""The error a condition field would give on save (None when it fits)."""
	_rule_editor()
	return rule_fields.check_condition_field(doctype, path, MATCH_TYPES.get(match_type, match_type))


@frappe.whitelist()
@frappe.validate_and_sanitize_search_inputs
def target_doctype_query(
	doctype: str, txt: str, searchfield: str, start: int, page_len: int, filters: dict | None = None
) -> list[tuple]:
	"""Link search for a rule's target: Customer, Contact, Lead first, then any other DocType with records."""
	_rule_editor()
	preset = [dt for dt in ("Customer", "Contact", "Lead") if frappe.db.exists("DocType", dt)]
	txt = (txt or "").lower()
	first = [(dt,) for dt in preset if txt in dt.lower() or txt in _(dt).lower()]
	dt = frappe.qb.DocType("DocType")
	rows = (
		frappe.qb.from_(dt)
		.select(dt.name)
		.where((dt.istable == 0) & (dt.issingle == 0) & (dt.is_virtual == 0) & (dt.name.like(f"%{txt}%")))
		.where(dt.name.notin(preset or [""]))
		.orderby(dt.name)
		.limit(int(page_len) + int(start))
		.run()
	)
	return (first + [tuple(r) for r in rows])[int(start) : int(start) + int(page_len)]


def _scope_arg(scope: dict | str | None) -> dict | None:
	if isinstance(scope, str):
		scope = json.loads(scope) if scope.strip() else None
	if scope is not None and not isinstance(scope, dict):
		frappe.throw(_("The scope must be an object of Dedup Rule scope fields"), title=_("Invalid scope"))
	return scope


@frappe.whitelist()
def get_presets(target_doctype: str, scope: dict | str | None = None) -> list[dict]:
	"""The presets with the rules each would create for ``target_doctype`` (fields found in its meta),
	limited to ``scope`` when given ({applies_when, search_within, scope_fields, search_filter, label})."""
	_rule_editor()
	if not frappe.db.exists("DocType", target_doctype):
		frappe.throw(_("DocType {0} does not exist").format(target_doctype))
	scope = _scope_arg(scope)
	return [
		{"preset": key, "label": _(spec["label"]), "rules": build_preset(key, target_doctype, scope)}
		for key, spec in PRESETS.items()
	]


@frappe.whitelist(methods=["POST"])
def create_preset(preset: str, target_doctype: str, scope: dict | str | None = None) -> list[str]:
	"""Creates the preset's rules for ``target_doctype`` (skipping existing ones and those missing a field),
	each limited to ``scope`` when given (see ``get_presets``)."""
	_rule_editor()
	if not frappe.has_permission("Dedup Rule", "create"):
		frappe.throw(_("Not permitted"), frappe.PermissionError)
	created = []
	for rule in build_preset(preset, target_doctype, _scope_arg(scope)):
		if rule["exists"] or rule["missing"] or not rule["conditions"]:
			continue
		doc = frappe.get_doc(
			{
				"doctype": "Dedup Rule",
				**{k: v for k, v in rule.items() if k not in ("missing", "exists")},
				"description": _("Created from preset {0}").format(_(PRESETS[preset]["label"])),
			}
		)
		doc.insert()
		created.append(doc.name)
	return created


# ---- index ---------------------------------------------------------------------------------------------
@frappe.whitelist(methods=["POST"])
def rebuild_index(rule: str | None = None) -> str:
	"""Queues a rebuild of the key index (one rule, or all)."""
	require_manager(_("rebuild the duplicate index"))
	if rule and not frappe.db.exists("Dedup Rule", rule):
		frappe.throw(_("Dedup Rule {0} does not exist").format(rule))
	if rule:
		frappe.db.set_value("Dedup Rule", rule, "index_status", _("Queued"), update_modified=False)
	enqueue_rebuild(rule)
	return _("Key index rebuild queued; progress is shown while it runs.")


# ---- placeholders ----------------------------------------------------------------------------------------
@frappe.whitelist(methods=["POST"])
def add_placeholders(doctype: str, values: list | str) -> dict:
	"""Adds values found by the Dedup Common Values report to the placeholders of Dedup Settings (for the
	field they were found in); saving the settings rebuilds the key index in the background."""
	require_manager(_("add placeholders"))
	items = frappe.parse_json(values) if isinstance(values, str) else values
	if not isinstance(items, list) or not items:
		frappe.throw(_("Choose at least one value."), title=_("Placeholders"))
	fields = set(compiled().query_fields(doctype))
	settings = frappe.get_single("Dedup Settings")
	have = {((r.field_path or "").strip(), (r.value or "").strip()) for r in settings.placeholders}
	added = 0
	for item in items:
		field = str((item or {}).get("field") or "").strip()
		value = str((item or {}).get("value") or "").strip()
		if not value:
			continue
		if field not in fields:
			frappe.throw(
				_("No enabled Dedup Rule of {0} reads the field {1}.").format(_(doctype), field),
				title=_("Placeholders"),
			)
		if (field, value) in have:
			continue
		settings.append("placeholders", {"match_type": "Any", "field_path": field, "value": value})
		have.add((field, value))
		added += 1
	if added:
		settings.save()
	return {"added": added}
