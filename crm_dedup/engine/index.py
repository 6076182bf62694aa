"""The candidate index: (rule, key) -> record ids, behind a small interface.

``MemoryIndex`` lives in a dict (tests, small batches); ``SQLiteIndex`` is the embedded, persistent one the
CLI uses. The Frappe layer implements the same interface over MariaDB (``crm_dedup.core.keys``).

An index implements storage only: ``postings`` / ``postings_many`` (the posting lists of keys) and
``records``; ``KeyIndex.lookup`` turns posting lists into candidates, the same way for every index, so a check
can prune the rules it need not evaluate (see ``check.check_record``). An index that can fetch many posting
lists at once (one statement, one round trip) overrides ``postings_many``.

A key posting list longer than ``cap`` is *too common* to say anything (a placeholder phone, a very common
name): lookups skip it unless every key of the query is that common, in which case they take the first
``cap`` ids of the rarest key so a lookup stays bounded.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .errors import InputError

DEFAULT_CAP = 500
RuleKeys = Mapping[str, Iterable[str]]


def key_hash(rule: str, key: str) -> int:
	"""A signed 64-bit hash of a namespaced key (a collision only adds a candidate, never a match)."""
	digest = hashlib.blake2b(f"{rule}\x1f{key}".encode("utf-8", "surrogatepass"), digest_size=8).digest()
	return int.from_bytes(digest, "big", signed=True)


class KeyIndex(ABC):
	"""What a check needs from an index."""

	@abstractmethod
	def put(self, id: str, keys: RuleKeys, record: Mapping[str, Any] | None = None) -> None:
		"""Replaces every key of ``id`` (and its stored record, where the index stores records)."""

	@abstractmethod
	def remove(self, id: str) -> None: ...

	@abstractmethod
	def postings(self, rule: str, key: str, limit: int) -> list[str]:
		"""Up to ``limit`` ids that have this key for this rule."""

	@abstractmethod
	def records(self, ids: Iterable[str]) -> dict[str, Mapping[str, Any]]:
		"""The stored records of these ids (ids no longer present are left out)."""

	def postings_many(self, pairs: Sequence[tuple[str, str]], limit: int) -> dict[tuple[str, str], list[str]]:
		"""{(rule, key): up to ``limit`` ids that have this key for this rule} for each pair, as ``postings``.

		The default asks ``postings`` once per pair; an index with a cheaper batch read overrides it.
		"""
		out: dict[tuple[str, str], list[str]] = {}
		for pair in pairs:
			if pair not in out:
				out[pair] = self.postings(pair[0], pair[1], limit)
		return out

	def lookup(
		self, keys: RuleKeys, exclude: Iterable[str] = (), cap: int = DEFAULT_CAP
	) -> tuple[dict[str, set[str]], set[str]]:
		"""({candidate id: names of the rules whose keys it shares}, names of the rules whose lookup was cut
		short by a too common key).

		Keys whose posting list is longer than ``cap`` are skipped, unless every key of a rule is that common:
		then the rule takes the first ``cap`` ids of its rarest key. For the rules not in the second set the
		answer is complete: every stored record sharing one of their keys is in it. All posting lists of the
		query are read with one ``postings_many`` call.
		"""
		excluded = {str(e) for e in exclude}
		by_rule = [(rule, list(rule_keys)) for rule, rule_keys in keys.items()]
		fetched = self.postings_many([(rule, k) for rule, ks in by_rule for k in ks], cap + 1)
		out: dict[str, set[str]] = defaultdict(set)
		incomplete: set[str] = set()
		for rule, rule_keys in by_rule:
			common: list[list[str]] = []
			found = False
			for key in rule_keys:
				ids = fetched.get((rule, key), ())
				if len(ids) > cap:
					common.append(ids[:cap])
					continue
				for i in ids:
					if i not in excluded:
						out[i].add(rule)
						found = True
			if common:
				incomplete.add(rule)
			if not found and common:
				for i in min(common, key=len):
					if i not in excluded:
						out[i].add(rule)
		return dict(out), incomplete


class MemoryIndex(KeyIndex):
	def __init__(self) -> None:
		self._keys: dict[tuple[str, str], dict[str, None]] = defaultdict(dict)
		self._by_id: dict[str, list[tuple[str, str]]] = {}
		self._records: dict[str, Mapping[str, Any]] = {}

	def put(self, id, keys, record=None):
		id = str(id)
		self.remove(id)
		mine = [(rule, k) for rule, ks in keys.items() for k in ks]
		for rk in mine:
			self._keys[rk][id] = None
		self._by_id[id] = mine
		if record is not None:
			self._records[id] = record

	def remove(self, id):
		id = str(id)
		for rk in self._by_id.pop(id, ()):
			self._keys[rk].pop(id, None)
		self._records.pop(id, None)

	def postings(self, rule, key, limit):
		ids = self._keys.get((rule, key))
		if not ids:
			return []
		out = []
		for i in ids:
			out.append(i)
			if len(out) >= limit:
				break
		return out

	def records(self, ids):
		return {i: self._records[i] for i in map(str, ids) if i in self._records}

	def __len__(self) -> int:
		return len(self._by_id)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (rid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS keys (h INTEGER NOT NULL, rid INTEGER NOT NULL, PRIMARY KEY (h, rid)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS keys_by_rid ON keys (rid);
"""


# ids in key order (the primary key (h, rid) gives them without sorting), so a posting list is read the same
# way by one key or by many
_POSTINGS = "SELECT r.id FROM keys k JOIN records r ON r.rid = k.rid WHERE k.h=? ORDER BY k.rid LIMIT ?"
_POSTINGS_PART = f"SELECT ? AS n, id FROM ({_POSTINGS})"
_POSTINGS_CHUNK = 200  # keys per statement (SQLite allows at most 500 parts in a compound SELECT)


class SQLiteIndex(KeyIndex):
	"""A persistent index in one SQLite file: records as JSON, keys as 64-bit hashes."""

	def __init__(self, path: str | os.PathLike, create: bool = True) -> None:
		self.path = os.fspath(path)
		if not create and not os.path.exists(self.path):
			raise InputError(f"index not found: {self.path}")
		try:
			self.db = sqlite3.connect(self.path, isolation_level=None)
			self.db.execute("PRAGMA journal_mode=WAL")
			self.db.execute("PRAGMA synchronous=NORMAL")
			self.db.execute("PRAGMA cache_size=-200000")
			self.db.executescript(_SCHEMA)
		except sqlite3.DatabaseError as e:
			raise InputError(f"{self.path} is not a crm-dedup index: {e}") from None

	# ---- meta --------------------------------------------------------------------------------------
	def get_meta(self, k: str) -> str | None:
		row = self.db.execute("SELECT v FROM meta WHERE k=?", (k,)).fetchone()
		return row[0] if row else None

	def set_meta(self, k: str, v: str) -> None:
		self.db.execute("INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)", (k, v))

	# ---- writes ------------------------------------------------------------------------------------
	def begin(self) -> None:
		self.db.execute("BEGIN IMMEDIATE")

	def commit(self) -> None:
		self.db.execute("COMMIT")

	def rollback(self) -> None:
		if self.db.in_transaction:
			self.db.execute("ROLLBACK")

	def put(self, id, keys, record=None):
		self.put_many([(id, keys, record)])

	def put_many(self, items: Iterable[tuple[str, RuleKeys, Mapping[str, Any] | None]]) -> int:
		"""Adds or replaces many records; the caller wraps it in begin()/commit() for one transaction."""
		cur = self.db.cursor()
		n = 0
		key_rows = []
		for id, keys, record in items:
			id = str(id)
			data = json.dumps(record if record is not None else {}, ensure_ascii=False)
			row = cur.execute("SELECT rid FROM records WHERE id=?", (id,)).fetchone()
			if row:
				rid = row[0]
				cur.execute("UPDATE records SET data=? WHERE rid=?", (data, rid))
				cur.execute("DELETE FROM keys WHERE rid=?", (rid,))
			else:
				rid = cur.execute("INSERT INTO records (id, data) VALUES (?, ?)", (id, data)).lastrowid
			for rule, ks in keys.items():
				for k in ks:
					key_rows.append((key_hash(rule, k), rid))
			n += 1
			if len(key_rows) > 200_000:
				key_rows.sort()
				cur.executemany("INSERT OR IGNORE INTO keys (h, rid) VALUES (?, ?)", key_rows)
				key_rows.clear()
		if key_rows:
			key_rows.sort()
			cur.executemany("INSERT OR IGNORE INTO keys (h, rid) VALUES (?, ?)", key_rows)
		return n

	def remove(self, id):
		row = self.db.execute("SELECT rid FROM records WHERE id=?", (str(id),)).fetchone()
		if row:
			self.db.execute("DELETE FROM keys WHERE rid=?", (row[0],))
			self.db.execute("DELETE FROM records WHERE rid=?", (row[0],))

	def clear_keys(self) -> None:
		self.db.execute("DELETE FROM keys")

	# ---- reads -------------------------------------------------------------------------------------
	def postings(self, rule, key, limit):
		rows = self.db.execute(_POSTINGS, (key_hash(rule, key), limit)).fetchall()
		return [r[0] for r in rows]

	def postings_many(self, pairs, limit):
		"""One statement per ``_POSTINGS_CHUNK`` keys: a UNION ALL of ``postings``' query, each part tagged
		with its key's position (two keys with the same hash get the same ids, as from ``postings``)."""
		unique = list(dict.fromkeys(pairs))
		out: dict[tuple[str, str], list[str]] = {p: [] for p in unique}
		for start in range(0, len(unique), _POSTINGS_CHUNK):
			chunk = unique[start : start + _POSTINGS_CHUNK]
			params: list = []
			for n, (rule, key) in enumerate(chunk):
				params += (n, key_hash(rule, key), limit)
			sql = " UNION ALL ".join([_POSTINGS_PART] * len(chunk))
			for n, id in self.db.execute(sql, params):
				out[chunk[n]].append(id)
		return out

	def records(self, ids):
		ids = [str(i) for i in ids]
		out: dict[str, Mapping[str, Any]] = {}
		for start in range(0, len(ids), 500):
			chunk = ids[start : start + 500]
			marks = ",".join("?" * len(chunk))
			for id, data in self.db.execute(f"SELECT id, data FROM records WHERE id IN ({marks})", chunk):
				out[id] = json.loads(data)
		return out

	def iter_records(self) -> Iterable[tuple[str, Mapping[str, Any]]]:
		for id, data in self.db.execute("SELECT id, data FROM records ORDER BY rid"):
			yield id, json.loads(data)

	def __len__(self) -> int:
		return self.db.execute("SELECT COUNT(*) FROM records").fetchone()[0]

	def close(self) -> None:
		self.db.close()
