// Copyright (c) 2025, crm_dedup contributors
// License: MIT. See license.txt

// The rule list shows scope at a glance: core rules of the whole group, branch/team rules with a scope.
frappe.listview_settings["Dedup Rule"] = {
	add_fields: ["enabled", "is_core", "scope_summary", "search_within", "applies_when"],
	get_indicator(doc) {
		if (!doc.enabled) return [__("Disabled"), "gray", "enabled,=,0"];
		if (doc.is_core) return [__("Core"), "blue", "is_core,=,1"];
		const scoped =
			(doc.search_within && doc.search_within !== "All records") ||
			(doc.applies_when && doc.applies_when !== "[]");
		if (scoped) return [__("Scoped"), "orange", "is_core,=,0"];
		return [__("Everywhere"), "green", "is_core,=,0"];
	},
};
