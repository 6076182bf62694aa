"""E-mail addresses: trimmed, case-insensitive, several per field allowed."""

from __future__ import annotations

import re
import unicodedata

from .text import as_text

_SPLIT = re.compile(r"[\s;,，；、]+")


def split_emails(value: object) -> list[str]:
	text = as_text(value)
	return [p for p in _SPLIT.split(text) if p]


def normalize_email(value: str) -> str:
	"""``  Zhang.Wei@Example.COM `` -> ``zhang.wei@example.com``; full-width characters folded."""
	text = unicodedata.normalize("NFKC", as_text(value)).strip().strip("<>\"'").casefold()
	if text.startswith("mailto:"):
		text = text[7:]
	return text
