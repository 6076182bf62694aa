// Results of a collision query: one row per existing record, best first, rendered with frappe.DataTable.
frappe.provide("crm_dedup");

crm_dedup.CollisionQueryResults = class CollisionQueryResults {
	constructor({ wrapper }) {
		this.$wrapper = $(wrapper);
		this.$summary = $(`<div class="collision-query-summary"></div>`).appendTo(this.$wrapper);
		this.$table = $(`<div class="collision-query-table"></div>`).appendTo(this.$wrapper);
	}

	columns() {
		const esc = (v) => frappe.utils.escape_html(v == null ? "" : String(v));
		const date = (v) => (v ? frappe.datetime.str_to_user(v, false, true) : "");
		const muted = `<span class="text-muted">—</span>`;
		const locked = __(
			"You may not read this record: only its owner and creation date are shown."
		);
		// widths add up to the desk's page width (layout "fixed"); every formatter reads the whole row
		return [
			{
				id: "doctype",
				name: __("Document Type"),
				width: 130,
				format: (v, r, c, d) => esc(d.doctype_label),
			},
			{
				id: "record",
				name: __("Record", null, "Collision Query"),
				width: 200,
				format: (v, r, c, d) =>
					d.can_read
						? `<a href="${esc(d.url)}" target="_blank" title="${esc(d.name)}">${esc(
								d.title
						  )}</a>`
						: `<span class="text-muted" title="${esc(locked)}">${frappe.utils.icon(
								"lock",
								"xs"
						  )} ${esc(d.title)}</span>`,
			},
			{
				id: "owner",
				name: __("Owner", null, "Collision Query"),
				width: 100,
				format: (v, r, c, d) =>
					`<span title="${esc(d.owner)}">${esc(d.owner_name || d.owner)}</span>`,
			},
			{
				id: "status",
				name: __("Status", null, "Collision Query"),
				width: 80,
				format: (v, r, c, d) => (d.can_read ? esc(d.status) : muted),
			},
			{
				id: "created",
				name: __("Created On", null, "Collision Query"),
				width: 120,
				format: (v, r, c, d) =>
					`<span title="${esc(d.created)}">${esc(date(d.created))}</span>`,
			},
			{
				id: "last_activity",
				name: __("Last Activity", null, "Collision Query"),
				width: 125,
				format: (v, r, c, d) =>
					d.can_read && d.last_activity
						? `<span title="${esc(d.last_activity)}">${esc(
								frappe.datetime.prettyDate(d.last_activity)
						  )}</span>`
						: muted,
			},
			{
				id: "rule",
				name: __("Rule", null, "Collision Query"),
				width: 150,
				format: (v, r, c, d) => esc(d.rule),
			},
			{
				id: "matched",
				name: __("Matched Fields", null, "Collision Query"),
				width: 230,
				format: (v, r, c, d) =>
					(d.matched_fields || [])
						.map((m) => `${esc(m.label)}: <b>${esc(m.value)}</b>`)
						.join("; "),
			},
			{
				id: "score",
				name: __("Score", null, "Collision Query"),
				width: 100,
				align: "right",
				// a smart hit's score is its probability in percent: "why" opens its waterfall
				format: (v, r, c, d) =>
					esc(format_number(d.score, null, 0)) +
					(d.smart
						? ` <a class="crm-dedup-why small" data-row="${esc(
								d.dispute_key
						  )}" title="${esc(__("Why: the weight of each comparison"))}">${__(
								"why"
						  )}</a>`
						: ""),
			},
			{
				id: "dispute",
				name: "",
				width: 80,
				format: (v, r, c, d) =>
					d.dispute_key
						? `<button class="btn btn-xs btn-default crm-dedup-dispute" data-key="${esc(
								d.dispute_key
						  )}">${__("Dispute")}</button>`
						: "",
			},
		].map((col) =>
			Object.assign(
				{ editable: false, sortable: false, dropdown: false, align: "left" },
				col
			)
		);
	}

	render(answer) {
		const rows = answer.results || [];
		this.$summary.empty();
		const notes = (answer.placeholders || []).map((p) =>
			__("{0} ({1}) counts as blank and matches nothing: {2}.", [
				p.value,
				p.label,
				p.reason,
			])
		);
		if (notes.length) {
			this.$summary.append(
				`<div class="alert alert-info">${notes
					.map((n) => frappe.utils.escape_html(n))
					.join("<br>")}</div>`
			);
		}
		if (!rows.length) {
			this.$summary.append(
				`<div class="alert alert-success">${frappe.utils.escape_html(
					answer.message
				)}</div>`
			);
		} else {
			const masked = rows.filter((r) => !r.can_read).length;
			let text = __("{0} existing record(s) may be the same customer.", [answer.count]);
			if (masked) {
				text +=
					" " +
					__(
						"{0} of them you may not read: ask the owner before you contact this customer.",
						[masked]
					);
			}
			this.$summary.append(
				`<div class="alert alert-warning">${frappe.utils.escape_html(text)}</div>`
			);
		}
		if (answer.remaining !== null && answer.remaining !== undefined) {
			this.$summary.append(
				`<div class="text-muted small">${__("Queries left this hour: {0}", [
					answer.remaining,
				])}</div>`
			);
		}
		this.render_table(rows);
	}

	render_table(rows) {
		if (this.datatable) {
			this.datatable.destroy();
			this.datatable = null;
		}
		this.$table.empty();
		if (!rows.length) return;
		// rows are objects: every formatter gets the whole row as its 4th argument
		this.datatable = new frappe.DataTable(this.$table.get(0), {
			columns: this.columns(),
			data: rows,
			layout: "fixed",
			cellHeight: 36,
			serialNoColumn: false,
			checkboxColumn: false,
			inlineFilters: false,
			disableReorderColumn: true,
			noDataMessage: __("No Data"),
			language: frappe.boot.lang,
			translations: frappe.utils.datatable.get_translations(),
		});
		this.rows = rows;
		this.$table.off("click", ".crm-dedup-why").on("click", ".crm-dedup-why", (e) => {
			const row = this.rows.find((x) => x.dispute_key === $(e.currentTarget).attr("data-row"));
			if (row && row.smart) this.show_waterfall(row);
		});
		this.$table.off("click", ".crm-dedup-dispute").on("click", ".crm-dedup-dispute", (e) => {
			crm_dedup.file_dispute({ dispute_key: $(e.currentTarget).attr("data-key") });
		});
	}

	show_waterfall(row) {
		const d = new frappe.ui.Dialog({
			title: __("Smart match: {0}", [row.rule]),
			size: "large",
			fields: [{ fieldtype: "HTML", fieldname: "waterfall" }],
		});
		d.fields_dict.waterfall.$wrapper.html(
			`<p>${frappe.utils.escape_html(row.title)} · ${frappe.utils.escape_html(
				row.owner_name || row.owner || ""
			)}</p>${crm_dedup.waterfall(row.smart)}`
		);
		d.show();
	}

	clear() {
		this.$summary.empty();
		this.render_table([]);
	}
};
