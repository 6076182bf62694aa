"""E-mail addresses: trimmed, case-insensitive, several per field allowed.

``Zhang Wei <Zhang.Wei@Example.COM>``, ``mailto:zhang.wei@example.com`` and ``zhang.wei@example.com（总经理）``
all give ``zhang.wei@example.com``. A field's parts without an ``@`` (``无``, ``n/a``, a display name) are not
addresses: they are left out, so two placeholders never match as if they were the same address.
"""

from __future__ import annotations

import re
import unicodedata

from .text import as_text

_SPLIT = re.compile(r"[\s;,，；、]+")
_STOP = re.compile(r"[\s<>()\[\]{}\"'`,;:@]")
_STOP_BUT_AT = re.compile(r"[\s<>()\[\]{}\"'`,;:]")
_MAX_READ = 1024  # an address field longer than this holds something else; only its beginning is read
_TRIM = re.compile(r"^[\s<>()\[\]{}\"'`]+|[\s<>()\[\]{}\"'`]+$")


def split_emails(value: object) -> list[str]:
	"""The parts of a field that contain an ``@``, in order."""
	text = as_text(value)
	return [p for p in _SPLIT.split(text) if "@" in p or "@" in unicodedata.normalize("NFKC", p)]


def _address_in(text: str) -> str:
	"""The first ``local@domain`` in the text (no blanks, brackets, quotes or separators in either part).

	A linear scan: a regular expression for this backtracks quadratically over a long run without an ``@``."""
	at = text.find("@")
	if 0 < at < len(text) - 1 and text.find("@", at + 1) == -1 and _STOP_BUT_AT.search(text) is None:
		return text  # the common case, a bare address: the scan below would return all of it
	while at != -1:
		start = at
		while start > 0 and not _STOP.match(text, start - 1):
			start -= 1
		end = at + 1
		while end < len(text) and not _STOP.match(text, end):
			end += 1
		if start < at < end - 1:
			return text[start:end]
		at = text.find("@", at + 1)
	return ""


def normalize_email(value: object) -> str:
	"""``  Zhang.Wei@Example.COM `` -> ``zhang.wei@example.com``; full-width characters folded."""
	text = unicodedata.normalize("NFKC", as_text(value)[:_MAX_READ])
	text = unicodedata.normalize("NFKC", text.casefold())
	if address := _address_in(text):
		return address
	text = _TRIM.sub("", text)
	while text.startswith("mailto:"):
		text = _TRIM.sub("", text[7:])
	return text
