// "重复 / Duplicate" markers for records that belong to an open Duplicate Set (crm_dedup.scans.indicators), on the
// form (a headline with a link to the set and the other records) and in list views (a pill next to the
// title), for every DocType some enabled Dedup Rule touches. Also the "Scan for duplicates" button of the
// Dedup Rule form.

frappe.provide("crm_dedup.duplicates");

(function () {
	const esc = (v) => frappe.utils.escape_html(v == null ? "" : String(v));
	const label = () => __("Duplicate", null, "crm_dedup indicator");
	const possible_label = () => __("Possible duplicate");
	let doctypes_promise = null;

	// DocTypes that some enabled rule touches, asked once per page load
	crm_dedup.duplicates.doctypes = function () {
		if (!doctypes_promise) {
			doctypes_promise = frappe
				.xcall("crm_dedup.scans.indicators.indicator_doctypes")
				.then((list) => new Set(list || []))
				.catch(() => new Set());
		}
		return doctypes_promise;
	};

	crm_dedup.duplicates.set_url = (name) => `/app/duplicate-set/${encodeURIComponent(name)}`;

	// ---- form ---------------------------------------------------------------------------------------
	crm_dedup.duplicates.show_on_form = function (frm) {
		if (!frm || !frm.doc || frm.is_new() || frm.doctype === "Duplicate Set") return;
		const doctype = frm.doctype;
		const name = frm.doc.name;
		crm_dedup.duplicates.doctypes().then((set) => {
			if (!set.has(doctype)) return;
			frappe
				.call({
					method: "crm_dedup.scans.indicators.get_record_sets",
					args: { doctype, name },
					type: "POST",
				})
				.then((r) => {
					if (frm.doctype !== doctype || frm.doc.name !== name) return; // moved on
					const sets = r.message || [];
					frm.$wrapper.find(".crm-dedup-duplicate-headline").remove();
					if (!sets.length) return;
					const html = sets.map((s) => set_html(s)).join("");
					const color = sets.every((s) => s.possible) ? "yellow" : "red";
					const $box = $(`<div class="crm-dedup-duplicate-headline form-message ${color}"
						style="margin-bottom: var(--margin-sm);">${html}</div>`);
					const $target = frm.layout && frm.layout.wrapper;
					if ($target && $target.length) {
						$target.before($box);
					}
				});
		});
	};

	function set_html(s) {
		// a set of confidence Possible: two records paired by one weaker link on one field, in grey
		const pill = s.possible
			? `<span class="indicator-pill gray" style="margin-right: 6px;">${esc(possible_label())}</span>`
			: `<span class="indicator-pill red" style="margin-right: 6px;">${esc(label())}</span>`;
		const lead = s.possible ? __("Possibly the same as:") : __("Likely the same as:");
		const others = (s.others || [])
			.map((o) => {
				const who = o.owner_name ? ` (${esc(__("owner"))}: ${esc(o.owner_name)})` : "";
				if (o.name) {
					const url = `/app/${frappe.router.slug(o.doctype)}/${encodeURIComponent(o.name)}`;
					return `<a href="${url}">${esc(o.title || o.name)}</a>${who}`;
				}
				return `${esc(o.title)}${who}`;
			})
			.join(", ");
		const why = (s.why || [])
			.map((w) => `${esc(w.rule)} ${esc(w.score)}: ${esc(w.fields || "")}`)
			.join("; ");
		const set_link = s.set
			? ` <a href="${crm_dedup.duplicates.set_url(s.set)}">${esc(
					__("Review duplicate set {0}", [s.set]),
				)}</a>`
			: "";
		return `<div>${pill}${esc(lead)} ${others}.${set_link}${
			why ? `<div class="text-muted small">${why}</div>` : ""
		}</div>`;
	}

	$(document).on("form-refresh", (e, frm) => {
		if (!frm) return;
		frm.$wrapper && frm.$wrapper.find(".crm-dedup-duplicate-headline").remove();
		crm_dedup.duplicates.show_on_form(frm);
	});

	// ---- list view ----------------------------------------------------------------------------------
	crm_dedup.duplicates.mark_list = function (listview) {
		if (!listview || listview.view_name !== "List" || !listview.data || !listview.data.length)
			return;
		const doctype = listview.doctype;
		crm_dedup.duplicates.doctypes().then((set) => {
			if (!set.has(doctype)) return;
			const names = listview.data.map((d) => d.name);
			frappe
				.xcall("crm_dedup.scans.indicators.get_duplicate_flags", { doctype, names })
				.then((flags) => {
					if (!flags || listview.doctype !== doctype) return;
					listview.$result.find(".list-row-checkbox").each((i, el) => {
						let name = el.dataset.name;
						if (name && !(name in flags)) {
							try {
								name = decodeURIComponent(name);
							} catch (err) {
								// keep as is
							}
						}
						const flag = flags[name];
						if (!flag) return;
						const set_name = flag.set;
						const pill_class = flag.possible ? "gray" : "red";
						const pill_label = flag.possible ? possible_label() : label();
						const $subject = $(el).closest(".list-row").find(".list-subject").first();
						if (!$subject.length || $subject.find(".crm-dedup-pill").length) return;
						// before the title, so a long title never hides it
						const $pill = $(
							`<a class="crm-dedup-pill indicator-pill ${pill_class}" style="margin-right: 6px; flex-shrink: 0;"
								href="${crm_dedup.duplicates.set_url(set_name)}"
								title="${esc(__("In duplicate set {0}", [set_name]))}">${esc(pill_label)}</a>`,
						);
						const $title = $subject.find("a.ellipsis").first();
						if ($title.length) {
							$title.before($pill);
						} else {
							$subject.append($pill);
						}
					});
				})
				.catch(() => {});
		});
	};

	function patch_list_view() {
		const LV = frappe.views && frappe.views.ListView;
		if (!LV || LV.prototype.__crm_dedup_marked) return !!LV;
		const original = LV.prototype.after_render;
		LV.prototype.after_render = function (...args) {
			const out = original ? original.apply(this, args) : undefined;
			try {
				crm_dedup.duplicates.mark_list(this);
			} catch (err) {
				console.error(err); // never break the list view
			}
			return out;
		};
		LV.prototype.__crm_dedup_marked = true;
		return true;
	}
	if (!patch_list_view()) {
		$(document).on("page-change", patch_list_view);
	}

	// ---- Dedup Rule: scan button ---------------------------------------------------------------------
	frappe.ui.form.on("Dedup Rule", {
		refresh(frm) {
			if (frm.is_new() || !frm.doc.enabled || !frappe.model.can_create("Dedup Scan")) return;
			// scans are for managers (crm_dedup.core.roles): the server refuses everyone else
			if (!frappe.user.has_role(["Dedup Manager", "System Manager"])) return;
			frm.add_custom_button(__("Scan for duplicates"), () => {
				frappe
					.xcall("crm_dedup.scans.start.scan_rule", { rule: frm.doc.name })
					.then((scan) => frappe.set_route("Form", "Dedup Scan", scan));
			});
		},
	});
})();
