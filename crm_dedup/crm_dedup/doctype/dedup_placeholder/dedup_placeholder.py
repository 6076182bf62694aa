# Copyright (c) 2026, crm_dedup contributors
# License: MIT. See license.txt

from frappe.model.document import Document


class DedupPlaceholder(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		field_path: DF.Data | None
		match_type: DF.Literal[
			"Any", "Exact", "Normalized", "Company Name", "Person Name", "Phone", "Email", "ID Code", "Fuzzy"
		]
		parent: DF.Data
		parentfield: DF.Data
		parenttype: DF.Data
		value: DF.Data
	# end: auto-generated types

	pass
