# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt

from frappe.model.document import Document


class DuplicateSet(Document):
	"""Records that a scan (or a warned import row) found to be likely duplicates of each other."""

	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		from crm_dedup.crm_dedup.doctype.duplicate_set_member.duplicate_set_member import DuplicateSetMember
		from crm_dedup.crm_dedup.doctype.duplicate_set_pair.duplicate_set_pair import DuplicateSetPair

		closed_by: DF.Link | None
		confidence: DF.Literal["Likely", "Possible"]
		first_seen: DF.Datetime | None
		last_seen: DF.Datetime | None
		max_score: DF.Float
		member_count: DF.Int
		members: DF.Table[DuplicateSetMember]
		members_html: DF.HTML | None
		merge_log: DF.Data | None
		pair_count: DF.Int
		pairs: DF.Table[DuplicateSetPair]
		ref_doctype: DF.Link | None
		scan: DF.Link | None
		status: DF.Literal["Open", "Not Duplicate", "Merged", "Resolved"]
		title: DF.Data | None
		top_rule: DF.Link | None
	# end: auto-generated types

	def before_validate(self):
		# members may have been merged away or deleted, a rule may have been deleted: keep the history
		self.flags.ignore_links = True

	def validate(self):
		self.member_count = len(self.members)
		self.pair_count = len(self.pairs)
