# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt

from frappe.model.document import Document


class DedupSmartComparison(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		bands: DF.Data | None
		compare: DF.Literal[
			"Exact",
			"Normalized",
			"Company Name",
			"Person Name",
			"Phone",
			"Email",
			"ID Code",
			"Fuzzy",
			"Fuzzy Tokens",
			"Set Overlap",
			"Set Containment",
			"Date Within",
		]
		comparison_name: DF.Data
		days: DF.Data | None
		edits: DF.Data | None
		fields: DF.SmallText
		key_threshold: DF.Float
		parent: DF.Data
		parentfield: DF.Data
		parenttype: DF.Data
		use_for_keys: DF.Check
	# end: auto-generated types

	pass
