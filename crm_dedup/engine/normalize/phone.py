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

_SPLIT = re.compile(r"[;,，；、|\n]+")  # list separators: never inside one number
# a slash may be a list separator ("13612345678 / 13912345678") or sit between area code and number
# ("212/555-0134", "030/1234567", "010/62345678"): spaced slashes are tried first, then bare ones
_SLASHES = (re.compile(r"\s+/+\s*|\s*/+\s+"), re.compile(r"/+"))
_BLANKS = (re.compile(r"\s{2,}"), re.compile(r"\s+"))
_EXT = re.compile(r"(?:ext\.?|extension|x|转|分机|#)\s*[0-9]{1,6}$", re.IGNORECASE)
_TRAILING_GROUP = re.compile(r"[\s\-]+[0-9]{1,6}$")  # 010-12345678-8001
_START = re.compile(r"[+(0-9]")
_LAST_DIGIT = re.compile(r"[0-9][^0-9]*$")
_NON_DIGIT = re.compile(r"[^0-9]+")
_LETTERS = re.compile(r"[^\W\d_]+")
_LAYOUT = re.compile(r"[\s\-().]+")
_CN_MOBILE = re.compile(r"^(?:0086|\+?86)?(1[3-9][0-9]{9})$")
_CN_TRUNK = re.compile(r"^0([1-9][0-9]{6,11})$")  # 0574 36045811
_CN_INTL = re.compile(r"^(?:0086|\+86)([1-9][0-9]{6,11})$")  # 0086 574 36045811, +86 574 36045811
_MAX_LEN = 64  # longer strings are not phone numbers; only their digits are kept...
_MAX_READ = 1024  # ...and only from their first characters
_MIN_DIGITS = 5  # the shortest numbers a customer has (95555 service lines); fewer digits are placeholders
_MIN_SPLIT_DIGITS = 7  # "13612345678 13912345678" is two numbers; "010 1234 5678" is one
# a character some split below cuts at (_SPLIT, _SLASHES, _BLANKS): a field with none of them is one value
_ANY_SEPARATOR = re.compile(r"[;,，；、|\n/]|\s")
# digits in the layout people type (0851-38129599, (0851) 3812 9599, +86 136 1234 5678): ASCII only, so the
# NFKC, extension and letter steps of _normalize_phone leave it as it is and its flat form is its digits
_PLAIN_LAYOUT = re.compile(r"\+?[0-9 \-().]*")


def _digit_count(text: str) -> int:
	return sum(map(str.isdigit, text))


def _plausible(piece: str, minimum: int) -> bool:
	return _digit_count(piece) >= minimum


def _split_if_all(text: str, pattern: re.Pattern, minimum: int) -> list[str] | None:
	"""The pieces ``pattern`` cuts ``text`` into, or None when it cuts nothing or some piece with digits is
	too short to be a number by itself (then the separator is part of one number's layout). Pieces without a
	digit (a word such as 无 or "office") are dropped, so ``13612345678; 无`` is the one number."""
	cut = pattern.split(text)
	if len(cut) < 2:
		return None
	pieces = [p.strip() for p in cut]
	pieces = [p for p in pieces if p and any(map(str.isdigit, p))]
	if not pieces or not all(_plausible(p, minimum) for p in pieces):
		return None
	return pieces


def split_phones(value: object) -> list[str]:
	"""One field may hold several numbers: ``13612345678 / 13912345678``, ``13612345678  13912345678``.

	A field is split only where every piece it leaves is plausible as a number by itself: list separators
	(``;`` ``,`` ``、`` ``|``, new lines) need pieces of five digits or more, slashes and blanks seven or
	more. So ``212/555-0134``, ``030/1234567`` and ``010/62345678`` stay one number (an area code is not a
	number), while ``030/1234567 / 0171/2345678`` is two.
	"""
	text = as_text(value).strip()
	if not text:
		return []
	if text.isalnum() or _ANY_SEPARATOR.search(text) is None:  # nothing to split at: one value (most fields)
		return [text]
	return _split_text(text)


def _split_text(text: str) -> list[str]:
	"""``split_phones`` of a stripped, non-blank text, without the shortcut for a text with no separator
	(tests prove the shortcut gives what this gives)."""
	parts = _split_if_all(text, _SPLIT, _MIN_DIGITS) or [text.strip()]
	out: list[str] = []
	for part in parts:
		out.extend(_split_part(part))
	return [p for p in out if p]


def _split_part(part: str) -> list[str]:
	for pattern in (*_SLASHES, *_BLANKS):
		pieces = _split_if_all(part, pattern, _MIN_SPLIT_DIGITS)
		if pieces is not None:
			return [q for p in pieces for q in _split_part(p)]
	return [part]


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


def _desc_matcher(desc: phonenumbers.PhoneNumberDesc):
	"""phonenumbers' own test of a national number against a number description: a possible length and a
	full match of the pattern (``phonenumberutil._is_number_matching_desc``), with the pattern compiled once."""
	lengths = frozenset(desc.possible_length)
	pattern = re.compile(desc.national_number_pattern)
	return lambda national: (
		(not lengths or len(national) in lengths) and pattern.fullmatch(national) is not None
	)


_CN_META = phonenumbers.PhoneMetadata.metadata_for_region("CN")
_CN_GENERAL = _desc_matcher(_CN_META.general_desc)
_CN_FIXED = _desc_matcher(_CN_META.fixed_line)
_CN_LENGTHS = frozenset(_CN_META.general_desc.possible_length) - frozenset(
	_CN_META.general_desc.possible_length_local_only
)


def _cn_landline(flat: str) -> str | None:
	"""E.164 of a Chinese number written as digits after a trunk 0, +86 or 0086, without a phonenumbers parse
	(the costly part of normalising a million numbers), where what parse would give is certain:

	- ``0`` + 7 to 12 digits not starting with 0: parse strips the trunk 0 (no CN number pattern starts with
	  0, so the original is never "viable"), every length from 7 to 12 is a possible CN length, so the number
	  is kept and is possible: E.164 is +86 and those digits;
	- ``+86``/``0086`` + digits that phonenumbers' own metadata calls a valid fixed line and that cannot be
	  read as a carrier code (11, 12, 179): parse keeps them as they are;
	- ``+86``/``0086`` + 7 to 12 digits starting with 2 to 9, valid or not (+86 902 57089504): CN's national
	  prefix for parsing (0, or a carrier code 11xx, 12xx, 179xx) cannot match them, so parse keeps them as
	  they are, and every such length is a possible CN length: E.164 is +86 and those digits (without this,
	  the few such values cost a tenth of all phone normalising).

	Anything else returns None and parse decides. tests/test_properties.py checks both against the full path.
	"""
	if m := _CN_TRUNK.match(flat):
		return "+86" + m.group(1) if len(m.group(1)) in _CN_LENGTHS else None
	if m := _CN_INTL.match(flat):
		national = m.group(1)
		if national[0] != "1":
			return "+86" + national if len(national) in _CN_LENGTHS else None
		if not national.startswith(("11", "12", "179")) and _CN_GENERAL(national) and _CN_FIXED(national):
			return "+86" + national
	return None


@lru_cache(maxsize=200_000)
def normalize_phone(value: str, region: str = "CN") -> str:
	"""E.164 for a parseable number, else ``#`` + digits, else ``""`` (no digits at all)."""
	return _normalize_phone(value, region)


def _normalize_phone(value: str, region: str = "CN", fast: bool = True) -> str:
	"""``normalize_phone`` uncached; ``fast=False`` skips the shortcuts for Chinese numbers (tests prove the
	shortcuts give what the full path gives)."""
	if (
		fast
		and region == "CN"
		and value.__class__ is str
		and len(value) == 11
		and value.isascii()
		and value.isdigit()
		and value[0] == "1"
		and value[1] in "3456789"
	):
		return "+86" + value  # a plain mobile number, by far the most common value
	if (
		fast
		and region == "CN"
		and value.__class__ is str
		and len(value) <= _MAX_LEN
		and value.isascii()
		and _PLAIN_LAYOUT.fullmatch(value)
	):
		# what the steps below give such a value without reading it again: the first "+", "(" or digit and the
		# last digit bound the number, nothing in it is an extension or a letter, so its flat form is the value
		# without layout characters; a value neither shortcut takes goes the whole way
		flat = _LAYOUT.sub("", value)
		digits = flat[1:] if flat[:1] == "+" else flat
		if len(digits) < _MIN_DIGITS or digits.count(digits[0]) == len(digits):
			return ""
		if m := _CN_MOBILE.match(flat):
			return "+86" + m.group(1)
		if e164 := _cn_landline(flat):
			return e164
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
	if region == "CN":
		flat = _LAYOUT.sub("", text)
		if m := _CN_MOBILE.match(flat):
			return "+86" + m.group(1)
		if fast and (e164 := _cn_landline(flat)):
			return e164
	num = _parse(text, region)
	if num is not None and phonenumbers.is_possible_number(num):
		return _e164(num)
	if m := _TRAILING_GROUP.search(text):  # an extension written as a last group: 010-12345678-8001
		num = _parse(text[: m.start()], region)
		if num is not None and phonenumbers.is_valid_number(num):
			return _e164(num)
	return "#" + digits
