"""Whitelisted entry points of the core feature: the form's duplicate check, rule-form helpers, index rebuild.

Every function checks permission first; matching itself happens in the engine via crm_dedup.bridge.
"""

from __future__ import annotations

import json

import frappe
from frappe import _

from crm_dedup import bridge, events, key_index

MANAGER_ROLES = ("System Manager", "Dedup Manager")
CHECKS_PER_HOUR = 1200  # form checks per user per hour (each save of a form with rules makes one)


# ---- the form's check ----------------------------------------------------------------------------------
@frappe.whitelist(methods=["POST"])
def check_duplicates(doc: str | dict) -> dict:
	"""Duplicates of a form's unsaved document, as the Warn dialog shows them (names masked unless readable).

	Called by the desk form before it saves. A Block or Warn result is logged as an attempt (the save is not
	sent); the server-side check on save stays the authority.
	"""
	data = json.loads(doc) if isinstance(doc, str) else dict(doc)
	doctype = data.get("doctype")
	if not doctype or not isinstance(doctype, str):
		frappe.throw(_("A document with a doctype is required"), frappe.ValidationError)
	name = data.get("name")
	is_new = bool(data.get("__islocal")) or not name or not frappe.db.exists(doctype, name)
	frappe.has_permission(doctype, "create" if is_new else "write", doc=None if is_new else name, throw=True)
	_check_rate()

	empty = {"action": None, "matches": [], "can_override": False}
	comp = bridge.compiled()
	event = "insert" if is_new else "edit"
	if not comp.target_rules(doctype, event):
		return empty
	document = frappe.get_doc(data)
	if not is_new:
		before = frappe.get_doc(doctype, name)
		if events.unchanged(before, document, comp.query_fields(doctype, event)):
			return empty
	hits = bridge.find_duplicates(document, doctype, event=event)
	if not hits:
		return empty
	blocks = [h for h in hits if h.action == "block"]
	warns = [h for h in hits if h.action == "warn"]
	shown = blocks or warns or hits
	action = shown[0].action
	if action in ("block", "warn"):
		events.record_collisions(
			document,
			shown,
			"Blocked" if action == "block" else "Warned",
			event,
			survive_rollback=True,
			source="Desk",
		)
	title, message = events.describe(document, shown)
	return {
		"action": action,
		"can_override": action == "warn" and events.can_override(),
		"title": title,
		"message": message,
		"matches": [events.hit_view(doctype, h) for h in shown[:10]],
		"more": max(0, len(shown) - 10),
	}


def _check_rate() -> None:
	key = f"crm_dedup:checks:{frappe.session.user}"
	count = frappe.cache.incrby(frappe.cache.make_key(key), 1)
	if count == 1:
		frappe.cache.expire(frappe.cache.make_key(key), 3600)
	if count > CHECKS_PER_HOUR:
		frappe.throw(_("Too many duplicate checks; please try again later."), frappe.RateLimitExceededError)


@frappe.whitelist()
def dedup_doctypes() -> list[str]:
	"""DocTypes that have an enabled rule (the desk registers its form check for these only)."""
	if frappe.session.user == "Guest":
		frappe.throw(_("Not permitted"), frappe.PermissionError)
	return sorted(bridge.config()["targets"])


# ---- rule form ---------------------------------------------------------------------------------------
def _rule_editor() -> None:
	if not frappe.has_permission("Dedup Rule", "write"):
		frappe.throw(_("Only users who may edit Dedup Rules can do this"), frappe.PermissionError)


@frappe.whitelist()
def field_options(doctype: str) -> list[dict]:
	"""Fields of ``doctype`` a rule condition can use (standard, custom and child-table fields)."""
	_rule_editor()
	if not frappe.db.exists("DocType", doctype):
		frappe.throw(_("DocType {0} does not exist").format(doctype))
	return bridge.field_options(doctype)


@frappe.whitelist()
def check_field(doctype: str, path: str, match_type: str) -> str | None:
	"""The error a condition field would give on save (None when it fits)."""
	_rule_editor()
	return bridge.check_condition_field(doctype, path, bridge.MATCH_TYPES.get(match_type, match_type))


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
		df = meta.get_field(fieldname)
		if df and df.fieldtype not in ("Table", "Table MultiSelect"):
			return [fieldname]
	for df in meta.fields:
		label = (df.label or "").lower()
		if any(word.lower() in label for word in ROLE_LABELS.get(role, ())):
			return [df.fieldname]
	return []


def _build_preset(preset: str, target_doctype: str) -> list[dict]:
	spec = PRESETS.get(preset)
	if not spec:
		frappe.throw(_("Unknown preset {0}").format(preset))
	rules = []
	for title, action, priority, conds in spec["rules"]:
		conditions, missing = [], []
		for role, match_type, threshold in conds:
			fields = [
				f
				for f in _fields_for(target_doctype, role)
				if not bridge.check_condition_field(target_doctype, f, bridge.MATCH_TYPES[match_type])
			]
			if not fields:
				missing.append(role)
				continue
			row = {"fields": ", ".join(fields), "match_type": match_type, "blank_handling": "Not a Match"}
			if threshold:
				row["threshold"] = threshold
			conditions.append(row)
		rules.append(
			{
				"rule_name": f"{target_doctype} {preset.upper()} {title}",
				"target_doctype": target_doctype,
				"action": action,
				"priority": priority,
				"conditions": conditions,
				"missing": missing,
				"exists": bool(frappe.db.exists("Dedup Rule", f"{target_doctype} {preset.upper()} {title}")),
			}
		)
	return rules


@frappe.whitelist()
def get_presets(target_doctype: str) -> list[dict]:
	"""The presets with the rules each would create for ``target_doctype`` (fields found in its meta)."""
	_rule_editor()
	if not frappe.db.exists("DocType", target_doctype):
		frappe.throw(_("DocType {0} does not exist").format(target_doctype))
	return [
		{"preset": key, "label": _(spec["label"]), "rules": _build_preset(key, target_doctype)}
		for key, spec in PRESETS.items()
	]


@frappe.whitelist(methods=["POST"])
def create_preset(preset: str, target_doctype: str) -> list[str]:
	"""Creates the preset's rules for ``target_doctype`` (skipping existing ones and those missing a field)."""
	_rule_editor()
	if not frappe.has_permission("Dedup Rule", "create"):
		frappe.throw(_("Not permitted"), frappe.PermissionError)
	created = []
	for rule in _build_preset(preset, target_doctype):
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
	frappe.only_for(MANAGER_ROLES)
	if rule and not frappe.db.exists("Dedup Rule", rule):
		frappe.throw(_("Dedup Rule {0} does not exist").format(rule))
	if rule:
		frappe.db.set_value("Dedup Rule", rule, "index_status", _("Queued"), update_modified=False)
	key_index.enqueue_rebuild(rule)
	return _("Key index rebuild queued; progress is shown while it runs.")


# ---- placeholders ----------------------------------------------------------------------------------------
@frappe.whitelist(methods=["POST"])
def add_placeholders(doctype: str, values: list | str) -> dict:
	"""Adds values found by the Dedup Common Values report to the placeholders of Dedup Settings (for the
	field they were found in); saving the settings rebuilds the key index in the background."""
	frappe.only_for(MANAGER_ROLES)
	items = frappe.parse_json(values) if isinstance(values, str) else values
	if not isinstance(items, list) or not items:
		frappe.throw(_("Choose at least one value."), title=_("Placeholders"))
	fields = set(bridge.compiled().query_fields(doctype))
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
