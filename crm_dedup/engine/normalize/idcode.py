"""统一社会信用代码 (USCC) and 居民身份证 (RIC) numbers.

Case, spaces and dashes are folded. A value that fails its checksum still compares exactly, but is reported
as invalid so a person can see the data is wrong. Checksums come from python-stdnum.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from operator import mul

from stdnum.cn import ric, uscc

from .text import as_text

_DROP = re.compile(r"[\s\-_./·]+")


@dataclass(frozen=True)
class IdCode:
	value: str
	kind: str  # "uscc", "ric", or "other"
	valid: bool

	@property
	def note(self) -> str:
		if self.kind == "other":
			return ""
		label = "USCC" if self.kind == "uscc" else "RIC"
		return f"{label} {'valid' if self.valid else 'invalid checksum'}"


def _check(fn, value: str) -> bool:
	try:
		return bool(fn(value))
	except Exception:  # stdnum raises on odd input in some versions; a failed check is "invalid"
		return False


_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # as stdnum.cn.uscc
_USCC_INDEX = {c: i for i, c in enumerate(_USCC_ALPHABET)}
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_NOT_USCC = 255
_USCC_TABLE = bytes(_USCC_INDEX.get(chr(b), _NOT_USCC) for b in range(256))  # ASCII -> index in the alphabet


_RIC_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))


_RIC_ZERO = ord("0") * sum(_RIC_WEIGHTS)


def _ric_checksum_ok(text: str) -> bool:
	"""The ISO 7064 MOD 11-2 check digit of an 18-character 身份证 number (17 ASCII digits first). stdnum's
	``ric.is_valid`` checks it too (with the birth date): a number failing it is never valid, so the costlier
	call is skipped for it (most USCC codes begin with 17 digits and fail it)."""
	total = sum(map(mul, text[:17].encode("ascii"), _RIC_WEIGHTS)) - _RIC_ZERO  # digits' codes, less "0"s
	return text[17] == "10X98765432"[total % 11]


def _uscc_valid(text: str) -> bool:
	"""``stdnum.cn.uscc.is_valid`` for 18 upper-case ASCII letters and digits (its format and check digit)."""
	if not text[:8].isdigit():
		return False
	codes = text[:17].encode("ascii", "replace").translate(_USCC_TABLE)
	if _NOT_USCC in codes:
		return False
	total = sum(map(mul, codes, _USCC_WEIGHTS))
	return text[17] == _USCC_ALPHABET[(31 - total) % 31]


@lru_cache(maxsize=100_000)
def normalize_id_code(value: str) -> IdCode:
	text = as_text(value)
	if text.isascii():
		text = text.upper()
		if not text.isalnum():  # ASCII letters and digits alone (most codes): nothing to drop
			text = _DROP.sub("", text)
	else:
		for _ in range(4):  # dropping a blank can leave combining marks out of canonical order: settle it
			folded = _DROP.sub("", unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).upper()))
			if folded == text:
				break
			text = folded
	if len(text) == 18 and text.isalnum():
		if text.isascii():  # the common case, checked without stdnum's per-call cleaning (same verdicts)
			if text[:17].isdigit() and _ric_checksum_ok(text) and _check(ric.is_valid, text):
				return IdCode(text, "ric", True)
			if _uscc_valid(text):
				return IdCode(text, "uscc", True)
		else:
			if _check(ric.is_valid, text):
				return IdCode(text, "ric", True)
			if _check(uscc.is_valid, text):
				return IdCode(text, "uscc", True)
		looks_ric = text[:17].isdigit() and (text[17].isdigit() or text[17] == "X")
		return IdCode(text, "ric" if looks_ric else "uscc", False)
	if len(text) == 15 and text.isdigit():
		# 15-digit first-generation 身份证 (no checksum) or an old 注册号
		return IdCode(text, "other", True)
	return IdCode(text, "other", True)
