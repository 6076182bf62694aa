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
		crm_dedup_rule.render_filters(frm);
		crm_dedup_rule.apply_core_permission(frm);
		if (!frm.is_new() && frm.doc.kind === "Smart" && crm_dedup_rule.is_manager()) {
			frm.add_custom_button(__("Train"), () =>
				frm.call("train_model").then((r) => {
					frappe.show_alert({ message: r.message, indicator: "blue" });
				}),
			);
		}
		if (!frm.is_new() && crm_dedup_rule.is_manager()) {
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
		crm_dedup_rule.render_filters(frm);
	},

	search_within(frm) {
		crm_dedup_rule.render_filters(frm);
	},

	pick_scope_fields(frm) {
		crm_dedup_rule.pick_scope_fields(frm);
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
			["project", __("Project 报备")],
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
	is_manager() {
		return (
			frappe.session.user === "Administrator" ||
			frappe.user.has_role("Dedup Manager") ||
			frappe.user.has_role("System Manager")
		);
	},

	apply_core_permission(frm) {
		const manager = crm_dedup_rule.is_manager();
		frm.set_df_property("is_core", "read_only", manager ? 0 : 1);
		if (frm.doc.is_core && !manager) {
			frm.disable_form();
			frm.set_intro(
				__(
					"This is a core rule of the whole group: only a Dedup Manager may change, disable or delete it. Add a branch or team rule with a scope to extend it.",
				),
				"blue",
			);
		} else if (!manager && frm.is_new()) {
			frm.set_intro(
				__(
					"A branch or team rule adds to the core rules for its own records: set Applies When or Search Within.",
				),
				"blue",
			);
		}
	},

	// Frappe's filter editor (the one of list views) bound to a JSON field of the rule
	render_filters(frm) {
		[
			[
				"applies_when_html",
				"applies_when",
				__(
					"Applies when: a new or edited record is checked by this rule only when it meets these filters (none: always).",
				),
			],
			[
				"search_filter_html",
				"search_filter",
				__("Search within: only existing records that meet these filters are compared."),
			],
		].forEach(([html, field, help]) => {
			const wrapper = frm.get_field(html).$wrapper;
			wrapper.empty();
			if (!frm.doc.target_doctype) return;
			if (field === "search_filter" && frm.doc.search_within !== "Records matching a filter") return;
			$(`<label class="control-label">${frm.get_field(html).df.label ? __(frm.get_field(html).df.label) : ""}</label>
				<p class="text-muted small">${help}</p>`).appendTo(wrapper);
			const area = $('<div class="crm-dedup-filters mb-3"></div>').appendTo(wrapper);
			let filters = [];
			try {
				filters = JSON.parse(frm.doc[field] || "[]") || [];
			} catch (e) {
				filters = [];
			}
			frappe.model.with_doctype(frm.doc.target_doctype, () => {
				const group = new frappe.ui.FilterGroup({
					parent: area,
					doctype: frm.doc.target_doctype,
					on_change: () => {
						const value = JSON.stringify(group.get_filters());
						if (value !== (frm.doc[field] || "[]")) frm.set_value(field, value);
					},
				});
				group.add_filters_to_filter_group(filters);
				if (frm.doc.is_core && !crm_dedup_rule.is_manager()) {
					area.find("button, input, select").prop("disabled", true);
				}
			});
		});
	},

	pick_scope_fields(frm) {
		if (!frm.doc.target_doctype) {
			frappe.msgprint(__("Choose the target DocType first"));
			return;
		}
		crm_dedup_rule.field_options(frm).then((all_options) => {
			const current = (frm.doc.scope_fields || "")
				.split(/[,;\n]+/)
				.map((s) => s.trim())
				.filter(Boolean);
			const options = all_options.filter((o) => !o.value.includes("."));
			const d = new frappe.ui.Dialog({
				title: __("Scope fields of {0}", [__(frm.doc.target_doctype)]),
				fields: [
					{
						fieldtype: "MultiCheck",
						fieldname: "fields",
						columns: 2,
						options: options.map((o) => ({
							label: `${o.label} <span class="text-muted small">${o.value}</span>`,
							value: o.value,
							checked: current.includes(o.value),
						})),
					},
				],
				primary_action_label: __("Use"),
				primary_action(values) {
					frm.set_value("scope_fields", (values.fields || []).join(", "));
					d.hide();
				},
			});
			d.show();
		});
	},

	form_scope(frm) {
		const scope = {};
		["applies_when", "search_within", "scope_fields", "search_filter"].forEach((f) => {
			if (frm.doc[f] && frm.doc[f] !== "[]") scope[f] = frm.doc[f];
		});
		if (scope.search_within === "All records") delete scope.search_within;
		return Object.keys(scope).length ? scope : null;
	},

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
		const scope = crm_dedup_rule.form_scope(frm);
		frappe
			.xcall("crm_dedup.rules.api.get_presets", {
				target_doctype: frm.doc.target_doctype,
				scope,
			})
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
							)}</p>${
								scope
									? `<p class="text-muted">${__(
											"Each rule is limited to the scope set on this form: {0}",
											[esc(frm.doc.scope_summary || JSON.stringify(scope))],
									  )}</p>`
									: ""
							}
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
								scope,
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
