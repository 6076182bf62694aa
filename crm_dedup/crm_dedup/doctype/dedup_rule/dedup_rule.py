# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt

from __future__ import annotations

import json

import frappe
from frappe import _
from frappe.model.document import Document

from crm_dedup.core import config as rule_config
from crm_dedup.core import scope
from crm_dedup.core.roles import MANAGER_ROLE, is_manager, require_manager
from crm_dedup.engine import RuleError, RuleSet
from crm_dedup.rules import rebuild as index_rebuild
from crm_dedup.rules.fields import check_condition_field, resolve_path
from crm_dedup.rules.training import enqueue_training

# a rebuild of up to this many records runs inside the save; larger ones go to a background job
INLINE_REBUILD_LIMIT = 5000


class DedupRule(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		from crm_dedup.crm_dedup.doctype.dedup_rule_condition.dedup_rule_condition import DedupRuleCondition
		from crm_dedup.crm_dedup.doctype.dedup_rule_cross_check.dedup_rule_cross_check import (
			DedupRuleCrossCheck,
		)
		from crm_dedup.crm_dedup.doctype.dedup_smart_comparison.dedup_smart_comparison import (
			DedupSmartComparison,
		)

		action: DF.Literal["Block", "Warn", "Log only"]
		block_probability: DF.Float
		comparisons: DF.Table[DedupSmartComparison]
		kind: DF.Literal["Rules", "Smart"]
		log_probability: DF.Float
		model: DF.Code | None
		model_info: DF.SmallText | None
		warn_probability: DF.Float
		applies_when: DF.Code | None
		apply_on_edit: DF.Check
		apply_on_import: DF.Check
		apply_on_insert: DF.Check
		conditions: DF.Table[DedupRuleCondition]
		cross_checks: DF.Table[DedupRuleCrossCheck]
		description: DF.SmallText | None
		enabled: DF.Check
		index_status: DF.Data | None
		indexed_keys: DF.Int
		is_core: DF.Check
		last_indexed: DF.Datetime | None
		priority: DF.Int
		needs_review: DF.Check
		route_to_owner: DF.Check
		rule_name: DF.Data
		scope_fields: DF.SmallText | None
		scope_summary: DF.Data | None
		search_filter: DF.Code | None
		search_within: DF.Literal["All records", "Same values of fields", "Records matching a filter"]
		target_doctype: DF.Link
	# end: auto-generated types

	def validate(self) -> None:
		self.rule_name = (self.rule_name or "").strip()
		self.check_core_permission()
		if not frappe.db.exists("DocType", self.target_doctype):
			frappe.throw(
				_("Target DocType {0} does not exist").format(self.target_doctype), title=_("Invalid rule")
			)
		if frappe.get_meta(self.target_doctype).istable or frappe.get_meta(self.target_doctype).issingle:
			frappe.throw(
				_(
					"{0} is a child table or a single DocType; a rule needs a DocType with records of its own"
				).format(_(self.target_doctype)),
				title=_("Invalid rule"),
			)
		if self.kind == "Smart":
			errors = self.smart_errors()
		elif not self.conditions:
			frappe.throw(_("Add at least one condition"), title=_("Invalid rule"))
		else:
			errors = self.condition_errors()
		rule_fields = {f for row in self.conditions for f in rule_config.split_fields(row.fields)}
		rule_fields.update(rule_config.rule_doc_to_dict(self).get("within") or ())  # scope fields map too
		seen = set()
		for row in self.cross_checks:
			if row.other_doctype == self.target_doctype:
				errors.append(
					_(
						"Cross check {0}: {1} is the target DocType itself; its records are always checked"
					).format(row.idx, _(row.other_doctype))
				)
				continue
			if row.other_doctype in seen:
				errors.append(_("Cross check {0}: {1} is listed twice").format(row.idx, _(row.other_doctype)))
			seen.add(row.other_doctype)
			try:
				fmap = rule_config.parse_field_map(row.field_map)
			except ValueError as e:
				errors.append(_("Cross check {0}: {1}").format(row.idx, e))
				continue
			if not fmap:
				errors.append(_("Cross check {0}: the field map is empty").format(row.idx))
			for target, paths in fmap.items():
				if target not in rule_fields:
					errors.append(
						_("Cross check {0}: {1} is not a field of any condition of this rule").format(
							row.idx, target
						)
					)
					continue
				match = self._match_of(target)
				for path in paths:
					if error := check_condition_field(row.other_doctype, path, match):
						errors.append(_("Cross check {0}: {1}").format(row.idx, error))
		errors += self.scope_errors()
		errors += self.route_errors()
		if errors:
			frappe.throw(
				"<br>".join(errors),
				title=_("Rule {0} cannot be saved").format(self.rule_name or ""),
				as_list=False,
			)
		try:
			RuleSet.from_dict({"rules": [rule_config.rule_doc_to_dict(self)]})
		except RuleError as e:
			frappe.throw(str(e), title=_("Invalid rule"))

	def smart_errors(self) -> list[str]:
		"""A smart rule: comparisons on fields of the target; no cross checks or same-value scope (yet)."""
		errors: list[str] = []
		if not self.comparisons:
			errors.append(_("Add at least one comparison"))
		for row in self.comparisons:
			fields = rule_config.split_fields(row.fields)
			if not fields:
				errors.append(_("Comparison {0}: choose at least one field").format(row.idx))
			row.fields = ", ".join(fields)
			for path in fields:
				if error := check_condition_field(
					self.target_doctype, path, rule_config.MATCH_TYPES.get(row.compare)
				):
					errors.append(_("Comparison {0}: {1}").format(row.idx, error))
		if [c for c in self.cross_checks if c.enabled]:
			errors.append(_("A smart rule cannot check other DocTypes yet: remove the cross checks"))
		if (self.search_within or "All records") == rule_config.SAME_VALUES:
			errors.append(_("A smart rule cannot search within the same values of fields yet"))
		for action in ("block", "warn", "log"):
			value = self.get(f"{action}_probability")
			if value and not 0 < value < 1:
				errors.append(_("{0} at Probability must be between 0 and 1").format(_(action.title())))
		return errors

	def condition_errors(self) -> list[str]:
		errors: list[str] = []
		for row in self.conditions:
			fields = rule_config.split_fields(row.fields)
			if not fields:
				errors.append(_("Condition {0}: choose at least one field").format(row.idx))
				continue
			row.fields = ", ".join(fields)
			match = rule_config.MATCH_TYPES.get(row.match_type)
			if match == "date_within" and (row.days is None or row.days < 0):
				errors.append(
					_("Condition {0}: Date Within needs Days, a whole number of days >= 0").format(row.idx)
				)
			if match in rule_config.THRESHOLD_TYPES:
				if row.threshold is None or not 0 < row.threshold <= 100:
					errors.append(
						_("Condition {0}: threshold must be between 1 and 100, got {1}").format(
							row.idx, row.threshold
						)
					)
			for path in fields:
				if error := check_condition_field(self.target_doctype, path, match):
					errors.append(_("Condition {0}: {1}").format(row.idx, error))
		return errors

	# ---- scope -----------------------------------------------------------------------------------------
	def check_core_permission(self) -> None:
		"""A core rule, or a rule being made one, is changed only by a Dedup Manager; a branch rule (made by
		anybody else allowed to write rules, e.g. a Sales Manager) must be scoped: it adds to the core rules for
		its own records and cannot be a group-wide rule."""
		if is_manager():
			return
		before = self.get_doc_before_save()
		if self.is_core or (before is not None and before.is_core):
			frappe.throw(
				_(
					"{0} is a core rule of the whole group: only a {1} may change, disable or delete it."
				).format(self.rule_name or self.name, _(MANAGER_ROLE)),
				frappe.PermissionError,
				title=_("Core rule"),
			)
		if not (self.applies_when_filters() or (self.search_within or "All records") != "All records"):
			frappe.throw(
				_(
					"A branch or team rule needs a scope: set Applies When or Search Within. Rules for the whole"
					" group are core rules, kept by a {0}."
				).format(_(MANAGER_ROLE)),
				frappe.PermissionError,
				title=_("Scope needed"),
			)

	def applies_when_filters(self) -> list:
		try:
			return scope.parse(self.applies_when)
		except ValueError:
			return []

	def scope_errors(self) -> list[str]:
		errors = []
		within = self.search_within or "All records"
		filters = {}
		for label, field in ((_("Applies When"), "applies_when"), (_("Search Within"), "search_filter")):
			try:
				filters[field] = scope.parse(self.get(field))
			except ValueError as e:
				errors.append(_("{0}: {1}").format(label, e))
				continue
			if field == "search_filter" and within != rule_config.MATCHING_FILTER:
				continue
			errors += [
				_("{0}: {1}").format(label, e)
				for e in scope.filter_errors(self.target_doctype, filters[field])
			]
		fields = rule_config.split_fields(self.scope_fields)
		if within == rule_config.SAME_VALUES:
			if not fields:
				errors.append(_("Search Within: name at least one scope field (e.g. company, territory)"))
			for f in fields:
				df, error = resolve_path(self.target_doctype, f)
				if error:
					errors.append(_("Scope field {0}: {1}").format(f, error))
			self.scope_fields = ", ".join(fields)
		if within == rule_config.MATCHING_FILTER and not filters.get("search_filter"):
			errors.append(_("Search Within: add at least one filter, or search all records"))
		self.scope_summary = scope.summary(
			filters.get("applies_when") or [], within, fields, filters.get("search_filter") or []
		)[:240]
		return errors

	def route_errors(self) -> list[str]:
		if not self.route_to_owner:
			return []
		if self.action == "Block":
			return [
				_(
					"Route to Existing Owner: a Block rule stops the save, so there is nothing to route; use Warn or Log only"
				)
			]
		field = (rule_config.config()["owner_fields"].get(self.target_doctype) or "").strip()
		if field:
			df, error = resolve_path(self.target_doctype, field)
			if error:
				return [
					_(
						"Route to Existing Owner: the owner field of {0} in Dedup Settings is wrong: {1}"
					).format(_(self.target_doctype), error)
				]
		return []

	def on_trash(self) -> None:
		if self.is_core and not is_manager():
			frappe.throw(
				_("{0} is a core rule of the whole group: only a {1} may delete it.").format(
					self.rule_name or self.name, _(MANAGER_ROLE)
				),
				frappe.PermissionError,
				title=_("Core rule"),
			)
		frappe.db.delete("Dedup Key", {"rule": self.name})
		rule_config.clear_cache()

	def _match_of(self, field: str) -> str:
		for row in self.conditions:
			if field in rule_config.split_fields(row.fields):
				return rule_config.MATCH_TYPES.get(row.match_type)
		return "exact"

	def index_signature(self) -> str:
		"""What the stored keys depend on (a change means the rule's keys must be rebuilt)."""
		return json.dumps(
			{
				"enabled": self.enabled,
				"target": self.target_doctype,
				"rule": {k: v for k, v in rule_config.rule_doc_to_dict(self).items() if k != "model"},
				"cross": [(c.other_doctype, c.field_map, c.enabled) for c in self.cross_checks],
				"within": rule_config.rule_doc_to_dict(self).get("within"),
				"search": self.search_filter if self.search_within == rule_config.MATCHING_FILTER else None,
			},
			sort_keys=True,
			default=str,
		)

	def on_update(self) -> None:
		rule_config.clear_cache()
		before = self.get_doc_before_save()
		if before is not None and before.index_signature() == self.index_signature():
			return
		if self.flags.crm_dedup_no_rebuild or frappe.flags.crm_dedup_no_rebuild:  # the caller rebuilds
			return
		self.schedule_rebuild()

	def schedule_rebuild(self) -> None:
		doctypes = [self.target_doctype] + [c.other_doctype for c in self.cross_checks if c.enabled]
		size = sum(frappe.db.count(dt) for dt in doctypes if frappe.db.exists("DocType", dt))
		if size <= INLINE_REBUILD_LIMIT or frappe.flags.in_test:
			index_rebuild.rebuild(self.name, commit=False, progress=False)
			for f in ("index_status", "last_indexed", "indexed_keys"):
				self.set(f, frappe.db.get_value("Dedup Rule", self.name, f))
		else:
			frappe.db.set_value("Dedup Rule", self.name, "index_status", _("Queued"), update_modified=False)
			index_rebuild.enqueue_rebuild(self.name)

	@frappe.whitelist()
	def train_model(self) -> str:
		"""Trains this smart rule in the background (progress on the form)."""
		require_manager(_("train a smart rule"))
		if self.kind != "Smart":
			frappe.throw(_("Only a rule of kind Smart can be trained"), title=_("Not a smart rule"))
		enqueue_training(self.name)
		return _("Training queued; progress is shown while it runs.")

	@frappe.whitelist()
	def rebuild_index(self) -> None:
		require_manager(_("rebuild the duplicate index"))
		frappe.db.set_value("Dedup Rule", self.name, "index_status", _("Queued"), update_modified=False)
		index_rebuild.enqueue_rebuild(self.name)
