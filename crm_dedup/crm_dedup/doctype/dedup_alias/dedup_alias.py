# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt
"""Company aliases (北大 ≡ 北京大学, 工行 ≡ 中国工商银行, a brand ≡ its legal name) for company-name matching and
its keys. A change clears the rule configuration and rebuilds the key index in the background (company-name
keys depend on the aliases)."""

from __future__ import annotations

import frappe
from frappe import _
from frappe.model.document import Document

from crm_dedup.core.config import clear_cache
from crm_dedup.engine import RuleError, RuleSet
from crm_dedup.rules.rebuild import enqueue_rebuild


class DedupAlias(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		alias: DF.Data
		canonical: DF.Data
		note: DF.SmallText | None
	# end: auto-generated types

	def validate(self) -> None:
		self.alias = (self.alias or "").strip()
		self.canonical = (self.canonical or "").strip()
		if self.alias == self.canonical:
			frappe.throw(_("An alias must differ from the name it stands for"), title=_("Invalid alias"))
		try:
			RuleSet.from_dict(
				{
					"options": {"aliases": [[self.alias, self.canonical]]},
					"rules": [{"name": "check", "conditions": [{"fields": ["x"], "match": "exact"}]}],
				}
			)
		except RuleError as e:
			frappe.throw(str(e), title=_("Invalid alias"))

	def on_update(self) -> None:
		self._changed()

	def on_trash(self) -> None:
		self._changed()

	def _changed(self) -> None:
		clear_cache()
		if not (frappe.flags.in_test or frappe.flags.in_import):
			enqueue_rebuild(None)
