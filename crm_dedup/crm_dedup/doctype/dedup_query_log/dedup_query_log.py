# Copyright (c) 2025, crm_dedup contributors
# For license information, please see license.txt

import frappe
from frappe.model.document import Document


class DedupQueryLog(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		hit_count: DF.Int
		hits_summary: DF.Code | None
		inputs: DF.Code | None
		ip_address: DF.Data | None
		masked_hits: DF.Int
		name: DF.Int | None
		queried_at: DF.Datetime | None
		query_doctype: DF.Data | None
		status: DF.Literal["Answered", "Rate Limited"]
		user: DF.Link | None
	# end: auto-generated types

	@staticmethod
	def clear_old_logs(days: int = 180) -> None:
		"""Log Settings hook: drop query logs older than ``days``."""
		from frappe.query_builder import Interval
		from frappe.query_builder.functions import Now

		table = frappe.qb.DocType("Dedup Query Log")
		frappe.db.delete(table, filters=(table.creation < (Now() - Interval(days=days))))
