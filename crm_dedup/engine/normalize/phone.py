"""Phone numbers to E.164 with a default region.

``+86 136-1234-5678``, ``13612345678`` and ``0086 13612345678`` all become ``+8613612345678``; landlines keep
their area code (``010-12345678`` -> ``+861012345678``) and extensions are dropped. A value phonenumbers
cannot make sense of falls back to its digits, marked with a leading ``#`` so that it never equals an E.164
form by accident.
"""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers

from .text import as_text

_SPLIT = re.compile(r"[/;,，；、|\n]+|\s{2,}")
_EXT = re.compile(r"(?:ext\.?|extension|x|转|分机|#)\s*\d{1,6}\s*$", re.IGNORECASE)
_NON_DIGIT = re.compile(r"\D+")
_CN_MOBILE = re.compile(r"^(?:0086|\+?86)?(1[3-9]\d{9})$")
_MAX_LEN = 64  # longer strings are not phone numbers; only their digits are kept


def split_phones(value: object) -> list[str]:
	"""One field may hold several numbers: ``13612345678 / 13912345678``."""
	text = as_text(value).strip()
	if not text:
		return []
	parts = [p.strip() for p in _SPLIT.split(text)]
	return [p for p in parts if p]


@lru_cache(maxsize=200_000)
def normalize_phone(value: str, region: str = "CN") -> str:
	"""E.164 for a parseable number, else ``#`` + digits, else ``""`` (no digits at all)."""
	text = as_text(value).strip()
	if not text:
		return ""
	text = _EXT.sub("", text) if len(text) <= _MAX_LEN else text
	stripped = text.replace(" ", "").replace("-", "").replace("(", "").replace(")", "")
	if region == "CN" and (m := _CN_MOBILE.match(stripped)):
		return "+86" + m.group(1)
	digits = _NON_DIGIT.sub("", text)
	if not digits:
		return ""
	if len(text) <= _MAX_LEN:
		candidate = text
		if text.startswith("00"):
			candidate = "+" + text[2:]
		try:
			num = phonenumbers.parse(candidate, region or None)
		except phonenumbers.NumberParseException:
			num = None
		if num is not None and phonenumbers.is_possible_number(num):
			num.extension = None
			return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
	return "#" + digits
