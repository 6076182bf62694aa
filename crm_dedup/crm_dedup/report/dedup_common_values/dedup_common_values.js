// Copyright (c) 2026, crm_dedup contributors
// For license information, please see license.txt

frappe.query_reports["Dedup Common Values"] = {
	filters: [
		{
			fieldname: "doctype",
			label: __("DocType"),
			fieldtype: "Link",
			options: "DocType",
			default: "Customer",
			reqd: 1,
		},
		{
			fieldname: "min_records",
			label: __("Shared by at Least"),
			fieldtype: "Int",
			default: 5,
		},
	],
	get_datatable_options(options) {
		return Object.assign(options, { checkboxColumn: true });
	},
	onload(report) {
		report.page.add_inner_button(__("Add Selected to Placeholders"), () => {
			const rows = report.datatable.rowmanager
				.getCheckedRows()
				.map((i) => report.data[i])
				.filter(Boolean);
			if (!rows.length) {
				frappe.msgprint(__("Tick the values to add first."));
				return;
			}
			frappe.confirm(
				__(
					"Treat {0} value(s) as placeholders? They will count as blank everywhere, and the key index is rebuilt in the background.",
					[rows.length]
				),
				() =>
					frappe
						.call({
							method: "crm_dedup.rules.api.add_placeholders",
							args: {
								doctype: report.get_filter_value("doctype"),
								values: rows.map((r) => ({ field: r.field, value: r.value })),
							},
						})
						.then((r) => {
							frappe.show_alert({
								message: __("{0} placeholder(s) added; the key index is being rebuilt.", [
									r.message.added,
								]),
								indicator: "green",
							});
							report.refresh();
						}),
			);
		});
	},
};
