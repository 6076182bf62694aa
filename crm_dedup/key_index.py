"""The candidate index over MariaDB: **Dedup Key** rows (rule, blocking_key, ref_doctype, ref_name).

- ``MariaDBIndex`` implements the engine's ``KeyIndex`` for one stored doctype: ``postings()`` /
  ``candidates()`` read Dedup Key, ``records()`` loads the candidates' fields through the bridge (mapped into
  the target's field names for a cross check). Lookups never scan the doctype.
- Reads see both this transaction's own uncommitted keys (``frappe.db``) and the latest committed keys of
  everyone else (the side connection, ``crm_dedup.sidedb``), so a save that waited for another save's key
  lock sees what that save committed even though its own snapshot is older.
- ``lock_keys`` takes MariaDB ``GET_LOCK`` locks (one per key hash, in sorted order), released after the
  transaction commits or rolls back.
- ``index_doc`` / ``unindex`` / ``rename`` keep the index current (crm_dedup.events); ``rebuild`` re-creates
  it (``bench --site SITE execute crm_dedup.key_index.rebuild``; ``enqueue_rebuild`` runs it as a job).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

import frappe
from frappe import _
from frappe.utils import cint, now_datetime

from crm_dedup import bridge, sidedb
from crm_dedup.engine.index import DEFAULT_CAP, KeyIndex, key_hash

TABLE = "tabDedup Key"
SEQUENCE = "dedup_key_id_seq"  # Frappe's sequence of the autoincrement doctype
KEY_LENGTH = 140  # Data field length of blocking_key
BATCH = 2000


class DedupBusyError(frappe.ValidationError):
	"""Another transaction holds the lock on one of the record's keys for too long."""


def stored_key(key: str) -> str:
	"""The key as stored: itself when it fits the column, else a prefix and a hash of the whole."""
	if len(key) <= KEY_LENGTH:
		return key
	digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()
	return f"{key[: KEY_LENGTH - 17]}#{digest}"


# ---- locks --------------------------------------------------------------------------------------------
def _lock_name(rule: str, key: str) -> str:
	db = frappe.local.conf.db_name or frappe.local.site
	dbh = hashlib.blake2b(db.encode(), digest_size=4).hexdigest()
	return f"crm_dedup:{dbh}:{key_hash(rule, key) & 0xFFFFFFFFFFFFFFFF:016x}"


def lock_keys(rule_keys: Mapping[str, Iterable[str]], timeout: int = 10) -> None:
	"""Locks the given keys for the rest of this transaction (MariaDB GET_LOCK, sorted to avoid deadlocks).

	Raises DedupBusyError when another save holds one of them for longer than ``timeout`` seconds.
	"""
	held: set[str] | None = getattr(frappe.local, "crm_dedup_locks", None)
	if held is None:
		held = frappe.local.crm_dedup_locks = set()
	names = sorted({_lock_name(r, k) for r, ks in rule_keys.items() for k in ks} - held)
	if not names:
		return
	if not held:
		frappe.db.after_commit.add(release_locks)
		frappe.db.after_rollback.add(release_locks)
	# one round trip; MariaDB evaluates the select list left to right, i.e. in sorted order
	got = frappe.db.sql(
		"select " + ", ".join(["get_lock(%s, %s)"] * len(names)),
		[v for name in names for v in (name, cint(timeout))],
	)[0]
	held.update(name for name, ok in zip(names, got, strict=True) if ok == 1)
	if any(ok != 1 for ok in got):
		frappe.throw(
			_(
				"Another user is saving a record with the same details right now. Please try again in a moment."
			),
			exc=DedupBusyError,
			title=_("Duplicate check busy"),
		)


def release_locks() -> None:
	held: set[str] = getattr(frappe.local, "crm_dedup_locks", None) or set()
	if not held:
		return
	try:
		if frappe.db and frappe.db._conn:
			frappe.db.sql("select " + ", ".join(["release_lock(%s)"] * len(held)), tuple(held))
	finally:
		held.clear()


# ---- the index ----------------------------------------------------------------------------------------
class MariaDBIndex(KeyIndex):
	"""Dedup Key rows of one stored doctype, as the engine's KeyIndex."""

	def __init__(
		self,
		ref_doctype: str,
		paths: Iterable[str] = (),
		field_map: Mapping[str, list[str]] | None = None,
		fresh: bool = True,
	) -> None:
		self.ref_doctype = ref_doctype
		self.paths = list(paths)
		self.field_map = field_map
		self.fresh = fresh
		self._loaded: dict[str, Mapping[str, Any]] = {}
		self._postings: dict[tuple[str, str], list[str]] = {}
		self._limit = 0

	def prefetch(self, keys: Mapping[str, Iterable[str]], cap: int = DEFAULT_CAP) -> None:
		"""Reads the posting lists of all these keys in one round trip (per connection), for the searches
		that follow (one per action) to share."""
		self._cached([(rule, k) for rule, ks in keys.items() for k in ks], cap + 1)

	def _cached(self, pairs: list[tuple[str, str]], limit: int) -> dict[tuple[str, str], list[str]]:
		if limit > self._limit:  # a larger limit than what was read: read again
			self._postings.clear()
			self._limit = limit
		todo = [p for p in dict.fromkeys(pairs) if p not in self._postings]
		if todo:
			fetched = self._fetch(todo, self._limit)
			for p in todo:
				self._postings[p] = fetched.get(p, [])
		return {p: self._postings[p][:limit] for p in pairs}

	# writes (the engine's interface; the app writes through index_doc)
	def put(self, id, keys, record=None):
		write_keys(self.ref_doctype, str(id), keys)

	def remove(self, id):
		unindex(self.ref_doctype, str(id))

	# reads
	def _fetch(self, pairs: list[tuple[str, str]], limit: int) -> dict[tuple[str, str], list[str]]:
		"""{(rule, key): names} for many keys in one statement per connection."""
		out: dict[tuple[str, str], list[str]] = defaultdict(list)
		if not pairs:
			return out
		parts, values = [], []
		for rule, key in pairs:
			parts.append(
				f"(select rule, blocking_key, ref_name from `{TABLE}`"
				" where rule=%s and blocking_key=%s and ref_doctype=%s limit %s)"
			)
			values += [rule, stored_key(key), self.ref_doctype, int(limit)]
		sql = " union all ".join(parts)
		back = {(rule, stored_key(key)): (rule, key) for rule, key in pairs}
		results = [frappe.db.sql(sql, values)]
		if self.fresh:
			results.append(sidedb.fresh_sql(sql, values))
		for rows in results:
			for rule, skey, name in rows:
				lst = out[back.get((rule, skey), (rule, skey))]
				if name not in lst:
					lst.append(name)
		return out

	def postings(self, rule, key, limit):
		return self._cached([(rule, key)], limit)[(rule, key)]

	def candidates(self, keys, exclude=(), cap=DEFAULT_CAP):
		"""Same result as KeyIndex.candidates, with every posting list read in one round trip."""
		excluded = {str(e) for e in exclude}
		pairs = [(rule, k) for rule, ks in keys.items() for k in ks]
		fetched = self._cached(pairs, cap + 1)
		out: dict[str, set[str]] = defaultdict(set)
		for rule, rule_keys in keys.items():
			common: list[list[str]] = []
			found = False
			for key in rule_keys:
				ids = fetched.get((rule, key), [])
				if len(ids) > cap:
					common.append(ids[:cap])
					continue
				for i in ids:
					if i not in excluded:
						out[i].add(rule)
						found = True
			if not found and common:
				for i in min(common, key=len):
					if i not in excluded:
						out[i].add(rule)
		return dict(out)

	def records(self, ids):
		ids = [str(i) for i in ids]
		todo = [i for i in ids if i not in self._loaded]
		if todo:
			self._loaded.update(self._load(todo))
		return {i: self._loaded[i] for i in ids if i in self._loaded}

	def _load(self, ids: list[str]) -> dict[str, Mapping[str, Any]]:
		recs = bridge.load_records(self.ref_doctype, ids, self.paths)
		missing = [i for i in ids if i not in recs]
		if missing and self.fresh:
			recs.update(bridge.load_records(self.ref_doctype, missing, self.paths, db=bridge.FRESH_DB))
		if self.field_map is not None:
			return {i: bridge.map_record(r, self.field_map) for i, r in recs.items()}
		return recs


# ---- maintenance --------------------------------------------------------------------------------------
def write_keys(ref_doctype: str, ref_name: str, rule_keys: Mapping[str, Iterable[str]]) -> None:
	"""Makes the Dedup Key rows of one record exactly ``rule_keys`` (only the differences are written)."""
	want = {(rule, stored_key(k)) for rule, ks in rule_keys.items() for k in ks}
	have: dict[tuple[str, str], list] = defaultdict(list)
	for name, rule, key in frappe.db.sql(
		f"select name, rule, blocking_key from `{TABLE}` where ref_doctype=%s and ref_name=%s",
		(ref_doctype, ref_name),
	):
		have[(rule, key)].append(name)
	stale = [n for rk, names in have.items() for n in (names if rk not in want else names[1:])]
	if stale:
		frappe.db.sql(f"delete from `{TABLE}` where name in %(names)s", {"names": tuple(stale)})
	new = sorted(want - set(have))
	if new:
		_insert_rows([(rule, key, ref_doctype, ref_name) for rule, key in new])


def _insert_rows(rows: list[tuple[str, str, str, str]]) -> None:
	"""Bulk insert; names come from the doctype's autoincrement sequence."""
	now = now_datetime()
	user = frappe.session.user if getattr(frappe.local, "session", None) else "Administrator"
	for start in range(0, len(rows), 5000):
		chunk = rows[start : start + 5000]
		marks = ", ".join([f"(nextval(`{SEQUENCE}`), %s, %s, %s, %s, %s, %s, %s, %s)"] * len(chunk))
		values: list[Any] = []
		for r in chunk:
			values += [*r, now, now, user, user]
		frappe.db.sql(
			f"insert into `{TABLE}` (name, rule, blocking_key, ref_doctype, ref_name, creation, modified,"
			f" owner, modified_by) values {marks}",
			values,
		)


def index_doc(doc: Any) -> None:
	"""(Re)writes the keys of a saved document for every enabled rule that touches its doctype.

	Keys of Block rules are locked first, so that a concurrent save checking against them waits for this
	transaction to commit.
	"""
	comp = bridge.compiled()
	record = bridge.doc_to_record(doc, comp.index_fields(doc.doctype))
	keys = bridge.index_keys(doc.doctype, record)
	block = {r: ks for r, ks in keys.items() if r in comp.rules and comp.action(r) == "block"}
	if block:
		lock_keys(block, timeout=comp.cfg.get("lock_timeout") or 10)
	write_keys(doc.doctype, doc.name, keys)


def unindex(ref_doctype: str, ref_name: str) -> None:
	frappe.db.sql(f"delete from `{TABLE}` where ref_doctype=%s and ref_name=%s", (ref_doctype, ref_name))


def rename(ref_doctype: str, old: str, new: str, merge: bool = False) -> None:
	if merge:
		unindex(ref_doctype, old)
		if frappe.db.exists(ref_doctype, new):
			index_doc(frappe.get_doc(ref_doctype, new))
	else:
		frappe.db.sql(
			f"update `{TABLE}` set ref_name=%s where ref_doctype=%s and ref_name=%s", (new, ref_doctype, old)
		)


def enqueue_rebuild(rule: str | None = None) -> None:
	"""Rebuilds the index (of one rule, or all) in a background job on the long queue."""
	frappe.enqueue(
		"crm_dedup.key_index.rebuild",
		queue="long",
		timeout=4 * 3600,
		job_id=f"crm_dedup_rebuild::{frappe.local.site}::{rule or '*'}",
		deduplicate=True,
		enqueue_after_commit=True,
		rule=rule,
	)


def rebuild(rule: str | None = None, commit: bool = True, progress: bool = True) -> dict:
	"""Re-creates the Dedup Key rows of one rule (or of every enabled rule) from the records.

	``bench --site SITE execute crm_dedup.key_index.rebuild [--kwargs "{'rule': 'R'}"]``. Commits per batch
	of records (``commit=False`` in tests) and publishes progress to the desk.
	"""
	bridge.clear_cache()
	comp = bridge.compiled()
	if rule:
		if rule not in comp.rules:
			frappe.db.sql(f"delete from `{TABLE}` where rule=%s", rule)
			_set_status(rule, _("Not indexed (rule disabled)"), 0)
			_commit(commit)
			return {rule: 0}
		rule_names = [rule]
	else:
		rule_names = list(comp.rules)
		# keys of rules that are gone or disabled (read from the table, not from a filtered configuration)
		live = tuple(frappe.get_all("Dedup Rule", filters={"enabled": 1}, pluck="name")) or ("",)
		frappe.db.sql(f"delete from `{TABLE}` where rule not in %(live)s", {"live": live})
	counts: dict[str, int] = {}
	for rname in rule_names:
		counts[rname] = _rebuild_rule(comp, rname, commit, progress)
	return counts


def _rebuild_rule(comp: bridge.Compiled, rname: str, commit: bool, progress: bool) -> int:
	r = comp.rules[rname]
	rs = comp.ruleset((rname,))
	rule = rs.rule(rname)
	_set_status(rname, _("Rebuilding"), None)
	frappe.db.sql(f"delete from `{TABLE}` where rule=%s", rname)
	_commit(commit)
	sources: list[tuple[str, dict | None]] = [(r["target"], None)]
	sources += [(other, fmap) for other, fmap in r["cross"].items()]
	totals = {src: frappe.db.count(src) for src, _f in sources}
	grand = sum(totals.values()) or 1
	done = 0
	nkeys = 0
	for src, fmap in sources:
		if fmap is None:
			paths = list(dict.fromkeys(f for c in r["engine"]["conditions"] for f in c["fields"]))
		else:
			paths = list(dict.fromkeys(p for ps in fmap.values() for p in ps))
		last = ""
		while True:
			names = frappe.db.sql(
				f"select name from `tab{src}` where name > %s order by name limit {BATCH}", last, pluck=True
			)
			if not names:
				break
			last = names[-1]
			recs = bridge.load_records(src, names, paths)
			rows = []
			for name, rec in recs.items():
				if fmap is not None:
					rec = bridge.map_record(rec, fmap)
				for k in rs.rule_keys(rule, rs.prepare(rec)):
					rows.append((rname, stored_key(k), src, name))
			rows.sort()
			_insert_rows(rows)
			nkeys += len(rows)
			done += len(names)
			_commit(commit)
			if progress:
				frappe.publish_progress(
					min(99, done * 100 / grand),
					title=_("Rebuilding key index"),
					doctype="Dedup Rule",
					docname=rname,
					description=_("{0}: {1} of {2} records").format(rname, done, grand),
				)
	_set_status(rname, _("Indexed"), nkeys)
	_commit(commit)
	if progress:
		frappe.publish_progress(
			100, title=_("Rebuilding key index"), doctype="Dedup Rule", docname=rname, description=rname
		)
	return nkeys


def _set_status(rule: str, status: str, nkeys: int | None) -> None:
	values: dict[str, Any] = {"index_status": status}
	if nkeys is not None:
		values.update({"last_indexed": now_datetime(), "indexed_keys": nkeys})
	frappe.db.set_value("Dedup Rule", rule, values, update_modified=False)


def _commit(commit: bool) -> None:
	if commit:
		frappe.db.commit()
