"""Generic text folding: width, case, whitespace, punctuation, traditional -> simplified Chinese."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import opencc

_T2S = opencc.OpenCC("t2s")
# Characters dropped by normalize_text: all but letters and digits of every script. ``[\W_]`` is exactly the
# characters whose Unicode category is not L* or N* (str.isalnum); tests/test_properties.py checks every code
# point against unicodedata.category.
_NOT_ALNUM = re.compile(r"[\W_]+")


def as_text(value: object) -> str:
	if value is None:
		return ""
	if isinstance(value, str):
		return value
	if isinstance(value, bytes):
		return value.decode("utf-8", "replace")
	return str(value)


def is_blank(value: object) -> bool:
	if value is None:
		return True
	if isinstance(value, (list, tuple, set, frozenset)):
		return all(is_blank(v) for v in value)
	return not as_text(value).strip()


def to_simplified(text: str) -> str:
	"""Traditional -> simplified Chinese (OpenCC t2s); other text is returned unchanged."""
	if not text or text.isascii():
		return text
	try:
		return _T2S.convert(text)
	except Exception:  # OpenCC rejects some invalid surrogates; folding is best effort
		return text


def fold(text: str) -> str:
	"""NFKC (full width -> half width), traditional -> simplified, casefold. Keeps punctuation."""
	text = as_text(text)
	if not text:
		return ""
	text = unicodedata.normalize("NFKC", text)
	return to_simplified(text).casefold()


def strip_punct(text: str) -> str:
	"""Keeps only letters and digits (any script: Unicode categories L* and N*)."""
	return _NOT_ALNUM.sub("", text)


@lru_cache(maxsize=200_000)
def normalize_text(value: str) -> str:
	"""Case, full/half width, whitespace, punctuation and traditional/simplified folded.

	>>> normalize_text("  ＡＢＣ 有限公司（北京） ")
	'abc有限公司北京'
	"""
	return strip_punct(fold(value))
