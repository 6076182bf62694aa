# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt

import frappe
from frappe import _
from frappe.model.document import Document

from crm_dedup.core.roles import require_manager
from crm_dedup.scans.jobs import resume as resume_scan
from crm_dedup.scans.queue import scan_alive
from crm_dedup.scans.start import DEFAULT_CHUNK, plan, start_scan


class DedupScan(Document):
	"""One batch duplicate scan of a DocType (or of every DocType with rules); run by crm_dedup.scans.jobs."""

	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		chunk_size: DF.Int
		compared: DF.Int
		duration: DF.Float
		error: DF.Code | None
		finished_at: DF.Datetime | None
		job_id: DF.Data | None
		jobs: DF.Int
		pairs: DF.Int
		progress: DF.Percent
		progress_message: DF.Data | None
		records: DF.Int
		rule: DF.Link | None
		scan_doctype: DF.Link | None
		sets_found: DF.Int
		sets_new: DF.Int
		sets_resolved: DF.Int
		sets_updated: DF.Int
		skipped_pairs: DF.Int
		started_at: DF.Datetime | None
		state: DF.Code | None
		status: DF.Literal["Not Started", "Queued", "Running", "Completed", "Failed"]
		summary: DF.Code | None
		triggered_by: DF.Literal["Manual", "Rule", "Schedule"]
	# end: auto-generated types

	def validate(self):
		if self.chunk_size is None or self.chunk_size < 0:
			self.chunk_size = DEFAULT_CHUNK
		if self.is_new() or self.has_value_changed("scan_doctype") or self.has_value_changed("rule"):
			plan(self.scan_doctype, self.rule)  # throws a clear message when nothing would be scanned

	def on_trash(self):
		if self.status in ("Queued", "Running") and scan_alive(self.name):
			frappe.throw(_("Scan {0} is still running.").format(self.name), title=_("Running"))

	@frappe.whitelist()
	def start(self):
		return start_scan(self.name)

	@frappe.whitelist()
	def resume(self) -> str:
		"""Resumes a scan whose worker died (what the scheduler does every few minutes), or says it runs."""
		require_manager(_("scan for duplicates"))
		frappe.has_permission("Dedup Scan", "write", self.name, throw=True)
		what = resume_scan(self.name)
		if what is None:
			return _("The scan is still running (or waiting for a worker); nothing to resume.")
		return _("Resumed: {0}").format(what)
