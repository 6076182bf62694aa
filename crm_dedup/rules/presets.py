# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt
"""Rule presets: ready-made rule sets (phones, company name, e-mail, tax id ...) built from the fields a DocType
really has."""

from __future__ import annotations

import json

import frappe
from frappe import _

from crm_dedup.core import scope
from crm_dedup.core.config import MATCH_TYPES, split_fields
from crm_dedup.rules.fields import STANDARD_PATHS, check_condition_field, resolve_path

# ---- presets -----------------------------------------------------------------------------------------
# field roles -> candidate fieldnames, in order of preference (custom fields are found by label too)
ROLE_FIELDS = {
	"company": ["customer_name", "company_name", "organization_name", "supplier_name", "lead_name"],
	"person": ["full_name", "lead_name", "customer_name", "first_name"],
	"contact": ["contact_person", "contact_display", "lead_name", "full_name"],
	"territory": ["territory"],
	"uscc": ["tax_id", "uscc", "unified_social_credit_code", "credit_code"],
	"member_id": ["member_id", "membership_id", "member_no", "loyalty_card_no"],
	"address": ["address_line1", "primary_address", "address", "address_display", "city"],
	"project_address": ["project_address", "address_display", "address_line1", "title"],
	"items": ["items.item_code"],
	"date": ["transaction_date", "posting_date", "creation"],
}
ROLE_LABELS = {
	"uscc": ("统一社会信用代码", "social credit", "uscc"),
	"member_id": ("会员", "member"),
}
PRESETS = {
	"b2b": {
		"label": "B2B: company name + phone + 统一社会信用代码",
		"rules": [
			("统一社会信用代码", "Block", 1, [("uscc", "ID Code", None)]),
			("phone", "Block", 2, [("phones", "Phone", None)]),
			("company name", "Warn", 3, [("company", "Company Name", 90)]),
		],
	},
	"b2c": {
		"label": "B2C: name + mobile + address",
		"rules": [
			("mobile", "Block", 1, [("phones", "Phone", None)]),
			("name + address", "Warn", 2, [("person", "Person Name", 90), ("address", "Fuzzy", 85)]),
		],
	},
	"dealer": {
		"label": "Channel dealers: company + contact + territory",
		"rules": [
			(
				"company + territory",
				"Block",
				1,
				[("company", "Company Name", 92), ("territory", "Exact", None)],
			),
			(
				"company + contact",
				"Warn",
				2,
				[("company", "Company Name", 85), ("contact", "Person Name", 90)],
			),
		],
	},
	"project": {
		"label": "Project 报备: address + items within 30 days",
		# a Warn that needs review: the 八骏 case (different names, same project and products)
		"rules": [
			(
				"project",
				"Warn",
				5,
				[
					("project_address", "Fuzzy Tokens", 85),
					("items", "Set Overlap", 60),
					("date", "Date Within", 30),
				],
			),
		],
		"needs_review": True,
	},
	"ecommerce": {
		"label": "E-commerce: member id + mobile + email",
		"rules": [
			("member id", "Block", 1, [("member_id", "Exact", None)]),
			("mobile", "Block", 2, [("phones", "Phone", None)]),
			("email", "Warn", 3, [("emails", "Email", None)]),
		],
	},
}


def _fields_for(doctype: str, role: str) -> list[str]:
	meta = frappe.get_meta(doctype)
	if role == "phones":
		out = []
		for df in meta.fields:
			if df.fieldtype == "Phone" or (df.fieldtype == "Data" and df.options == "Phone"):
				out.append(df.fieldname)
			elif df.fieldtype in ("Data", "Read Only") and df.fieldname in (
				"mobile_no",
				"phone",
				"phone_no",
				"whatsapp_no",
			):
				out.append(df.fieldname)
			elif df.fieldtype == "Table" and df.options == "Contact Phone":
				out.append(f"{df.fieldname}.phone")
		return list(dict.fromkeys(out))
	if role == "emails":
		out = []
		for df in meta.fields:
			if (df.fieldtype == "Data" and df.options == "Email") or (
				df.fieldtype in ("Data", "Read Only") and df.fieldname in ("email_id", "email")
			):
				out.append(df.fieldname)
			elif df.fieldtype == "Table" and df.options == "Contact Email":
				out.append(f"{df.fieldname}.email_id")
		return list(dict.fromkeys(out))
	for fieldname in ROLE_FIELDS.get(role, []):
		if "." in fieldname or fieldname in STANDARD_PATHS:  # child-table paths, creation
			if resolve_path(doctype, fieldname)[1] is None:
				return [fieldname]
			continue
		df = meta.get_field(fieldname)
		if df and df.fieldtype not in ("Table", "Table MultiSelect"):
			return [fieldname]
	for df in meta.fields:
		label = (df.label or "").lower()
		if any(word.lower() in label for word in ROLE_LABELS.get(role, ())):
			return [df.fieldname]
	return []


SCOPE_KEYS = ("applies_when", "search_within", "scope_fields", "search_filter")


def preset_scope(scope_in: dict | None) -> tuple[dict, str]:
	"""(the Dedup Rule scope fields, a short label for rule names) of a preset applied to one scope."""
	if not scope_in:
		return {}, ""
	values = {k: scope_in.get(k) for k in SCOPE_KEYS if scope_in.get(k)}
	for k in ("applies_when", "search_filter"):
		if isinstance(values.get(k), list | dict):
			values[k] = json.dumps(values[k], ensure_ascii=False)
	label = (scope_in.get("label") or "").strip()
	if not label and values:
		label = scope.summary(
			scope.parse(values.get("applies_when")),
			values.get("search_within"),
			split_fields(values.get("scope_fields")),
			scope.parse(values.get("search_filter")),
		)
	return values, label[:60]


def build_preset(preset: str, target_doctype: str, scope_in: dict | None = None) -> list[dict]:
	"""The rules a preset would create for ``target_doctype``, each limited to ``scope_in`` when given
	(Dedup Rule scope fields plus an optional ``label`` used in the rule names)."""
	spec = PRESETS.get(preset)
	if not spec:
		frappe.throw(_("Unknown preset {0}").format(preset))
	scoped, label = preset_scope(scope_in)
	rules = []
	for title, action, priority, conds in spec["rules"]:
		conditions, missing = [], []
		for role, match_type, threshold in conds:
			fields = [
				f
				for f in _fields_for(target_doctype, role)
				if not check_condition_field(target_doctype, f, MATCH_TYPES[match_type])
			]
			if not fields:
				missing.append(role)
				continue
			row = {"fields": ", ".join(fields), "match_type": match_type, "blank_handling": "Not a Match"}
			if match_type == "Date Within":
				row["days"] = threshold  # the window in days
			elif threshold:
				row["threshold"] = threshold
			conditions.append(row)
		name = f"{target_doctype} {preset.upper()} {title}" + (f" · {label}" if label else "")
		rules.append(
			{
				"rule_name": name,
				"target_doctype": target_doctype,
				"action": action,
				"priority": priority,
				"conditions": conditions,
				"needs_review": 1 if spec.get("needs_review") and action == "Warn" else 0,
				**scoped,
				"missing": missing,
				"exists": bool(frappe.db.exists("Dedup Rule", name)),
			}
		)
	return rules
