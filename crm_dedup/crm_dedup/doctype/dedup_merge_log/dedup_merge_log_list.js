// Copyright (c) 2026, crm_dedup contributors
// For license information, please see license.txt

frappe.listview_settings["Dedup Merge Log"] = {
	add_fields: ["status"],
	get_indicator(doc) {
		const colors = { Queued: "orange", Merged: "green", Failed: "red", Undone: "gray" };
		return [__(doc.status), colors[doc.status] || "gray", "status,=," + doc.status];
	},
};
