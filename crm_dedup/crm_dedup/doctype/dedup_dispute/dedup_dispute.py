# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt

from __future__ import annotations

import frappe
from frappe import _
from frappe.model.document import Document


class DedupDispute(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		claimant: DF.Link | None
		collision_log: DF.Link | None
		comparison_html: DF.HTML | None
		decided_at: DF.Datetime | None
		decided_by: DF.Link | None
		decision: DF.Literal["", "Keep Owner", "Transfer to Claimant", "Share", "Merge", "Not a Duplicate"]
		decision_note: DF.SmallText | None
		existing_doctype: DF.Link
		existing_name: DF.DynamicLink
		existing_owner: DF.Link | None
		explanation: DF.Code | None
		filed_at: DF.Datetime | None
		hours_to_decision: DF.Float
		kind: DF.Literal["Dispute", "Review"]
		reason: DF.SmallText
		ref_doctype: DF.Link | None
		ref_name: DF.Data | None
		rule: DF.Link | None
		score: DF.Float
		status: DF.Literal["Open", "Decided", "Withdrawn"]
		suggested: DF.Data | None
		values_tried: DF.Code | None
	# end: auto-generated types

	def validate(self) -> None:
		"""Decisions are made through crm_dedup.ownership.api.decide_dispute only; a claimant may edit the reason
		of an open dispute, nothing else."""
		self.reason = (self.reason or "").strip()
		if not self.reason:
			frappe.throw(_("A reason is required"), title=_("Reason needed"))
		before = self.get_doc_before_save()
		if before is None:
			return
		if before.status != "Open" and self.has_value_changed("reason"):
			frappe.throw(_("Dispute {0} is closed.").format(self.name), title=_("Closed"))
