"""Company aliases and pinyin / English renderings, applied before the company_name comparator (#13).

- An alias table maps other names of one company to its name: 北大 ≡ 北京大学, 工行 ≡ 中国工商银行, a brand ≡
  its legal name, ``Suzhou Precision Machinery Co., Ltd.`` ≡ 苏州精工机械有限公司 (a translated 字号 is only
  ever equal through an alias). Both sides are reduced to their company core (``company_core``) first, so
  one row covers the legal-form and region variants of either name. Rules files name it in
  ``options.aliases``: a CSV file ``alias,canonical`` (relative to the rules file) or a list of pairs.
- ``latin_key``: an English or pinyin rendering of a Chinese name whose words are transliterations becomes
  the pinyin of the Chinese core: ``Suzhou Jinggong Machinery Co., Ltd.`` -> legal form dropped, region
  (Suzhou) dropped as company_core drops 苏州, industry words translated (Machinery -> 机械, a small table
  of legal forms and industries: no library at hand ships one), the rest kept only if it is pinyin
  (jinggong) -> ``jinggongjixie``, the pinyin of 精工机械. A name with a word that is neither pinyin nor a
  listed industry (Precision, Global) keeps its plain English core.

``canonical(raw, core)`` is the one hook ``CompanyName.prepare`` calls; ``CompanyName.compare`` then
compares a Latin core with the pinyin of a Chinese one. The active table is one per process
(``set_aliases``; ``RuleSet.from_dict`` installs the table of its options, an empty one when there is none).
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from .errors import RuleError
from .normalize.company import LEGAL_EN, REGIONS, company_core
from .normalize.person import first_readings, segment_pinyin
from .normalize.text import as_text, fold

# English industry words and their Chinese (only to reach the pinyin of the Chinese name)
INDUSTRY_EN = {
	"machinery": "机械", "machine": "机械", "technology": "科技", "technologies": "科技", "tech": "科技",
	"science": "科技", "electronics": "电子", "electronic": "电子", "electric": "电气", "trading": "贸易",
	"trade": "贸易", "food": "食品", "foods": "食品", "catering": "餐饮", "logistics": "物流",
	"construction": "建筑", "pharmaceutical": "医药", "pharma": "医药", "chemical": "化工", "chemicals": "化工",
	"textile": "纺织", "textiles": "纺织", "software": "软件", "information": "信息", "network": "网络",
	"industrial": "实业", "industry": "工业", "materials": "材料", "material": "材料", "equipment": "设备",
	"environmental": "环保", "energy": "能源", "investment": "投资", "consulting": "咨询", "culture": "文化",
	"media": "传媒", "garment": "服装", "garments": "服装", "apparel": "服饰", "furniture": "家具",
	"printing": "印刷", "packaging": "包装", "hardware": "五金", "development": "发展", "auto": "汽车",
	"automobile": "汽车", "parts": "配件", "bank": "银行", "hotel": "酒店", "restaurant": "餐厅",
	"biotech": "生物科技", "medical": "医疗", "education": "教育", "advertising": "广告", "design": "设计",
	"engineering": "工程", "steel": "钢铁", "metal": "金属", "plastic": "塑料", "plastics": "塑料",
	"real": "", "estate": "房地产", "property": "置业", "tea": "茶叶", "wine": "酒业", "tools": "工具",
	"instrument": "仪器", "instruments": "仪器", "optical": "光学", "semiconductor": "半导体",
}  # fmt: skip
_WORD = re.compile(r"[a-z0-9]+")
MAX_ALIASES = 100_000


@lru_cache(maxsize=1)
def _region_pinyin() -> frozenset[str]:
	"""The pinyin of every region name company_core strips (苏州市 and 苏州 -> suzhoushi, suzhou)."""
	return frozenset(first_readings(r) for r in REGIONS if len(r) >= 2)


@lru_cache(maxsize=100_000)
def latin_key(raw: str) -> str | None:
	"""The pinyin key of an English / pinyin rendering of a Chinese name, or None when some word is
	neither pinyin, a region, a legal form nor a listed industry word."""
	words = _WORD.findall(fold(as_text(raw)[:256]))
	if not words or any(w.isdigit() for w in words):
		return None
	regions = _region_pinyin()
	out = []
	for k, w in enumerate(words):
		if w in LEGAL_EN:
			continue
		if w in INDUSTRY_EN:
			out.append(first_readings(INDUSTRY_EN[w]))
		elif w in regions and k < len(words) - 1:  # a region, except as the whole name
			continue
		elif segment_pinyin(w) is not None:
			out.append(w)
		else:
			return None
	key = "".join(out)
	return key if len(key) >= 4 else None


class AliasTable:
	"""{company core of an alias: company core of its canonical name}."""

	def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
		self.map: dict[str, str] = {}
		self.source: Any = None
		for alias, canonical in pairs:
			a, c = company_core(alias), company_core(canonical)
			if a and c and a != c:
				self.map[a] = c

	def __len__(self) -> int:
		return len(self.map)

	def __eq__(self, other: object) -> bool:
		return isinstance(other, AliasTable) and self.map == other.map

	__hash__ = None  # mutable

	@property
	def digest(self) -> str:
		"""A hash of the table's content (an index's fingerprint changes when the aliases do)."""
		text = "\n".join(f"{a}\t{c}" for a, c in sorted(self.map.items()))
		return hashlib.sha256(text.encode()).hexdigest()[:16]

	def canonical_core(self, core: str) -> str:
		return self.map.get(core, core)

	@classmethod
	def from_option(cls, value: Any, base: Path | None = None) -> AliasTable:
		"""From ``options.aliases``: None, a list of [alias, canonical] pairs, or a CSV file name."""
		if value is None:
			return cls()
		if isinstance(value, str):
			table = cls(read_alias_csv(value, base))
		elif isinstance(value, list) and all(
			isinstance(p, (list, tuple)) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in value
		):
			table = cls((a, c) for a, c in value)
		elif isinstance(value, Mapping) and all(
			isinstance(k, str) and isinstance(v, str) for k, v in value.items()
		):
			table = cls(value.items())
		else:
			raise RuleError(
				"options.aliases must be a CSV file name, a list of [alias, name] pairs or an object"
			)
		table.source = value
		return table


def read_alias_csv(path: str, base: Path | None = None) -> list[tuple[str, str]]:
	p = Path(path)
	if not p.is_absolute() and base is not None:
		p = base / p
	try:
		with p.open(encoding="utf-8-sig", newline="") as f:
			reader = csv.reader(f)
			rows = []
			for n, row in enumerate(reader, 1):
				if not row or not any(x.strip() for x in row):
					continue
				if n == 1 and [x.strip().lower() for x in row[:2]] == ["alias", "canonical"]:
					continue
				if len(row) < 2 or not row[0].strip() or not row[1].strip():
					raise RuleError(f"aliases file {p}: line {n} must be alias,canonical")
				rows.append((row[0], row[1]))
				if len(rows) > MAX_ALIASES:
					raise RuleError(f"aliases file {p}: more than {MAX_ALIASES:,} aliases")
			return rows
	except FileNotFoundError:
		raise RuleError(f"aliases file not found: {p}") from None
	except (OSError, UnicodeDecodeError, csv.Error) as e:
		raise RuleError(f"cannot read aliases file {p}: {e}") from None


_ACTIVE = AliasTable()


def set_aliases(table: AliasTable) -> None:
	global _ACTIVE
	_ACTIVE = table


def active_aliases() -> AliasTable:
	return _ACTIVE


def canonical(raw: str, core: str) -> str:
	"""The hook of ``CompanyName.prepare``: the core after the alias table, and for a Latin name whose
	words are transliterations, its pinyin key."""
	if _ACTIVE.map:
		got = _ACTIVE.map.get(core)
		if got is not None:
			return got
	if core.isascii() and core.isalpha():
		key = latin_key(raw)
		if key is not None:
			return _ACTIVE.map.get(key, key) if _ACTIVE.map else key
	return core
