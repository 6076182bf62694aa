# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt
"""The candidate index over MariaDB: **Dedup Key** rows (rule, blocking_key, ref_doctype, ref_name).

- ``MariaDBIndex`` implements the engine's ``KeyIndex`` for one stored doctype: it only fetches posting lists
  (``postings_many``, one round trip for all keys of a query) and records (loaded through ``core.records``,
  mapped into the target's field names for a cross check); the engine's ``lookup`` does the rest, with rule
  pruning. Lookups never scan the doctype.
- Reads see both this transaction's own uncommitted keys (``frappe.db``) and the latest committed keys of
  everyone else (the side connection, ``core.sidedb``), so a save that waited for another save's key lock sees
  what that save committed even though its own snapshot is older.
- ``write_keys`` / ``unindex`` / ``rename_keys`` keep the rows of one record current (``core.guard`` calls them on
  save); ``crm_dedup.rules.rebuild`` re-creates the whole index.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import frappe
from frappe.utils import now_datetime

from crm_dedup.core import sidedb
from crm_dedup.core.config import compiled
from crm_dedup.core.records import FRESH_DB, load_records, map_record
from crm_dedup.engine import DEFAULT_CAP, KeyIndex, key_hash

TABLE = "tabDedup Key"
SEQUENCE = "dedup_key_id_seq"  # Frappe's sequence of the autoincrement doctype
KEY_LENGTH = 140  # Data field length of blocking_key
BATCH = 2000


def stored_key(key: str) -> str:
	"""The key as stored: itself when it fits the column, else a prefix and a hash of the whole."""
	if len(key) <= KEY_LENGTH:
		return key
	digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()
	return f"{key[: KEY_LENGTH - 17]}#{digest}"


def lock_name(rule: str, key: str) -> str:
	"""The MariaDB GET_LOCK name of one key (per database, so two sites on one server do not collide)."""
	db = frappe.local.conf.db_name or frappe.local.site
	dbh = hashlib.blake2b(db.encode(), digest_size=4).hexdigest()
	return f"crm_dedup:{dbh}:{key_hash(rule, key) & 0xFFFFFFFFFFFFFFFF:016x}"


def index_keys(doctype: str, record: Mapping[str, Any]) -> dict[str, set[str]]:
	"""{rule name: keys} under which a record of ``doctype`` is stored in the key index. A record outside a
	rule's "Search within" filter gets no keys of that rule: the rule never finds it."""
	comp = compiled()
	out: dict[str, set[str]] = {}
	for names, fmap in comp.index_plan(doctype):
		if fmap is None:
			names = tuple(n for n in names if comp.searchable(n, record))
			if not names:
				continue
		rs = comp.ruleset(names)
		rec = record if fmap is None else map_record(record, fmap)
		out.update(rs.keys(rs.prepare(rec)))
	return out


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

	def postings_many(self, pairs: Sequence[tuple[str, str]], limit: int) -> dict[tuple[str, str], list[str]]:
		"""Every posting list of a query in one round trip per connection (the engine's lookup calls this)."""
		return self._cached(list(pairs), limit)

	def records(self, ids):
		ids = [str(i) for i in ids]
		todo = [i for i in ids if i not in self._loaded]
		if todo:
			self._loaded.update(self._load(todo))
		return {i: self._loaded[i] for i in ids if i in self._loaded}

	def _load(self, ids: list[str]) -> dict[str, Mapping[str, Any]]:
		recs = load_records(self.ref_doctype, ids, self.paths)
		missing = [i for i in ids if i not in recs]
		if missing and self.fresh:
			recs.update(load_records(self.ref_doctype, missing, self.paths, db=FRESH_DB))
		if self.field_map is not None:
			return {i: map_record(r, self.field_map) for i, r in recs.items()}
		return recs


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
		insert_rows([(rule, key, ref_doctype, ref_name) for rule, key in new])


def insert_rows(rows: list[tuple[str, str, str, str]]) -> None:
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


def unindex(ref_doctype: str, ref_name: str) -> None:
	frappe.db.sql(f"delete from `{TABLE}` where ref_doctype=%s and ref_name=%s", (ref_doctype, ref_name))


def rename_keys(ref_doctype: str, old: str, new: str) -> None:
	"""The keys of a renamed record follow its new name."""
	frappe.db.sql(
		f"update `{TABLE}` set ref_name=%s where ref_doctype=%s and ref_name=%s", (new, ref_doctype, old)
	)
