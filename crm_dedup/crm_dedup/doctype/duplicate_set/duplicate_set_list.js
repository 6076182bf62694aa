frappe.listview_settings["Duplicate Set"] = {
	add_fields: ["status", "confidence", "ref_doctype", "member_count"],
	get_indicator(doc) {
		const colors = { Open: "red", "Not Duplicate": "gray", Merged: "green", Resolved: "blue" };
		if (doc.status === "Open" && doc.confidence === "Possible") {
			return [__("Possible duplicate"), "orange", "confidence,=,Possible"];
		}
		return [__(doc.status, null, "Duplicate Set"), colors[doc.status] || "gray", "status,=," + doc.status];
	},
};
