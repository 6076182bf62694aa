"""Words of a free text (addresses, project names), item sets, and dates: the normalisers of the
``fuzzy_tokens``, ``set_overlap`` and ``date_within`` match types.

- ``text_tokens``: words in order of appearance. Latin text splits at blanks and punctuation; Chinese text
  (written without blanks) splits after the characters that end an address part (省 市 区 县 镇 路 街 道
  巷 弄 号 楼 栋 座 室 层 大厦 ...) and between digits and letters: ``中山路1号金陵大厦`` -> 中山路 1号 金陵大厦.
- ``item_set``: the distinct items of a list or of a string separated by ``, ; | / 、`` or new lines.
- ``parse_date``: a day number (``date.toordinal``) from ISO dates and datetimes, ``2024/1/5``,
  ``2024.01.05``, ``20240105``, ``2024年1月5日``, or a ``date``/``datetime``; ``None`` when it is not a date.

Every function is total: any input, no exception.
"""

from __future__ import annotations

import datetime as _dt
import re
from functools import lru_cache

from .text import as_text, fold

# Characters (and words) that end one part of a Chinese address or name: a word boundary follows them.
_CN_ENDS = "省市区县旗镇乡村路街道巷弄里号楼栋幢座室层厦园苑庄府院场站口桥湾"
_CN_WORD_ENDS = ("大厦", "广场", "中心", "大楼", "花园", "小区", "公寓", "大道", "工业园", "开发区", "商城")
_WORD = re.compile(r"[0-9]+[a-z]?(?:号|栋|幢|楼|层|室|座|弄|巷|单元|#)?|[a-z]+|[^\W\d_a-z]+", re.IGNORECASE)
_MAX_CHARS = 1024
_MAX_TOKENS = 64
_ITEM_SPLIT = re.compile(r"[,;|/\n、，；]+")
_MAX_ITEMS = 200
_DATE = re.compile(r"^\s*(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?")
_DATE8 = re.compile(r"^\s*(\d{4})(\d{2})(\d{2})(?:\D|$)")


def _split_han(chunk: str) -> list[str]:
	"""A run of Chinese characters cut after every address-part ending (the ending stays with its word)."""
	out: list[str] = []
	start = 0
	i = 0
	n = len(chunk)
	while i < n:
		word_end = next((w for w in _CN_WORD_ENDS if chunk.startswith(w, i)), None)
		if word_end is not None:
			i += len(word_end)
			out.append(chunk[start:i])
			start = i
			continue
		if chunk[i] in _CN_ENDS and i - start >= 1:
			out.append(chunk[start : i + 1])
			start = i + 1
		i += 1
	if start < n:
		out.append(chunk[start:])
	return [w for w in out if w]


@lru_cache(maxsize=100_000)
def text_tokens(value: str) -> tuple[str, ...]:
	"""The words of a text, folded (width, case, traditional -> simplified), in order."""
	text = fold(as_text(value)[:_MAX_CHARS])
	out: list[str] = []
	for m in _WORD.finditer(text):
		w = m.group(0)
		if w[0].isdigit() or w.isascii():
			out.append(w)
		else:
			out.extend(_split_han(w))
		if len(out) >= _MAX_TOKENS:
			break
	return tuple(out[:_MAX_TOKENS])


def item_set(value: object) -> frozenset[str]:
	"""Distinct items, case and width folded; a list gives its elements, a string its separated parts."""
	if value is None:
		return frozenset()
	if isinstance(value, (list, tuple, set, frozenset)):
		parts: list[str] = []
		for v in value:
			parts.extend(item_set(v))
			if len(parts) >= _MAX_ITEMS:
				break
	else:
		parts = _ITEM_SPLIT.split(fold(as_text(value)[: 64 * _MAX_ITEMS]))
	return frozenset(p.strip() for p in parts[:_MAX_ITEMS] if p.strip())


def parse_date(value: object) -> int | None:
	"""The day number of a date, or None."""
	if isinstance(value, _dt.datetime):
		return value.date().toordinal()
	if isinstance(value, _dt.date):
		return value.toordinal()
	text = fold(as_text(value)[:64])
	m = _DATE.match(text) or _DATE8.match(text)
	if m is None:
		return None
	try:
		return _dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3))).toordinal()
	except ValueError:
		return None
