// Desk bundle of crm_dedup, loaded on every desk page (hooks.app_include_js).
import "./dedup_form.js"; // save-time Warn dialog (core)
import "./merge.js"; // "Merge duplicates…" on forms and list views (merge)
import "./duplicate_indicator.js"; // "重复 / Duplicate" indicator on forms and lists (scans)
import "./ownership.js"; // public pool indicator, Claim, live ownership alerts (ownership)
