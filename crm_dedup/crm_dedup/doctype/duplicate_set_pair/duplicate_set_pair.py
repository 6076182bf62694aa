# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt

from frappe.model.document import Document


class DuplicateSetPair(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		action: DF.Data | None
		doctype_a: DF.Link | None
		doctype_b: DF.Link | None
		explanation: DF.SmallText | None
		matched_fields: DF.SmallText | None
		name_a: DF.DynamicLink | None
		name_b: DF.DynamicLink | None
		not_duplicate: DF.Check
		parent: DF.Data
		parentfield: DF.Data
		parenttype: DF.Data
		rule: DF.Link | None
		score: DF.Float
	# end: auto-generated types

	pass
