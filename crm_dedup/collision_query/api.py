# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt
"""Whitelisted methods of the Collision Query page (and of integrations: same function, same answer)."""

from __future__ import annotations

import json

import frappe
from frappe import _
from frappe.utils import cint, now_datetime

from crm_dedup.collision_query.access import (
	CollisionQueryRateLimited,
	check_access,
	count_query,
	rate_limit,
	remaining_queries,
	write_log,
)
from crm_dedup.collision_query.answer import (
	clean_inputs,
	hit_attr,
	no_match_message,
	placeholders_in,
	records_from,
	result_row,
	search,
)
from crm_dedup.collision_query.layout import (
	ALL,
	all_inputs,
	doctype_inputs,
	rule_doctypes,
	searchable_doctypes,
)

MAX_RESULTS = 100


@frappe.whitelist()
def get_query_fields() -> dict:
	"""The page layout: doctypes to switch between, and the inputs of each doctype and of All mode."""
	user = frappe.session.user
	check_access(user)
	doctypes = rule_doctypes()
	by_doctype = {dt: [qi.to_dict() for qi in doctype_inputs(dt)] for dt in doctypes}
	searchable = [dt for dt in doctypes if by_doctype[dt]]
	return {
		"doctypes": [{"value": dt, "label": _(dt), "has_rules": bool(by_doctype[dt])} for dt in doctypes],
		"searchable": searchable,
		"inputs": {ALL: [qi.to_dict() for qi in all_inputs(searchable)], **by_doctype},
		"rate_limit": rate_limit(),
		"remaining": remaining_queries(user),
	}


@frappe.whitelist()
def collision_query(doctype: str = ALL, inputs: dict | str | None = None, limit: int = 50) -> dict:
	"""Is this customer already someone's? Checks the inputs against the enabled Dedup Rules.

	:param doctype: a doctype with rules, or "All" to search every one of them at once.
	:param inputs: {input key: value}; keys as returned by :func:`get_query_fields` (in single-doctype mode
	        a fieldname of the group works too).
	:param limit: at most this many results (1-100).
	:returns: {"doctype", "searched", "inputs", "results": [row], "count", "message", "remaining", "log"};
	        a row is what the page shows: doctype, title (masked unless readable), url, owner, status, created,
	        last_activity, rule, matched_fields, score.
	"""
	user = frappe.session.user
	check_access(user)
	doctype, searched, clean, layout = _parse(doctype, inputs)
	records = records_from(doctype, clean, layout)
	limit = min(max(cint(limit) or 50, 1), MAX_RESULTS)
	log = {
		"user": user,
		"queried_at": now_datetime(),
		"query_doctype": doctype,
		"inputs": json.dumps(clean, ensure_ascii=False, sort_keys=True),
		"ip_address": getattr(frappe.local, "request_ip", None),
	}
	count, max_per_hour = _count(user, log)
	placeholders = placeholders_in(records, layout, clean)
	hits = search(records)
	rows = [result_row(hit, user) for hit in hits[:limit]]
	log_name = write_log(
		{
			**log,
			"status": "Answered",
			"hit_count": len(hits),
			"masked_hits": sum(1 for r in rows if not r["can_read"]),
			"hits_summary": _summary(hits, rows),
		}
	)
	return {
		"doctype": doctype,
		"searched": searched,
		"inputs": clean,
		"results": rows,
		"count": len(hits),
		"message": "" if rows else no_match_message(searched, placeholders, clean),
		"placeholders": placeholders,
		"remaining": max(0, max_per_hour - count) if max_per_hour else None,
		"log": log_name,
	}


def _parse(doctype: str | None, inputs: dict | str | None) -> tuple[str, list[str], dict, list]:
	"""(doctype, doctypes searched, cleaned inputs, layout), or a clear error."""
	doctype = (doctype or ALL).strip()
	doctypes = searchable_doctypes()
	if not doctypes:
		frappe.throw(
			_("No Dedup Rule is enabled: there is nothing to check against."), title=_("Collision Query")
		)
	if doctype != ALL and doctype not in doctypes:
		frappe.throw(_("{0} has no enabled Dedup Rule.").format(_(doctype)), title=_("Collision Query"))
	clean = clean_inputs(inputs)
	if not clean:
		frappe.throw(_("Type at least one value to check."), title=_("Collision Query"))
	searched = doctypes if doctype == ALL else [doctype]
	layout = all_inputs(searched) if doctype == ALL else doctype_inputs(doctype)
	return doctype, searched, clean, layout


def _count(user: str, log: dict) -> tuple[int, int]:
	"""Counts the query against the user's hourly budget; over it, logs the refusal and throws (HTTP 429)."""
	count, max_per_hour = count_query(user)
	if max_per_hour and count > max_per_hour:
		write_log({**log, "status": "Rate Limited", "hit_count": 0, "masked_hits": 0})
		frappe.throw(
			_("You have reached the limit of {0} collision queries per hour. Try again later.").format(
				max_per_hour
			),
			exc=CollisionQueryRateLimited,
			title=_("Too Many Queries"),
		)
	return count, max_per_hour


def _summary(hits: list, rows: list[dict]) -> str:
	"""The shown hits with their real names, for managers reading the log."""
	return json.dumps(
		[
			{
				"doctype": hit_attr(h, "doctype"),
				"name": hit_attr(h, "name"),
				"owner": hit_attr(h, "owner"),
				"rule": r["rule"],
				"score": r["score"],
				"can_read": r["can_read"],
			}
			for h, r in zip(hits, rows, strict=False)
		],
		ensure_ascii=False,
		default=str,
	)
