// Save-time duplicate dialog (core). For every DocType that has an enabled Dedup Rule, the form asks
// crm_dedup.checks.api.check_duplicates before it saves; a Block or Warn match stops the save and shows the matches
// with "Open existing" and, for a Warn rule and an allowed role, "Save anyway" (the server re-checks on save
// and records the override).
frappe.provide("crm_dedup");

crm_dedup.OVERRIDE_KEY = "__dedup_override";
crm_dedup._registered = new Set();
crm_dedup._doctypes = null;

crm_dedup.dedup_doctypes = function () {
	if (!crm_dedup._doctypes) {
		crm_dedup._doctypes = frappe
			.xcall("crm_dedup.checks.api.dedup_doctypes")
			.then((list) => new Set(list || []))
			.catch(() => new Set());
	}
	return crm_dedup._doctypes;
};

crm_dedup.register_form = function (doctype) {
	if (crm_dedup._registered.has(doctype)) return;
	crm_dedup._registered.add(doctype);
	frappe.ui.form.on(doctype, {
		before_save(frm) {
			return crm_dedup.check_before_save(frm);
		},
		after_save(frm) {
			delete frm.doc[crm_dedup.OVERRIDE_KEY];
		},
		refresh(frm) {
			delete frm.doc[crm_dedup.OVERRIDE_KEY];
		},
	});
};

crm_dedup.check_before_save = function (frm) {
	if (frm.doc[crm_dedup.OVERRIDE_KEY]) return; // the user chose "Save anyway"; the server verifies the role
	return frappe
		.call({
			method: "crm_dedup.checks.api.check_duplicates",
			args: { doc: frm.doc },
			type: "POST",
			freeze: true,
			freeze_message: __("Checking for duplicates…"),
		})
		.then((r) => {
			const res = r && r.message;
			if (!res || !res.matches || !res.matches.length) return;
			if (res.action !== "block" && res.action !== "warn") return;
			frappe.validated = false;
			crm_dedup.show_matches(frm, res);
		});
};

// A smart hit (智能匹配) explains itself: the prior, each comparison's level and weight (a bar), the total
crm_dedup.waterfall = function (w) {
	const esc = frappe.utils.escape_html;
	const bar = (v) => {
		const width = Math.min(60, Math.abs(v) * 3);
		const color = v >= 0 ? "var(--green-500, #38a169)" : "var(--red-500, #e53e3e)";
		return `<span style="display:inline-block;height:8px;width:${width}px;background:${color};vertical-align:middle"></span>`;
	};
	const rows = w.comparisons
		.map(
			(c) => `<tr><td>${esc(c.comparison)}</td><td class="text-muted">${esc(
				c.level === "blank" ? __("blank, no weight") : c.level,
			)}${c.value_a ? `<br><small>${esc(c.value_a)} ≈ ${esc(c.value_b)}</small>` : ""}</td>
			<td class="text-right">${c.weight >= 0 ? "+" : ""}${c.weight.toFixed(2)}</td><td>${bar(c.weight)}</td></tr>`,
		)
		.join("");
	return `<table class="table table-sm table-borderless small mb-0">
		<tr><td>${__("prior")}</td><td></td><td class="text-right">${w.prior.toFixed(2)}</td><td></td></tr>
		${rows}
		<tr><th>${__("total")}</th><th>${__("probability {0}", [w.probability.toFixed(4)])}</th>
		<th class="text-right">${w.total.toFixed(2)}</th><td>${
			w.trained ? "" : `<span class="text-muted">${__("default weights")}</span>`
		}</td></tr></table>`;
};

crm_dedup.match_rows = function (res) {
	const esc = frappe.utils.escape_html;
	return res.matches
		.map((m) => {
			const record = m.url
				? `<a href="${m.url}" target="_blank">${esc(m.display)}</a>`
				: `<span title="${esc(__("You may not open this record"))}">${esc(m.display)}</span>`;
			const fields = m.fields
				.filter((f) => !f.skipped)
				.map(
					(f) =>
						`<div>${esc(f.label)}: <b>${esc(String(f.value))}</b> ≈ ${esc(
							f.existing_label,
						)}: <b>${esc(String(f.existing_value))}</b> <span class="text-muted">(${esc(
							f.match,
						)} ${f.score})</span></div>`,
				)
				.join("");
			const indicator =
				m.action === "block" ? "red" : m.action === "warn" ? "orange" : "blue";
			const smart = m.smart ? crm_dedup.waterfall(m.smart) : "";
			return `<tr>
				<td>${esc(__(m.doctype))}<br>${record}</td>
				<td>${esc(m.owner_name)}</td>
				<td><span class="indicator-pill ${indicator}">${esc(m.action_label)}</span><br>${esc(m.rule)}</td>
				<td>${m.score}</td>
				<td>${smart || fields}</td>
			</tr>`;
		})
		.join("");
};

crm_dedup.show_matches = function (frm, res) {
	const is_block = res.action === "block";
	const intro = is_block
		? __("This record duplicates an existing one and cannot be saved.")
		: __("This record looks like an existing one. Please check before saving.");
	const more = res.more ? `<p class="text-muted">${__("{0} more matches", [res.more])}</p>` : "";
	const d = new frappe.ui.Dialog({
		// the server escapes names in the title; escape again in case the title came from elsewhere
		title: res.title
			? frappe.utils.escape_html(frappe.utils.html2text(res.title))
			: __("Possible duplicate"),
		size: "extra-large",
		fields: [
			{
				fieldtype: "HTML",
				fieldname: "matches",
				options: `<p>${intro}</p>
					<table class="table table-bordered table-sm">
						<thead><tr>
							<th>${__("Existing record")}</th><th>${__("Owner")}</th><th>${__("Rule")}</th>
							<th>${__("Score")}</th><th>${__("Matched")}</th>
						</tr></thead>
						<tbody>${crm_dedup.match_rows(res)}</tbody>
					</table>${more}`,
			},
		],
	});
	const best = res.matches[0];
	if (best && best.name) {
		d.set_primary_action(__("Open existing"), () => {
			d.hide();
			frappe.set_route("Form", best.doctype, best.name);
		});
	} else {
		d.set_primary_action(__("Close"), () => d.hide());
	}
	if (best && (best.name || best.dispute_key)) {
		// 撞单申诉: the rep says the customer is theirs; a manager reviews it
		d.add_custom_action(__("File a dispute"), () => {
			d.hide();
			crm_dedup.file_dispute({
				existing_doctype: best.doctype,
				existing_name: best.name,
				dispute_key: best.dispute_key,
				ref_doctype: frm.doctype,
				ref_name: frm.is_new() ? null : frm.doc.name,
				values: frm.doc,
			});
		});
	}
	if (!is_block && res.can_override) {
		d.set_secondary_action_label(__("Save anyway"));
		d.set_secondary_action(() => {
			d.hide();
			frm.doc[crm_dedup.OVERRIDE_KEY] = 1;
			frm.save();
		});
	}
	d.show();
};

$(document).on("form-refresh", function (e, frm) {
	if (!frm || !frm.doctype || crm_dedup._registered.has(frm.doctype)) return;
	crm_dedup.dedup_doctypes().then((doctypes) => {
		if (doctypes.has(frm.doctype)) crm_dedup.register_form(frm.doctype);
	});
});

// Files a dispute about an existing record (from the save dialog or a Collision Query row): asks for the reason;
// evidence can be attached to the dispute afterwards.
crm_dedup.file_dispute = function (args) {
	frappe.prompt(
		[
			{
				fieldtype: "Small Text",
				fieldname: "reason",
				label: __("Why is this customer yours?"),
				reqd: 1,
				description: __("A manager reviews it. Attach evidence to the dispute once it is filed."),
			},
		],
		(values) => {
			const payload = Object.assign({}, args, { reason: values.reason });
			if (payload.values && typeof payload.values !== "string") {
				const plain = {};
				Object.entries(payload.values).forEach(([k, v]) => {
					if (!k.startsWith("__") && (typeof v === "string" || typeof v === "number")) plain[k] = v;
				});
				payload.values = JSON.stringify(plain);
			}
			frappe.xcall("crm_dedup.ownership.api.file_dispute", payload).then((name) => {
				frappe.show_alert({
					message: __("Dispute {0} filed: a manager will review it.", [name]),
					indicator: "green",
				});
				frappe.set_route("Form", "Dedup Dispute", name);
			});
		},
		__("File a dispute"),
		__("File"),
	);
};
