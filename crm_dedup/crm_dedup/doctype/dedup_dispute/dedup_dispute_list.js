// Copyright (c) 2025, crm_dedup contributors
// License: MIT. See license.txt

// The review queue: open disputes and reviews first.
frappe.listview_settings["Dedup Dispute"] = {
	add_fields: ["status", "kind", "decision"],
	filters: [["status", "=", "Open"]],
	get_indicator(doc) {
		if (doc.status === "Open")
			return [doc.kind === "Review" ? __("Review") : __("Open"), "orange", "status,=,Open"];
		if (doc.status === "Withdrawn") return [__("Withdrawn"), "gray", "status,=,Withdrawn"];
		return [__(doc.decision || "Decided"), "green", "status,=,Decided"];
	},
};
