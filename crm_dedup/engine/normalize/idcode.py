"""统一社会信用代码 (USCC) and 居民身份证 (RIC) numbers.

Case, spaces and dashes are folded. A value that fails its checksum still compares exactly, but is reported
as invalid so a person can see the data is wrong. Checksums come from python-stdnum.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

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


@lru_cache(maxsize=100_000)
def normalize_id_code(value: str) -> IdCode:
	text = unicodedata.normalize("NFKC", as_text(value)).upper()
	text = _DROP.sub("", text)
	if len(text) == 18 and text.isalnum():
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
