frappe.listview_settings["Duplicate Set"] = {
	add_fields: ["status", "ref_doctype", "member_count"],
	get_indicator(doc) {
		const colors = { Open: "red", "Not Duplicate": "gray", Merged: "green", Resolved: "blue" };
		return [__(doc.status, null, "Duplicate Set"), colors[doc.status] || "gray", "status,=," + doc.status];
	},
};
