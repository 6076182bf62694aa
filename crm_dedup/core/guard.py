# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt
"""The save guard: what makes Block rules race-safe whatever other apps' hooks commit in the middle of a save.

``lock_keys`` takes MariaDB ``GET_LOCK`` locks (one per key hash, in sorted order) on a record's Block-rule keys;
``index_doc`` writes its keys in ``validate``, under those locks, before any hook can commit. The locks are held
until the save is really over (see ``_Guard``), released at the end of the request or job at the latest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import frappe
from frappe import _
from frappe.model.document import Document
from frappe.utils import cint

from crm_dedup.core import sidedb
from crm_dedup.core.config import compiled
from crm_dedup.core.errors import DedupBusyError
from crm_dedup.core.keys import index_keys, lock_name, rename_keys, unindex, write_keys
from crm_dedup.core.records import doc_to_record, load_records


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
	names = sorted({lock_name(r, k) for r, ks in rule_keys.items() for k in ks} - g.locks)
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


def index_doc(doc: Any) -> None:
	"""(Re)writes the keys of a document being saved for every enabled rule that touches its doctype.

	Called from ``validate`` (before any hook of the save can commit, so a committed row always has its keys)
	and again from ``on_update`` (hooks may have changed the fields; nothing is written when the keys are the
	same). Keys of Block rules are locked first, so that a concurrent save checking against them waits until
	this save is over and committed.
	"""
	comp = compiled()
	record = doc_to_record(doc, comp.index_fields(doc.doctype))
	keys = index_keys(doc.doctype, record)
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
	comp = compiled()
	rec = load_records(doctype, [name], comp.index_fields(doctype)).get(name)
	write_keys(doctype, name, index_keys(doctype, rec or {}))


def rename(ref_doctype: str, old: str, new: str, merge: bool = False) -> None:
	"""after_rename: the keys follow the new name; a rename-with-merge re-indexes the surviving record."""
	if merge:
		unindex(ref_doctype, old)
		if frappe.db.exists(ref_doctype, new):
			index_doc(frappe.get_doc(ref_doctype, new))
	else:
		rename_keys(ref_doctype, old, new)
