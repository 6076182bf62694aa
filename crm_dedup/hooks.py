app_name = "crm_dedup"
app_title = "CRM Dedup"
app_publisher = "crm_dedup contributors"
app_description = "Duplicate detection and merge for ERPNext CRM (撞单 prevention)"
app_email = "dev@crm-dedup.invalid"
app_license = "MIT"

# ---- install / migrate -------------------------------------------------------------------------------
after_install = "crm_dedup.install.after_install"
after_migrate = "crm_dedup.install.after_migrate"

# ---- assets ------------------------------------------------------------------------------------------
# One desk bundle: form warn dialog, merge actions, duplicate indicators (see public/js/*.js)
app_include_js = "crm_dedup.bundle.js"

# ---- save-time checks and key-index maintenance (crm_dedup.checks) ---------------------------------
# "*" because an admin may put a rule on any doctype; each handler returns at once (cached map) for
# doctypes that no enabled rule touches.
doc_events = {
	"*": {
		"before_insert": ["crm_dedup.checks.events.before_insert"],
		"before_validate": ["crm_dedup.checks.events.before_validate"],
		"validate": ["crm_dedup.checks.events.validate"],
		"on_update": [
			"crm_dedup.checks.events.on_update",
			"crm_dedup.ownership.routing.on_update",
			"crm_dedup.ownership.disputes.on_update_review",
		],
		"on_change": ["crm_dedup.checks.events.on_change"],
		"on_trash": ["crm_dedup.checks.events.on_trash", "crm_dedup.ownership.disputes.on_trash_record"],
		"after_rename": ["crm_dedup.checks.events.after_rename"],
	},
	# rules may read the fields of a record's linked Contacts / Addresses (crm_dedup.core.related)
	"Contact": {
		"on_update": ["crm_dedup.core.related_index.reindex_parties"],
		"after_delete": ["crm_dedup.core.related_index.reindex_parties"],
	},
	"Address": {
		"on_update": ["crm_dedup.core.related_index.reindex_parties"],
		"after_delete": ["crm_dedup.core.related_index.reindex_parties"],
	},
	"Dedup Rule": {
		"on_update": ["crm_dedup.core.config.clear_cache"],
		"on_trash": ["crm_dedup.core.config.clear_cache"],
	},
	# a completed merge closes the duplicate sets of its records (crm_dedup.scans.review)
	"Dedup Merge Log": {
		"on_update": [
			"crm_dedup.scans.review.on_merge_log",
			"crm_dedup.ownership.disputes.on_merge_log",
		]
	},
}

# key locks of a save outlive the commits its hooks make, never its request or job (crm_dedup.core.guard)
after_request = ["crm_dedup.core.guard.end_of_request"]
after_job = ["crm_dedup.core.guard.end_of_request"]

# Dedup Key / Dedup Collision Log rows point at records but must never stop one from being deleted
ignore_links_on_delete = ["Dedup Key", "Dedup Collision Log"]
# a merge log (its survivor is a Dynamic Link) never stops that record from being deleted (crm_dedup.merge)
ignore_links_on_delete += ["Dedup Merge Log"]
# scan results and "not a duplicate" pairs keep pointing at merged-away / deleted records and rules
ignore_links_on_delete += [
	"Dedup Scan",
	"Duplicate Set",
	"Duplicate Set Member",
	"Duplicate Set Pair",
	"Dedup Not Duplicate",
]

# ---- batch scans (crm_dedup.scans.start) ---------------------------------------------------------------
scheduler_events = {
	"daily": ["crm_dedup.scans.start.run_scheduled_daily", "crm_dedup.ownership.pool.run_daily"],
	"weekly": ["crm_dedup.scans.start.run_scheduled_weekly"],
	# the key index follows writes that bypass doc events (crm_dedup.rules.reconcile)
	"cron": {"*/10 * * * *": ["crm_dedup.rules.reconcile.run_incremental"]},
	# a scan whose worker was killed is resumed where it stopped (crm_dedup.scans.jobs.resume)
	"all": ["crm_dedup.scans.jobs.resume_stalled"],
	"daily_long": ["crm_dedup.rules.reconcile.run_full"],
}

# ---- Data Import dry run (crm_dedup.checks.data_import)---------------------------------------------------
doctype_js = {"Data Import": "public/js/data_import.js"}

# ---- collision query (crm_dedup.collision_query) -------------------------------------------------------
# per-user query counters must survive `bench clear-cache` / frappe.clear_cache(), like Frappe's own rate limits (crm_dedup.core.ratelimit)
persistent_cache_keys = ["crm_dedup:rate:*"]
# query logs (Link to User) never stop a user from being deleted
ignore_links_on_delete += ["Dedup Query Log"]
ignore_links_on_delete += ["Dedup Ownership Log", "Dedup Dispute"]
