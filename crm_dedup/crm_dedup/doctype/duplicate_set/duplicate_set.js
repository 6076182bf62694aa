// Copyright (c) 2025, crm_dedup contributors
// License: MIT. See license.txt

frappe.ui.form.on("Duplicate Set", {
	refresh(frm) {
		frm.disable_save();
		if (frm.doc.status === "Open") {
			// members merged away or deleted since the scan are dropped; a merged set becomes Merged
			frappe
				.xcall("crm_dedup.scans.review.refresh_set", { duplicate_set: frm.doc.name })
				.then((r) => r && r.changed && frm.reload_doc());
		}
		frm.trigger("render_members");
		if (frm.doc.status === "Open" && frm.doc.confidence === "Possible") {
			frm.dashboard.set_headline_alert(
				__(
					"Possible duplicate: paired by one weaker match on one field only. Review it; it is not counted among the duplicate sets.",
				),
				"orange",
			);
		}
		if (frm.doc.status !== "Open") {
			if (frm.doc.status === "Not Duplicate" && frm.has_perm("write") && crm_dedup_is_manager()) {
				frm.add_custom_button(__("Reopen"), () =>
					frappe
						.xcall("crm_dedup.scans.review.reopen_set", { duplicate_set: frm.doc.name })
						.then(() => frm.reload_doc()),
				);
			}
			if (frm.doc.merge_log) {
				frm.add_custom_button(__("Merge log"), () =>
					frappe.set_route("Form", "Dedup Merge Log", frm.doc.merge_log),
				);
			}
			return;
		}
		const names = (frm.doc.members || [])
			.filter((m) => m.member_doctype === frm.doc.ref_doctype)
			.map((m) => m.member_name);
		const merge = window.crm_dedup && window.crm_dedup.merge;
		if (merge && typeof merge.open_dialog === "function" && names.length > 1) {
			const can = typeof merge.can_merge !== "function" || merge.can_merge();
			if (can) {
				const open = () => merge.open_dialog(frm.doc.ref_doctype, names);
				frm.add_custom_button(__("Merge…"), () => {
					// the set becomes Merged when the merge is done (Dedup Merge Log hook, or on refresh)
					if (frm.doc.confidence === "Possible") {
						// one weaker link on one field: the two may be different companies with similar names
						frappe.confirm(
							__(
								"These records are paired by one weaker match on one field only (e.g. similar names). Check that they are the same before merging. Merge anyway?",
							),
							open,
						);
					} else {
						open();
					}
				});
				// a Possible set is looked at first, merged only when checked: no primary button
				if (frm.doc.confidence !== "Possible") {
					frm.change_custom_button_type(__("Merge…"), null, "primary");
				}
			}
		}
		if (frm.has_perm("write") && crm_dedup_is_manager()) {
			frm.add_custom_button(
				__("Not a duplicate (whole set)"),
				() => frm.trigger("mark_set"),
				__("Not a duplicate"),
			);
			frm.add_custom_button(
				__("One pair is not a duplicate…"),
				() => frm.trigger("mark_pair"),
				__("Not a duplicate"),
			);
		}
	},

	mark_set(frm) {
		frappe.prompt(
			[{ fieldtype: "Small Text", fieldname: "reason", label: __("Why (optional)") }],
			(v) =>
				frappe
					.xcall("crm_dedup.scans.review.mark_not_duplicate", {
						duplicate_set: frm.doc.name,
						reason: v.reason,
					})
					.then(() => frm.reload_doc()),
			__("These records are not duplicates of each other"),
			__("Confirm"),
		);
	},

	mark_pair(frm) {
		const options = (frm.doc.pairs || [])
			.filter((p) => !p.not_duplicate)
			.map((p) => ({
				value: p.name,
				label: `${p.name_a} ↔ ${p.name_b} (${p.rule} ${p.score})`,
			}));
		frappe.prompt(
			[
				{ fieldtype: "Select", fieldname: "pair", label: __("Pair"), options, reqd: 1 },
				{ fieldtype: "Small Text", fieldname: "reason", label: __("Why (optional)") },
			],
			(v) =>
				frappe
					.xcall("crm_dedup.scans.review.mark_not_duplicate", {
						duplicate_set: frm.doc.name,
						pair: v.pair,
						reason: v.reason,
					})
					.then((r) => {
						if (r && r.split && r.split.length) {
							frappe.show_alert({
								message: __("Split off: {0}", [r.split.join(", ")]),
								indicator: "blue",
							});
						}
						return frm.reload_doc();
					}),
			__("Not a duplicate"),
			__("Confirm"),
		);
	},

	render_members(frm) {
		if (frm.doc.ref_doctype && !frappe.get_meta(frm.doc.ref_doctype)) {
			frappe.model.with_doctype(frm.doc.ref_doctype, () => frm.trigger("render_members"));
			return;
		}
		const esc = (v) => frappe.utils.escape_html(v == null ? "" : String(v));
		const label = (f) =>
			f.includes(".") ? f : __(frappe.meta.get_label(frm.doc.ref_doctype, f) || f);
		// "mobile_no ~ mobile_no (phone 100)" in the user's words
		const fields = (text) =>
			(text || "").replace(
				/(\S+) ~ (\S+) \((\w+) (\d+)\)/g,
				(m, a, b, kind, score) => `${label(a)} ~ ${label(b)} (${score})`,
			);
		const rows = (frm.doc.members || [])
			.map((m) => {
				const url = `/app/${frappe.router.slug(m.member_doctype)}/${encodeURIComponent(m.member_name)}`;
				const why = (frm.doc.pairs || [])
					.filter(
						(p) => !p.not_duplicate && (p.name_a === m.member_name || p.name_b === m.member_name),
					)
					.map((p) => {
						const other = p.name_a === m.member_name ? p.name_b : p.name_a;
						return `${esc(other)}: ${esc(p.rule)} ${esc(p.score)} — ${esc(fields(p.matched_fields))}`;
					})
					.join("<br>");
				return `<tr>
					<td><a href="${url}">${esc(m.member_name)}</a></td>
					<td>${esc(m.member_title)}</td>
					<td>${esc(m.record_owner ? frappe.user.full_name(m.record_owner) : "")}</td>
					<td>${esc(m.record_created ? frappe.datetime.str_to_user(m.record_created) : "")}</td>
					<td class="small text-muted">${why}</td>
				</tr>`;
			})
			.join("");
		let possible = [];
		try {
			possible = JSON.parse(frm.doc.possible_links || "[]") || [];
		} catch (e) {
			possible = [];
		}
		frm.get_field("possible_html").$wrapper.html(
			possible.length
				? `<p class="text-muted small">${__(
						"Possible links: weaker matches with records outside this set. They are shown, never merged into it.",
				  )}</p>
				<table class="table table-bordered table-sm"><thead><tr>
					<th>${__("Member")}</th><th>${__("Possible duplicate")}</th><th>${__("Rule")}</th><th>${__("Score")}</th>
				</tr></thead><tbody>${possible
					.map(
						(p) => `<tr><td>${esc(p.member)}</td><td><a href="/app/${frappe.router.slug(
							frm.doc.ref_doctype,
						)}/${encodeURIComponent(p.other)}">${esc(p.other)}</a>${
							p.other_in_set ? ` <span class="text-muted small">(${__("in another set")})</span>` : ""
						}</td><td>${esc(p.rule)} · ${esc(__(p.action))}</td><td>${esc(p.score)}</td></tr>`,
					)
					.join("")}</tbody></table>`
				: "",
		);
		frm.get_field("members_html").$wrapper.html(`
			<table class="table table-bordered table-sm">
				<thead><tr>
					<th>${__("Record")}</th><th>${__("Title")}</th><th>${__("Record Owner")}</th>
					<th>${__("Created")}</th><th>${__("Matches")}</th>
				</tr></thead>
				<tbody>${rows}</tbody>
			</table>`);
	},
});

// reviewing a set is for managers (crm_dedup.core.roles): the server refuses everyone else
function crm_dedup_is_manager() {
	return frappe.user.has_role(["Dedup Manager", "System Manager"]);
}
