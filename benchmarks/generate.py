"""Realistic Chinese CRM customer records with known duplicates, as CSV.

	python benchmarks/generate.py --rows 1000000 --dup-rate 0.1 --seed 1 -o benchmarks/out/customers_1m.csv

Columns: those of examples/rules.json (id, customer_name, contact_person, phone_1, phone_2, phone_3, mobile_no,
email_id, tax_id, city) plus ``entity``, the ground truth: two rows are the same customer exactly when their
``entity`` is equal.

Where the values come from (all real lists, nothing made up by this script):
- 字号 (brand words): companynameparser's brand.txt; industries: its trade.txt; shop-type endings: suffix.txt;
- regions: cpca's resources/adcodes.csv (provinces, prefecture cities, districts/counties);
- landline area codes: phonenumbers' Chinese geocoder (the area code whose description is the city);
- surnames: the 100 most common (benchmarks/data/surnames.tsv, with population shares); given names: the
  given-name part of the person names (tagged ``nr``) in jieba's dictionary;
- 统一社会信用代码: region code of the company's city, a GB 11714 organisation code and the check character
  from python-stdnum's ``stdnum.cn.uscc.calc_check_digit``.

A duplicate row is its entity's first row re-typed the way another sales rep or an import would: legal form
swapped (有限公司 / 有限责任公司 / 股份有限公司), region prefix added, dropped or put in brackets, traditional
characters (OpenCC s2t), short names, extra spaces, homophone or keyboard typos, phones re-formatted (+86,
0086, dashes, spaces, extensions) and moved between phone_1/2/3/mobile_no, a new contact person or the same
one in pinyin (Zhang Wei, zhangwei, WEI ZHANG) or as 张总, e-mail case, 市 added or dropped in the city,
and blanks. Some duplicates keep nothing a rule can use; that is what real data looks like, and it shows
up as lost recall.

``--placeholders RATE`` mixes the fillers of real CRM data into the rows (issue #16): each blank tax id,
e-mail, contact person and phone slot is filled, with probability RATE each, with a placeholder (无, 不详, N/A,
0; 13800138000, 11111111111; test@test.com, 123@qq.com; 先生, 女士), as a rep does who must type something.
Real values are never replaced, and the fillers come from their own random stream: the rows are otherwise
exactly those of the same seed without ``--placeholders`` (RATE 0, the default, writes the same bytes).

The output is deterministic for a given --seed (and --rows/--dup-rate/--placeholders).
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import os
import random
import sys
import time
from bisect import bisect
from itertools import accumulate
from pathlib import Path

COLUMNS = [
	"id",
	"customer_name",
	"contact_person",
	"phone_1",
	"phone_2",
	"phone_3",
	"mobile_no",
	"email_id",
	"tax_id",
	"city",
	"entity",
]
HERE = Path(__file__).resolve().parent

# GB/T 2260 mobile prefixes in use (China Mobile, Unicom, Telecom, virtual operators)
MOBILE_PREFIXES = (
	"130 131 132 133 134 135 136 137 138 139 145 147 149 150 151 152 153 155 156 157 158 159 "
	"166 170 171 172 173 175 176 177 178 180 181 182 183 184 185 186 187 188 189 191 193 195 "
	"196 197 198 199"
).split()
PERSONAL_MAIL = ("qq.com", "163.com", "126.com", "sina.com", "139.com", "foxmail.com", "aliyun.com")
# Legal forms with rough shares among CRM customers (most are limited companies)
LEGAL_FORMS = (
	("有限公司", 50),
	("有限责任公司", 14),
	("股份有限公司", 5),
	("集团有限公司", 2),
	("", 0),  # placeholder for a shop-type ending from suffix.txt, weight set below
)
SHOP_SHARE = 20  # per cent of names ending in a shop-type word (超市, 商行, 餐厅, 店 ...)
BARE_SHARE = 9  # per cent with no ending at all (个体户, a team's short name)
SWAP_FORMS = ("有限公司", "有限责任公司", "股份有限公司")
NOT_GIVEN = set(
	"爷爹姐哥叔婆公嫂妈伯娘氏某总老师傅生兄弟妹夫人王帝皇后妃君侯祖宗经理府宫村斯勒尔纳塔阿格千太"
)
KEYBOARD_NEAR = {
	"0": "9",
	"1": "2",
	"2": "13",
	"3": "24",
	"4": "35",
	"5": "46",
	"6": "57",
	"7": "68",
	"8": "79",
	"9": "80",
}
ORG_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
# what reps type when a value is required and unknown (see --placeholders)
PLACEHOLDERS = {
	"tax_id": ("无", "不详", "N/A", "n/a", "0", "暂无", "000000"),
	"phone": ("13800138000", "11111111111", "138-0013-8000", "13888888888", "0", "无"),
	"email_id": ("test@test.com", "123@qq.com", "无", "none@none.com", "TEST@TEST.COM"),
	"contact_person": ("先生", "女士", "老板", "经理", "无"),
}
PHONE_SLOTS = ("phone_1", "phone_2", "phone_3", "mobile_no")
ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def _pkg_file(pkg: str, *parts: str) -> Path:
	"""A data file inside an installed package, found without importing the package (cpca's __init__ imports
	pkg_resources, which recent setuptools no longer ship)."""
	spec = importlib.util.find_spec(pkg)
	if spec is None or not spec.submodule_search_locations:
		raise SystemExit(f"generate.py needs the package {pkg!r}: pip install -e .[bench]")
	return Path(next(iter(spec.submodule_search_locations))).joinpath(*parts)


def _is_han(s: str) -> bool:
	return bool(s) and all("\u4e00" <= ch <= "\u9fff" for ch in s)


class Pools:
	"""The real lists everything is drawn from, loaded once (about two seconds)."""

	def __init__(self) -> None:
		from pypinyin import lazy_pinyin
		from pypinyin.contrib.tone_convert import to_normal
		from pypinyin.pinyin_dict import pinyin_dict

		data = _pkg_file("companynameparser", "data")
		brands = (data / "brand.txt").read_text(encoding="utf-8").split()
		self.brands = sorted({b for b in brands if 2 <= len(b) <= 4 and _is_han(b)})
		trades = (data / "trade.txt").read_text(encoding="utf-8").split()
		self.trades = sorted({t for t in trades if 2 <= len(t) <= 4 and _is_han(t)})
		suffixes = (data / "suffix.txt").read_text(encoding="utf-8").split()
		legal_words = ("公司", "集团", "合作社", "有限", "股份", "分", "部", "中心")
		self.shop_endings = sorted(
			{s for s in suffixes if _is_han(s) and not any(w in s for w in legal_words)}
		)

		# regions: provinces, prefecture cities (or municipalities) and their districts/counties
		provinces: dict[str, str] = {}
		cities: dict[str, tuple[str, str]] = {}  # code4 -> (province code2, name)
		counties: dict[str, list[str]] = {}
		with open(_pkg_file("cpca", "resources", "adcodes.csv"), encoding="utf-8") as f:
			for row in csv.DictReader(f):
				code, name = row["adcode"], row["name"]
				if code[2:] == "0000000000":
					provinces[code[:2]] = name
				elif code[4:] == "00000000":
					if name not in ("市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"):
						cities[code[:4]] = (code[:2], name)
				elif code[6:] == "000000" and name != "市辖区":
					counties.setdefault(code[:4], []).append(name)
		for p2, pname in provinces.items():  # municipalities: 北京市 is the city, 110101 东城区 a district
			if pname.endswith("市"):
				cities[p2 + "01"] = (p2, pname)
		areas = self._area_codes()
		self.cities = []  # (province short, city full, city short, [counties], adcode6, area code, weight)
		for code4, (p2, cname) in sorted(cities.items()):
			pname = provinces.get(p2, "")
			short = _short_region(cname)
			county_list = counties.get(code4, [])
			code6 = code4 + "00"
			if county_list:
				code6 = code4 + "01"
			weight = 6 if pname.endswith("市") else (3 if code4[2:] == "01" else 1)
			area = self._area_for(cname, short, areas)
			self.cities.append((_short_region(pname), cname, short, county_list, code6, area, weight))
		by_province = {}
		for c in self.cities:
			if c[5]:
				by_province.setdefault(c[0], c[5])
		# a few cities are missing from the geocoder data (株洲 shares 0731): use their province's first code
		self.cities = [c if c[5] else c[:5] + (by_province.get(c[0], "10"),) + c[6:] for c in self.cities]
		self.city_cum = list(accumulate(c[6] for c in self.cities))

		# people
		self.surnames: list[tuple[str, tuple[str, ...]]] = []
		weights = []
		for line in (HERE / "data" / "surnames.tsv").read_text(encoding="utf-8").splitlines():
			if line and not line.startswith("#"):
				s, py, w = line.split("\t")
				self.surnames.append((s, tuple(py.split("|"))))
				weights.append(float(w))
		self.surname_cum = list(accumulate(weights))
		surname_set = {s for s, _ in self.surnames}
		# given names: the part after a common surname of jieba's person names, kept when it follows at
		# least two surnames and every character is a usual given-name character (drops titles, places)
		g1: dict[str, int] = {}
		g2: dict[str, int] = {}
		with open(_pkg_file("jieba", "dict.txt"), encoding="utf-8") as f:
			for line in f:
				parts = line.split()
				if len(parts) == 3 and parts[2] == "nr" and len(parts[0]) in (2, 3):
					name = parts[0]
					if name[0] in surname_set and _is_han(name) and not (set(name[1:]) & NOT_GIVEN):
						g = g1 if len(name) == 2 else g2
						g[name[1:]] = g.get(name[1:], 0) + 1
		char_use: dict[str, int] = {}
		for given in g2:
			for ch in set(given):
				char_use[ch] = char_use.get(ch, 0) + 1
		self.given1 = sorted(k for k, v in g1.items() if v >= 2 and char_use.get(k, 0) >= 15)
		self.given2 = sorted(k for k, v in g2.items() if v >= 2 and all(char_use[c] >= 15 for c in k))
		self._given_py: dict[str, list[str]] = {}
		self._char_py: dict[str, str] = {}
		self._pinyin_dict = pinyin_dict
		self._to_normal = to_normal
		self._lazy_pinyin = lazy_pinyin

		# homophones for IME typos: common brand characters grouped by toneless reading
		freq: dict[str, int] = {}
		for b in self.brands:
			for ch in b:
				freq[ch] = freq.get(ch, 0) + 1
		common = sorted(freq, key=lambda c: (-freq[c], c))[:3000]
		by_reading: dict[str, list[str]] = {}
		self.reading: dict[str, str] = {}
		for ch in common:
			raw = pinyin_dict.get(ord(ch))
			if not raw:
				continue
			r = to_normal(raw.split(",")[0])
			self.reading[ch] = r
			by_reading.setdefault(r, []).append(ch)
		self.homophones = {ch: [c for c in by_reading[r] if c != ch] for ch, r in self.reading.items()}
		self.common_chars = common
		self._py_cache: dict[str, str] = {}

	@staticmethod
	def _area_codes() -> list[tuple[str, str]]:
		"""(place description, landline area code) from phonenumbers' Chinese geocoder data."""
		import phonenumbers
		from phonenumbers import geocoder

		codes = ["10"] + [f"2{d}" for d in range(10)]
		codes += [f"{a}{b}{c}" for a in "3456789" for b in range(10) for c in range(10)]
		out: list[tuple[str, str]] = []
		for code in codes:
			for local in ("62345678", "6234567"):
				try:
					desc = geocoder.description_for_number(phonenumbers.parse(f"+86{code}{local}"), "zh")
				except phonenumbers.NumberParseException:
					continue
				if desc:
					break
			else:
				continue
			for place in desc.split("、"):  # 海南省海口市、三亚市
				out.append((place, code))
		return out

	@staticmethod
	def _area_for(city_full: str, city_short: str, areas: list[tuple[str, str]]) -> str:
		for place, code in areas:
			if place.endswith(city_full) or place.endswith(city_short):
				return code
		for place, code in areas:
			if city_short in place:
				return code
		return ""

	def char_pinyin(self, text: str) -> str:
		"""Each character's most common reading, joined (how a 字号 becomes a domain name)."""
		out = []
		table = self._char_py
		for ch in text:
			py = table.get(ch)
			if py is None:
				raw = self._pinyin_dict.get(ord(ch))
				py = table[ch] = self._to_normal(raw.split(",")[0]) if raw else ""
			out.append(py)
		return "".join(out)

	def pinyin(self, text: str) -> list[str]:
		py = self._given_py.get(text)
		if py is None:
			py = self._lazy_pinyin(text)
			self._given_py[text] = py
		return py


_REGION_ENDINGS = (
	"维吾尔自治区",
	"壮族自治区",
	"回族自治区",
	"特别行政区",
	"自治区",
	"省",
	"市",
	"地区",
	"盟",
)


def _short_region(name: str) -> str:
	for end in _REGION_ENDINGS:
		if name.endswith(end) and len(name) > len(end) + 1:
			return name[: -len(end)]
	return name


def org_code(rng: random.Random) -> str:
	"""A GB 11714 organisation code: 8 characters and their check character."""
	if rng.random() < 0.5:  # codes issued before 2015 are all digits
		body = "".join(rng.choice("0123456789") for _ in range(8))
	else:  # newer ones start with MA
		body = "MA" + "".join(rng.choice(ORG_ALPHABET) for _ in range(6))
	total = sum(ORG_ALPHABET.index(c) * w for c, w in zip(body, ORG_WEIGHTS, strict=True))
	check = 11 - total % 11
	return body + ("X" if check == 10 else "0" if check == 11 else str(check))


class Generator:
	def __init__(self, seed: int, pools: Pools | None = None) -> None:
		from opencc import OpenCC
		from stdnum.cn import uscc

		self.rng = random.Random(seed)
		self.p = pools or Pools()
		self.s2t = OpenCC("s2t")
		self.uscc_check = uscc.calc_check_digit
		self.used_names: set[tuple[str, str]] = set()
		self.used_mobiles: set[str] = set()
		self.used_emails: set[str] = set()
		shop = SHOP_SHARE / max(len(self.p.shop_endings), 1)
		forms = (
			[(f, w) for f, w in LEGAL_FORMS if f]
			+ [(s, shop) for s in self.p.shop_endings]
			+ [("", BARE_SHARE)]
		)
		self.forms = [f for f, _ in forms]
		self.form_cum = list(accumulate(w for _, w in forms))

	# ---- drawing --------------------------------------------------------------------------------------
	def _weighted(self, items, cum):
		return items[bisect(cum, self.rng.random() * cum[-1])]

	def _mobile(self) -> str:
		rng = self.rng
		while True:
			m = rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"
			if m not in self.used_mobiles:
				self.used_mobiles.add(m)
				return m

	def _landline(self, area: str) -> str:
		rng = self.rng
		n = 8 if len(area) == 2 or rng.random() < 0.8 else 7
		return "0" + area + str(rng.randint(2, 8)) + "".join(str(rng.randrange(10)) for _ in range(n - 1))

	def _person(self) -> tuple[str, str, tuple[str, ...]]:
		"""(Chinese name, surname, given-name syllables)."""
		rng = self.rng
		s, _ = self.p.surnames[bisect(self.p.surname_cum, rng.random() * self.p.surname_cum[-1])]
		given = rng.choice(self.p.given1 if rng.random() < 0.25 else self.p.given2)
		return s + given, s, tuple(self.p.pinyin(given))

	def _surname_py(self, s: str) -> tuple[str, ...]:
		for name, py in self.p.surnames:
			if name == s:
				return py
		return tuple(self.p.pinyin(s))

	def _email(self, surname: str, given_py: tuple[str, ...], brand_py: str) -> str:
		rng = self.rng
		spy = self._surname_py(surname)[0]
		while True:
			r = rng.random()
			if r < 0.3:
				e = f"{rng.randint(10000, 3999999999)}@qq.com"
			elif r < 0.65:
				local = rng.choice(
					(spy + "".join(given_py), "".join(given_py) + spy, spy + "".join(g[0] for g in given_py))
				)
				e = f"{local}{rng.randint(1, 2024)}@{rng.choice(PERSONAL_MAIL[1:])}"
			else:
				local = rng.choice(
					(spy + "".join(given_py), spy[0] + "".join(g[0] for g in given_py), "sales", "info")
				)
				e = f"{local}@{brand_py}.{rng.choice(('com', 'cn', 'com.cn', 'net'))}"
			if e not in self.used_emails:
				self.used_emails.add(e)
				return e
			if rng.random() < 0.5:
				brand_py += str(rng.randint(1, 99))

	def _uscc(self, adcode6: str) -> str:
		rng = self.rng
		head = rng.choice("9999999915")
		kind = {"9": rng.choice("1112"), "1": "2", "5": "1"}[head]  # 企业 / 个体户; 事业单位; 社会团体
		body = head + kind + adcode6 + org_code(self.rng)
		return body + self.uscc_check(body)

	# ---- an entity's first row ------------------------------------------------------------------------
	def entity(self) -> dict:
		rng = self.rng
		p = self.p
		city = self._weighted(p.cities, p.city_cum)
		prov_short, city_full, city_short, counties, adcode6, area, _ = city
		while True:
			brand = rng.choice(p.brands)
			trade = rng.choice(p.trades) if rng.random() < 0.75 else ""
			if (city_short, brand + trade) not in self.used_names:  # names are unique per registration area
				self.used_names.add((city_short, brand + trade))
				break
		form = self._weighted(self.forms, self.form_cum)
		if not form and not trade:
			form = "有限公司"
		region = ""
		r = rng.random()
		if r < 0.45:
			region = city_short
		elif r < 0.5:
			region = city_full
		elif r < 0.6:
			region = prov_short
		elif r < 0.63 and counties:
			region = city_short + rng.choice(counties)
		name = region + brand + trade + form
		person, surname, given_py = self._person()
		brand_py = p.char_pinyin(brand)
		phones = []
		mobile = self._mobile() if rng.random() < 0.85 else ""
		if rng.random() < 0.5 or not mobile:
			phones.append(self._landline(area))
			if rng.random() < 0.15:
				phones.append(self._landline(area))
		email = self._email(surname, given_py, brand_py) if rng.random() < 0.75 else ""
		tax = self._uscc(adcode6) if rng.random() < 0.9 else ""
		rec = {
			"customer_name": name,
			"contact_person": person if rng.random() < 0.9 else "",
			"email_id": email if rng.random() < 0.75 else "",
			"tax_id": tax if rng.random() < 0.65 else "",
			"city": (city_full if rng.random() < 0.5 else city_short) if rng.random() < 0.85 else "",
		}
		self._place_phones(rec, mobile, phones, plain=True)
		return {
			"rec": rec,
			"brand": brand,
			"trade": trade,
			"form": form,
			"region": region,
			"city": city,
			"surname": surname,
			"given_py": given_py,
			"mobile": mobile,
			"phones": phones,
			"brand_py": brand_py,
			"email": email,
			"tax": tax,
		}

	def _fmt_mobile(self, m: str, plain: bool) -> str:
		rng = self.rng
		if plain and rng.random() < 0.75:
			return m
		f = rng.randrange(9)
		if f == 0:
			return f"{m[:3]} {m[3:7]} {m[7:]}"
		if f == 1:
			return f"{m[:3]}-{m[3:7]}-{m[7:]}"
		if f == 2:
			return f"+86 {m[:3]} {m[3:7]} {m[7:]}"
		if f == 3:
			return f"+86{m}"
		if f == 4:
			return f"0086 {m}"
		if f == 5:
			return f"86-{m}"
		if f == 6:
			return f"+86-{m[:3]}-{m[3:7]}-{m[7:]}"
		if f == 7:
			return f"(+86) {m}"
		return m

	def _fmt_landline(self, t: str, plain: bool) -> str:
		rng = self.rng
		area_len = 3 if t[1] in "12" else 4
		area, local = t[:area_len], t[area_len:]
		if plain and rng.random() < 0.6:
			out = f"{area}-{local}"
		else:
			f = rng.randrange(7)
			if f == 0:
				out = f"({area}){local}"
			elif f == 1:
				out = f"{area} {local[:4]} {local[4:]}"
			elif f == 2:
				out = f"+86 {area[1:]} {local}"
			elif f == 3:
				out = t
			elif f == 4:
				out = f"0086-{area[1:]}-{local}"
			elif f == 5:
				out = f"{area}－{local}"  # full-width dash from a Chinese IME
			else:
				out = f"{area}-{local}"
		if rng.random() < 0.06:
			out += rng.choice(("转", "-", " ext ", "#", "分机")) + str(rng.randint(100, 8999))
		return out

	def _place_phones(self, rec: dict, mobile: str, phones: list[str], plain: bool) -> None:
		rng = self.rng
		slots = {"phone_1": "", "phone_2": "", "phone_3": "", "mobile_no": ""}
		free = ["phone_1", "phone_2", "phone_3"]
		if mobile:
			key = "mobile_no" if rng.random() < (0.65 if plain else 0.45) else free.pop(0)
			slots[key] = self._fmt_mobile(mobile, plain)
		for t in phones:
			if not free:
				break
			key = free.pop(0 if plain or rng.random() < 0.6 else -1)
			slots[key] = self._fmt_landline(t, plain)
		rec.update(slots)

	# ---- a duplicate -------------------------------------------------------------------------------------
	def duplicate(self, e: dict) -> dict:
		rng = self.rng
		prov_short, city_full, city_short, counties, adcode6, area, _ = e["city"]
		first = e["rec"]
		rec: dict = {}

		# customer name
		brand, trade, form, region = e["brand"], e["trade"], e["form"], e["region"]
		if rng.random() < 0.35:
			if form in SWAP_FORMS:
				form = rng.choice([f for f in SWAP_FORMS if f != form])
			elif form == "":
				form = "有限公司"
			elif rng.random() < 0.5:
				form = ""
		r = rng.random()
		bracket = ""
		if r < 0.15:
			region = ""
		elif r < 0.27:
			region = city_short if region != city_short else city_full
		elif r < 0.37:
			bracket, region = (region or city_short), ""
		if rng.random() < 0.05 and trade:
			trade = ""  # a short name: 金陵 for 金陵餐饮
		body = brand + trade
		r = rng.random()
		if r < 0.04:
			body = self._typo(body)
		if bracket:
			open_, close = rng.choice((("(", ")"), ("（", "）")))
			if rng.random() < 0.5 or not form:
				name = body + open_ + bracket + close + form
			else:
				name = body + form + open_ + bracket + close
		else:
			name = region + body + form
		if rng.random() < 0.08:
			name = self.s2t.convert(name)
		if rng.random() < 0.04:
			i = rng.randint(1, len(name) - 1)
			name = name[:i] + " " + name[i:]
		if rng.random() < 0.02:
			name = ""
		rec["customer_name"] = name

		# contact person
		r = rng.random()
		person = first["contact_person"]
		if person:
			surname, given_py = e["surname"], e["given_py"]
			if r < 0.15:
				rec["contact_person"] = self._pinyin_name(surname, given_py)
			elif r < 0.25:
				rec["contact_person"] = surname + rng.choice(("总", "经理", "先生", "女士", "老板", "姐"))
			elif r < 0.37:
				rec["contact_person"] = self._person()[0]
			elif r < 0.45:
				rec["contact_person"] = ""
			else:
				rec["contact_person"] = person
		else:
			rec["contact_person"] = self._person()[0] if r < 0.4 else ""

		# phones: a subset, re-formatted and moved around; sometimes a digit typo or a new number
		mobile = e["mobile"] if e["mobile"] and rng.random() < 0.8 else ""
		phones = [t for t in e["phones"] if rng.random() < 0.7]
		if mobile and rng.random() < 0.02:
			mobile = self._digit_typo(mobile)
		if rng.random() < 0.1:
			if rng.random() < 0.5 or not mobile:
				phones.append(self._landline(area))
			else:
				phones.append(self._mobile())
		self._place_phones(rec, mobile, phones, plain=False)
		if mobile and rng.random() < 0.3:  # shuffled between the four fields
			keys = ["phone_1", "phone_2", "phone_3", "mobile_no"]
			vals = [rec[k] for k in keys]
			rng.shuffle(vals)
			rec.update(zip(keys, vals, strict=True))

		# e-mail: the customer's address (case changed now and then), another one, or none
		email = e["email"]
		r = rng.random()
		if email and r < 0.6:
			if rng.random() < 0.35:
				local, _, dom = email.partition("@")
				email = rng.choice(
					(local.capitalize() + "@" + dom, email.upper(), local.title() + "@" + dom.upper())
				)
			if rng.random() < 0.05:
				email = " " + email + " "
		elif r < 0.7:
			email = self._email(e["surname"], e["given_py"], e["brand_py"])
		else:
			email = ""
		rec["email_id"] = email

		# tax id: the customer's code (sometimes lower case, spaced, or mistyped), or none
		tax = e["tax"]
		if tax and rng.random() < 0.6:
			f = rng.random()
			if f < 0.05:
				tax = tax.lower()
			elif f < 0.1:
				tax = f"{tax[:2]} {tax[2:8]} {tax[8:17]} {tax[17]}"
			elif f < 0.13:
				tax = self._char_typo(tax)
		else:
			tax = ""
		rec["tax_id"] = tax

		# city
		r = rng.random()
		city = first["city"]
		if r < 0.6 and city:
			pass
		elif r < 0.78:
			city = city_short if city == city_full else city_full
		elif r < 0.8 and counties:
			city = rng.choice(counties)
		else:
			city = ""
		rec["city"] = city
		return rec

	def _pinyin_name(self, surname: str, given_py: tuple[str, ...]) -> str:
		rng = self.rng
		s = rng.choice(self._surname_py(surname))
		g = "".join(given_py)
		f = rng.randrange(6)
		if f == 0:
			return f"{s.capitalize()} {g.capitalize()}"
		if f == 1:
			return f"{s}{g}"
		if f == 2:
			return f"{g.capitalize()} {s.capitalize()}"
		if f == 3:
			return f"{s.upper()} {g.capitalize()}"
		if f == 4:
			return f"{s.capitalize()}{g.capitalize()}"
		return f"{s.upper()} {g.upper()}"

	def _typo(self, text: str) -> str:
		"""An IME slip: a homophone for one character, or a character dropped or doubled."""
		rng = self.rng
		i = rng.randrange(len(text))
		ch = text[i]
		r = rng.random()
		if r < 0.6 and self.p.homophones.get(ch):
			return text[:i] + rng.choice(self.p.homophones[ch]) + text[i + 1 :]
		if r < 0.8 and len(text) > 2:
			return text[:i] + text[i + 1 :]
		return text[:i] + ch + text[i:]

	def _digit_typo(self, digits: str) -> str:
		rng = self.rng
		i = rng.randrange(3, len(digits))
		return digits[:i] + rng.choice(KEYBOARD_NEAR[digits[i]]) + digits[i + 1 :]

	def _char_typo(self, code: str) -> str:
		rng = self.rng
		i = rng.randrange(2, len(code))
		c = code[i]
		return code[:i] + (rng.choice(KEYBOARD_NEAR[c]) if c.isdigit() else "0") + code[i + 1 :]


def add_placeholders(rec: dict, rng: random.Random, rate: float) -> dict:
	"""A copy of ``rec`` with some blank fields filled with a placeholder (each with probability ``rate``)."""
	rec = dict(rec)
	for field in ("tax_id", "email_id", "contact_person"):
		if not rec[field] and rng.random() < rate:
			rec[field] = rng.choice(PLACEHOLDERS[field])
	blank = [slot for slot in PHONE_SLOTS if not rec[slot]]
	if blank and rng.random() < rate:
		rec[rng.choice(blank)] = rng.choice(PLACEHOLDERS["phone"])
	return rec


def generate(
	rows: int, dup_rate: float, seed: int, out, progress: bool = False, placeholders: float = 0.0
) -> dict:
	"""Writes ``rows`` rows (header included separately) to the open text file ``out``; returns counts."""
	gen = Generator(seed)
	filler_rng = random.Random(seed * 1_000_003 + 16)  # its own stream: the other values stay as they are
	rng = gen.rng
	n_dups = int(round(rows * dup_rate))
	n_entities = rows - n_dups
	# which entity each duplicate copies: mostly one copy, some customers entered three or four times
	parents: list[int] = []
	dup_parents: list[int] = []
	for _ in range(n_dups):
		if dup_parents and rng.random() < 0.2:
			e = rng.choice(dup_parents)
		else:
			e = rng.randrange(n_entities)
		parents.append(e)
		dup_parents.append(e)
	order = list(range(n_entities)) + [-1 - i for i in range(n_dups)]
	rng.shuffle(order)
	# first rows come first in time: a duplicate row appears after its entity's first row in id order is not
	# required (imports merge lists in any order), so ids follow the shuffled order
	entities: list[dict | None] = [None] * n_entities
	needed = set(parents)
	writer = csv.writer(out, lineterminator="\n")
	writer.writerow(COLUMNS)
	started = time.monotonic()
	# entity records are generated in entity order so that the output only depends on the seed
	for i in range(n_entities):
		e = gen.entity()
		entities[i] = e if i in needed else {"rec": e["rec"]}
	width = max(7, len(str(rows)))
	for n, slot in enumerate(order, 1):
		if slot >= 0:
			rec = entities[slot]["rec"]
			ent = slot
		else:
			ent = parents[-1 - slot]
			rec = gen.duplicate(entities[ent])
		if placeholders > 0:
			rec = add_placeholders(rec, filler_rng, placeholders)
		writer.writerow(
			[
				f"C{n:0{width}d}",
				rec["customer_name"],
				rec["contact_person"],
				rec["phone_1"],
				rec["phone_2"],
				rec["phone_3"],
				rec["mobile_no"],
				rec["email_id"],
				rec["tax_id"],
				rec["city"],
				ent + 1,
			]
		)
		if progress and n % 100_000 == 0:
			sys.stderr.write(f"\r{n:,} rows {time.monotonic() - started:5.1f}s")
	if progress:
		sys.stderr.write("\n")
	return {"rows": rows, "entities": n_entities, "duplicates": n_dups, "duplicated_entities": len(needed)}


def main(argv: list[str] | None = None) -> int:
	ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
	ap.add_argument("--rows", type=int, default=20_000)
	ap.add_argument("--dup-rate", type=float, default=0.1, help="share of rows that are duplicates (0-1)")
	ap.add_argument("--seed", type=int, default=1)
	ap.add_argument("-o", "--output", default="-", help="CSV path (default stdout)")
	ap.add_argument(
		"--placeholders",
		type=float,
		default=0.0,
		metavar="RATE",
		help="fill blank fields with placeholders (无, 13800138000, test@test.com, 先生 ...) with this "
		"probability each (0-1; default 0: none)",
	)
	args = ap.parse_args(argv)
	if not 0 <= args.dup_rate < 1:
		ap.error("--dup-rate must be in [0, 1)")
	if not 0 <= args.placeholders <= 1:
		ap.error("--placeholders must be in [0, 1]")
	started = time.monotonic()
	if args.output == "-":
		counts = generate(args.rows, args.dup_rate, args.seed, sys.stdout, placeholders=args.placeholders)
	else:
		os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
		tmp = args.output + ".tmp"
		with open(tmp, "w", encoding="utf-8", newline="") as f:
			counts = generate(
				args.rows, args.dup_rate, args.seed, f, progress=True, placeholders=args.placeholders
			)
		os.replace(tmp, args.output)
	sys.stderr.write(
		f"{counts['rows']:,} rows, {counts['entities']:,} customers, {counts['duplicates']:,} duplicate rows "
		f"of {counts['duplicated_entities']:,} customers, {time.monotonic() - started:.1f}s\n"
	)
	return 0


if __name__ == "__main__":
	sys.exit(main())
