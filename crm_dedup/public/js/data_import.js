// Data Import: "Duplicate check (dry run)" — which rows of the attached file the Dedup Rules with
// "apply on data import" would block or warn, and why, without importing anything (crm_dedup.checks.data_import).

frappe.ui.form.on("Data Import", {
	refresh(frm) {
		if (frm.is_new() || !(frm.doc.import_file || frm.doc.google_sheets_url)) return;
		if (frm.doc.status === "Success") return;
		frm.add_custom_button(__("Duplicate check (dry run)"), () => crm_dedup_dry_run(frm));
	},
});

function crm_dedup_dry_run(frm) {
	const esc = (v) => frappe.utils.escape_html(v == null ? "" : String(v));
	frappe
		.call({
			method: "crm_dedup.checks.data_import.dry_run",
			args: { data_import: frm.doc.name },
			freeze: true,
			freeze_message: __("Checking every row for duplicates…"),
		})
		.then((r) => {
			const res = r.message || {};
			const counts = res.counts || {};
			let body;
			if (res.message) {
				body = `<p>${esc(res.message)}</p>`;
			} else if (!(res.rows || []).length) {
				body = `<p>${esc(
					__("No duplicates: none of the {0} rows matches an existing record or another row.", [
						res.total,
					]),
				)}</p>`;
			} else {
				const colors = { Block: "red", Warn: "orange", Log: "gray" };
				const outcome = {
					Block: __("will be rejected"),
					Warn: __("imported, flagged as likely duplicate"),
					Log: __("imported, logged"),
				};
				const rows = res.rows
					.map((row) => {
						const against =
							row.source === "file"
								? esc(__("row {0} of this file", [row.other_row]))
								: row.existing
									? `<a href="/app/${frappe.router.slug(row.existing_doctype)}/${encodeURIComponent(
											row.existing,
										)}" target="_blank">${esc(row.existing_title || row.existing)}</a>`
									: esc(row.existing_title);
						const owner = row.owner_name
							? `<br><span class="text-muted">${esc(row.owner_name)}</span>`
							: "";
						return `<tr>
							<td>${esc(row.row)}</td>
							<td>${esc(row.title)}</td>
							<td><span class="indicator-pill ${colors[row.action] || "gray"}">${esc(
								__(row.action),
							)}</span><br><span class="small text-muted">${esc(outcome[row.action] || "")}</span></td>
							<td>${against}${owner}</td>
							<td class="small">${row.message || ""}</td>
						</tr>`;
					})
					.join("");
				body = `
					<p>${esc(
						__(
							"{0} rows checked: {1} would be rejected, {2} flagged, {3} logged. Nothing was imported.",
							[res.total, counts.Block || 0, counts.Warn || 0, counts.Log || 0],
						),
					)}</p>
					<div style="max-height: 60vh; overflow: auto;">
					<table class="table table-bordered table-sm">
						<thead><tr>
							<th>${__("Row")}</th><th>${__("Record")}</th><th>${__("Action")}</th>
							<th>${__("Duplicate of")}</th><th>${__("Why")}</th>
						</tr></thead>
						<tbody>${rows}</tbody>
					</table></div>`;
			}
			const d = new frappe.ui.Dialog({
				title: __("Duplicate check (dry run)"),
				size: "extra-large",
				fields: [{ fieldtype: "HTML", fieldname: "report" }],
			});
			d.fields_dict.report.$wrapper.html(body);
			d.show();
		});
}
