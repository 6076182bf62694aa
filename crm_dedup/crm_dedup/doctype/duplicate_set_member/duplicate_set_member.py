# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt

from frappe.model.document import Document


class DuplicateSetMember(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		member_doctype: DF.Link | None
		member_name: DF.DynamicLink | None
		member_title: DF.Data | None
		parent: DF.Data
		parentfield: DF.Data
		parenttype: DF.Data
		record_created: DF.Datetime | None
		record_owner: DF.Link | None
	# end: auto-generated types

	pass
