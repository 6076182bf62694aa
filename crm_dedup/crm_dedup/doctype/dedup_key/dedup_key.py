# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt

from frappe.model.document import Document


class DedupKey(Document):
	"""One blocking key of one record under one rule (written by crm_dedup.core.guard, never by hand)."""

	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		blocking_key: DF.Data | None
		name: DF.Int | None
		ref_doctype: DF.Link | None
		ref_name: DF.DynamicLink | None
		rule: DF.Link | None
	# end: auto-generated types

	pass
