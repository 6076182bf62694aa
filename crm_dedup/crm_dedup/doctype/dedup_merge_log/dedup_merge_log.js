// Copyright (c) 2026, crm_dedup contributors
// For license information, please see license.txt

frappe.ui.form.on("Dedup Merge Log", {
	onload(frm) {
		frappe.realtime.on("crm_dedup_merge_done", (data) => {
			if (data && data.log === frm.doc.name) {
				frm.reload_doc();
			}
		});
	},

	refresh(frm) {
		frm.disable_save();
		render_summary(frm);
		const onload = frm.doc.__onload || {};

		if (frm.doc.survivor && onload.survivor_exists) {
			frm.add_custom_button(__("Open surviving record"), () =>
				frappe.set_route("Form", frm.doc.merged_doctype, frm.doc.survivor)
			);
		}
		if (frm.doc.status === "Merged" && onload.can_undo) {
			frm.add_custom_button(__("Undo merge"), () => undo(frm)).addClass("btn-danger");
		}
		if (frm.doc.status === "Queued") {
			frm.dashboard.set_headline(
				__("This merge is running in the background. The page reloads when it is done.")
			);
		}
	},
});

function undo(frm) {
	const names = (frm.doc.merged_names || "").split("\n").filter(Boolean);
	frappe.confirm(
		__(
			"Restore {0} and point every relinked row back to it? Changes made to the surviving record since the merge are kept.",
			[names.map((n) => frappe.utils.escape_html(n)).join(", ")]
		),
		() => {
			frappe
				.call({
					method: "crm_dedup.merge.api.undo_merge",
					args: { log: frm.doc.name },
					freeze: true,
					freeze_message: __("Undoing merge…"),
				})
				.then((r) => {
					const res = r.message || {};
					frappe.show_alert({
						message: __("Merge undone: restored {0}", [(res.restored || []).join(", ")]),
						indicator: "green",
					});
					if ((res.skipped || []).length) {
						frappe.msgprint({
							title: __("Left as is"),
							message: res.skipped.map((s) => frappe.utils.escape_html(s)).join("<br>"),
							indicator: "orange",
						});
					}
					frm.reload_doc();
				});
		}
	);
}

function render_summary(frm) {
	const wrapper = frm.get_field("summary_html").$wrapper;
	let summary = {};
	try {
		summary = JSON.parse(frm.doc.summary || "{}");
	} catch (e) {
		summary = {};
	}
	const by_doctype = summary.relinked_by_doctype || {};
	const by_kind = summary.by_kind || {};
	const kind_labels = {
		"rec:merged_record": __("Merged-away records (restorable from the snapshot)"),
		"set:link": __("Link fields pointed at the survivor"),
		"set:dynamic": __("Dynamic links pointed at the survivor"),
		"set:data": __("Attachments, versions and other references pointed at the survivor"),
		"del:dedupe": __("Duplicate link rows removed"),
		"set:dedupe": __("Duplicate assignments cancelled / shares combined"),
		"set:survivor": __("Fields of the surviving record changed"),
		"ins:survivor_row": __("Child rows added to the surviving record"),
		"set:survivor_row": __("Child rows of the surviving record changed"),
		"set:fetched": __("Fetched copies refreshed (customer name, title…)"),
		"set:hidden": __("Assignments, comments, likes and tags merged"),
		"set:side_effect": __("Values changed by the survivor's save"),
		"ins:side_effect": __("Rows created by the survivor's save"),
		"set:lead": __("Lead converted / tasks moved"),
		"ins:lead": __("Comments copied, communications, events, contacts and addresses linked"),
	};
	const esc = frappe.utils.escape_html;
	let html = "";
	const kinds = Object.keys(by_kind);
	if (kinds.length) {
		html += `<table class="table table-bordered table-sm"><thead><tr><th>${__(
			"Change"
		)}</th><th style="width: 8em">${__("Rows")}</th></tr></thead><tbody>`;
		for (const k of kinds) {
			html += `<tr><td>${esc(kind_labels[k] || k)}</td><td>${by_kind[k]}</td></tr>`;
		}
		html += "</tbody></table>";
	}
	const doctypes = Object.keys(by_doctype).sort((a, b) => by_doctype[b] - by_doctype[a]);
	if (doctypes.length) {
		html += `<p class="text-muted">${__("Relinked rows by document type")}</p>`;
		html += `<table class="table table-bordered table-sm"><tbody>`;
		for (const dt of doctypes) {
			html += `<tr><td>${esc(__(dt))}</td><td style="width: 8em">${by_doctype[dt]}</td></tr>`;
		}
		html += "</tbody></table>";
	}
	wrapper.html(html || `<p class="text-muted">${__("No changes recorded yet.")}</p>`);
}
