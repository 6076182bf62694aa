// Copyright (c) 2025, crm_dedup contributors
// License: MIT. See license.txt

// The review of a dispute: both records side by side (the fields the rules compare, owners, recent activity), the
// match explanation, the first-entry policy's suggestion, and the decisions for the managers of the scope.
frappe.ui.form.on("Dedup Dispute", {
	refresh(frm) {
		if (frm.is_new()) return;
		frappe
			.xcall("crm_dedup.ownership.api.dispute_view", { dispute: frm.doc.name })
			.then((view) => {
				crm_dedup_dispute.render(frm, view);
				if (view.can_decide) crm_dedup_dispute.buttons(frm, view);
			});
	},
});

const crm_dedup_dispute = {
	render(frm, view) {
		const esc = frappe.utils.escape_html;
		const side = (s) => ({
			title: s.name
				? `<a href="/app/${frappe.router.slug(s.doctype)}/${encodeURIComponent(s.name)}">${esc(
						s.name,
				  )}</a>`
				: s.exists
				? `<span class="text-muted">${__("(you may not read it)")}</span>`
				: `<span class="text-muted">${__("(not saved: the values tried)")}</span>`,
			owner: s.owner ? esc(frappe.user.full_name(s.owner) || s.owner) : "—",
			created: s.created ? esc(frappe.datetime.str_to_user(s.created)) : "—",
			activity: (s.activity || [])
				.map((a) => `<li>${esc(frappe.datetime.str_to_user(a.when))} · ${esc(a.kind)} · ${esc(a.by || "")}: ${esc(a.what || "")}</li>`)
				.join("") || `<li class="text-muted">${__("No recent activity")}</li>`,
		});
		const a = side(view.existing);
		const b = side(view.claimant);
		const rows = Object.entries(view.labels)
			.map(([f, label]) => {
				const x = view.existing.values[f] || "";
				const y = view.claimant.values[f] || "";
				const same = x && y && x === y;
				return `<tr${same ? ' class="table-warning"' : ""}><th>${esc(label)}</th><td>${esc(x)}</td><td>${esc(y)}</td></tr>`;
			})
			.join("");
		const suggested = view.suggested
			? `<p>${__("The first-entry policy suggests: {0}", [`<b>${esc(__(view.suggested))}</b>`])}</p>`
			: "";
		frm.get_field("comparison_html").$wrapper.html(`
			${suggested}
			<table class="table table-bordered table-sm">
				<thead><tr><th></th><th>${__("Existing record")}</th><th>${__("Claimant's record")}</th></tr></thead>
				<tbody>
					<tr><th>${__("Record")}</th><td>${a.title}</td><td>${b.title}</td></tr>
					<tr><th>${__("Owner")}</th><td>${a.owner}</td><td>${b.owner}</td></tr>
					<tr><th>${__("Created On")}</th><td>${a.created}</td><td>${b.created}</td></tr>
					${rows}
					<tr><th>${__("Recent activity")}</th><td><ul class="small pl-3 mb-0">${a.activity}</ul></td><td><ul class="small pl-3 mb-0">${b.activity}</ul></td></tr>
				</tbody>
			</table>`);
	},

	buttons(frm, view) {
		view.decisions.forEach((decision) => {
			const btn = frm.add_custom_button(
				__(decision),
				() => crm_dedup_dispute.decide(frm, decision),
				__("Decide"),
			);
			if (decision === view.suggested) btn.addClass("font-weight-bold");
		});
	},

	decide(frm, decision) {
		frappe.prompt(
			[{ fieldtype: "Small Text", fieldname: "note", label: __("Decision Note") }],
			(values) =>
				frappe
					.xcall("crm_dedup.ownership.api.decide_dispute", {
						dispute: frm.doc.name,
						decision,
						note: values.note,
					})
					.then((r) => {
						if (r.merge && crm_dedup.merge && crm_dedup.merge.open_dialog) {
							// the policy's survivor first: the merge dialog preselects the first record
							const names = [r.merge.survivor, ...r.merge.names.filter((n) => n !== r.merge.survivor)];
							crm_dedup.merge.open_dialog(r.merge.doctype, names);
						}
						frm.reload_doc();
					}),
			__("Decide: {0}", [__(decision)]),
			__("Decide"),
		);
	},
};
