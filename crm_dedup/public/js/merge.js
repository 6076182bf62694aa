// "Merge duplicates…" on Customer, Contact and Lead forms and list views (crm_dedup.merge).
//
// crm_dedup.merge.open_dialog(doctype, names) shows the records side by side: pick the surviving record
// and, per field, the value that survives; child-table rows are combined (duplicates once). Items of
// `names` may be plain names of `doctype` or {doctype: "Lead", name} when doctype is Customer (the Lead is
// converted into the Customer). The duplicate-set screen calls the same function.

frappe.provide("crm_dedup.merge");

(function () {
	const MERGE_DOCTYPES = ["Customer", "Contact", "Lead"];
	const MERGE_ROLES = ["Dedup Manager", "System Manager"];
	const esc = (v) => frappe.utils.escape_html(v == null ? "" : String(v));
	const is_empty = (v) => v === null || v === undefined || (typeof v === "string" && !v.trim());

	crm_dedup.merge.DOCTYPES = MERGE_DOCTYPES;

	crm_dedup.merge.can_merge = function () {
		return frappe.session.user === "Administrator" || frappe.user.has_role(MERGE_ROLES);
	};

	crm_dedup.merge.open_dialog = function (doctype, names) {
		const dialog = new crm_dedup.merge.MergeDialog(doctype, names);
		dialog.show();
		return dialog;
	};

	crm_dedup.merge.MergeDialog = class MergeDialog {
		constructor(doctype, names) {
			this.doctype = doctype;
			this.names = names || [];
			this.choice = {}; // fieldname -> record name whose value survives
			this.show_all = false;
		}

		show() {
			return frappe
				.call({
					method: "crm_dedup.merge.api.get_merge_preview",
					args: { doctype: this.doctype, names: this.names },
					freeze: true,
					freeze_message: __("Loading records…"),
				})
				.then((r) => {
					this.preview = r.message;
					this.survivor = this.preview.survivor;
					this.reset_choices();
					this.make_dialog();
				});
		}

		same_records() {
			return this.preview.records.filter((r) => r.doctype === this.preview.doctype);
		}

		carried_records() {
			return this.preview.records.filter((r) => r.doctype !== this.preview.doctype);
		}

		// default: the survivor's value, else the first non-empty one (numbers and checks: survivor's)
		reset_choices() {
			const order = this.same_records().map((r) => r.name);
			this.choice = {};
			for (const f of this.preview.fields) {
				let pick = this.survivor;
				if (is_empty(f.values[this.survivor]) && f.fills_empty) {
					pick = order.find((n) => !is_empty(f.values[n])) || this.survivor;
				}
				this.choice[f.fieldname] = pick;
			}
		}

		make_dialog() {
			this.dialog = new frappe.ui.Dialog({
				title: __("Merge {0} duplicates", [__(this.preview.doctype)]),
				size: "extra-large",
				fields: [
					{ fieldtype: "HTML", fieldname: "intro" },
					{
						fieldtype: "Check",
						fieldname: "show_all",
						label: __("Show fields with equal values too"),
						change: () => {
							this.show_all = !!this.dialog.get_value("show_all");
							this.render();
						},
					},
					{ fieldtype: "HTML", fieldname: "body" },
				],
				primary_action_label: __("Merge"),
				primary_action: () => this.confirm_and_merge(),
			});
			this.dialog.$wrapper.on("change", "input[data-survivor]", (e) => {
				this.survivor = $(e.currentTarget).attr("data-survivor");
				this.reset_choices();
				this.render();
			});
			this.dialog.$wrapper.on("change", "input[data-field]", (e) => {
				const $input = $(e.currentTarget);
				this.choice[$input.attr("data-field")] = $input.attr("data-record");
			});
			this.render();
			this.dialog.show();
		}

		render() {
			const p = this.preview;
			const same = this.same_records();
			const others_linked = same
				.filter((r) => r.name !== this.survivor)
				.reduce((sum, r) => sum + (r.linked || 0), 0);
			let intro = `<p>${__(
				"Pick the record to keep and, per field, the value that survives. Rows of child tables (phones, e-mails, links…) are combined; the same one appears once. Everything linked to the other records moves to the kept record. The merge can be undone from its Dedup Merge Log."
			)}</p>`;
			intro += `<p class="text-muted">${__(
				"{0} linked rows (documents, comments, files, assignments…) will be moved.",
				[others_linked]
			)}`;
			if (p.total_linked > p.threshold) {
				intro += " " + __("That is a large merge: it runs in the background and shows its progress.");
			}
			intro += "</p>";
			this.dialog.get_field("intro").$wrapper.html(intro);

			let html = `<div class="crm-dedup-merge" style="overflow-x:auto"><table class="table table-bordered table-sm">`;
			html += `<thead><tr><th style="min-width:10em">${__("Field")}</th>`;
			for (const rec of same) {
				const checked = rec.name === this.survivor ? "checked" : "";
				html += `<th style="min-width:14em">
					<label class="d-flex align-items-center" style="gap:.4em;margin:0">
						<input type="radio" name="crm-dedup-survivor" data-survivor="${esc(rec.name)}" ${checked}>
						<span>${__("Keep")}</span>
					</label>
					<div><a href="/app/${frappe.router.slug(rec.doctype)}/${encodeURIComponent(
					rec.name
				)}" target="_blank">${esc(rec.title)}</a></div>
					<div class="small text-muted">${esc(rec.name)} · ${esc(
					frappe.datetime.str_to_user(rec.creation)
				)}</div>
					<div class="small text-muted">${esc(rec.owner)} · ${__("{0} linked", [rec.linked || 0])}</div>
				</th>`;
			}
			html += "</tr></thead><tbody>";

			let shown = 0;
			for (const f of p.fields) {
				const values = same.map((r) => f.values[r.name]);
				const differs = new Set(values.map((v) => (is_empty(v) ? "" : String(v)))).size > 1;
				if (!differs && !this.show_all) continue;
				if (f.hidden && !this.show_all) continue;
				shown++;
				html += `<tr><td>${esc(f.label)}</td>`;
				for (const rec of same) {
					const value = f.values[rec.name];
					const checked = this.choice[f.fieldname] === rec.name ? "checked" : "";
					const shown_value = is_empty(value)
						? `<span class="text-muted">—</span>`
						: frappe.format(value, { fieldtype: f.fieldtype, options: f.options }, {
								inline: true,
						  });
					html += `<td><label class="d-flex" style="gap:.4em;margin:0;font-weight:normal">
						<input type="radio" name="crm-dedup-f-${esc(f.fieldname)}" data-field="${esc(
						f.fieldname
					)}" data-record="${esc(rec.name)}" ${checked} ${differs ? "" : "disabled"}>
						<span>${shown_value}</span></label></td>`;
				}
				html += "</tr>";
			}
			if (!shown) {
				html += `<tr><td colspan="${same.length + 1}" class="text-muted">${__(
					"No field differs between these records."
				)}</td></tr>`;
			}
			html += "</tbody></table></div>";

			if (p.tables.length) {
				html += `<p><b>${__("Child tables (combined, duplicates once)")}</b></p><ul>`;
				for (const t of p.tables) {
					const counts = same.map((r) => `${esc(r.name)}: ${t.counts[r.name] || 0}`).join(", ");
					html += `<li>${esc(t.label)} — ${counts}</li>`;
				}
				html += "</ul>";
			}

			const carried = this.carried_records();
			if (carried.length) {
				html += `<p><b>${__("Leads converted into the kept Customer")}</b></p><ul>`;
				for (const rec of carried) {
					const c = p.carried[rec.name] || {};
					html += `<li>${esc(rec.title)} (${esc(rec.name)}): ${__(
						"{0} comments, {1} communications, {2} open tasks, {3} open events, {4} contacts/addresses",
						[
							(c.comments || 0),
							(c.communications || 0),
							(c.tasks || 0),
							(c.events || 0),
							(c.contacts_addresses || 0),
						]
					)}</li>`;
				}
				html += "</ul>";
			}
			this.dialog.get_field("body").$wrapper.html(html);
		}

		chosen_values() {
			const values = {};
			for (const f of this.preview.fields) {
				const pick = this.choice[f.fieldname];
				if (pick && pick !== this.survivor) {
					values[f.fieldname] = f.values[pick];
				}
			}
			return values;
		}

		confirm_and_merge() {
			const others = this.preview.records
				.filter((r) => !(r.doctype === this.preview.doctype && r.name === this.survivor))
				.map((r) => ({ doctype: r.doctype, name: r.name }));
			const names = others.map((r) => esc(r.name)).join(", ");
			frappe.confirm(
				__("Merge {0} into {1}? The other records are removed; the merge can be undone from its log.", [
					names,
					esc(this.survivor),
				]),
				() => this.merge(others)
			);
		}

		merge(others) {
			const doctype = this.preview.doctype;
			const survivor = this.survivor;
			return frappe
				.call({
					method: "crm_dedup.merge.api.merge_records",
					args: { doctype, survivor, others, values: this.chosen_values() },
					freeze: true,
					freeze_message: __("Merging…"),
				})
				.then((r) => {
					const res = r.message || {};
					this.dialog.hide();
					if (res.queued) {
						frappe.msgprint({
							title: __("Merge running in the background"),
							message: __(
								"{0} linked rows are being moved. You will be notified when it is done; see {1}.",
								[res.rows, `<a href="/app/dedup-merge-log/${encodeURIComponent(res.log)}">${esc(res.log)}</a>`]
							),
							indicator: "blue",
						});
						return;
					}
					frappe.show_alert({
						message: __("Merged into {0} ({1} changes recorded in {2})", [
							esc(survivor),
							res.changes,
							esc(res.log),
						]),
						indicator: "green",
					});
					if (cur_frm && cur_frm.doctype === doctype && cur_frm.doc.name === survivor) {
						cur_frm.reload_doc();
					} else {
						frappe.set_route("Form", doctype, survivor);
					}
					if (cur_list && cur_list.doctype === doctype) {
						cur_list.refresh();
					}
				});
		}
	};

	// ---- picking the records from a form ---------------------------------------------------------------
	crm_dedup.merge.pick_for_form = function (frm) {
		const doctype = frm.doctype;
		const fields = [
			{
				fieldtype: "MultiSelectList",
				fieldname: "records",
				label: __("{0} to merge with this one", [__(doctype)]),
				get_data: (txt) =>
					frappe.db
						.get_link_options(doctype, txt)
						.then((opts) => opts.filter((o) => o.value !== frm.doc.name)),
			},
			{ fieldtype: "HTML", fieldname: "suggestions" },
		];
		if (doctype === "Lead") {
			fields.push(
				{ fieldtype: "Section Break", label: __("Or convert into an existing Customer") },
				{
					fieldtype: "Link",
					fieldname: "customer",
					options: "Customer",
					label: __("Customer"),
					description: __(
						"The Lead is kept, marked Converted and linked to the Customer; its comments, communications, open tasks and events follow."
					),
				}
			);
		}
		const d = new frappe.ui.Dialog({
			title: __("Merge duplicates…"),
			fields,
			primary_action_label: __("Compare"),
			primary_action: (values) => {
				if (values.customer) {
					d.hide();
					crm_dedup.merge.open_dialog("Customer", [
						values.customer,
						{ doctype: "Lead", name: frm.doc.name },
					]);
					return;
				}
				const picked = values.records || [];
				if (!picked.length) {
					frappe.msgprint(__("Pick at least one other record."));
					return;
				}
				d.hide();
				crm_dedup.merge.open_dialog(doctype, [frm.doc.name, ...picked]);
			},
		});
		d.show();
		frappe
			.call({
				method: "crm_dedup.merge.api.get_duplicate_suggestions",
				args: { doctype, name: frm.doc.name },
			})
			.then((r) => {
				const hits = r.message || [];
				if (!hits.length) return;
				const $wrapper = d.get_field("suggestions").$wrapper;
				let html = `<p class="text-muted small">${__("Likely duplicates (click to add):")}</p><ul>`;
				for (const h of hits) {
					html += `<li><a href="#" data-doctype="${esc(h.doctype)}" data-name="${esc(
						h.name
					)}">${esc(h.title || h.name)}</a> <span class="text-muted small">${esc(h.doctype)} · ${esc(
						h.name
					)} · ${esc(h.explain || "")}</span></li>`;
				}
				$wrapper.html(html + "</ul>");
				$wrapper.find("a[data-name]").on("click", (e) => {
					e.preventDefault();
					const $a = $(e.currentTarget);
					const hit_doctype = $a.attr("data-doctype");
					const name = $a.attr("data-name");
					if (hit_doctype === doctype) {
						const field = d.get_field("records");
						const current = field.get_value() || [];
						if (!current.includes(name)) field.set_value([...current, name]);
					} else if (doctype === "Lead" && hit_doctype === "Customer") {
						d.set_value("customer", name);
					}
				});
			});
	};

	// ---- forms ------------------------------------------------------------------------------------------
	$(document).on("form-refresh", (e, frm) => {
		if (!frm || !MERGE_DOCTYPES.includes(frm.doctype) || frm.is_new()) return;
		if (!crm_dedup.merge.can_merge()) return;
		frm.add_custom_button(
			__("Merge duplicates…"),
			() => crm_dedup.merge.pick_for_form(frm),
			__("Actions")
		);
	});

	// ---- list views: an item of the Actions menu (shown when records are selected) --------------------
	// Patching the ListView class (rather than frappe.listview_settings) keeps it working for list views
	// that define their own settings, as ERPNext does for Customer and Lead.
	function list_action(listview) {
		return {
			label: __("Merge duplicates…"),
			action: () => {
				const names = listview.get_checked_items(true);
				if (names.length < 2) {
					frappe.msgprint(__("Select two or more records to merge."));
					return;
				}
				crm_dedup.merge.open_dialog(listview.doctype, names);
			},
			standard: true,
		};
	}

	function patch_list_view() {
		const ListView = frappe.views && frappe.views.ListView;
		if (!ListView || ListView.prototype.__crm_dedup_merge) return !!ListView;
		const original = ListView.prototype.get_actions_menu_items;
		ListView.prototype.get_actions_menu_items = function () {
			const items = original.apply(this, arguments) || [];
			if (MERGE_DOCTYPES.includes(this.doctype) && crm_dedup.merge.can_merge()) {
				items.push(list_action(this));
			}
			return items;
		};
		ListView.prototype.__crm_dedup_merge = true;
		return true;
	}

	if (!patch_list_view()) {
		$(document).on("app_ready", patch_list_view);
	}
	// a list view built before the patch (should not happen: the desk bundle loads first)
	frappe.router &&
		frappe.router.on &&
		frappe.router.on("change", () => {
			patch_list_view();
			const lv = window.cur_list;
			if (
				lv &&
				lv.page &&
				MERGE_DOCTYPES.includes(lv.doctype) &&
				!lv.__crm_dedup_merge_item &&
				!(lv.actions_menu_items || []).some((i) => i.label === __("Merge duplicates…")) &&
				crm_dedup.merge.can_merge()
			) {
				const item = list_action(lv);
				lv.page.add_actions_menu_item(item.label, item.action, item.standard);
				lv.__crm_dedup_merge_item = true;
			}
		});

	// background merges report back
	$(document).on("app_ready", () => {
		frappe.realtime.on("crm_dedup_merge_done", (data) => {
			if (!data) return;
			const link = `<a href="/app/dedup-merge-log/${encodeURIComponent(data.log)}">${esc(data.log)}</a>`;
			if (data.status === "Merged") {
				frappe.show_alert({ message: __("Merge into {0} done: {1}", [esc(data.survivor), link]), indicator: "green" }, 10);
				if (cur_frm && cur_frm.doctype === data.doctype && cur_frm.doc.name === data.survivor) {
					cur_frm.reload_doc();
				}
			} else {
				frappe.show_alert({ message: __("Merge into {0} failed, nothing was changed: {1}", [esc(data.survivor), link]), indicator: "red" }, 15);
			}
		});
	});
})();
