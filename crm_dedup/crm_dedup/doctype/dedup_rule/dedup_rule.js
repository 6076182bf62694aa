// Copyright (c) 2025, crm_dedup contributors
// License: MIT. See license.txt

frappe.ui.form.on("Dedup Rule", {
	setup(frm) {
		frm.set_query("target_doctype", () => ({ query: "crm_dedup.rules.api.target_doctype_query" }));
		frm.set_query("other_doctype", "cross_checks", () => ({
			query: "crm_dedup.rules.api.target_doctype_query",
		}));
	},

	refresh(frm) {
		frm.trigger("render_presets");
		if (!frm.is_new()) {
			frm.add_custom_button(__("Rebuild Index"), () =>
				frm.call("rebuild_index").then(() => {
					frappe.show_alert({
						message: __("Key index rebuild queued; progress is shown while it runs."),
						indicator: "blue",
					});
					frm.reload_doc();
				}),
			);
		}
	},

	target_doctype(frm) {
		frm._field_options = null;
		frm.trigger("render_presets");
	},

	render_presets(frm) {
		const wrapper = frm.get_field("presets_html").$wrapper;
		wrapper.empty();
		if (!frm.doc.target_doctype) {
			wrapper.html(
				`<p class="text-muted">${__("Choose a target DocType to use a preset.")}</p>`,
			);
			return;
		}
		const presets = [
			["b2b", __("B2B")],
			["b2c", __("B2C")],
			["dealer", __("Channel dealers")],
			["ecommerce", __("E-commerce")],
		];
		const $row = $(`<div class="mb-3">
			<span class="text-muted mr-2">${__("Presets")}:</span>
		</div>`).appendTo(wrapper);
		presets.forEach(([key, label]) => {
			$(`<button class="btn btn-xs btn-default mr-2">${label}</button>`)
				.appendTo($row)
				.on("click", () => crm_dedup_rule.show_preset(frm, key));
		});
	},

	validate(frm) {
		// quick client-side hints; the server validates everything again on save
		(frm.doc.conditions || []).forEach((row) => {
			if (!(row.fields || "").trim()) {
				frappe.msgprint(__("Condition {0}: choose at least one field", [row.idx]));
				frappe.validated = false;
			}
		});
	},
});

frappe.ui.form.on("Dedup Rule Condition", {
	pick_fields(frm, cdt, cdn) {
		crm_dedup_rule.pick_fields(frm, locals[cdt][cdn]);
	},
	match_type(frm, cdt, cdn) {
		const row = locals[cdt][cdn];
		if (["Company Name", "Person Name", "Fuzzy"].includes(row.match_type) && !row.threshold) {
			frappe.model.set_value(cdt, cdn, "threshold", 90);
		}
	},
});

const crm_dedup_rule = {
	field_options(frm) {
		if (!frm._field_options) {
			frm._field_options = frappe.xcall("crm_dedup.rules.api.field_options", {
				doctype: frm.doc.target_doctype,
			});
		}
		return frm._field_options;
	},

	pick_fields(frm, row) {
		if (!frm.doc.target_doctype) {
			frappe.msgprint(__("Choose the target DocType first"));
			return;
		}
		crm_dedup_rule.field_options(frm).then((all_options) => {
			const current = (row.fields || "")
				.split(/[,;\n]+/)
				.map((s) => s.trim())
				.filter(Boolean);
			// only fields whose type fits the row's match type (and whatever the row already has)
			const options = all_options.filter(
				(o) =>
					!row.match_type ||
					(o.fits || []).includes(row.match_type) ||
					current.includes(o.value),
			);
			const d = new frappe.ui.Dialog({
				title: __("Fields of {0}", [__(frm.doc.target_doctype)]),
				fields: [
					{
						fieldtype: "HTML",
						options: `<p class="text-muted">${__(
							"Pick one field, or several to compare crosswise (e.g. Phone 1, Phone 2 and Mobile). Child-table fields compare every row.",
						)} ${__("Only fields that fit the match type {0} are listed.", [
							__(row.match_type || ""),
						])}</p>`,
					},
					{
						fieldtype: "MultiCheck",
						fieldname: "fields",
						columns: 2,
						options: options.map((o) => ({
							label: `${o.label} <span class="text-muted small">${o.value} · ${__(
								o.fieldtype,
							)}${o.custom ? " · " + __("Custom") : ""}</span>`,
							value: o.value,
							checked: current.includes(o.value),
						})),
					},
				],
				primary_action_label: __("Use"),
				primary_action(values) {
					const chosen = values.fields || [];
					// keep the order of the current value, then add new ones
					const ordered = current.filter((f) => chosen.includes(f));
					chosen.forEach((f) => !ordered.includes(f) && ordered.push(f));
					frappe.model.set_value(row.doctype, row.name, "fields", ordered.join(", "));
					d.hide();
					crm_dedup_rule.check_row(frm, locals[row.doctype][row.name]);
				},
			});
			d.show();
		});
	},

	check_row(frm, row) {
		const fields = (row.fields || "")
			.split(/[,;\n]+/)
			.map((s) => s.trim())
			.filter(Boolean);
		fields.forEach((path) =>
			frappe
				.xcall("crm_dedup.rules.api.check_field", {
					doctype: frm.doc.target_doctype,
					path,
					match_type: row.match_type,
				})
				.then((error) => {
					if (error) {
						frappe.show_alert({
							message: __("Condition {0}: {1}", [row.idx, error]),
							indicator: "orange",
						});
					}
				}),
		);
	},

	show_preset(frm, key) {
		frappe
			.xcall("crm_dedup.rules.api.get_presets", { target_doctype: frm.doc.target_doctype })
			.then((presets) => {
				const preset = presets.find((p) => p.preset === key);
				if (!preset) return;
				const esc = frappe.utils.escape_html;
				const rows = preset.rules
					.map((r) => {
						const conds = r.conditions
							.map(
								(c) =>
									`${esc(c.fields)} <span class="text-muted">(${esc(__(c.match_type))})</span>`,
							)
							.join(" + ");
						let note = "";
						if (r.exists) note = __("exists already");
						else if (r.missing.length)
							note = __("needs a field for: {0} (add a Custom Field)", [
								r.missing.join(", "),
							]);
						return `<tr><td>${esc(r.rule_name)}</td><td>${esc(__(r.action))}</td><td>${
							conds || "—"
						}</td><td class="text-muted">${esc(note)}</td></tr>`;
					})
					.join("");
				const d = new frappe.ui.Dialog({
					title: preset.label,
					size: "large",
					fields: [
						{
							fieldtype: "HTML",
							options: `<p>${__(
								"This preset creates the following rules for {0}; rules that already exist or miss a field are skipped.",
								[__(frm.doc.target_doctype)],
							)}</p>
							<table class="table table-bordered table-sm"><thead><tr>
							<th>${__("Rule")}</th><th>${__("Action")}</th><th>${__("Conditions")}</th><th></th>
							</tr></thead><tbody>${rows}</tbody></table>`,
						},
					],
					primary_action_label: __("Create Rules"),
					primary_action() {
						frappe
							.xcall("crm_dedup.rules.api.create_preset", {
								preset: key,
								target_doctype: frm.doc.target_doctype,
							})
							.then((created) => {
								d.hide();
								if (!created.length) {
									frappe.msgprint(__("No new rule was created."));
									return;
								}
								frappe.msgprint(
									__("Created: {0}", [
										created
											.map((n) =>
												frappe.utils.get_form_link("Dedup Rule", n, true),
											)
											.join(", "),
									]),
								);
								if (frm.is_new()) frappe.set_route("List", "Dedup Rule");
							});
					},
				});
				d.show();
			});
	},
};
