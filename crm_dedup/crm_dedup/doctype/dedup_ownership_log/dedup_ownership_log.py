# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt

from frappe.model.document import Document


class DedupOwnershipLog(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		at: DF.Datetime | None
		detail: DF.SmallText | None
		event: DF.Literal[
			"Claimed", "Claim Refused", "Released", "Release Warned", "Routed", "Routed to Fallback"
		]
		existing_doctype: DF.Link | None
		existing_name: DF.DynamicLink | None
		name: DF.Int | None
		new_owner: DF.Link | None
		previous_owner: DF.Link | None
		ref_doctype: DF.Link | None
		ref_name: DF.DynamicLink | None
		rule: DF.Link | None
		user: DF.Link | None
	# end: auto-generated types

	pass
