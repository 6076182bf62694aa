"""A second connection to the site's database, next to ``frappe.db``.

Two things need it:

- **reads of the latest committed rows** during a save: under REPEATABLE READ the save's own transaction sees
  a snapshot that may predate another user's commit, so after taking the key locks the key index is also read
  here (``fresh()``), where every statement starts from a fresh snapshot;
- **writes that must survive the rollback of the save** (the collision log of a rejected save, the owner's
  notification): ``survive_rollback()`` runs ordinary document code with ``frappe.local.db`` swapped for the
  side connection and commits there at once.

The connection is cached per process, thread and site, and reopened when it has gone away.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import frappe

_local = threading.local()


def _open():
	from frappe.database import get_db

	conf = frappe.local.conf
	db = get_db(
		host=conf.db_host,
		port=conf.db_port,
		user=conf.db_name,
		password=conf.db_password,
		cur_db_name=conf.db_name,
	)
	db.connect()
	# autocommit: every read outside ``swapped()`` is its own transaction, so it sees every committed row and
	# leaves no transaction open on an idle connection (that would hold metadata locks and block DDL)
	db._conn.autocommit(True)
	# never wait long behind the main transaction of this very thread
	db.sql("set session innodb_lock_wait_timeout = 5")
	return db


def get() -> Any:
	"""The side connection of this process/thread/site (a frappe Database object)."""
	key = (os.getpid(), frappe.local.site)
	cache = getattr(_local, "dbs", None)
	if cache is None:
		cache = _local.dbs = {}
	db = cache.get(key)
	if db is None:
		db = cache[key] = _open()
	return db


def _reset() -> None:
	key = (os.getpid(), frappe.local.site)
	db = getattr(_local, "dbs", {}).pop(key, None)
	if db is not None:
		try:
			db.close()
		except Exception:
			pass


def fresh_sql(query: str, values: Any = None, as_dict: bool = False) -> list:
	"""Runs a read on the side connection with a fresh snapshot (sees every committed row)."""
	for attempt in (0, 1):
		db = get()
		try:
			return db.sql(query, values, as_dict=as_dict)  # autocommit: a fresh snapshot per statement
		except Exception as e:
			if attempt or not _is_connection_error(db, e):
				raise
			_reset()
	return []


def _is_connection_error(db: Any, e: Exception) -> bool:
	import pymysql

	# 2006 server has gone away, 2013 lost connection
	if isinstance(e, pymysql.OperationalError) and e.args and e.args[0] in (2006, 2013):
		return True
	return isinstance(e, pymysql.InterfaceError | OSError)


@contextmanager
def swapped() -> Iterator[Any]:
	"""Runs the body with ``frappe.local.db`` set to the side connection, then commits it.

	The main transaction is untouched: what the body writes is committed on its own, whatever later happens
	to the save that is under way.
	"""
	main = frappe.local.db
	side = get()
	side.rollback()
	frappe.local.db = side
	try:
		yield side
		side.commit()
		side.sql("rollback")  # commit() began a new explicit transaction; end it (see _open)
	except Exception:
		try:
			side.rollback()
		except Exception:
			_reset()
		raise
	finally:
		frappe.local.db = main


def survive_rollback(fn: Callable[[], Any], what: str = "crm_dedup") -> Any:
	"""Runs ``fn`` on the side connection and commits. Never raises: a failure is written to the Error Log."""
	try:
		with swapped():
			return fn()
	except Exception:
		try:
			frappe.log_error(title=f"{what}: write on side connection failed")
		except Exception:
			pass
		return None


def close() -> None:
	"""Closes this thread's side connections (threads that end; tests)."""
	for db in (getattr(_local, "dbs", None) or {}).values():
		try:
			db.close()
		except Exception:
			pass
	_local.dbs = {}
