// The inputs of the Collision Query page, laid out from the enabled Dedup Rules (crm_dedup.collision_query).
frappe.provide("crm_dedup");

crm_dedup.CollisionQueryForm = class CollisionQueryForm {
	constructor({ wrapper, layout, on_submit, doctype = "All", values = {} }) {
		this.$wrapper = $(wrapper);
		this.layout = layout; // get_query_fields() answer
		this.on_submit = on_submit;
		this.values = { ...values }; // kept across doctype switches, by input key
		this.doctype = doctype;
		this.render();
	}

	doctype_options() {
		const all = (this.layout.searchable || []).map((d) => __(d)).join(", ");
		const options = [{ value: "All", label: all ? __("All: {0}", [all]) : __("All") }];
		for (const d of this.layout.doctypes) {
			options.push({
				value: d.value,
				label: d.has_rules ? __(d.value) : __("{0} (no rules)", [__(d.value)]),
			});
		}
		return options;
	}

	render() {
		this.$wrapper.empty();
		this.$switcher = $(`<div class="collision-query-switcher"></div>`).appendTo(this.$wrapper);
		this.switcher = frappe.ui.form.make_control({
			parent: this.$switcher,
			df: {
				fieldtype: "Select",
				fieldname: "query_doctype",
				label: __("Search In"),
				options: this.doctype_options(),
				default: this.doctype,
				change: () => {
					const value = this.switcher.get_value();
					if (value && value !== this.doctype) {
						this.remember();
						this.doctype = value;
						this.render_inputs();
					}
				},
			},
			render_input: true,
		});
		this.switcher.set_value(this.doctype);
		this.$inputs = $(`<div class="collision-query-inputs"></div>`).appendTo(this.$wrapper);
		this.render_inputs();
	}

	inputs() {
		return this.layout.inputs[this.doctype] || [];
	}

	render_inputs() {
		this.$inputs.empty();
		const inputs = this.inputs();
		if (!inputs.length) {
			this.field_group = null;
			this.$inputs.html(
				`<p class="text-muted">${__(
					"No enabled Dedup Rule targets {0}: there is nothing to check. Add a rule under Dedup Rule.",
					[__(this.doctype)]
				)}</p>`
			);
			return;
		}
		const fields = [];
		inputs.forEach((input, i) => {
			if (i && i % 3 === 0) fields.push({ fieldtype: "Section Break" });
			else if (i) fields.push({ fieldtype: "Column Break" });
			const is_scope = (input.match_types || []).includes("scope");
			fields.push({
				fieldtype: input.fieldtype || "Data",
				options: input.options || "",
				fieldname: input.key,
				label: input.label,
				description: is_scope
					? __("Scope: only the rules that apply to this value answer, and only within it")
					: input.description
					? __("Checked against: {0}", [input.description])
					: "",
				default: this.values[input.key] || "",
			});
		});
		this.field_group = new frappe.ui.FieldGroup({ fields, body: this.$inputs.get(0) });
		this.field_group.make();
		this.$inputs.find("input").on("keydown", (e) => {
			if (e.key === "Enter") {
				e.preventDefault();
				this.on_submit();
			}
		});
	}

	remember() {
		if (this.field_group) Object.assign(this.values, this.field_group.get_values(true) || {});
	}

	get_query() {
		this.remember();
		const inputs = {};
		for (const input of this.inputs()) {
			const v = (this.values[input.key] || "").trim();
			if (v) inputs[input.key] = v;
		}
		return { doctype: this.doctype, inputs };
	}

	clear() {
		this.values = {};
		this.render_inputs();
	}
};
