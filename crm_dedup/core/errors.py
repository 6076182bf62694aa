# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt
"""The exceptions a save can end with (the form script and the REST API tell them apart by class)."""

import frappe


class DedupDuplicateError(frappe.DuplicateEntryError):
	"""A Block rule matched an existing record; the save is refused."""


class DedupWarning(frappe.ValidationError):
	"""A Warn rule matched an existing record and the user did not (or may not) choose "Save anyway"."""


class DedupBusyError(frappe.ValidationError):
	"""Another transaction holds the lock on one of the record's keys for too long."""
