# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt

from frappe.model.document import Document


class DedupCollisionLog(Document):
	"""A Block / Warn / Log only collision at save time (written by crm_dedup.checks)."""

	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		action: DF.Literal["Block", "Warn", "Log only"]
		attempted_at: DF.Datetime | None
		attempted_by: DF.Link | None
		event: DF.Literal["Insert", "Edit", "Import"]
		existing_doctype: DF.Link | None
		existing_name: DF.DynamicLink | None
		existing_owner: DF.Link | None
		existing_title: DF.Data | None
		explanation: DF.Code | None
		matched_fields: DF.SmallText | None
		name: DF.Int | None
		outcome: DF.Literal[
			"Blocked", "Warned", "Saved Anyway", "Logged", "Import Rejected", "Import Flagged"
		]
		ref_doctype: DF.Link | None
		ref_name: DF.Data | None
		ref_title: DF.Data | None
		rule: DF.Link | None
		score: DF.Float
		source: DF.Literal["Desk", "API", "Data Import", "Background Job", "Script"]
	# end: auto-generated types

	pass
