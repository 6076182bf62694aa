"""Duplicate Set storage: the open sets of records, their members and matched pairs, written in bulk.

Used by batch scans (``save_sets``: the clusters of one scan), by the save-time checks of a Data Import
(``add_pair_to_sets``: a row imported past a Warn rule) and by the review of a set (``set_values`` /
``write_sets`` for a split part, ``delete_sets``). One **Duplicate Set** holds the records (members with
title, owner, creation) and the matched pairs (rule, action, score, matched fields, explanation); a record is
in at most one open set of its DocType (a cluster that shares a record with open sets updates the oldest one
and absorbs the others).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import frappe
from frappe.utils import cint, flt, now_datetime

from crm_dedup.core.config import ACTION_LABELS, compiled
from crm_dedup.core.owners import owners_of
from crm_dedup.core.pairs import is_not_duplicate
from crm_dedup.engine import DEFAULT_SET_THRESHOLD, Match, is_strong, possible_pairs
from crm_dedup.engine.sets import can_pair

SET_DOCTYPE = "Duplicate Set"
MEMBER_DOCTYPE = "Duplicate Set Member"
PAIR_DOCTYPE = "Duplicate Set Pair"
SET_SERIES = "DSET-"
LIKELY = "Likely"  # a set held together by strong links, or a weak rule on two agreeing fields (engine.sets)
POSSIBLE = "Possible"  # two records paired by one weak link on one field alone: a pair to look at
MAX_MEMBERS = 200  # members kept on one set (a larger cluster is a rule problem, reported in the summary)
MAX_PAIRS = 500  # pair rows kept on one set, best first
BATCH = 1000  # names per "in (...)" of one query

SET_FIELDS = (
	"title",
	"ref_doctype",
	"status",
	"confidence",
	"member_count",
	"pair_count",
	"top_rule",
	"max_score",
	"scan",
	"last_seen",
	"first_seen",
	"possible_links",
)
MAX_POSSIBLE = 50  # possible links kept on one set
MEMBER_FIELDS = ("member_doctype", "member_name", "member_title", "record_owner", "record_created")
PAIR_FIELDS = (
	"doctype_a",
	"name_a",
	"doctype_b",
	"name_b",
	"rule",
	"action",
	"score",
	"matched_fields",
	"explanation",
	"not_duplicate",
)
STD = ("name", "creation", "modified", "owner", "modified_by", "docstatus")
CHILD_STD = (*STD, "parent", "parenttype", "parentfield", "idx")


# ==== reading =============================================================================================
def pair_key(a: str, b: str) -> tuple[str, str]:
	return (a, b) if a <= b else (b, a)


def open_sets(doctype: str) -> tuple[dict[str, str], dict[str, dict]]:
	"""({member name: open set}, {open set: {"members": set of names}}) for one DocType."""
	s = frappe.qb.DocType(SET_DOCTYPE)
	m = frappe.qb.DocType(MEMBER_DOCTYPE)
	rows = (
		frappe.qb.from_(m)
		.join(s)
		.on(s.name == m.parent)
		.select(s.name, m.member_name, s.confidence)
		.where((s.status == "Open") & (s.ref_doctype == doctype) & (m.member_doctype == doctype))
		.where(m.parenttype == SET_DOCTYPE)
		.run()
	)
	by_member: dict[str, str] = {}
	sets: dict[str, dict] = defaultdict(lambda: {"members": set()})
	for set_name, member, confidence in rows:
		by_member.setdefault(member, set_name)
		sets[set_name]["members"].add(member)
		sets[set_name]["confidence"] = confidence
	return by_member, dict(sets)


def open_set_names(doctype: str, names: list[str]) -> list[str]:
	"""The open duplicate sets any of these records is a member of."""
	s = frappe.qb.DocType(SET_DOCTYPE)
	m = frappe.qb.DocType(MEMBER_DOCTYPE)
	return (
		frappe.qb.from_(m)
		.join(s)
		.on(s.name == m.parent)
		.select(s.name)
		.distinct()
		.where((s.status == "Open") & (m.member_doctype == doctype) & m.member_name.isin(names))
		.run(pluck=True)
	)


def open_sets_for(doctype: str, names: list[str]) -> tuple[dict[str, str], dict[str, dict]]:
	"""As ``open_sets``, limited to the open sets holding any of ``names`` (``by_member`` of ``names``)."""
	set_names = open_set_names(doctype, names)
	by_member: dict[str, str] = {}
	sets: dict[str, dict] = {}
	if set_names:
		m = frappe.qb.DocType(MEMBER_DOCTYPE)
		for parent, member in (
			frappe.qb.from_(m)
			.select(m.parent, m.member_name)
			.where((m.parenttype == SET_DOCTYPE) & m.parent.isin(set_names))
			.run()
		):
			sets.setdefault(parent, {"members": set()})["members"].add(member)
			if member in names:
				by_member.setdefault(member, parent)
	return by_member, sets


def set_pairs(set_names: Iterable[str]) -> dict[str, list[dict]]:
	"""{set: [pair row (PAIR_FIELDS)]} in the sets' order."""
	set_names = list(set_names)
	out: dict[str, list[dict]] = defaultdict(list)
	for start in range(0, len(set_names), BATCH):
		for row in frappe.get_all(
			PAIR_DOCTYPE,
			filters={"parenttype": SET_DOCTYPE, "parent": ["in", set_names[start : start + BATCH]]},
			fields=["parent", *PAIR_FIELDS],
			order_by="idx asc",
		):
			out[row.pop("parent")].append(row)
	return out


# ==== building the rows of a set =========================================================================
def match_row(doctype: str, a: str, b: str, m: Match) -> dict:
	"""The pair row of one engine match (``_priority`` orders rows; it is not stored)."""
	fields = "; ".join(
		f"{h.field_a} ~ {h.field_b} ({h.match} {h.score:.0f})" for h in m.hits if not h.skipped
	)
	return {
		"doctype_a": doctype,
		"name_a": a,
		"doctype_b": doctype,
		"name_b": b,
		"rule": m.rule,
		"action": ACTION_LABELS.get(m.action, m.action),
		"score": round(float(m.score), 1),
		"matched_fields": fields[:1000],
		"explanation": m.explain[:2000],
		"not_duplicate": 0,
		"_priority": m.priority,
	}


def rule_priority(rule: str | None) -> int:
	r = compiled().rules.get(rule or "")
	return int(r["engine"]["priority"]) if r else 99


def best_per_pair(rows: list[dict]) -> list[dict]:
	"""One row per pair of records: a "not a duplicate" mark wins, then the rule with the lowest priority
	number, then the higher score (a pair matched by several rules is explained by its best rule)."""
	best: dict[tuple[str, str], tuple[tuple, dict]] = {}
	for r in rows:
		k = pair_key(r["name_a"], r["name_b"])
		rank = (-cint(r.get("not_duplicate")), r.get("_priority", 99), -flt(r["score"]))
		if k not in best or rank < best[k][0]:
			best[k] = (rank, r)
	return [r for _rank, r in best.values()]


def set_values(
	doctype: str,
	members: list[str],
	rows: list[dict],
	info: dict[str, dict],
	scan: str | None,
	now: Any,
	confidence: str = LIKELY,
) -> dict:
	"""A set's field values with its member and pair rows; ``info`` is ``owners_of(doctype, members)``."""
	members = members[:MAX_MEMBERS]
	kept = set(members)
	rows = [r for r in rows if r["name_a"] in kept and r["name_b"] in kept]
	rows = sorted(rows, key=lambda r: (r.get("_priority", 10), -flt(r["score"]), r["name_a"], r["name_b"]))
	rows = rows[:MAX_PAIRS]
	best = rows[0] if rows else {}
	first = info.get(members[0], {}) if members else {}
	first_title = first.get("title") or (members[0] if members else "")
	# stored, so language-neutral: "南京金陵餐饮有限公司 (+2)"
	title = f"{first_title} (+{len(members) - 1})" if len(members) > 1 else first_title
	return {
		"title": str(title)[:140],
		"ref_doctype": doctype,
		"status": "Open",
		"confidence": confidence,
		"member_count": len(members),
		"pair_count": len(rows),
		"top_rule": best.get("rule"),
		"max_score": max((flt(r["score"]) for r in rows), default=0),
		"scan": scan,
		"last_seen": now,
		"members": [
			{
				"member_doctype": doctype,
				"member_name": m,
				"member_title": str(info.get(m, {}).get("title") or m)[:140],
				"record_owner": info.get(m, {}).get("owner"),
				"record_created": info.get(m, {}).get("creation"),
			}
			for m in members
		],
		"pairs": [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows],
	}


def _same_set(old_members: set[str], old_pairs: list[dict], data: dict) -> bool:
	"""Whether a set's stored members and pairs (rule, score) are what the scan found again."""
	if set(old_members) != {m["member_name"] for m in data["members"]}:
		return False

	def signature(rows: list[dict]) -> list[tuple]:
		return sorted(
			(
				*pair_key(r["name_a"], r["name_b"]),
				r["rule"],
				round(flt(r["score"]), 1),
				cint(r.get("not_duplicate")),
			)
			for r in rows
		)

	return signature(old_pairs) == signature(data["pairs"])


# ==== the clusters of a scan =============================================================================
class _Plan:
	"""Which open set each cluster of a scan updates (or none: a new set) and which sets it absorbs."""

	def __init__(self, clusters: list[list[str]], by_member: dict[str, str]):
		self.claimed: dict[str, int] = {}
		self.absorbed: set[str] = set()
		self.items: list[tuple[str | None, int, list[str]]] = []  # (set to update, cluster, absorbed sets)
		for i in sorted(range(len(clusters)), key=lambda i: -len(clusters[i])):
			touched = sorted(
				{by_member[m] for m in clusters[i] if m in by_member} - self.absorbed - set(self.claimed)
			)
			target = touched[0] if touched else None
			if target:
				self.claimed[target] = i
			self.absorbed.update(touched[1:])
			self.items.append((target, i, touched[1:]))

	def touched_sets(self) -> list[str]:
		return [s for t, _i, o in self.items for s in ([t] if t else []) + o]


def save_sets(
	doctype: str,
	rule_names: list[str],
	full: bool,
	clusters: list[list[str]],
	pairs: list[tuple[str, str, Match]],
	scan: str | None = None,
) -> dict:
	"""Writes the clusters of one scan as Duplicate Sets: new sets for new clusters, the existing open set
	updated when a cluster shares a record with it (several such sets are merged into the oldest one).

	A ``full`` scan (every rule, every record of the DocType) is authoritative: a set's members and pairs
	become the cluster's, and open sets no cluster touched are marked Resolved. A partial scan (one rule)
	adds to the sets and replaces only the pairs of its own rules."""
	now = now_datetime()
	by_member, current = open_sets(doctype)
	# the mutual best weak links between records in no set are kept as sets of their own, of kind Possible
	lone = [list(pair_key(a, b)) for a, b, _m in possible_pairs(clusters, pairs)]
	possible = {tuple(c) for c in lone}
	clusters = clusters + lone
	weak_joins: list[list[str]] = []
	if not full:
		clusters, weak_joins = _without_weak_joins(rule_names, clusters, pairs, by_member)
	plan = _Plan(clusters, by_member)
	touched = plan.touched_sets()
	old_pairs = set_pairs(touched)
	wanted = [m for c in clusters for m in c]
	if not full:
		wanted += [m for s in touched for m in current.get(s, {}).get("members", ())]
	info = owners_of(doctype, wanted)
	rows_of = _rows_by_cluster(doctype, clusters, pairs)
	possible_of = possible_links(clusters, pairs)

	new_sets: list[dict] = []
	updates: list[dict] = []
	unchanged: list[str] = []
	possible_written = 0
	for target, i, others in plan.items:
		extra = ([target] if target else []) + others
		members = list(clusters[i])
		if not full:
			for s in extra:
				members += [m for m in sorted(current.get(s, {}).get("members", ())) if m not in members]
		rows = _kept_rows(extra, old_pairs, set(members), full, set(rule_names))
		kind = POSSIBLE if tuple(sorted(members)) in possible else LIKELY
		possible_written += kind == POSSIBLE
		data = set_values(doctype, members, best_per_pair(rows_of.get(i, []) + rows), info, scan, now, kind)
		data["possible_links"] = (
			json.dumps(possible_of.get(i, []), ensure_ascii=False) if possible_of.get(i) else None
		)
		if not target:
			data["first_seen"] = now
			new_sets.append(data)
		elif (
			not others
			and current[target].get("confidence") == kind
			and _same_set(current[target]["members"], old_pairs.get(target, []), data)
		):
			unchanged.append(target)
		else:
			data["name"] = target
			updates.append(data)

	if plan.absorbed:
		delete_sets(sorted(plan.absorbed))
	stale = sorted(set(current) - set(plan.claimed) - plan.absorbed) if full else []
	_resolve(stale, now)
	_seen_again(unchanged, scan, now)
	write_sets(new_sets, updates, now)
	_attach_possible(weak_joins, pairs, by_member)
	return {
		"new": len(new_sets),
		"updated": len(updates),
		"unchanged": len(unchanged),
		"resolved": len(stale),
		"merged_sets": len(plan.absorbed),
		"possible_pairs": possible_written,
	}


def _without_weak_joins(
	rule_names: list[str], clusters: list[list[str]], pairs: list[tuple[str, str, Match]], by_member: dict
) -> tuple[list[list[str]], list[list[str]]]:
	"""A partial scan (one rule) must not chain sets either: a cluster it holds together by weak links only (two
	records paired by a Warn / Log link, engine.sets) joins no existing open set; its link stays a possible one."""
	threshold = compiled().ruleset(rule_names).set_threshold
	where = {m: i for i, c in enumerate(clusters) for m in c}
	strong = {
		where[a] for a, b, m in pairs if a in where and where.get(b) == where[a] and is_strong(m, threshold)
	}
	kept, dropped = [], []
	for i, c in enumerate(clusters):
		(kept if i in strong or not any(m in by_member for m in c) else dropped).append(c)
	return kept, dropped


def _attach_possible(dropped: list[list[str]], pairs: list[tuple[str, str, Match]], by_member: dict) -> None:
	"""The weak links of dropped clusters, as possible links of the open sets their members are in."""
	if not dropped:
		return
	singles = [m for c in dropped for m in c]
	inside = [p for p in pairs if any(p[0] in c and p[1] in c for c in dropped)]
	by_set: dict[str, list[dict]] = defaultdict(list)
	for i, found in possible_links([[m] for m in singles], inside).items():
		if (s := by_member.get(singles[i])) is not None:
			by_set[s] += [{**x, "other_in_set": x["other"] in by_member} for x in found]
	for name, found in by_set.items():
		have = json.loads(frappe.db.get_value(SET_DOCTYPE, name, "possible_links") or "[]")
		seen = {(x["member"], x["other"], x["rule"]) for x in have}
		have += [x for x in found if (x["member"], x["other"], x["rule"]) not in seen]
		have.sort(key=lambda x: (-x["score"], x["member"], x["other"]))
		frappe.db.set_value(
			SET_DOCTYPE,
			name,
			"possible_links",
			json.dumps(have[:MAX_POSSIBLE], ensure_ascii=False),
			update_modified=False,
		)


def possible_links(clusters: list[list[str]], pairs: list[tuple[str, str, Match]]) -> dict[int, list[dict]]:
	"""{cluster index: matches of its members with records outside it}: the weak links a reviewer sees with the
	set (engine.sets keeps them out of the set), strongest first, at most MAX_POSSIBLE a set."""
	where = {m: i for i, c in enumerate(clusters) for m in c}
	out: dict[int, list[dict]] = defaultdict(list)
	for a, b, m in pairs:
		ca, cb = where.get(a), where.get(b)
		if ca == cb:
			continue
		for mine, other, c_other, c_mine in ((a, b, cb, ca), (b, a, ca, cb)):
			if c_mine is not None:
				out[c_mine].append(
					{
						"member": mine,
						"other": other,
						"other_in_set": c_other is not None,
						"rule": m.rule,
						"action": m.action,
						"score": round(float(m.score), 1),
					}
				)
	for links in out.values():
		links.sort(key=lambda x: (-x["score"], x["member"], x["other"]))
		del links[MAX_POSSIBLE:]
	return out


def _rows_by_cluster(
	doctype: str, clusters: list[list[str]], pairs: list[tuple[str, str, Match]]
) -> dict[int, list[dict]]:
	"""The pairs of each cluster: both records in it. A scan's other pairs (possible links between two sets,
	or to a record in no set) join nothing: the engine builds sets from strong links only."""
	cluster_of = {m: i for i, c in enumerate(clusters) for m in c}
	out: dict[int, list[dict]] = defaultdict(list)
	for a, b, m in pairs:
		i = cluster_of.get(a)
		if i is not None and cluster_of.get(b) == i:
			out[i].append(match_row(doctype, a, b, m))
	return out


def _kept_rows(
	sets: list[str], old_pairs: dict[str, list[dict]], members: set[str], full: bool, ours: set[str]
) -> list[dict]:
	"""The stored pairs of ``sets`` a scan keeps: pairs marked "not a duplicate" (history), and on a one-rule
	scan the other rules' pairs, as long as both records stay in the set."""
	kept = []
	for s in sets:
		for r in old_pairs.get(s, []):
			if not (r["name_a"] in members and r["name_b"] in members):
				continue
			if r.get("not_duplicate") or (not full and r["rule"] not in ours):
				kept.append({**r, "_priority": rule_priority(r["rule"])})
	return kept


def _resolve(stale: list[str], now: Any) -> None:
	s = frappe.qb.DocType(SET_DOCTYPE)
	for start in range(0, len(stale), BATCH):
		frappe.qb.update(s).set(s.status, "Resolved").set(s.modified, now).where(
			s.name.isin(stale[start : start + BATCH])
		).run()


def _seen_again(unchanged: list[str], scan: str | None, now: Any) -> None:
	s = frappe.qb.DocType(SET_DOCTYPE)
	for start in range(0, len(unchanged), BATCH):
		q = frappe.qb.update(s).set(s.last_seen, now)
		if scan:
			q = q.set(s.scan, scan)
		q.where(s.name.isin(unchanged[start : start + BATCH])).run()


# ==== one pair ===========================================================================================
def add_pair_to_sets(doctype: str, a: str, b: str, match: Match, scan: str | None = None) -> str | None:
	"""Records one matched pair (e.g. a row imported past a Warn rule) in the open set of either record, or
	a new set; returns the set's name. Written in the current transaction."""
	if not a or not b or a == b or is_not_duplicate(doctype, a, doctype, b):
		return None
	by_member, sets = open_sets_for(doctype, [a, b])
	touched = sorted({by_member[x] for x in (a, b) if x in by_member})
	now = now_datetime()
	row = match_row(doctype, *pair_key(a, b), match)
	if not touched:
		pair = list(pair_key(a, b))
		strong = is_strong(match, compiled().cfg.get("set_threshold", DEFAULT_SET_THRESHOLD))
		kind = LIKELY if strong or can_pair(match) else POSSIBLE
		data = set_values(doctype, pair, [row], owners_of(doctype, pair), scan, now, kind)
		data["first_seen"] = now
		write_sets([data], [], now)
		return data["name"]
	target, others = touched[0], touched[1:]
	members = sorted(set().union(*(sets[s]["members"] for s in touched)) | {a, b})
	rows = [row]
	for prs in set_pairs(touched).values():
		rows += [{**r, "_priority": rule_priority(r["rule"])} for r in prs]
	data = set_values(doctype, members, best_per_pair(rows), owners_of(doctype, members), scan, now)
	data["name"] = target
	if others:
		delete_sets(others)
	write_sets([], [data], now)
	return target


# ==== writing ============================================================================================
def _reserve_names(count: int, digits: int = 5) -> list[str]:
	"""``count`` consecutive names of the DSET- series (one locked update, as frappe's getseries)."""
	if count <= 0:
		return []
	series = frappe.qb.DocType("Series")
	current = frappe.qb.from_(series).where(series.name == SET_SERIES).for_update().select("current").run()
	if current and current[0][0] is not None:
		start = cint(current[0][0])
		frappe.qb.update(series).set(series.current, series.current + count).where(
			series.name == SET_SERIES
		).run()
	else:
		start = 0
		frappe.qb.into(series).columns("name", "current").insert(SET_SERIES, count).run()
	return [f"{SET_SERIES}{str(start + i).zfill(digits)}" for i in range(1, count + 1)]


def write_sets(new_sets: list[dict], updates: list[dict], now: Any) -> None:
	"""Bulk writes: parents of new sets (named here), updated parents, and the child rows of both."""
	user = frappe.session.user or "Administrator"
	for data, name in zip(new_sets, _reserve_names(len(new_sets)), strict=True):
		data["name"] = name
	if new_sets:
		frappe.db.bulk_insert(
			SET_DOCTYPE,
			[*STD, *SET_FIELDS],
			[(d["name"], now, now, user, user, 0, *(d.get(f) for f in SET_FIELDS)) for d in new_sets],
		)
	if updates:
		_update_parents(updates, user, now)
		_delete_children([d["name"] for d in updates])
	member_rows: list[tuple] = []
	pair_rows: list[tuple] = []
	for d in new_sets + updates:
		member_rows += _child_rows(d, "members", MEMBER_FIELDS, user, now)
		pair_rows += _child_rows(d, "pairs", PAIR_FIELDS, user, now)
	if member_rows:
		frappe.db.bulk_insert(MEMBER_DOCTYPE, [*CHILD_STD, *MEMBER_FIELDS], member_rows, chunk_size=5000)
	if pair_rows:
		frappe.db.bulk_insert(PAIR_DOCTYPE, [*CHILD_STD, *PAIR_FIELDS], pair_rows, chunk_size=2000)


def _update_parents(updates: list[dict], user: str, now: Any) -> None:
	s = frappe.qb.DocType(SET_DOCTYPE)
	for d in updates:
		q = frappe.qb.update(s).set(s.modified, now).set(s.modified_by, user)
		for f in SET_FIELDS:
			if f != "first_seen":
				q = q.set(s[f], d.get(f))
		q.where(s.name == d["name"]).run()


def _delete_children(names: list[str]) -> None:
	for child in (MEMBER_DOCTYPE, PAIR_DOCTYPE):
		c = frappe.qb.DocType(child)
		for start in range(0, len(names), BATCH):
			frappe.qb.from_(c).delete().where(
				(c.parenttype == SET_DOCTYPE) & c.parent.isin(names[start : start + BATCH])
			).run()


def _child_rows(d: dict, table: str, fields: tuple[str, ...], user: str, now: Any) -> list[tuple]:
	"""The child rows of one set as INSERT tuples: standard columns, then ``fields``."""
	return [
		(frappe.generate_hash(length=12), now, now, user, user, 0, d["name"], SET_DOCTYPE, table, idx)
		+ tuple(row.get(f) for f in fields)
		for idx, row in enumerate(d[table], 1)
	]


def delete_sets(names: list[str]) -> None:
	"""Deletes sets with their members, pairs and comments (no controller: bulk)."""
	names = list(names)
	for start in range(0, len(names), BATCH):
		part = names[start : start + BATCH]
		_delete_children(part)
		s = frappe.qb.DocType(SET_DOCTYPE)
		frappe.qb.from_(s).delete().where(s.name.isin(part)).run()
		frappe.db.delete("Comment", {"reference_doctype": SET_DOCTYPE, "reference_name": ["in", part]})
