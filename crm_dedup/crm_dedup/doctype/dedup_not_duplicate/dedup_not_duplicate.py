# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt

import frappe
from frappe import _
from frappe.model.document import Document
from frappe.utils import now_datetime

from crm_dedup.core.pairs import is_not_duplicate


class DedupNotDuplicate(Document):
	"""A pair of records someone confirmed are not duplicates: scans skip it, save-time checks ignore it."""

	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		doctype_a: DF.Link
		doctype_b: DF.Link
		duplicate_set: DF.Link | None
		marked_at: DF.Datetime | None
		marked_by: DF.Link | None
		name_a: DF.DynamicLink
		name_b: DF.DynamicLink
		reason: DF.SmallText | None
	# end: auto-generated types

	def before_validate(self):
		self.flags.ignore_links = True  # the records may later be merged away

	def validate(self):
		if (self.doctype_a, self.name_a) == (self.doctype_b, self.name_b):
			frappe.throw(_("A record cannot be a duplicate of itself."))
		# one order for every pair
		if (self.doctype_b, self.name_b) < (self.doctype_a, self.name_a):
			self.doctype_a, self.name_a, self.doctype_b, self.name_b = (
				self.doctype_b,
				self.name_b,
				self.doctype_a,
				self.name_a,
			)
		if self.is_new() and is_not_duplicate(self.doctype_a, self.name_a, self.doctype_b, self.name_b):
			frappe.throw(
				_("{0} {1} and {2} {3} are already marked as not duplicates.").format(
					_(self.doctype_a), self.name_a, _(self.doctype_b), self.name_b
				),
				frappe.DuplicateEntryError,
			)
		self.marked_by = self.marked_by or frappe.session.user
		self.marked_at = self.marked_at or now_datetime()
