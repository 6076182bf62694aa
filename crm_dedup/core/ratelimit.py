# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt
"""Per-user budgets in fixed clock windows, kept in redis (``crm_dedup:rate:<bucket>:<user>:<window>``).

Why not ``frappe.rate_limiter.rate_limit``: its limit is fixed when the method is decorated and its 429 carries
Frappe's own message, while ours are read from Dedup Settings at call time, the Collision Query logs the refused
query and shows the user how many queries are left (``remaining``), and tests and admins reset a user's budget.
The counters live under a key listed in ``persistent_cache_keys`` (hooks.py), so ``bench clear-cache`` keeps them.
"""

from __future__ import annotations

import time

import frappe
from frappe import _
from frappe.utils import cint

PREFIX = "crm_dedup:rate"


def _key(bucket: str, user: str, window: int) -> str:
	return frappe.cache.make_key(f"{PREFIX}:{bucket}:{user}:{int(time.time() // window)}")


def hit(bucket: str, window: int = 3600, user: str | None = None) -> int:
	"""Counts one use of ``bucket`` by ``user`` in the current window; returns the count including this one."""
	key = _key(bucket, user or frappe.session.user, window)
	pipe = frappe.cache.pipeline()
	pipe.incrby(key, 1)
	pipe.expire(key, window)
	return cint(pipe.execute()[0])


def used(bucket: str, window: int = 3600, user: str | None = None) -> int:
	"""Uses of ``bucket`` by ``user`` in the current window."""
	return cint(frappe.cache.get(_key(bucket, user or frappe.session.user, window)))


def remaining(bucket: str, limit: int, window: int = 3600, user: str | None = None) -> int | None:
	"""What is left of ``limit`` in the current window (None: ``limit`` 0 means unlimited)."""
	if not limit:
		return None
	return max(0, limit - used(bucket, window, user))


def reset(bucket: str, user: str, window: int = 3600) -> None:
	frappe.cache.delete(_key(bucket, user, window))


def check(bucket: str, limit: int, message: str, window: int = 3600) -> int:
	"""Counts one use and throws ``frappe.RateLimitExceededError`` (HTTP 429) with ``message`` over ``limit``
	(0: unlimited). Returns the count."""
	count = hit(bucket, window)
	if limit and count > limit:
		frappe.throw(message, frappe.RateLimitExceededError, title=_("Too many requests"))
	return count
