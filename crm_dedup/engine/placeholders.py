"""Placeholder values (无, 不详, N/A, 0, 13800138000, test@test.com, 先生 ...): they count as blank.

Chinese CRM data is full of fillers typed where a value was required. Two unrelated customers whose tax id
is 无 must never match on it, so a value that is a placeholder counts as blank for its condition: it gives
no blocking key, is never shown as a match, and the condition's ``blank`` setting decides. ``RuleSet``
applies this at one place, ``RuleSet.prepare_values``, through a ``Check`` made here per condition.

The built-in lists and the parameters of the rules live in ``data/placeholders.json`` (docs/placeholders.md
lists them). A rules document may extend them or turn them off::

        {
            "options": {
                "placeholders": {
                    "builtin": true,
                    "text": ["待补"],
                    "phone": ["+86 139 0000 1111"],
                    "fields": {"tax_id": ["000", "待补"]},
                }
            }
        }

Every entry is normalised the way the checked values of its match type are (``+86 138 0013 8000`` on the
phone list catches ``13800138000``), and looked up in a set: the cost on the scan's hot path is one dict
look-up per value (phone, e-mail and id-code rules add a few string operations on the normalised value).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from importlib import resources
from typing import Any

import phonenumbers

from .errors import RuleError
from .match import COMPARATORS, MATCH_TYPES, raw_values
from .normalize import normalize_email, normalize_text
from .normalize.phone import _ascii_digits

# Reasons, as ``Placeholders.reason`` gives them.
BUILTIN = "placeholder (built-in list)"
ADMIN = "placeholder (admin list)"
NO_ALNUM = "placeholder (no letter or digit)"
ONE_DIGIT = "placeholder (one digit repeated)"
ONE_CHAR = "placeholder (one character repeated)"
FEW_DISTINCT = "placeholder (too few distinct digits)"
TAIL = "placeholder (repeated digits at the end)"
RUN = "placeholder (digit run)"
FEW_DIGITS = "placeholder (too few digits)"
SHORT_CODE = "placeholder (too short for a code)"
DOMAIN = "placeholder (throwaway e-mail domain)"
NOT_EMAIL = "placeholder (not an e-mail address)"
NOT_PHONE = "placeholder (not a phone number)"

LIST_KEYS = ("text", *MATCH_TYPES)  # what an admin may list, besides "fields"
OPTION_KEYS = ("builtin", *LIST_KEYS, "fields")
_ASC = "0123456789" * 4  # a digit run is a substring of one of these (9 -> 0 wraps: 1234567890)
_DESC = "9876543210" * 4
_TEXT_GATE_MIN = 16  # see Placeholders._text_gate
_UNSEEN = object()

Check = Callable[[str, str, Any], "str | None"]  # (field, raw part, prepared norm) -> reason or None


def _load_builtin() -> tuple[dict, str]:
	data = resources.files("crm_dedup.engine").joinpath("data/placeholders.json").read_bytes()
	return json.loads(data.decode("utf-8")), hashlib.sha256(data).hexdigest()


BUILTIN_DATA, BUILTIN_DIGEST = _load_builtin()  # the digest changes whenever the shipped lists do
_COUNTRY_CODES = frozenset(str(c) for c in phonenumbers.COUNTRY_CODE_TO_REGION_CODE)


def is_digit_run(s: str) -> bool:
	"""``123456``, ``87654321``, ``1234567890`` (9 wraps to 0): each ASCII digit one more (or one less)."""
	return len(s) > 1 and (s in _ASC or s in _DESC)


def national_number(norm: str) -> str:
	"""The digits after the country code of a normalised phone (``+8613800138000`` -> ``13800138000``);
	the digits of a ``#`` fallback as they are."""
	if norm.startswith("#"):
		return norm[1:]
	if norm.startswith("+86"):  # the common case
		return norm[3:]
	for n in (1, 2, 3):
		if norm[1 : 1 + n] in _COUNTRY_CODES:
			return norm[1 + n :]
	return norm[1:]


# ---- checks, one per condition -----------------------------------------------------------------------------
class _Lists:
	"""Per field: {normalised entry: reason}; fields without a list of their own share ``default``."""

	__slots__ = ("by_field", "default")

	def __init__(self, default: dict, by_field: dict[str, dict]):
		self.default = default
		self.by_field = by_field

	def of(self, field: str) -> dict:
		return self.by_field.get(field, self.default)


class _NormCheck:
	"""normalized, fuzzy, company_name: the prepared value itself is looked up."""

	__slots__ = ("by_field", "default")

	def __init__(self, lists: _Lists):
		self.by_field = lists.by_field
		self.default = lists.default

	def __call__(self, field: str, part: str, norm: Any) -> str | None:
		return (self.by_field.get(field, self.default) if self.by_field else self.default).get(norm)

	def __reduce__(self):
		return (_NormCheck, (_Lists(self.default, self.by_field),))


class _CodeCheck:
	"""id_code: the code is looked up; a code that is not ASCII (未登記) is also looked up as
	``normalize_text`` folds it (traditional -> simplified); then the built-in rules: too short, one
	character repeated, a digit run."""

	__slots__ = ("by_field", "default", "text", "code", "min_length", "run_min")

	def __init__(self, lists: _Lists, text: _Lists, code: dict | None):
		self.by_field = lists.by_field
		self.default = lists.default
		self.text = text
		self.code = code  # the built-in parameters; None with builtin off
		if code is not None:
			self.min_length = code["min_length"]
			self.run_min = code["run_min_length"]

	def __call__(self, field: str, part: str, norm: str) -> str | None:
		hit = (self.by_field.get(field, self.default) if self.by_field else self.default).get(norm)
		if hit is not None:
			return hit
		if not norm.isascii():  # never a real code (the common case skips this)
			hit = self.text.of(field).get(normalize_text(part))
			if hit is not None:
				return hit
		if self.code is None:
			return None
		n = len(norm)
		if n < self.min_length:
			return SHORT_CODE
		if not norm.strip(norm[0]):
			return ONE_DIGIT if norm[0].isdigit() else ONE_CHAR
		if n >= self.run_min and (norm in _ASC or norm in _DESC):
			return RUN
		return None

	def __reduce__(self):
		return (_CodeCheck, (_Lists(self.default, self.by_field), self.text, self.code))


def _code_rule(code: str, p: dict) -> str | None:
	"""The built-in rules on an id code alone (what ``_CodeCheck`` runs after its lists)."""
	empty = _Lists({}, {})
	return _CodeCheck(empty, empty, p)("", code, code)


class _TextCheck:
	"""exact and person_name: the raw part folded by ``normalize_text`` (short parts only) is looked up;
	exact also looks up its own prepared value (the admin's exact list) and drops parts with no letter or
	digit (``-``, ``/``, ``?``), which every other type already finds blank."""

	__slots__ = ("text", "own", "gate")

	def __init__(self, text: _Lists, own: _Lists | None, gate: int):
		self.text = text
		self.own = own
		self.gate = gate

	def __call__(self, field: str, part: str, norm: Any) -> str | None:
		if self.own is not None:
			hit = self.own.of(field).get(norm)
			if hit is not None:
				return hit
		if len(part) > self.gate:
			return None
		folded = normalize_text(part)
		if not folded:
			return NO_ALNUM
		return self.text.of(field).get(folded)

	def __reduce__(self):
		return (_TextCheck, (self.text, self.own, self.gate))


class _PhoneCheck:
	"""phone: the normalised number is looked up, then the built-in rules run on its national number."""

	__slots__ = ("by_field", "default", "p", "distinct_min", "max_distinct", "run_min", "tail", "suspect")

	def __init__(self, lists: _Lists, p: dict | None):
		self.by_field = lists.by_field
		self.default = lists.default
		self.p = p
		self.tail = None
		self.suspect = None
		if p is not None:
			self.distinct_min = p["distinct_digits_min_length"]
			self.max_distinct = p["max_distinct_digits"]
			self.run_min = p["run_min_length"]
			t = p.get("mobile_tail")
			if t:
				self.tail = ("+" + t["country_code"], t["prefix"], t["length"], t["repeated"])
			self.suspect = _suspect_endings(
				self.max_distinct, self.distinct_min, self.run_min, self.tail[3] if self.tail else None
			)

	def __call__(self, field: str, part: str, norm: str) -> str | None:
		hit = (self.by_field.get(field, self.default) if self.by_field else self.default).get(norm)
		if hit is not None or self.p is None:
			return hit
		# the scan's hot path: most real numbers end in 4 digits no rule's number can end in
		suspect = self.suspect
		if suspect is not None and norm[-4:] not in suspect:
			return None
		d = norm[3:] if norm[:3] == "+86" else national_number(norm)
		n = len(d)
		if n >= self.distinct_min and self.max_distinct > 0:
			rest = d.replace(d[0], "")
			if not rest:
				return ONE_DIGIT
			if self.max_distinct > 1 and not rest.strip(rest[0]):  # empty exactly when one digit is left
				return FEW_DISTINCT
			for _ in range(self.max_distinct - 2):  # more than 2 distinct digits allowed: not by default
				rest = rest.replace(rest[0], "")
				if not rest.strip(rest[0]):
					return FEW_DISTINCT
		if n >= self.run_min and (d in _ASC or d in _DESC):
			return RUN
		tail = self.tail
		if (
			tail is not None
			and n == tail[2]
			and d[-2] == d[-1]
			and d.count(d[-1], n - tail[3]) == tail[3]
			and d.startswith(tail[1])
			and norm.startswith(tail[0])
		):
			return TAIL
		return None

	def __reduce__(self):
		return (_PhoneCheck, (_Lists(self.default, self.by_field), self.p))


@lru_cache(maxsize=16)
def _suspect_endings(
	max_distinct: int, distinct_min: int, run_min: int, tail_repeated: int | None
) -> frozenset[str] | None:
	"""The 4-digit endings a number caught by a phone rule can have (its national number is at least 4
	digits long): at most ``max_distinct`` distinct digits, one digit (a repeated tail), or a digit run. Any
	other ending cannot be caught, so ``_PhoneCheck`` stops there (9,340 of 10,000 endings by default). None
	when a rule may judge numbers shorter than 4 digits (no filter then)."""
	if min(distinct_min, run_min) < 4 or (tail_repeated is not None and tail_repeated < 4):
		return None
	out = set()
	for i in range(10_000):
		s = f"{i:04d}"
		if len(set(s)) <= max(max_distinct, 1) or s in _ASC or s in _DESC:
			out.add(s)
	return frozenset(out)


def _phone_rule(norm: str, p: dict) -> str | None:
	"""The built-in rules alone (what ``_PhoneCheck`` runs after its lists)."""
	return _PhoneCheck(_Lists({}, {}), p)("", "", norm)


class _EmailCheck:
	"""email: the address, its domain (and parent domains) and its local part are looked up, then the
	built-in rules run on the local part."""

	__slots__ = ("lists", "domains", "locals", "p", "short", "run_min", "repeat_min", "_seen")

	def __init__(self, lists: _Lists, domains: _Lists, locals_: _Lists, p: dict | None):
		self.lists = lists
		self.domains = domains
		self.locals = locals_
		self.p = p
		self._seen: dict = {}  # domain (or (field, domain) with per-field lists) -> its verdict
		if p is not None:
			self.short = p["max_short_digits"]
			self.run_min = p["run_min_length"]
			self.repeat_min = p["repeated_min_length"]

	def __call__(self, field: str, part: str, norm: str) -> str | None:
		lists = self.lists
		hit = (lists.by_field.get(field, lists.default) if lists.by_field else lists.default).get(norm)
		if hit is not None:
			return hit
		local, at, domain = norm.rpartition("@")
		if not at:
			return None
		if not local or not domain:
			return NOT_EMAIL
		# a few domains (qq.com, 163.com) hold most addresses: each is walked up its parents once
		key = (field, domain) if self.domains.by_field else domain
		seen = self._seen
		hit = seen.get(key, _UNSEEN)
		if hit is _UNSEEN:
			hit = self._domain(field, domain)
			if len(seen) >= 100_000:
				seen.clear()
			seen[key] = hit
		if hit is not None:
			return hit
		locals_ = self.locals
		hit = (locals_.by_field.get(field, locals_.default) if locals_.by_field else locals_.default).get(
			local
		)
		if hit is not None or self.p is None:
			return hit
		n = len(local)
		if n >= self.repeat_min and not local.strip(local[0]):
			return ONE_DIGIT if local[0].isdigit() else ONE_CHAR
		if local.isdigit() and local.isascii():
			if n <= self.short:
				return FEW_DIGITS
			if n >= self.run_min and (local in _ASC or local in _DESC):
				return RUN
		return None

	def _domain(self, field: str, domain: str) -> str | None:
		"""The verdict on the domain or its nearest listed parent (mail.example.com -> example.com)."""
		domains = self.domains.of(field)
		d = domain
		while domains:
			hit = domains.get(d)
			if hit is not None:
				return hit
			dot = d.find(".")
			if dot < 0:
				break
			d = d[dot + 1 :]
		return None

	def __reduce__(self):
		return (_EmailCheck, (self.lists, self.domains, self.locals, self.p))


def _local_rule(local: str, p: dict) -> str | None:
	"""The built-in rules on an e-mail local part alone (what ``_EmailCheck`` runs after its lists)."""
	empty = _Lists({}, {})
	return _EmailCheck(empty, empty, empty, p)("", "", local + "@x")


# ---- options -------------------------------------------------------------------------------------------------
def _where(key: str) -> str:
	return f"options.placeholders.{key}"


def _string_list(key: str, value: Any) -> tuple[str, ...]:
	if not isinstance(value, list):
		raise RuleError(f"{_where(key)} must be a list of strings, got {type(value).__name__}")
	for i, item in enumerate(value):
		if not isinstance(item, str):
			raise RuleError(f"{_where(key)} item {i + 1} is not a string: {item!r}")
		if not item.strip():
			raise RuleError(f"{_where(key)} item {i + 1} is blank")
	return tuple(dict.fromkeys(value))


class Placeholders:
	"""The placeholder lists in force for a rule set: the built-in ones (unless ``builtin`` is false) and the
	admin's, per match type (``text`` for all types) and per field name."""

	__slots__ = ("builtin", "lists", "fields", "_compiled")

	def __init__(
		self,
		builtin: bool = True,
		lists: Mapping[str, Any] | None = None,
		fields: Mapping[str, Any] | None = None,
	) -> None:
		self.builtin = bool(builtin)
		self.lists: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in (lists or {}).items() if v}
		self.fields: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in (fields or {}).items() if v}
		self._compiled: dict[tuple, Check | None] = {}

	# ---- options ---------------------------------------------------------------------------------------
	@classmethod
	def from_options(cls, options: Mapping | None) -> Placeholders:
		"""From the ``placeholders`` object of a rules document's ``options`` (None: the built-in lists only).

		Raises RuleError naming the problem (unknown key, a list that is not a list of strings)."""
		if options is None:
			return cls()
		if not isinstance(options, Mapping):
			raise RuleError(f"options.placeholders must be an object, got {type(options).__name__}")
		unknown = [k for k in options if k not in OPTION_KEYS]
		if unknown:
			raise RuleError(
				f"options.placeholders has unknown key {unknown[0]!r} (expected {', '.join(OPTION_KEYS)})"
			)
		builtin = options.get("builtin", True)
		if not isinstance(builtin, bool):
			raise RuleError(f"options.placeholders.builtin must be true or false, got {builtin!r}")
		lists = {k: _string_list(k, options[k]) for k in LIST_KEYS if options.get(k) is not None}
		raw_fields = options.get("fields") or {}
		if not isinstance(raw_fields, Mapping):
			raise RuleError(
				f"options.placeholders.fields must be an object of field name -> list, "
				f"got {type(raw_fields).__name__}"
			)
		fields = {}
		for name, value in raw_fields.items():
			if not isinstance(name, str) or not name.strip():
				raise RuleError("options.placeholders.fields has a field name that is not a non-empty string")
			fields[name.strip()] = _string_list(f"fields.{name}", value)
		return cls(builtin, lists, fields)

	def to_options(self) -> dict:
		"""The ``placeholders`` object ``from_options`` reads back (the same lists, in their order)."""
		out: dict[str, Any] = {"builtin": self.builtin}
		for k in LIST_KEYS:
			if self.lists.get(k):
				out[k] = list(self.lists[k])
		if self.fields:
			out["fields"] = {f: list(v) for f, v in self.fields.items()}
		return out

	@property
	def is_default(self) -> bool:
		"""Built-in lists only (what a rules document without ``placeholders`` gets)."""
		return self.builtin and not self.lists and not self.fields

	def __eq__(self, other: object) -> bool:
		return isinstance(other, Placeholders) and self.to_options() == other.to_options()

	def __hash__(self) -> int:
		return hash(json.dumps(self.to_options(), sort_keys=True))

	def __repr__(self) -> str:
		return f"Placeholders({self.to_options()!r})"

	def __reduce__(self):  # compiled checks are rebuilt on demand after unpickling
		return (Placeholders, (self.builtin, self.lists, self.fields))

	# ---- compiling the lists for one condition --------------------------------------------------------------
	def checker(self, match: str, fields: tuple[str, ...], region: str = "CN") -> Check | None:
		"""The check ``RuleSet.prepare_values`` runs on each prepared value of a condition: ``check(field,
		raw part, norm)`` gives a reason for a placeholder, None for a real value. None when nothing is
		listed at all (``builtin: false`` and no admin lists)."""
		if match not in COMPARATORS:
			raise RuleError(f"unknown match type {match!r} (expected one of {', '.join(MATCH_TYPES)})")
		key = (match, tuple(fields), region)
		try:
			return self._compiled[key]
		except KeyError:
			pass
		check = self._compile(match, tuple(fields), region)
		self._compiled[key] = check
		return check

	def _builtin_type_entries(self, match: str) -> list[str]:
		if not self.builtin:
			return []
		if match in ("person_name", "company_name"):
			return list(BUILTIN_DATA.get(match, ()))
		if match == "phone":
			return list(BUILTIN_DATA["phone"]["numbers"])
		if match == "email":
			return list(BUILTIN_DATA["email"]["addresses"])
		return []

	def _compile(self, match: str, fields: tuple[str, ...], region: str) -> Check | None:
		builtin_text = BUILTIN_DATA["text"] if self.builtin else []
		admin_text = self.lists.get("text", ())
		builtin_own = self._builtin_type_entries(match)
		admin_own = self.lists.get(match, ())
		field_lists = {f: self.fields[f] for f in fields if f in self.fields}
		if not (self.builtin or admin_text or admin_own or field_lists):
			return None

		own_text = match in ("person_name", "id_code")  # the type's own entries also folded as text

		def text_dict(extra: tuple[str, ...] = ()) -> dict:
			"""Text entries (and for person_name / id_code, the type's own) folded by normalize_text."""
			d = _table(normalize_text, builtin_text + (builtin_own if own_text else []), BUILTIN)
			d.update(_table(normalize_text, list(admin_text) + (list(admin_own) if own_text else []), ADMIN))
			d.update(_table(normalize_text, extra, ADMIN))
			return d

		if match == "person_name":  # every entry compared after normalize_text
			text = _Lists(text_dict(), {f: text_dict(v) for f, v in field_lists.items()})
			return _TextCheck(text, None, self._text_gate(text))
		if match == "exact":  # text entries after normalize_text; the admin's exact entries as exact values
			exact = COMPARATORS["exact"]

			def exact_dict(extra: tuple[str, ...] = ()) -> dict:
				d = _table(lambda s: _prepared(exact, s, region), admin_own, ADMIN)
				d.update(_table(lambda s: _prepared(exact, s, region), extra, ADMIN))
				return d

			text = _Lists(text_dict(), {})
			own = _Lists(exact_dict(), {f: exact_dict(v) for f, v in field_lists.items()})
			return _TextCheck(text, own, self._text_gate(text))

		cmp = COMPARATORS[match]
		if match == "email":
			return self._compile_email(field_lists, builtin_text, admin_text, region)

		def norm_of(s: str) -> Any:
			return _prepared(cmp, s, region)

		def norm_dict(extra: tuple[str, ...] = ()) -> dict:
			d = _table(norm_of, list(builtin_text) + builtin_own, BUILTIN)
			d.update(_table(norm_of, list(admin_text) + list(admin_own), ADMIN))
			d.update(_table(norm_of, extra, ADMIN))
			return d

		lists = _Lists(norm_dict(), {f: norm_dict(v) for f, v in field_lists.items()})
		if match == "phone":
			return _PhoneCheck(lists, dict(BUILTIN_DATA["phone"]) if self.builtin else None)
		if match == "id_code":
			text = _Lists(text_dict(), {f: text_dict(v) for f, v in field_lists.items()})
			return _CodeCheck(lists, text, dict(BUILTIN_DATA["id_code"]) if self.builtin else None)
		return _NormCheck(lists)

	def _compile_email(self, field_lists, builtin_text, admin_text, region) -> Check:
		data = BUILTIN_DATA["email"]
		admin = self.lists.get("email", ())

		def split(entries) -> tuple[list[str], list[str], list[str]]:
			"""Admin entries: ``@domain`` (a whole domain), ``name@`` (a local part), else an address."""
			addresses, domains, locals_ = [], [], []
			for e in entries:
				s = normalize_email(e)
				if s.startswith("@") and len(s) > 1 and s.count("@") == 1:
					domains.append(s[1:])
				elif s.endswith("@") and len(s) > 1 and s.count("@") == 1:
					locals_.append(s[:-1])
				else:
					addresses.append(e)
			return addresses, domains, locals_

		def dicts(extra: tuple[str, ...] = ()) -> tuple[dict, dict, dict]:
			a_addr, a_dom, a_loc = split(list(admin) + list(extra))
			addr = _table(
				normalize_email, list(builtin_text) + (data["addresses"] if self.builtin else []), BUILTIN
			)
			addr.update(_table(normalize_email, list(admin_text) + a_addr, ADMIN))
			dom = _table(normalize_email, data["domains"] if self.builtin else [], DOMAIN)
			dom.update(_table(normalize_email, a_dom, ADMIN))
			loc = _table(normalize_email, data["local_parts"] if self.builtin else [], BUILTIN)
			loc.update(_table(normalize_email, a_loc, ADMIN))
			return addr, dom, loc

		base = dicts()
		per_field = {f: dicts(v) for f, v in field_lists.items()}
		return _EmailCheck(
			_Lists(base[0], {f: d[0] for f, d in per_field.items()}),
			_Lists(base[1], {f: d[1] for f, d in per_field.items()}),
			_Lists(base[2], {f: d[2] for f, d in per_field.items()}),
			dict(data) if self.builtin else None,
		)

	@staticmethod
	def _text_gate(text: _Lists) -> int:
		"""Parts longer than this never fold to a listed entry: four characters of raw text per character of
		the longest entry (room for spaces, dots and full-width forms: ``N / A``), never under 16."""
		longest = max((len(k) for d in (text.default, *text.by_field.values()) for k in d), default=0)
		return max(_TEXT_GATE_MIN, 4 * longest)

	# ---- one value ------------------------------------------------------------------------------------------
	def reason(self, match: str, field: str, raw: Any, region: str = "CN") -> str | None:
		"""Why ``raw`` is a placeholder for a condition of this match type on this field, or None when it is a
		real value (or blank). A field holding several values (``a@x.com; test@test.com``, a child table's
		list) is a placeholder only when every one of them is."""
		check = self.checker(match, (field,), region)
		cmp = COMPARATORS[match]
		reasons: list[str] = []
		for text in raw_values(raw):
			parts = cmp.split(text)
			if not parts:  # e.g. an e-mail field without any "@"
				reasons.append(self._blank_reason(match, field, text))
				continue
			for part in parts:
				prepared = cmp.prepare(part, region)
				if prepared is None:
					reasons.append(self._blank_reason(match, field, part))
					continue
				why = check(field, part, prepared[0]) if check is not None else None
				if why is None:
					return None
				reasons.append(why)
		return reasons[0] if reasons else None

	def _blank_reason(self, match: str, field: str, text: str) -> str:
		"""Why a value the match type itself finds blank (``无`` as a phone, ``n/a`` as an e-mail) is one."""
		folded = normalize_text(text)
		if not folded:
			return NO_ALNUM
		admin = self.lists.get("text", ()) + self.lists.get(match, ()) + self.fields.get(field, ())
		if folded in {normalize_text(e) for e in admin}:
			return ADMIN
		if self.builtin:
			if folded in _builtin_text_set():
				return BUILTIN
		if match == "phone":
			digits = re.sub(r"[^0-9]", "", _ascii_digits(text))
			if digits and self.builtin and digits in _builtin_number_set():
				return BUILTIN
			if digits and len(digits) < 5:
				return FEW_DIGITS
			if digits and digits.count(digits[0]) == len(digits):
				return ONE_DIGIT
			return NOT_PHONE
		if match == "email":
			return NOT_EMAIL
		return f"placeholder (blank for {match})"


def _prepared(cmp, s: str, region: str) -> Any:
	got = cmp.prepare(s, region)
	return None if got is None else got[0]


def _table(norm_of: Callable[[str], Any], entries, reason: str) -> dict:
	out = {}
	for e in entries:
		key = norm_of(e)
		if key is not None and key != "":
			out[key] = reason
	return out


_TEXT_SET: frozenset[str] | None = None
_NUMBER_SET: frozenset[str] | None = None


def _builtin_text_set() -> frozenset[str]:
	global _TEXT_SET
	if _TEXT_SET is None:
		_TEXT_SET = frozenset(normalize_text(e) for e in BUILTIN_DATA["text"]) - {""}
	return _TEXT_SET


def _builtin_number_set() -> frozenset[str]:
	global _NUMBER_SET
	if _NUMBER_SET is None:
		_NUMBER_SET = frozenset(re.sub(r"[^0-9]", "", n) for n in BUILTIN_DATA["phone"]["numbers"])
	return _NUMBER_SET


__all__ = ["BUILTIN_DATA", "BUILTIN_DIGEST", "Placeholders", "is_digit_run", "national_number"]
