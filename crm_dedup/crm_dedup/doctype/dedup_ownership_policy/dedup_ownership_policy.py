# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt

from frappe.model.document import Document


class DedupOwnershipPolicy(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		activity_doctypes: DF.SmallText | None
		fallback_role: DF.Link | None
		fallback_user: DF.Link | None
		first_entry_policy: DF.Literal["Earliest creation", "Earliest activity", "Manager decides"]
		parent: DF.Data
		parentfield: DF.Data
		parenttype: DF.Data
		protection_days: DF.Int
		ref_doctype: DF.Link
		warn_days: DF.Int
	# end: auto-generated types

	pass
