// Ownership (撞单归属): the public-pool indicator and the "Claim" action on forms of DocTypes with an ownership
// policy, and live alerts of routed records, releases and claims (crm_dedup.ownership).
frappe.provide("crm_dedup.ownership");

crm_dedup.ownership.show = function (frm) {
	if (frm.is_new() || frm.doc.dedup_public_pool === undefined) return;
	frappe
		.xcall("crm_dedup.ownership.api.protection", { doctype: frm.doctype, name: frm.doc.name })
		.then((p) => {
			if (!p || !p.has_policy) return;
			if (p.in_pool) {
				frm.dashboard.set_headline_alert(
					`<div class="text-warning">${__(
						"In the public pool (公海): anyone may claim it.",
					)}</div>`,
				);
				frm.page.set_indicator(__("Public Pool"), "orange");
				frm.add_custom_button(__("Claim"), () => crm_dedup.ownership.claim(frm)).addClass(
					"btn-primary",
				);
			} else if (p.protected_until) {
				frm.dashboard.set_headline_alert(
					`<div class="text-muted">${__("Protected for {0} until {1}", [
						frappe.utils.escape_html(frappe.user.full_name(p.owner) || p.owner || ""),
						frappe.datetime.str_to_user(p.protected_until),
					])}</div>`,
				);
			}
		});
};

crm_dedup.ownership.claim = function (frm) {
	frappe.confirm(__("Claim {0} {1}? It becomes yours and protected again.", [__(frm.doctype), frm.doc.name]), () =>
		frappe
			.xcall("crm_dedup.ownership.api.claim", { doctype: frm.doctype, name: frm.doc.name })
			.then((r) => {
				frappe.show_alert({
					message: __("Claimed: protected until {0}", [frappe.datetime.str_to_user(r.protected_until)]),
					indicator: "green",
				});
				frm.reload_doc();
			}),
	);
};

$(document).on("form-refresh", function (e, frm) {
	crm_dedup.ownership.show(frm);
});

frappe.realtime.on("crm_dedup_ownership", (data) => {
	if (!data) return;
	frappe.show_alert(
		{
			message: `<a href="/app/${frappe.router.slug(data.doctype)}/${encodeURIComponent(data.name)}">${frappe.utils.escape_html(data.subject)}</a>`,
			indicator: data.kind === "release" ? "orange" : "blue",
		},
		12,
	);
});
