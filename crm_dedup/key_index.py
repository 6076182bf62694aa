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
from frappe.model.document import Document
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


# ---- locks held for the whole save ---------------------------------------------------------------------
# A save takes MariaDB GET_LOCK locks on its Block-rule keys in ``validate`` and writes its keys there too.
# Other apps' hooks may commit in the middle of that save (ERPNext's Contact.after_insert commits once per
# phone number, inside Customer.on_update), so the locks must not end with "the next commit": they end with
# the first commit (or rollback) after the outermost save that took them is over (``leave`` from the
# ``on_change`` doc event), or with any rollback. GET_LOCK locks belong to the database session and survive
# commits; Frappe's commit() resets ``after_rollback`` and a callback may not re-add itself to the manager
# that is running it, so the callbacks re-arm each other across commits (``_on_commit`` -> ``before_commit``
# -> ``after_commit``).
class _Guard:
	__slots__ = ("locks", "saving", "written", "orphans", "mid_commit", "armed")

	def __init__(self) -> None:
		self.locks: set[str] = set()
		self.saving: dict[int, tuple[str, str]] = {}  # id(doc) -> (doctype, name) of saves in progress
		self.written: set[tuple[str, str]] = set()  # records whose keys this transaction wrote
		self.orphans: list[tuple[str, str]] = []  # records a refused save made durable (see forget_refused)
		self.mid_commit = False  # a commit happened while a save was in progress
		self.armed = False


def _guard() -> _Guard:
	g = getattr(frappe.local, "crm_dedup_guard", None)
	if g is None:
		g = frappe.local.crm_dedup_guard = _Guard()
	return g


def _arm(g: _Guard) -> None:
	if not g.armed:
		g.armed = True
		frappe.db.after_commit.add(_on_commit)
		frappe.db.after_rollback.add(_on_rollback)


def _rearm_commit() -> None:
	frappe.db.after_commit.add(_on_commit)


def _on_commit() -> None:
	g = _guard()
	if g.saving:
		# a hook committed in the middle of a save: the save keeps its locks; what it wrote is durable now
		g.mid_commit = True
		frappe.db.after_rollback.add(_on_rollback)  # commit() dropped it
		frappe.db.before_commit.add(_rearm_commit)  # re-arms after_commit for the next commit
		return
	_finish(g)


def _on_rollback() -> None:
	g = _guard()
	if g.mid_commit:
		# the save is rolled back, but a hook committed part of it: make the key index match what is committed
		for doctype, name in sorted(g.written):
			sidedb.survive_rollback(lambda d=doctype, n=name: reindex_committed(d, n), "crm_dedup reconcile")
	g.saving.clear()
	_finish(g)


def _finish(g: _Guard) -> None:
	"""The transaction that ended the save is over: drop what it left behind, release the locks."""
	orphans, g.orphans = g.orphans, []
	for doctype, name in orphans:
		sidedb.survive_rollback(lambda d=doctype, n=name: _delete_orphan(d, n), "crm_dedup orphan")
	g.written.clear()
	g.mid_commit = False
	g.armed = False
	release_locks()


def enter(doc: Any) -> None:
	"""A save of ``doc`` that checks or indexes keys is under way (validate / on_update)."""
	g = _guard()
	g.saving[id(doc)] = (doc.doctype, str(doc.name or ""))
	if frappe.local.db is not None:
		_arm(g)


def leave(doc: Any) -> None:
	"""The save of ``doc`` is over (its on_change, or its refusal): the next commit or rollback releases the
	locks once no other save of this transaction is under way."""
	g = getattr(frappe.local, "crm_dedup_guard", None)
	if g is not None:
		g.saving.pop(id(doc), None)


def forget_refused(doc: Any) -> None:
	"""``doc`` is refused: records that its own hooks inserted before the check (ERPNext's Lead creates its
	Contact in before_insert, and that Contact's after_insert commits) are deleted when the transaction ends,
	if a commit made them durable. Only documents the refused document holds as attributes and that were
	inserted in this process as new (flagged in before_insert) qualify."""
	if not doc.is_new():
		return
	g = _guard()
	for value in list(vars(doc).values()):
		if isinstance(value, Document) and value.flags.get("crm_dedup_inserted") and value.name:
			g.orphans.append((value.doctype, str(value.name)))
	if g.orphans:
		_arm(g)


def _delete_orphan(doctype: str, name: str) -> None:
	if frappe.db.exists(doctype, name):
		frappe.delete_doc(doctype, name, ignore_permissions=True, force=True, delete_permanently=True)


def lock_keys(rule_keys: Mapping[str, Iterable[str]], timeout: int = 10) -> None:
	"""Locks the given keys until the save is over (MariaDB GET_LOCK, sorted to avoid deadlocks).

	Raises DedupBusyError when another save holds one of them for longer than ``timeout`` seconds.
	"""
	g = _guard()
	names = sorted({_lock_name(r, k) for r, ks in rule_keys.items() for k in ks} - g.locks)
	if not names:
		return
	_arm(g)
	# one round trip; MariaDB evaluates the select list left to right, i.e. in sorted order
	got = frappe.db.sql(
		"select " + ", ".join(["get_lock(%s, %s)"] * len(names)),
		[v for name in names for v in (name, cint(timeout))],
	)[0]
	g.locks.update(name for name, ok in zip(names, got, strict=True) if ok == 1)
	if any(ok != 1 for ok in got):
		frappe.throw(
			_(
				"Another user is saving a record with the same details right now. Please try again in a moment."
			),
			exc=DedupBusyError,
			title=_("Duplicate check busy"),
		)


def held_locks() -> set[str]:
	g = getattr(frappe.local, "crm_dedup_guard", None)
	return set(g.locks) if g is not None else set()


def release_locks() -> None:
	g = getattr(frappe.local, "crm_dedup_guard", None)
	if g is None or not g.locks:
		return
	held = tuple(g.locks)
	g.locks.clear()
	if frappe.local.db is not None and frappe.db._conn:
		frappe.db.sql("select " + ", ".join(["release_lock(%s)"] * len(held)), held)


def end_of_request(*args: Any, **kwargs: Any) -> None:
	"""after_request / after_job: nothing of a save outlives its request or job."""
	g = getattr(frappe.local, "crm_dedup_guard", None)
	if g is None:
		return
	g.saving.clear()
	try:
		_finish(g)
	except Exception:
		frappe.log_error(title="crm_dedup: releasing key locks failed")
	frappe.local.crm_dedup_guard = None


def _lock_name(rule: str, key: str) -> str:
	db = frappe.local.conf.db_name or frappe.local.site
	dbh = hashlib.blake2b(db.encode(), digest_size=4).hexdigest()
	return f"crm_dedup:{dbh}:{key_hash(rule, key) & 0xFFFFFFFFFFFFFFFF:016x}"


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
	"""(Re)writes the keys of a document being saved for every enabled rule that touches its doctype.

	Called from ``validate`` (before any hook of the save can commit, so a committed row always has its keys)
	and again from ``on_update`` (hooks may have changed the fields; nothing is written when the keys are the
	same). Keys of Block rules are locked first, so that a concurrent save checking against them waits until
	this save is over and committed.
	"""
	comp = bridge.compiled()
	record = bridge.doc_to_record(doc, comp.index_fields(doc.doctype))
	keys = bridge.index_keys(doc.doctype, record)
	stamp = (str(doc.name), comp.cfg["stamp"], {r: frozenset(ks) for r, ks in keys.items()})
	g = _guard()
	if doc.flags.get("crm_dedup_indexed") == stamp and (doc.doctype, str(doc.name)) in g.written:
		return
	block = {r: ks for r, ks in keys.items() if r in comp.rules and comp.action(r) == "block"}
	if block:
		lock_keys(block, timeout=comp.cfg.get("lock_timeout") or 10)
	write_keys(doc.doctype, doc.name, keys)
	g.written.add((doc.doctype, str(doc.name)))
	_arm(g)
	doc.flags.crm_dedup_indexed = stamp


def reindex_committed(doctype: str, name: str) -> None:
	"""Makes the keys of one record match its row as this connection sees it (none when it has no row)."""
	if not frappe.db.exists(doctype, name):
		unindex(doctype, name)
		return
	comp = bridge.compiled()
	rec = bridge.load_records(doctype, [name], comp.index_fields(doctype)).get(name)
	write_keys(doctype, name, bridge.index_keys(doctype, rec or {}))


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
	# progress on the form the rebuild was started from: the rule's, or Dedup Settings for all rules
	where = ("Dedup Rule", rule) if rule else ("Dedup Settings", "Dedup Settings")
	for rname in rule_names:
		counts[rname] = _rebuild_rule(comp, rname, commit, progress, where)
	return counts


def _rebuild_rule(
	comp: bridge.Compiled, rname: str, commit: bool, progress: bool, where: tuple[str, str]
) -> int:
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
					doctype=where[0],
					docname=where[1],
					description=_("{0}: {1} of {2} records").format(rname, done, grand),
				)
	_set_status(rname, _("Indexed"), nkeys)
	_commit(commit)
	if progress:
		frappe.publish_progress(
			100, title=_("Rebuilding key index"), doctype=where[0], docname=where[1], description=rname
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
