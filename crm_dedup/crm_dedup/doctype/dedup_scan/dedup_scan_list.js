frappe.listview_settings["Dedup Scan"] = {
	get_indicator(doc) {
		const colors = {
			"Not Started": "gray",
			Queued: "orange",
			Running: "blue",
			Completed: "green",
			Failed: "red",
		};
		return [__(doc.status), colors[doc.status] || "gray", "status,=," + doc.status];
	},
};
