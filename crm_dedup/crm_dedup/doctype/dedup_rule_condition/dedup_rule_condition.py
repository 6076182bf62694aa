# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt

from frappe.model.document import Document


class DedupRuleCondition(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		blank_handling: DF.Literal["Not a Match", "Ignore"]
		days: DF.Int
		fields: DF.SmallText
		match_type: DF.Literal[
			"Exact", "Normalized", "Company Name", "Person Name", "Phone", "Email", "ID Code", "Fuzzy"
		]
		parent: DF.Data
		parentfield: DF.Data
		parenttype: DF.Data
		threshold: DF.Float
	# end: auto-generated types

	pass
