// Copyright (c) 2025, crm_dedup contributors
// License: MIT. See license.txt

frappe.ui.form.on("Dedup Settings", {
	rebuild_index(frm) {
		frappe.confirm(
			__("Rebuild the key index of every enabled rule? It runs in the background."),
			() =>
				frm.call("rebuild_index").then(() =>
					frappe.show_alert({
						message: __("Key index rebuild queued; progress is shown while it runs."),
						indicator: "blue",
					}),
				),
		);
	},
});
