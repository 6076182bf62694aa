// Collision Query (撞单查询): the page only mounts the bundled class (public/js/collision_query/).
frappe.pages["collision-query"].on_page_load = function (wrapper) {
	frappe.ui.make_app_page({
		parent: wrapper,
		title: __("Collision Query"),
		single_column: true,
	});

	frappe.require("collision_query.bundle.js", function () {
		wrapper.collision_query = new crm_dedup.CollisionQuery(wrapper);
	});
};

frappe.pages["collision-query"].on_page_show = function (wrapper) {
	wrapper.collision_query && wrapper.collision_query.refresh_layout();
};
