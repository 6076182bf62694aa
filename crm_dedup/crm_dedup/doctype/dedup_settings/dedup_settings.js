// Copyright (c) 2025, crm_dedup contributors
// License: MIT. See license.txt

frappe.ui.form.on("Dedup Settings", {
	rebuild_index(frm) {
		frappe.confirm(
			__("Rebuild the key index of every enabled rule? It runs in the background."),
			() =>
				frm.call("rebuild_index").then(() =>
					frappe.show_alert({
						message: __("Key index rebuild queued; progress is shown while it runs."),
						indicator: "blue",
					}),
				),
		);
	},
});

// The key index against the records: writes that bypass doc events (set_value, bulk SQL, patches) leave it
// stale until the scheduled reconcile (every 10 minutes by `modified`, daily in full) - or these buttons.
frappe.ui.form.on("Dedup Settings", {
	refresh(frm) {
		if (!frappe.user.has_role(["Dedup Manager", "System Manager"])) return;
		frm.add_custom_button(
			__("Verify Key Index"),
			() =>
				frappe
					.call({
						method: "crm_dedup.rules.reconcile.verify_index",
						args: { full: 1 },
						freeze: true,
						freeze_message: __("Comparing the key index with the records…"),
					})
					.then((r) => crm_dedup_show_reconcile(frm, r.message)),
			__("Key Index"),
		);
		frm.add_custom_button(
			__("Reconcile Now"),
			() =>
				frappe
					.call({
						method: "crm_dedup.rules.reconcile.reconcile_now",
						args: { full: 1 },
						freeze: true,
						freeze_message: __("Bringing the key index up to date…"),
					})
					.then((r) => crm_dedup_show_reconcile(frm, r.message)),
			__("Key Index"),
		);
	},
});

function crm_dedup_show_reconcile(frm, r) {
	const esc = frappe.utils.escape_html;
	if (r.queued) {
		// a large index: the job reports back through a realtime event
		frappe.realtime.off("crm_dedup_reconcile");
		frappe.realtime.on("crm_dedup_reconcile", (report) => crm_dedup_show_reconcile(frm, report));
		frappe.show_alert({
			message: __("{0} records: running in the background; the result appears here when done.", [
				r.records,
			]),
			indicator: "blue",
		});
		return;
	}
	const rows = (r.examples || [])
		.map(
			(e) =>
				`<tr><td>${esc(__(e.doctype))}</td><td>${esc(e.name)}</td><td>${esc(
					(e.missing || []).join(", "),
				)}</td><td class="text-right">${e.stale}</td></tr>`,
		)
		.join("");
	const verified = r.mode === "verify";
	const summary = verified
		? __(
				"{0} records checked in {1} s: {2} with missing or stale keys ({3} missing, {4} stale), {5} keys of records that no longer exist. Nothing was changed.",
				[r.records, r.seconds, r.drifted_records, r.missing_keys, r.stale_keys, r.orphan_keys],
		  )
		: __(
				"{0} records checked in {1} s: {2} brought up to date ({3} keys added, {4} stale keys and {5} keys of deleted records removed).",
				[r.records, r.seconds, r.drifted_records, r.missing_keys, r.stale_keys, r.orphan_keys],
		  );
	frappe.msgprint({
		title: verified ? __("Key Index Verified") : __("Key Index Reconciled"),
		indicator: r.drifted_records || r.orphan_keys ? "orange" : "green",
		message: `<p>${esc(summary)}</p>${
			rows
				? `<table class="table table-sm table-bordered small"><thead><tr><th>${__(
						"Document Type",
				  )}</th><th>${__("Record")}</th><th>${__("Missing keys")}</th><th>${__(
						"Stale",
				  )}</th></tr></thead><tbody>${rows}</tbody></table>`
				: ""
		}`,
		wide: true,
	});
}
