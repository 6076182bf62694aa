// Copyright (c) 2025, crm_dedup contributors
// License: MIT. See license.txt

frappe.ui.form.on("Dedup Scan", {
	setup(frm) {
		frappe.realtime.on("crm_dedup_scan_progress", (data) => {
			if (!data || data.scan !== frm.doc.name) return;
			if (data.done) {
				frm.dashboard.hide_progress();
				frm.reload_doc();
				return;
			}
			if (frm.doc.status === "Queued" && !frm._crm_dedup_reloading) {
				// a worker took the scan: show it Running (once; the bar follows the events)
				frm._crm_dedup_reloading = true;
				frm.reload_doc().then(() => (frm._crm_dedup_reloading = false));
			}
			frm.dashboard.show_progress(__("Scanning"), data.percent || 0, data.message || "");
		});
	},

	refresh(frm) {
		const running = ["Queued", "Running"].includes(frm.doc.status);
		if (!frm.is_new() && !running) {
			frm.add_custom_button(frm.doc.status === "Not Started" ? __("Start") : __("Run again"), () =>
				frm
					.call("start")
					.then(() => frm.reload_doc())
					.then(() => frappe.show_alert({ message: __("Scan queued"), indicator: "blue" })),
			);
			if (frm.doc.status === "Not Started") {
				frm.page.set_primary_action(__("Start"), () =>
					frm.call("start").then(() => frm.reload_doc()),
				);
			}
		}
		if (running && frappe.user.has_role(["Dedup Manager", "System Manager"])) {
			// a scan whose worker was killed is resumed by the scheduler; this does it now
			frm.add_custom_button(__("Resume"), () =>
				frm.call("resume").then((r) =>
					frappe.show_alert({ message: r.message, indicator: "blue" }),
				),
			);
		}
		if (running) {
			frm.dashboard.show_progress(
				__("Scanning"),
				frm.doc.progress || 0,
				frm.doc.progress_message || "",
			);
		}
		if (frm.doc.status === "Completed") {
			frm.dashboard.set_headline_alert(
				__(
					"{0} records, {1} duplicate pairs, {2} duplicate sets ({3} new, {4} updated, {5} resolved) in {6} s",
					[
						frm.doc.records,
						frm.doc.pairs,
						frm.doc.sets_found,
						frm.doc.sets_new,
						frm.doc.sets_updated,
						frm.doc.sets_resolved,
						frm.doc.duration,
					],
				),
				"green",
			);
			frm.add_custom_button(__("Open duplicate sets"), () => {
				const filters = { status: "Open" };
				if (frm.doc.scan_doctype) filters.ref_doctype = frm.doc.scan_doctype;
				frappe.set_route("List", "Duplicate Set", filters);
			});
		}
		if (frm.doc.status === "Failed" && frm.doc.error) {
			frm.dashboard.set_headline_alert(
				frappe.utils.escape_html(frm.doc.error.split("\n")[0]),
				"red",
			);
		}
	},
});
