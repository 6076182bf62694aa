// Collision Query (撞单查询) page controller: asks crm_dedup.collision_query for the layout, runs the query,
// shows what the API returns (the same answer integrations get).
frappe.provide("crm_dedup");

crm_dedup.CollisionQuery = class CollisionQuery {
	constructor(wrapper) {
		this.wrapper = wrapper;
		this.page = wrapper.page;
		this.$body = $(`
			<div class="collision-query">
				<p class="text-muted collision-query-intro"></p>
				<div class="collision-query-form frappe-card p-3 mb-3"></div>
				<div class="collision-query-results"></div>
			</div>
		`).appendTo(this.page.main);
		this.$body
			.find(".collision-query-intro")
			.text(
				__(
					"Before you spend a day on a prospect: is this customer already someone's? The boxes below are the fields the active Dedup Rules compare."
				)
			);
		this.results = new crm_dedup.CollisionQueryResults({
			wrapper: this.$body.find(".collision-query-results"),
		});
		this.page.set_primary_action(__("Check for Duplicates"), () => this.run(), "search");
		this.page.set_secondary_action(__("Clear", null, "Collision Query"), () => {
			this.form && this.form.clear();
			this.results.clear();
		});
		this.load_layout();
	}

	load_layout() {
		return frappe.call({ method: "crm_dedup.collision_query.api.get_query_fields" }).then((r) => {
			const layout = r.message;
			// keep what was typed and the doctype chosen across a reload of the layout
			const previous = this.form;
			previous && previous.remember();
			this.form = new crm_dedup.CollisionQueryForm({
				wrapper: this.$body.find(".collision-query-form"),
				layout,
				on_submit: () => this.run(),
				doctype: previous && layout.inputs[previous.doctype] ? previous.doctype : "All",
				values: previous ? previous.values : {},
			});
		});
	}

	refresh_layout() {
		// rules may have changed while the page was hidden
		if (this.form && !this.busy) this.load_layout();
	}

	run() {
		if (!this.form || this.busy) return;
		const query = this.form.get_query();
		if (!Object.keys(query.inputs).length) {
			frappe.show_alert({
				message: __("Type at least one value to check."),
				indicator: "orange",
			});
			return;
		}
		this.busy = true;
		frappe
			.call({
				method: "crm_dedup.collision_query.api.collision_query",
				args: { doctype: query.doctype, inputs: query.inputs },
				freeze: true,
				freeze_message: __("Checking…"),
			})
			.then((r) => r.message && this.results.render(r.message))
			.finally(() => (this.busy = false));
	}
};
