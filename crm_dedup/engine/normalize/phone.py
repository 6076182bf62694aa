"""Phone numbers to E.164 with a default region.

``+86 136-1234-5678``, ``13612345678`` and ``0086 13612345678`` all become ``+8613612345678``; landlines keep
their area code (``010-12345678`` -> ``+861012345678``) and extensions are dropped (``ext 12``, ``x12``,
``转8001``, ``分机8001``, and the Chinese ``010-12345678-8001``). Full-width digits are folded, and words
around the number (``手机：``, ``王先生``, ``(office)``) are ignored rather than read as keypad letters. A value
phonenumbers cannot make sense of falls back to its digits, marked with a leading ``#`` so that it never
equals an E.164 form by accident. Placeholders (fewer than five digits, or one digit repeated: ``0``, ``-``,
``00000000``) are blank.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import phonenumbers

from .text import as_text

_SPLIT = re.compile(r"[/;,，；、|\n]+")
_BLANKS = (re.compile(r"\s{2,}"), re.compile(r"\s+"))
_EXT = re.compile(r"(?:ext\.?|extension|x|转|分机|#)\s*[0-9]{1,6}$", re.IGNORECASE)
_TRAILING_GROUP = re.compile(r"[\s\-]+[0-9]{1,6}$")  # 010-12345678-8001
_START = re.compile(r"[+(0-9]")
_LAST_DIGIT = re.compile(r"[0-9][^0-9]*$")
_NON_DIGIT = re.compile(r"[^0-9]+")
_LETTERS = re.compile(r"[^\W\d_]+")
_LAYOUT = re.compile(r"[\s\-().]+")
_CN_MOBILE = re.compile(r"^(?:0086|\+?86)?(1[3-9][0-9]{9})$")
_MAX_LEN = 64  # longer strings are not phone numbers; only their digits are kept...
_MAX_READ = 1024  # ...and only from their first characters
_MIN_DIGITS = 5  # the shortest numbers a customer has (95555 service lines); fewer digits are placeholders
_MIN_SPLIT_DIGITS = 7  # "13612345678 13912345678" is two numbers; "010 1234 5678" is one


def _digit_count(text: str) -> int:
	return sum(ch.isdigit() for ch in text)


def split_phones(value: object) -> list[str]:
	"""One field may hold several numbers: ``13612345678 / 13912345678``, ``13612345678  13912345678``.

	Blanks separate numbers only when every piece they leave is long enough to be a number by itself.
	"""
	text = as_text(value).strip()
	if not text:
		return []
	out: list[str] = []
	for part in _SPLIT.split(text):
		part = part.strip()
		if not part:
			continue
		for blank in _BLANKS:
			pieces = blank.split(part)
			if len(pieces) > 1 and all(_digit_count(p) >= _MIN_SPLIT_DIGITS for p in pieces):
				out.extend(pieces)
				break
		else:
			out.append(part)
	return out


def _ascii_digits(text: str) -> str:
	"""NFKC (full-width -> ASCII), then any other script's decimal digits to ASCII digits."""
	text = unicodedata.normalize("NFKC", text)
	if text.isascii():
		return text
	return "".join(
		str(d) if not ch.isascii() and (d := unicodedata.decimal(ch, None)) is not None else ch for ch in text
	)


def _parse(candidate: str, region: str) -> phonenumbers.PhoneNumber | None:
	if candidate.startswith("00"):
		candidate = "+" + candidate[2:]
	try:
		return phonenumbers.parse(candidate, region or None)
	except phonenumbers.NumberParseException:
		return None


def _e164(num: phonenumbers.PhoneNumber) -> str:
	num.extension = None
	return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=200_000)
def normalize_phone(value: str, region: str = "CN") -> str:
	"""E.164 for a parseable number, else ``#`` + digits, else ``""`` (no digits at all)."""
	text = as_text(value)
	if not text.strip():
		return ""
	if len(text) > _MAX_LEN:
		digits = _NON_DIGIT.sub("", _ascii_digits(text[:_MAX_READ]))
		return "#" + digits if len(digits) >= _MIN_DIGITS else ""
	text = _ascii_digits(text)
	# the number runs from its first "+", "(" or digit to its last digit; words around it are notes
	start = _START.search(text)
	end = _LAST_DIGIT.search(text)
	if start is None or end is None:
		return ""
	text = text[start.start() : end.start() + 1]
	text = _EXT.sub("", text)
	text = text[: end.start() + 1] if (end := _LAST_DIGIT.search(text)) else ""
	text = _LETTERS.sub(" ", text)  # never read as keypad letters (phonenumbers would: 1-800-FLOWERS)
	digits = _NON_DIGIT.sub("", text)
	if len(digits) < _MIN_DIGITS or digits.count(digits[0]) == len(digits):
		return ""  # "0", "-", "110", "00000000": placeholders, not numbers two customers can share
	if region == "CN" and (m := _CN_MOBILE.match(_LAYOUT.sub("", text))):
		return "+86" + m.group(1)
	num = _parse(text, region)
	if num is not None and phonenumbers.is_possible_number(num):
		return _e164(num)
	if m := _TRAILING_GROUP.search(text):  # an extension written as a last group: 010-12345678-8001
		num = _parse(text[: m.start()], region)
		if num is not None and phonenumbers.is_valid_number(num):
			return _e164(num)
	return "#" + digits
