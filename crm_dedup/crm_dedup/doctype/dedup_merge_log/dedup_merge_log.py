# Copyright (c) 2026, crm_dedup contributors
# For license information, please see license.txt

import json

import frappe
from frappe import _
from frappe.model.document import Document

from crm_dedup.core.roles import is_manager


class DedupMergeLog(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		change_count: DF.Int
		changes: DF.Code | None
		chosen_values: DF.Code | None
		error: DF.Code | None
		job_id: DF.Data | None
		merged_by: DF.Link | None
		merged_doctype: DF.Link
		merged_names: DF.SmallText | None
		merged_on: DF.Datetime | None
		merged_records: DF.Code | None
		relinked_count: DF.Int
		snapshot: DF.Code | None
		status: DF.Literal["Queued", "Merged", "Failed", "Undone"]
		summary: DF.Code | None
		survivor: DF.DynamicLink
		undo_report: DF.SmallText | None
		undone_by: DF.Link | None
		undone_on: DF.Datetime | None
	# end: auto-generated types

	def onload(self) -> None:
		self.set_onload("can_undo", self.status == "Merged" and is_manager())
		self.set_onload("survivor_exists", bool(frappe.db.exists(self.merged_doctype, self.survivor)))

	def validate(self) -> None:
		for fieldname in ("merged_records", "chosen_values", "changes", "snapshot", "summary"):
			value = self.get(fieldname)
			if value:
				try:
					json.loads(value)
				except ValueError:
					frappe.throw(
						_("{0} must be valid JSON.").format(_(self.meta.get_label(fieldname))),
						title=_("Invalid merge log"),
					)

	def on_trash(self) -> None:
		if self.status == "Merged" and not frappe.flags.in_test:
			frappe.msgprint(
				_(
					"This log held the only copy of the merged-away records; the merge can no longer be undone."
				),
				alert=True,
			)
