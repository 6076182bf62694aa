# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt
"""Disputes and manual review (撞单申诉 / 人工复核).

A rep stopped by a Block or Warn match (the save dialog, or a Collision Query row) files a **dispute** about the
existing record: a reason, optional evidence (attachments on the dispute). A Warn match of a rule set to "Needs
Review" that was saved anyway files a **review** by itself. Managers of the scope — a Dedup Manager, or a Sales
Manager whose Sales Person is above the existing owner's in the Sales Person tree — decide:

- **Keep Owner**; **Transfer to Claimant** (the owner field, protection renewed); **Share** (both keep access, a
  DocShare); **Merge** (opens the merge with the first-entry policy's survivor; the dispute is decided when the
  merge completes); **Not a Duplicate** (recorded like a reviewed duplicate set).

Every decision is logged (Dedup Ownership Log), both reps are alerted, and the collision log links to the
dispute. A record deleted or merged while its dispute is open closes the dispute (Withdrawn / decided as Merge).
"""

from __future__ import annotations

import json
from typing import Any

import frappe
from frappe import _
from frappe.utils import add_days, get_fullname, now_datetime, time_diff_in_hours

from crm_dedup.core.config import compiled
from crm_dedup.core.display import can_read, field_label, shown
from crm_dedup.core.owners import first_entry_order, first_entry_policy, owner_of
from crm_dedup.core.pairs import add_not_duplicate
from crm_dedup.core.roles import MANAGER_ROLE, is_manager
from crm_dedup.ownership.alerts import alert
from crm_dedup.ownership.claim import _set_owner
from crm_dedup.ownership.log import log
from crm_dedup.ownership.policy import UNTIL_FIELD, policy_of

DOCTYPE = "Dedup Dispute"
DECISIONS = ("Keep Owner", "Transfer to Claimant", "Share", "Merge", "Not a Duplicate")


def file(
	existing_doctype: str,
	existing_name: str,
	reason: str,
	ref_doctype: str | None = None,
	ref_name: str | None = None,
	values: dict | None = None,
	collision_log: str | None = None,
	kind: str = "Dispute",
) -> str:
	"""Files a dispute (or review) about an existing record for the session user; returns its name. Filing the
	same dispute twice gives the open one back."""
	user = frappe.session.user
	reason = (reason or "").strip()
	if not reason:
		frappe.throw(
			_("Say why the record should be yours (a reason is required)."), title=_("Reason needed")
		)
	if not existing_doctype or not frappe.db.exists(existing_doctype, existing_name):
		frappe.throw(
			_("{0} {1} does not exist").format(_(existing_doctype or ""), existing_name),
			frappe.DoesNotExistError,
		)
	owner = owner_of(existing_doctype, existing_name)
	if kind == "Dispute" and owner == user:
		frappe.throw(
			_("{0} {1} is yours: there is nothing to dispute.").format(_(existing_doctype), existing_name),
			title=_("Nothing to dispute"),
		)
	if open_one := frappe.db.get_value(
		DOCTYPE,
		{
			"existing_doctype": existing_doctype,
			"existing_name": existing_name,
			"claimant": user,
			"status": "Open",
		},
	):
		return open_one
	collision_log = collision_log or _latest_collision(user, existing_doctype, existing_name)
	row = _collision(collision_log, user, existing_name)
	doc = frappe.get_doc(
		{
			"doctype": DOCTYPE,
			"kind": kind,
			"status": "Open",
			"claimant": user,
			"filed_at": now_datetime(),
			"existing_doctype": existing_doctype,
			"existing_name": existing_name,
			"existing_owner": owner,
			"ref_doctype": ref_doctype or row.get("ref_doctype"),
			"ref_name": ref_name or row.get("ref_name"),
			"rule": row.get("rule"),
			"score": row.get("score"),
			"collision_log": collision_log,
			"explanation": row.get("explanation"),
			"values_tried": json.dumps(values, ensure_ascii=False, default=str) if values else None,
			"reason": reason,
		}
	)
	doc.insert(ignore_permissions=True)
	doc.db_set("suggested", suggestion(doc), update_modified=False)
	if collision_log and frappe.get_meta("Dedup Collision Log").has_field("dispute"):
		frappe.db.set_value("Dedup Collision Log", collision_log, "dispute", doc.name, update_modified=False)
	log("Dispute Filed", existing_doctype, existing_name, previous_owner=owner, detail=doc.name)
	for manager in reviewers(existing_doctype, owner):
		alert(
			"dispute",
			manager,
			DOCTYPE,
			doc.name,
			_("{0} disputes {1} {2} (owner: {3}).").format(
				get_fullname(user),
				_(existing_doctype),
				existing_name,
				get_fullname(owner) if owner else _("nobody"),
			),
		)
	return doc.name


def _latest_collision(user: str, doctype: str, name: str) -> str | None:
	"""The user's latest collision with the record in the last day (the save dialog does not know its log)."""
	found = frappe.get_all(
		"Dedup Collision Log",
		{
			"attempted_by": user,
			"existing_doctype": doctype,
			"existing_name": name,
			"creation": [">", add_days(now_datetime(), -1)],
		},
		pluck="name",
		order_by="creation desc",
		limit=1,
	)
	return found[0] if found else None


def _collision(collision_log: str | None, user: str, existing_name: str) -> dict:
	"""Rule, score, explanation and the attempted record of one of ``user``'s collisions with the record."""
	if not collision_log:
		return {}
	row = (
		frappe.db.get_value(
			"Dedup Collision Log",
			collision_log,
			["attempted_by", "rule", "score", "explanation", "ref_doctype", "ref_name", "existing_name"],
			as_dict=True,
		)
		or {}
	)
	if row.get("attempted_by") != user or row.get("existing_name") != existing_name:
		frappe.throw(
			_("Collision log {0} is not one of your collisions with this record.").format(collision_log),
			frappe.PermissionError,
		)
	return row


def reviewers(doctype: str, owner: str | None) -> list[str]:
	"""Dedup Managers, and the Sales Managers above the owner in the Sales Person tree."""
	users = set(frappe.get_all("Has Role", {"role": MANAGER_ROLE, "parenttype": "User"}, pluck="parent"))
	for sp in _sales_people_above(owner):
		if (user := _user_of_sales_person(sp)) and "Sales Manager" in frappe.get_roles(user):
			users.add(user)
	return sorted(
		u for u in users if u not in ("Administrator", "Guest") and frappe.db.get_value("User", u, "enabled")
	)


def _sales_person_of(user: str | None) -> str | None:
	if not user or not frappe.db.table_exists("Sales Person"):
		return None
	employee = (
		frappe.db.get_value("Employee", {"user_id": user}, "name")
		if frappe.db.table_exists("Employee")
		else None
	)
	return frappe.db.get_value("Sales Person", {"employee": employee}, "name") if employee else None


def _user_of_sales_person(sp: str) -> str | None:
	employee = frappe.db.get_value("Sales Person", sp, "employee")
	return frappe.db.get_value("Employee", employee, "user_id") if employee else None


def _sales_people_above(user: str | None) -> list[str]:
	sp = _sales_person_of(user)
	if not sp:
		return []
	lft, rgt = frappe.db.get_value("Sales Person", sp, ["lft", "rgt"])
	return frappe.get_all("Sales Person", {"lft": ["<", lft], "rgt": [">", rgt]}, pluck="name")


def can_decide(doc: Any, user: str | None = None) -> bool:
	user = user or frappe.session.user
	if is_manager(user):
		return True
	return user in reviewers(doc.existing_doctype, doc.existing_owner) and user != doc.claimant


def suggestion(doc: Any) -> str:
	"""The decision the first-entry policy suggests: whose record keeps the customer (Keep Owner when the existing
	record comes first, Transfer to Claimant when the claimant's does; "" when a manager decides or the
	claimant's record was never saved)."""
	if not (
		doc.ref_name
		and doc.ref_doctype == doc.existing_doctype
		and frappe.db.exists(doc.ref_doctype, doc.ref_name)
	):
		return ""
	if first_entry_policy(doc.existing_doctype)[0] == "Manager decides":
		return ""
	first = first_entry_order(doc.existing_doctype, [doc.existing_name, doc.ref_name])[0]
	return "Keep Owner" if first == doc.existing_name else "Transfer to Claimant"


def decide(name: str, decision: str, note: str | None = None) -> dict:
	"""Decides an open dispute; returns {status, decision} and, for Merge, what the merge dialog needs."""
	doc = frappe.get_doc(DOCTYPE, name)
	if decision not in DECISIONS:
		frappe.throw(_("Unknown decision {0}").format(decision), title=_("Invalid decision"))
	if not can_decide(doc):
		frappe.throw(
			_(
				"Only a Dedup Manager, or a Sales Manager above the owner in the Sales Person tree, may decide this dispute."
			),
			frappe.PermissionError,
			title=_("Not permitted"),
		)
	if doc.status != "Open":
		frappe.throw(
			_("Dispute {0} is {1} already.").format(doc.name, _(doc.status)), title=_("Already decided")
		)
	if not frappe.db.exists(doc.existing_doctype, doc.existing_name):
		_close(
			doc, "Withdrawn", None, _("The existing record was deleted or merged while the dispute was open.")
		)
		return {"status": "Withdrawn"}
	out: dict[str, Any] = {"status": "Decided", "decision": decision}
	if decision == "Merge":
		if not (
			doc.ref_name
			and doc.ref_doctype == doc.existing_doctype
			and frappe.db.exists(doc.ref_doctype, doc.ref_name)
		):
			frappe.throw(
				_("Merge needs the claimant's record of the same DocType; it was never saved or is gone."),
				title=_("Nothing to merge"),
			)
		survivor = doc.ref_name if suggestion(doc) == "Transfer to Claimant" else doc.existing_name
		doc.db_set({"decision_note": note or "", "suggested": suggestion(doc)}, update_modified=False)
		return {
			"status": "Open",
			"decision": "Merge",
			"merge": {
				"doctype": doc.existing_doctype,
				"names": [doc.existing_name, doc.ref_name],
				"survivor": survivor,
			},
		}
	if decision == "Transfer to Claimant":
		_set_owner(doc.existing_doctype, doc.existing_name, doc.claimant)
		if (policy := policy_of(doc.existing_doctype)) and policy.pools:
			from datetime import timedelta

			from frappe.utils import getdate, today

			frappe.db.set_value(
				doc.existing_doctype,
				doc.existing_name,
				UNTIL_FIELD,
				getdate(today()) + timedelta(days=policy.days),
				update_modified=False,
			)
	elif decision == "Share":
		frappe.share.add_docshare(
			doc.existing_doctype,
			doc.existing_name,
			doc.claimant,
			read=1,
			write=1,
			flags={"ignore_share_permission": True},
		)
	elif (
		decision == "Not a Duplicate"
		and doc.ref_name
		and doc.ref_doctype
		and frappe.db.exists(doc.ref_doctype, doc.ref_name)
	):
		add_not_duplicate(
			doc.existing_doctype, doc.existing_name, doc.ref_doctype, doc.ref_name, reason=note or doc.reason
		)
	_close(doc, "Decided", decision, note)
	return out


def _close(doc: Any, status: str, decision: str | None, note: str | None) -> None:
	now = now_datetime()
	doc.db_set(
		{
			"status": status,
			"decision": decision,
			"decision_note": note,
			"decided_by": frappe.session.user,
			"decided_at": now,
			"hours_to_decision": round(time_diff_in_hours(now, doc.filed_at or doc.creation), 2),
		},
		update_modified=True,
	)
	new_owner = doc.claimant if decision == "Transfer to Claimant" else None
	log(
		"Dispute Decided",
		doc.existing_doctype,
		doc.existing_name,
		previous_owner=doc.existing_owner,
		new_owner=new_owner,
		detail=f"{doc.name}: {decision or status}",
	)
	subject = _("Dispute {0} about {1} {2}: {3}.").format(
		doc.name, _(doc.existing_doctype), doc.existing_name, _(decision or status)
	)
	for user in {doc.claimant, doc.existing_owner} - {None}:
		alert("dispute", user, DOCTYPE, doc.name, subject)


def on_merge_log(merge_log: Any, method: str | None = None) -> None:
	"""doc_event of Dedup Merge Log: open disputes about the merged records are decided as Merge."""
	if merge_log.get("status") != "Merged" or not frappe.db.table_exists(DOCTYPE):
		return
	doctype = merge_log.get("merged_doctype")
	try:
		merged = [r[1] for r in json.loads(merge_log.get("merged_records") or "[]")]
	except (ValueError, TypeError, IndexError):
		merged = []
	names = [merge_log.get("survivor"), *merged]
	for name in frappe.get_all(
		DOCTYPE, {"status": "Open", "existing_doctype": doctype, "existing_name": ["in", names]}, pluck="name"
	):
		_close(frappe.get_doc(DOCTYPE, name), "Decided", "Merge", _("Merged: {0}").format(merge_log.name))


def on_trash_record(doc: Any, method: str | None = None) -> None:
	"""doc_events "*" on_trash: an open dispute about a deleted record is withdrawn (nothing to decide)."""
	if doc.doctype == DOCTYPE or not frappe.db.table_exists(DOCTYPE) or frappe.flags.in_install:
		return
	for name in frappe.get_all(
		DOCTYPE, {"status": "Open", "existing_doctype": doc.doctype, "existing_name": doc.name}, pluck="name"
	):
		_close(frappe.get_doc(DOCTYPE, name), "Withdrawn", None, _("The existing record was deleted."))


def on_update_review(doc: Any, method: str | None = None) -> None:
	"""doc_events "*" on_update: a Warn match of a rule set to Needs Review, saved anyway, files a review."""
	hits = doc.flags.crm_dedup_hits
	if not hits or doc.flags.crm_dedup_reviewed:
		return
	comp = compiled()
	review = [h for h in hits if h.action == "warn" and (comp.rules.get(h.match.rule) or {}).get("review")]
	if not review:
		return
	doc.flags.crm_dedup_reviewed = True
	hit = review[0]
	file(
		hit.doctype,
		hit.name,
		_("Saved past a Warn match of rule {0} ({1}); needs review.").format(
			hit.match.rule, hit.match.explain
		),
		ref_doctype=doc.doctype,
		ref_name=doc.name,
		kind="Review",
	)


def _recent(doctype: str, name: str, limit: int = 5) -> list[dict]:
	"""The latest comments and communications of a record, newest first."""
	items = []
	for row in frappe.get_all(
		"Comment",
		{"reference_doctype": doctype, "reference_name": name, "comment_type": "Comment"},
		["creation", "owner", "content"],
		order_by="creation desc",
		limit=limit,
	):
		items.append(
			{
				"when": row.creation,
				"by": get_fullname(row.owner),
				"what": frappe.utils.strip_html(row.content or "")[:140],
				"kind": _("Comment"),
			}
		)
	for row in frappe.get_all(
		"Communication",
		{"reference_doctype": doctype, "reference_name": name},
		["communication_date", "sender", "subject"],
		order_by="communication_date desc",
		limit=limit,
	):
		items.append(
			{
				"when": row.communication_date,
				"by": row.sender,
				"what": row.subject,
				"kind": _("Communication"),
			}
		)
	items.sort(key=lambda i: str(i["when"]), reverse=True)
	return [{**i, "when": str(i["when"])} for i in items[:limit]]


def _side(doctype: str | None, name: str | None, fields: list[str], values: dict | None, user: str) -> dict:
	exists = bool(doctype and name and frappe.db.exists(doctype, name))
	readable = exists and can_read(doctype, name, user)
	rec = (
		frappe.db.get_value(doctype, name, ["creation", *[f for f in fields if "." not in f]], as_dict=True)
		if exists
		else {}
	)
	source = rec if exists else (values or {})
	return {
		"doctype": doctype,
		"name": name if (readable or not exists) else None,
		"exists": exists,
		"owner": owner_of(doctype, name) if exists else None,
		"created": str(rec.get("creation")) if exists else None,
		"values": {f: shown(source.get(f), readable or not exists) for f in fields if "." not in f},
		"activity": _recent(doctype, name) if readable else [],
	}


def side_by_side(name: str) -> dict:
	doc = frappe.get_doc(DOCTYPE, name)
	user = frappe.session.user
	fields = compiled().query_fields(doc.existing_doctype)
	values = json.loads(doc.values_tried) if doc.values_tried else None
	claimant = _side(doc.ref_doctype or doc.existing_doctype, doc.ref_name, fields, values, user)
	existing = _side(doc.existing_doctype, doc.existing_name, fields, None, user)
	return {
		"labels": {f: field_label(doc.existing_doctype, f) for f in fields if "." not in f},
		"existing": existing,
		"claimant": claimant,
		"explanation": json.loads(doc.explanation) if doc.explanation else None,
		"suggested": doc.suggested or suggestion(doc),
		"can_decide": doc.status == "Open" and can_decide(doc),
		"decisions": list(DECISIONS),
	}
