"""Person names, pinyin-aware: 张伟 ≡ Zhang Wei ≡ zhangwei ≡ Wei Zhang.

A name becomes one or more *variants*, each a tuple of syllables (or Latin tokens that are not pinyin).
Chinese characters are read with pypinyin's character dictionary (tones dropped); a surname with several
readings (单 dan/shan, 曾 zeng/ceng) gives one variant per reading. Latin words are split into pinyin syllables
when they spell pinyin (zhangwei -> zhang wei) and kept whole otherwise (John).
"""

from __future__ import annotations

import sys
import unicodedata
from functools import lru_cache

from pypinyin.contrib.tone_convert import to_normal
from pypinyin.pinyin_dict import pinyin_dict

from .text import as_text

_MAX_CHARS = 64  # longer values are not names: only their first 64 letters are read
_INTERJECTIONS = {"m", "n", "ng", "hm", "hng", "r", "ê", "ea", "o", "e"}


def _reading_list(code: int) -> tuple[str, ...]:
	raw = pinyin_dict.get(code)
	if not raw:
		return ()
	out: list[str] = []
	for reading in raw.split(","):
		syl = to_normal(reading.strip(), v_to_u=False)
		if syl and syl.isascii() and syl.isalpha() and syl not in out:
			out.append(syl)
	return tuple(out)


def _build_readings() -> tuple[frozenset[str], dict[int, str]]:
	"""(every syllable, {code point: its first reading}) of pypinyin's character dictionary."""
	found: set[str] = set()
	first: dict[int, str] = {}
	for code in pinyin_dict:
		got = _reading_list(code)
		found.update(got)
		if got:
			first[code] = sys.intern(got[0])  # a few hundred syllables shared by 40,000 characters
	return frozenset(s for s in found if s not in _INTERJECTIONS or s in ("e", "o", "er")), first


SYLLABLES, _FIRST_READING = _build_readings()
_FIRST_BY_CHAR = {chr(code): reading for code, reading in _FIRST_READING.items()}
_CJK = frozenset(chr(code) for code, raw in pinyin_dict.items() if raw)  # is_cjk, as a set
_MAX_SYL = max(len(s) for s in SYLLABLES)


@lru_cache(maxsize=50_000)
def readings(ch: str) -> tuple[str, ...]:
	return _reading_list(ord(ch))


def first_readings(text: str) -> str:
	"""The first reading of every Chinese character of ``text`` (other characters as they are), no tones or
	spaces: 金陵 -> jinling. One ``str.translate`` (a tenth of a loop over ``readings``, which tests compare it
	with): no cache needed for the company names, 字号 and regions of a scan."""
	return text.translate(_FIRST_READING)


def is_cjk(ch: str) -> bool:
	return bool(pinyin_dict.get(ord(ch)))


@lru_cache(maxsize=50_000)
def segment_pinyin(word: str) -> tuple[str, ...] | None:
	"""``zhangwei`` -> ``("zhang", "wei")``; ``None`` when the word is not pinyin. Fewest syllables win."""
	n = len(word)
	if n == 0 or n > 40:
		return None
	best: list[tuple[str, ...] | None] = [None] * (n + 1)
	best[0] = ()
	for i in range(n):
		if best[i] is None:
			continue
		for j in range(i + 1, min(n, i + _MAX_SYL) + 1):
			syl = word[i:j]
			if syl in SYLLABLES:
				cand = best[i] + (syl,)
				if best[j] is None or len(cand) < len(best[j]):
					best[j] = cand
	return best[n]


def _latin_fold(text: str) -> str:
	text = text.replace("ü", "v").replace("Ü", "v")
	decomposed = unicodedata.normalize("NFKD", text)
	return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


@lru_cache(maxsize=200_000)
def person_variants(value: str) -> tuple[tuple[str, ...], ...]:
	"""All readings of a name, each a tuple of syllables/tokens in written order. Empty for a blank name."""
	if value.__class__ is str and (got := han_variants(value)) is not None:
		return got
	return _person_variants(value)


def han_variants(value: str) -> tuple[tuple[str, ...], ...] | None:
	"""``person_variants`` of a name of at most ``_MAX_CHARS`` Chinese characters that all have a reading and
	that NFKC leaves as it is (most names): the first character's readings (three at most), each followed by the
	first reading of every other character. None for any other name (its ``han_chars`` are all of it)."""
	if not value or len(value) > _MAX_CHARS or value[0] not in _FIRST_BY_CHAR:
		return None
	try:
		rest = tuple(map(_FIRST_BY_CHAR.__getitem__, value[1:]))
	except KeyError:
		return None
	if not unicodedata.is_normalized("NFKC", value):
		return None
	first = readings(value[0])
	if len(first) == 1:  # most surnames have one reading
		return ((first[0], *rest),)
	return tuple([(reading, *rest) for reading in first[:3]])


def _person_variants(value: str) -> tuple[tuple[str, ...], ...]:
	"""``person_variants`` without the shortcut for names in Chinese characters (tests prove it gives this)."""
	text = unicodedata.normalize("NFKC", as_text(value))[: _MAX_CHARS * 4]
	first_cjk_done = False
	parts: list[tuple[str, ...]] = []  # each element: the alternatives for one position
	word = []

	def flush() -> None:
		if not word:
			return
		w = _latin_fold("".join(word))
		word.clear()
		w = "".join(ch for ch in w if ch.isalnum())
		if not w:
			return
		seg = segment_pinyin(w) if w.isascii() and w.isalpha() else None
		for tok in seg or (w,):
			parts.append((tok,))

	letters = 0
	for ch in text:
		if letters >= _MAX_CHARS:
			break
		if is_cjk(ch):
			flush()
			alts = readings(ch)
			if not first_cjk_done:
				parts.append(alts[:3])
				first_cjk_done = True
			else:
				parts.append(alts[:1])
			letters += 1
		elif ch.isalnum():
			word.append(ch)
			letters += 1
		else:
			flush()
	flush()
	if not parts:
		return ()
	variants: list[tuple[str, ...]] = [()]
	for alts in parts:
		variants = [v + (a,) for v in variants for a in alts]
	return tuple(dict.fromkeys(variants))


def han_chars(value: str) -> str:
	"""The Chinese characters of a name, traditional folded to simplified by the caller."""
	text = as_text(value)
	if _CJK.issuperset(text):  # a name in Chinese characters alone
		return text
	return "".join([ch for ch in text if ch in _CJK])
