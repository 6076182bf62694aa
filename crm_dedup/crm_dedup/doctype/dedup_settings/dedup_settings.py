# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt

from __future__ import annotations

import frappe
from frappe import _
from frappe.model.document import Document

from crm_dedup.core.config import clear_cache, placeholder_options
from crm_dedup.core.roles import require_manager
from crm_dedup.engine import RuleError, RuleSet
from crm_dedup.ownership import policy as ownership
from crm_dedup.rules.fields import resolve_path
from crm_dedup.rules.rebuild import enqueue_rebuild


class DedupSettings(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		from crm_dedup.crm_dedup.doctype.dedup_override_role.dedup_override_role import DedupOverrideRole
		from crm_dedup.crm_dedup.doctype.dedup_owner_field.dedup_owner_field import DedupOwnerField
		from crm_dedup.crm_dedup.doctype.dedup_ownership_policy.dedup_ownership_policy import (
			DedupOwnershipPolicy,
		)
		from crm_dedup.crm_dedup.doctype.dedup_placeholder.dedup_placeholder import DedupPlaceholder

		alert_claim: DF.Check
		alert_dispute: DF.Check
		alert_release: DF.Check
		alert_routed: DF.Check
		builtin_placeholders: DF.Check
		default_phone_region: DF.Data | None
		enabled: DF.Check
		lock_timeout: DF.Int
		notify_owner: DF.Check
		override_roles: DF.Table[DedupOverrideRole]
		owner_fields: DF.Table[DedupOwnerField]
		ownership_policies: DF.Table[DedupOwnershipPolicy]
		placeholders: DF.Table[DedupPlaceholder]
		query_rate_limit: DF.Int
		scan_doctypes: DF.SmallText | None
		scan_frequency: DF.Literal["Never", "Daily", "Weekly"]
		set_threshold: DF.Float
	# end: auto-generated types

	def validate(self) -> None:
		region = (self.default_phone_region or "").strip().upper()
		if region and (len(region) != 2 or not region.isalpha()):
			frappe.throw(
				_("Default Phone Region must be a two-letter country code such as CN, got {0}").format(
					self.default_phone_region
				),
				title=_("Invalid settings"),
			)
		self.default_phone_region = region or "CN"
		if self.query_rate_limit is not None and self.query_rate_limit < 0:
			frappe.throw(_("Queries per User per Hour cannot be negative"), title=_("Invalid settings"))
		if self.set_threshold is not None and not 0 <= self.set_threshold <= 101:
			frappe.throw(_("Set Threshold must be between 0 and 101"), title=_("Invalid settings"))
		if self.lock_timeout is not None and self.lock_timeout < 0:
			frappe.throw(_("Lock Wait cannot be negative"), title=_("Invalid settings"))
		seen = set()
		for row in self.owner_fields:
			if row.ref_doctype in seen:
				frappe.throw(
					_("Owner Fields row {0}: {1} is listed twice").format(row.idx, _(row.ref_doctype)),
					title=_("Invalid settings"),
				)
			seen.add(row.ref_doctype)
			path = (row.owner_field or "").strip()
			row.owner_field = path
			if path:
				df, error = resolve_path(row.ref_doctype, path)
				if error:
					frappe.throw(
						_("Owner Fields row {0}: {1}").format(row.idx, error), title=_("Invalid settings")
					)
		for line in (self.scan_doctypes or "").splitlines():
			if line.strip() and not frappe.db.exists("DocType", line.strip()):
				frappe.throw(
					_("DocTypes to Scan: {0} does not exist").format(line.strip()),
					title=_("Invalid settings"),
				)

		self.validate_placeholders()
		if errors := ownership.policy_errors(self.ownership_policies):
			frappe.throw("<br>".join(errors), title=_("Invalid settings"))

	def validate_placeholders(self) -> None:
		for row in self.placeholders:
			row.value = (row.value or "").strip()
			row.field_path = (row.field_path or "").strip()
		try:
			RuleSet.from_dict(
				{
					"options": {"placeholders": placeholder_options(self)},
					"rules": [{"name": "check", "conditions": [{"fields": ["x"], "match": "exact"}]}],
				}
			)
		except RuleError as e:
			frappe.throw(_("Placeholders: {0}").format(str(e)), title=_("Invalid settings"))

	def on_update(self) -> None:
		clear_cache()
		ownership.clear()
		ownership.ensure_fields([row.ref_doctype for row in self.ownership_policies])
		before = self.get_doc_before_save()
		if (
			before is not None
			and not (
				self.flags.crm_dedup_no_rebuild or frappe.flags.crm_dedup_no_rebuild
			)  # the caller rebuilds
			and placeholder_options(before) != placeholder_options(self)
		):
			# keys of values that are placeholders now (or no longer) must go (or come back)
			enqueue_rebuild(None)
			frappe.msgprint(
				_("Placeholders changed: the key index is being rebuilt in the background."),
				alert=True,
				indicator="blue",
			)

	@frappe.whitelist()
	def rebuild_index(self) -> None:
		require_manager(_("rebuild the duplicate index"))
		enqueue_rebuild(None)
