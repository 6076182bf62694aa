// 撞单 monitoring: collisions, routed records, claims, disputes and transfers per week and rep or team.
frappe.query_reports["Dedup Ownership Report"] = {
	filters: [
		{
			fieldname: "from_date",
			label: __("From Date"),
			fieldtype: "Date",
			default: frappe.datetime.add_days(frappe.datetime.get_today(), -84),
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
				{ value: "Rep", label: __("Rep", null, "Dedup Ownership Report") },
				{ value: "Team", label: __("Team", null, "Dedup Ownership Report") },
			],
			default: "Rep",
			reqd: 1,
		},
	],
};
