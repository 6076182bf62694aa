"""after_install / after_migrate: idempotent setup.

Core (#3): role Dedup Manager, default Dedup Settings, Dedup Key indexes. Other features add their own
idempotent ``_setup_*`` function below and one call line in ``_setup``.
"""

from __future__ import annotations

import frappe

from crm_dedup.core.config import clear_cache
from crm_dedup.core.roles import DEFAULT_OVERRIDE_ROLES
from crm_dedup.core.roles import MANAGER_ROLE as ROLE
from crm_dedup.engine import KEY_VERSION
from crm_dedup.ownership.policy import ensure_fields
from crm_dedup.rules.rebuild import enqueue_rebuild

# (doctype, owner field): "" means no field of its own (owner of a linked party, assigned user, creator)
DEFAULT_OWNER_FIELDS = (("Customer", "account_manager"), ("Lead", "lead_owner"), ("Contact", ""))
KEY_INDEXES = {
	# covering index of every lookup: (rule, key) -> names of one doctype
	"dedup_rule_key_ref": ("rule", "blocking_key", "ref_doctype", "ref_name"),
	# maintenance: all keys of one record
	"dedup_ref": ("ref_doctype", "ref_name"),
}


def after_install() -> None:
	_setup()


def after_migrate() -> None:
	_setup()


def _setup() -> None:
	_setup_core()
	_setup_ownership()


def _setup_ownership() -> None:
	"""The public-pool fields on every DocType with an ownership policy (kept after a migrate), and the alert
	switches on (a Single stores no row for a field added later, which would read as off)."""
	if not frappe.db.sql(
		"select 1 from `tabSingles` where doctype='Dedup Settings' and field='set_threshold'"
	):
		frappe.db.set_single_value("Dedup Settings", "set_threshold", 95)
	for field in ("alert_routed", "alert_release", "alert_claim", "alert_dispute"):
		if not frappe.db.sql("select 1 from `tabSingles` where doctype='Dedup Settings' and field=%s", field):
			frappe.db.set_single_value("Dedup Settings", field, 1)
	if frappe.db.table_exists("Dedup Ownership Policy"):
		ensure_fields(frappe.get_all("Dedup Ownership Policy", pluck="ref_doctype", distinct=True))


def _setup_core() -> None:
	_ensure_role()
	_ensure_settings()
	_ensure_placeholder_default()
	_ensure_key_indexes()
	_ensure_key_version()
	clear_cache()


def _ensure_placeholder_default() -> None:
	"""A site that had Dedup Settings before the placeholder lists existed gets them switched on (a Single
	stores no row for a field added later, and a later save would store the missing Check as 0)."""
	stored = frappe.db.sql(
		"select value from `tabSingles` where doctype='Dedup Settings' and field='builtin_placeholders'"
	)
	if not stored:
		frappe.db.set_single_value("Dedup Settings", "builtin_placeholders", 1)


def _ensure_key_version() -> None:
	"""Stored keys are only valid for the engine version that made them: a new KEY_VERSION (normalisers or
	blocking keys changed) queues a rebuild of the whole index, once."""
	stored = frappe.db.get_global("crm_dedup_key_version")
	if stored == str(KEY_VERSION):
		return
	frappe.db.set_global("crm_dedup_key_version", str(KEY_VERSION))
	if stored is not None and frappe.db.count("Dedup Key"):
		enqueue_rebuild()


def _ensure_role() -> None:
	if not frappe.db.exists("Role", ROLE):
		frappe.get_doc({"doctype": "Role", "role_name": ROLE, "desk_access": 1}).insert(
			ignore_permissions=True
		)


def _ensure_settings() -> None:
	settings = frappe.get_single("Dedup Settings")
	changed = False
	if not frappe.db.get_single_value("Dedup Settings", "default_phone_region"):
		settings.default_phone_region = "CN"
		changed = True
	if not settings.owner_fields:
		for doctype, fieldname in DEFAULT_OWNER_FIELDS:
			if frappe.db.exists("DocType", doctype):
				settings.append("owner_fields", {"ref_doctype": doctype, "owner_field": fieldname})
				changed = True
	if not settings.override_roles:
		for role in DEFAULT_OVERRIDE_ROLES:
			if frappe.db.exists("Role", role):
				settings.append("override_roles", {"role": role})
				changed = True
	stored = frappe.db.get_singles_dict("Dedup Settings")
	for fieldname, default in (
		("enabled", 1),
		("notify_owner", 1),
		("lock_timeout", 10),
		("query_rate_limit", 60),
		("scan_frequency", "Never"),
	):
		if fieldname not in stored:
			settings.set(fieldname, default)
			changed = True
	if changed:
		settings.flags.ignore_permissions = True
		settings.save()


def _ensure_key_indexes() -> None:
	table = "tabDedup Key"
	existing = {
		row[2]
		for row in frappe.db.sql(f"show index from `{table}`")  # (table, non_unique, key_name, ...)
	}
	for name, columns in KEY_INDEXES.items():
		if name in existing:
			continue
		cols = ", ".join(f"`{c}`" for c in columns)
		frappe.db.sql_ddl(f"alter table `{table}` add index `{name}` ({cols})")
