# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt

from frappe.model.document import Document


class DedupRuleCrossCheck(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		enabled: DF.Check
		field_map: DF.SmallText
		other_doctype: DF.Link
		parent: DF.Data
		parentfield: DF.Data
		parenttype: DF.Data
	# end: auto-generated types

	pass
