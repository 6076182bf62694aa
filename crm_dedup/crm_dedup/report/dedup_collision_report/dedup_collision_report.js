// Collisions (撞单) from save-time checks (Dedup Collision Log) and collision queries (Dedup Query Log).
frappe.query_reports["Dedup Collision Report"] = {
	filters: [
		{
			fieldname: "from_date",
			label: __("From Date"),
			fieldtype: "Date",
			default: frappe.datetime.add_months(frappe.datetime.get_today(), -3),
			reqd: 1,
		},
		{
			fieldname: "to_date",
			label: __("To Date"),
			fieldtype: "Date",
			default: frappe.datetime.get_today(),
			reqd: 1,
		},
		{
			fieldname: "group_by",
			label: __("Group By"),
			fieldtype: "Select",
			options: [
				{ value: "Owner", label: __("Owner", null, "Dedup Collision Report") },
				{ value: "Rep", label: __("Rep", null, "Dedup Collision Report") },
				{ value: "Week", label: __("Week", null, "Dedup Collision Report") },
			],
			default: "Owner",
			reqd: 1,
		},
		{
			fieldname: "source",
			label: __("Source"),
			fieldtype: "Select",
			options: [
				{ value: "All", label: __("All") },
				{ value: "Save Attempts", label: __("Save Attempts") },
				{ value: "Queries", label: __("Queries") },
			],
			default: "All",
		},
		{
			fieldname: "user",
			label: __("User"),
			fieldtype: "Link",
			options: "User",
		},
	],
};
