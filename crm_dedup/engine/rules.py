"""Rule set / rule / condition types, JSON in and out, validation with messages that name the rule.

A rules document::

        {
            "options": {"default_region": "CN"},
            "rules": [
                {
                    "name": "phones",
                    "priority": 2,
                    "action": "block",
                    "conditions": [{"fields": ["phone_1", "phone_2"], "match": "phone", "blank": "fail"}],
                }
            ],
        }

A rule fires for a pair of records when all its conditions hold. A condition over several fields is a field
group: it holds when any value of the group on one record matches any value of the group on the other.
``blank: "ignore"`` lets a blank side pass; a rule whose conditions are all blank never fires.

A rule may be scoped: ``"within": ["territory"]`` compares a record only with records that have the same
values of those fields (trimmed, case-folded; a blank value is a scope of its own, so blank meets only blank).
Its keys carry the scope, so checks and scans never even look across scopes.

A placeholder value (无, N/A, 13800138000, test@test.com, see ``placeholders.py``) counts as blank: options
``placeholders`` extends or turns off the built-in lists.

Options ``set_threshold`` (default 95; 101 means "Block links only"): a Warn or Log link builds duplicate sets
when it scores at least this much with no condition passed over as blank; weaker links are "possible" links
(see ``sets.py``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from .aliases import AliasTable, set_aliases
from .conditions import date_score
from .errors import RuleError
from .match import (
	COMPARATORS,
	DEFAULT_THRESHOLD,
	FUZZY_TYPES,
	MATCH_TYPES,
	SELECTIVITY,
	ConditionHit,
	Match,
	Value,
	raw_values,
)
from .placeholders import Check, Placeholders
from .sets import DEFAULT_SET_THRESHOLD
from .smart import SmartRule, parse_smart_rule

ACTIONS = ("block", "warn", "log")
# Types whose prepared values are a function of the raw text alone (company names are not: aliases are set per
# process), so ``RuleSet.prepare_values`` keeps them per distinct text, up to this many texts a signature.
_CACHED_TYPES = frozenset({"exact", "normalized", "person_name", "email", "id_code", "fuzzy"})
_VALUE_CACHE_SIZE = 100_000
# Types whose values of one field are a function of the field's text (and the rules): a scan's keying keeps
# them per distinct text of each field (``RuleSet.field_values``), several fields (phones) too.
TEXT_TYPES = _CACHED_TYPES | {"phone"}
UNBLOCKABLE = frozenset({"date_within"})  # match types without blocking keys
BLANKS = ("fail", "ignore")
Record = Mapping[str, Any]


@dataclass(frozen=True)
class Condition:
	fields: tuple[str, ...]
	match: str
	threshold: float = DEFAULT_THRESHOLD
	blank: str = "fail"
	days: int | None = None  # date_within: the window (the threshold is date_score(days))

	@property
	def signature(self) -> tuple:
		"""What a record's prepared values for this condition depend on (shared between rules)."""
		return (self.fields, self.match)

	def to_dict(self) -> dict:
		d: dict[str, Any] = {"fields": list(self.fields), "match": self.match, "blank": self.blank}
		if self.days is not None:
			d["days"] = self.days
		elif self.match in FUZZY_TYPES:
			d["threshold"] = self.threshold
		return d


@dataclass(frozen=True)
class Rule:
	name: str
	conditions: tuple[Condition, ...]
	priority: int = 10
	action: str = "block"
	within: tuple[str, ...] = ()  # search within: only records with the same values of these fields

	@property
	def fields(self) -> set[str]:
		return {f for c in self.conditions for f in c.fields} | set(self.within)

	def scope_of(self, record: Record) -> str | None:
		"""The record's scope under this rule (None: the rule is not scoped). Two records are compared only
		when their scopes are equal; a blank scope field is a value of its own ("" equals "")."""
		if not self.within:
			return None
		return "\x1f".join(scope_value(record.get(f)) for f in self.within)

	@cached_property
	def blocking_conditions(self) -> tuple[int, ...]:
		"""Indexes of the conditions whose keys find this rule's candidates.

		One required (blank="fail") condition suffices, the most selective; a rule with only blank="ignore"
		conditions needs the keys of all of them, because any one of them may be the one that holds.
		"""
		required = [i for i, c in enumerate(self.conditions) if c.blank == "fail"]
		if required:
			return (min(required, key=lambda i: SELECTIVITY[self.conditions[i].match]),)
		return tuple(range(len(self.conditions)))

	def to_dict(self) -> dict:
		d = {
			"name": self.name,
			"priority": self.priority,
			"action": self.action,
			"conditions": [c.to_dict() for c in self.conditions],
		}
		if self.within:
			d["within"] = list(self.within)
		return d


def scope_value(value: Any) -> str:
	"""A scope field's value as compared: trimmed and case-folded text; several values (a list) sorted and
	joined; blank, None and whitespace all give ""."""
	if value is None:
		return ""
	if isinstance(value, (list, tuple, set, frozenset)):
		return "\x1e".join(sorted({scope_value(v) for v in value} - {""}))
	return " ".join(str(value).split()).casefold()


class Prepared:
	"""A record with its values prepared once for every condition of a rule set."""

	__slots__ = ("id", "record", "values")

	def __init__(self, id: Any, record: Record, values: dict[tuple, list[Value]]):
		self.id = id
		self.record = record
		self.values = values


def _fail(rule: str, msg: str) -> RuleError:
	return RuleError(f"rule {rule!r}: {msg}")


def _parse_condition(rule: str, i: int, raw: Any) -> Condition:
	where = f"condition {i + 1}"
	if not isinstance(raw, Mapping):
		raise _fail(rule, f"{where} must be an object")
	fields = raw.get("fields", raw.get("field"))
	if isinstance(fields, str):
		fields = [fields] if fields.strip() else []
	if not isinstance(fields, list) or not fields:
		raise _fail(rule, f"{where} has an empty field list")
	if not all(isinstance(f, str) and f.strip() for f in fields):
		raise _fail(rule, f"{where} has a field name that is not a non-empty string")
	match = raw.get("match")
	if match not in MATCH_TYPES:
		raise _fail(
			rule, f"{where} has unknown match type {match!r} (expected one of {', '.join(MATCH_TYPES)})"
		)
	threshold = raw.get("threshold", DEFAULT_THRESHOLD)
	if threshold is None:
		threshold = DEFAULT_THRESHOLD
	if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 100:
		raise _fail(rule, f"{where} has threshold {threshold!r} outside 0-100")
	blank = raw.get("blank", "fail")
	if blank not in BLANKS:
		raise _fail(rule, f"{where} has unknown blank handling {blank!r} (expected fail or ignore)")
	unknown = set(raw) - {"fields", "field", "match", "threshold", "blank", "days"}
	if unknown:
		raise _fail(rule, f"{where} has unknown key(s) {', '.join(sorted(unknown))}")
	days = raw.get("days")
	if match == "date_within":
		if isinstance(days, bool) or not isinstance(days, int) or days < 0:
			raise _fail(
				rule, f"{where} (date_within) needs 'days', a whole number of days >= 0, got {days!r}"
			)
		threshold = date_score(days)
	elif days is not None:
		raise _fail(rule, f"{where} has 'days', which only date_within takes")
	return Condition(tuple(f.strip() for f in fields), match, float(threshold), blank, days)


def _parse_rule(i: int, raw: Any) -> Rule:
	if not isinstance(raw, Mapping):
		raise RuleError(f"rule #{i + 1} must be an object")
	name = raw.get("name")
	if not isinstance(name, str) or not name.strip():
		raise RuleError(f"rule #{i + 1} has no name")
	name = name.strip()
	action = raw.get("action", "block")
	if action not in ACTIONS:
		raise _fail(name, f"unknown action {action!r} (expected block, warn or log)")
	priority = raw.get("priority", 10)
	if isinstance(priority, bool) or not isinstance(priority, int):
		raise _fail(name, f"priority must be a whole number, got {priority!r}")
	conditions = raw.get("conditions")
	if not isinstance(conditions, list) or not conditions:
		raise _fail(name, "has no conditions")
	unknown = set(raw) - {
		"name",
		"priority",
		"action",
		"conditions",
		"enabled",
		"description",
		"within",
		"kind",
	}
	if unknown:
		raise _fail(name, f"unknown key(s) {', '.join(sorted(unknown))}")
	within = raw.get("within") or []
	if isinstance(within, str):
		within = [within]
	if not isinstance(within, list) or not all(isinstance(f, str) and f.strip() for f in within):
		raise _fail(name, f"within must be a list of field names, got {raw.get('within')!r}")
	within = tuple(dict.fromkeys(f.strip() for f in within))
	conds = tuple(_parse_condition(name, j, c) for j, c in enumerate(conditions))
	rule = Rule(name, conds, priority, action, within)
	if any(rule.conditions[j].match in UNBLOCKABLE for j in rule.blocking_conditions):
		raise _fail(
			name,
			"date_within cannot find candidates by itself (it gives no blocking keys): add a condition of "
			"another match type with blank 'fail' (a name, an address, items) that the rule can block on",
		)
	return rule


@dataclass
class RuleSet:
	rules: tuple[Rule, ...]
	default_region: str = "CN"
	placeholders: Placeholders | None = None  # None: the built-in lists
	smart: tuple[SmartRule, ...] = ()  # rules of kind "smart" (smart.py), kept apart from the condition rules
	aliases: AliasTable | None = None  # company aliases (aliases.py); installed for the process
	set_threshold: float = DEFAULT_SET_THRESHOLD  # a Warn/Log link scoring this much builds duplicate sets
	_signatures: dict[tuple, Condition] = field(default_factory=dict, repr=False)
	_checks: dict[tuple, Check | None] = field(default_factory=dict, repr=False, compare=False)
	# per single-field signature of a type whose prepared values depend on the raw value alone: raw -> values
	_value_cache: dict[tuple, dict] = field(default_factory=dict, repr=False, compare=False)
	# what a scan's keying compiles of the rules, per hash function (``scan._compiled``), with its caches
	_key_cache: dict = field(default_factory=dict, repr=False, compare=False)

	def __post_init__(self) -> None:
		if self.placeholders is None:
			self.placeholders = Placeholders()
		if self.aliases is None:
			self.aliases = AliasTable()
		set_aliases(self.aliases)
		self.rules = tuple(sorted(self.rules, key=lambda r: (r.priority, r.name)))
		self.smart = tuple(sorted(self.smart, key=lambda r: (r.priority, r.name)))
		for s in self.smart:
			s.bind(self.default_region, self.placeholders)
		names = [r.name for r in self.rules] + [s.name for s in self.smart]
		dupes = {n for n in names if names.count(n) > 1}
		if dupes:
			raise RuleError(f"rule {sorted(dupes)[0]!r}: the name is used by more than one rule")
		for r in self.rules:
			for c in r.conditions:
				self._signatures.setdefault(c.signature, c)
		for sig, c in self._signatures.items():
			self._checks[sig] = self.placeholders.checker(c.match, c.fields, self.default_region)
			if len(c.fields) == 1 and c.match in _CACHED_TYPES:
				self._value_cache[sig] = {}

	# ---- JSON --------------------------------------------------------------------------------------
	@classmethod
	def from_dict(cls, data: Any, base: Path | None = None, load_models: bool = True) -> RuleSet:
		"""``base``: the folder smart rules' model files are relative to; ``load_models=False`` leaves smart
		rules on their default weights (what ``train`` needs before their model exists)."""
		if isinstance(data, list):
			data = {"rules": data}
		if not isinstance(data, Mapping):
			raise RuleError("a rules document must be an object with a 'rules' list")
		raw_rules = data.get("rules")
		if not isinstance(raw_rules, list) or not raw_rules:
			raise RuleError("the rules document has no rules")
		options = data.get("options") or {}
		if not isinstance(options, Mapping):
			raise RuleError("'options' must be an object")
		region = options.get("default_region", "CN") or ""
		if not isinstance(region, str) or (region and (len(region) != 2 or not region.isalpha())):
			raise RuleError(f"default_region must be a two-letter country code, got {region!r}")
		placeholders = Placeholders.from_options(options.get("placeholders"))
		set_threshold = options.get("set_threshold", DEFAULT_SET_THRESHOLD)
		if set_threshold is None:
			set_threshold = DEFAULT_SET_THRESHOLD
		if (
			isinstance(set_threshold, bool)
			or not isinstance(set_threshold, (int, float))
			or not 0 <= set_threshold <= 101
		):
			raise RuleError(f"set_threshold must be a number from 0 to 101, got {set_threshold!r}")
		rules, smart = [], []
		for i, r in enumerate(raw_rules):
			if isinstance(r, Mapping) and r.get("enabled") is False:
				continue
			if isinstance(r, Mapping) and r.get("kind", "rule") == "smart":
				smart.append(parse_smart_rule(i, r, base, load_models))
			elif isinstance(r, Mapping) and r.get("kind", "rule") != "rule":
				raise RuleError(f"rule #{i + 1}: unknown kind {r.get('kind')!r} (expected rule or smart)")
			else:
				rules.append(_parse_rule(i, r))
		if not rules and not smart:
			raise RuleError("the rules document has no enabled rules")
		aliases = AliasTable.from_option(options.get("aliases"), base)
		return cls(
			tuple(rules),
			region.upper(),
			placeholders,
			smart=tuple(smart),
			aliases=aliases,
			set_threshold=float(set_threshold),
		)

	def to_dict(self) -> dict:
		options: dict[str, Any] = {"default_region": self.default_region}
		if not self.placeholders.is_default:
			options["placeholders"] = self.placeholders.to_options()
		if self.aliases.map:
			options["aliases"] = [list(p) for p in sorted(self.aliases.map.items())]
		if self.set_threshold != DEFAULT_SET_THRESHOLD:
			options["set_threshold"] = self.set_threshold
		return {
			"options": options,
			"rules": [r.to_dict() for r in self.rules] + [s.to_dict() for s in self.smart],
		}

	@property
	def fields(self) -> set[str]:
		return {f for r in (*self.rules, *self.smart) for f in r.fields}

	def rule(self, name: str) -> Rule:
		for r in self.rules:
			if r.name == name:
				return r
		raise KeyError(name)

	def check_columns(self, columns: Iterable[str]) -> None:
		"""Raises RuleError naming the first rule that uses a column the data does not have."""
		have = set(columns)
		for r in (*self.rules, *self.smart):
			missing = sorted(f for f in r.fields if f not in have)
			if missing:
				raise _fail(r.name, f"uses unknown column(s) {', '.join(missing)}")

	# ---- records -----------------------------------------------------------------------------------
	def prepare(self, record: Record, id: Any = None) -> Prepared:
		return Prepared(id, record, {sig: self.prepare_values(record, sig) for sig in self._signatures})

	@property
	def signatures(self) -> tuple[tuple, ...]:
		"""The distinct (fields, match) signatures of all conditions: the keys of ``Prepared.values``."""
		return tuple(self._signatures)

	def prepare_values(self, record: Record, signature: tuple) -> list[Value]:
		"""The prepared values of one condition signature, as ``prepare`` stores them (scan and check use it
		to prepare only what a comparison actually reaches). Placeholders are left out here, and only here:
		a part the placeholder check names is skipped exactly like one ``cmp.prepare`` finds blank.

		Values of one field that repeat (cities, people's names, placeholder fillers) are prepared once: the
		values of a text depend on the text alone for the types in ``_CACHED_TYPES``."""
		cache = self._value_cache.get(signature)
		if cache is not None:
			value = record.get(signature[0][0])
			if value.__class__ is str:
				got = cache.get(value)
				if got is None:
					got = tuple(self._prepare_values(record, signature))
					if len(cache) >= _VALUE_CACHE_SIZE:
						cache.clear()
					cache[value] = got
				return list(got)
		return self._prepare_values(record, signature)

	def _prepare_values(self, record: Record, signature: tuple) -> list[Value]:
		cmp = COMPARATORS[signature[1]]
		out: list[Value] = []
		for f in signature[0]:
			value = record.get(f)
			if value.__class__ is str:  # the common case, as raw_values would give it
				if not value or value.isspace():
					continue
				raws = (value,)
			else:
				raws = raw_values(value)
			out += [Value(f, part, norm, note) for part, norm, note in self.field_values(signature, f, raws)]
		if (
			getattr(cmp, "merge_values", None) is not None
		):  # set_overlap: all values of the record are one set
			out = cmp.merge_values(out)
		return out

	def field_values(self, signature: tuple, f: str, raws: Iterable[str]) -> list[tuple[str, Any, str]]:
		"""(part, norm, note) of each prepared value of field ``f`` of a signature, given the field's
		non-blank raw values (``raw_values``), in ``prepare_values``' order, repeated norms and placeholders
		left out; before any ``merge_values``. A function of the texts for the types in ``TEXT_TYPES``."""
		cmp = COMPARATORS[signature[1]]
		split, prepare = cmp.split, cmp.prepare
		check = self._checks[signature]
		region = self.default_region
		out = []
		seen = set()
		for raw in raws:
			for part in split(raw):
				prepared = prepare(part, region)
				if prepared is None:
					continue
				norm, note = prepared
				if check is not None and check(f, part, norm) is not None:
					continue
				if norm in seen:
					continue
				seen.add(norm)
				out.append((part, norm, note))
		return out

	def placeholder_reason(self, field: str, raw: Any) -> str | None:
		"""Why ``raw`` in ``field`` counts as blank for some condition that uses the field (a short English
		reason such as "placeholder (built-in list)"), or None: no condition uses the field, or the value is
		real (or blank) for every one of them."""
		for cond in self._signatures.values():
			if field in cond.fields:
				why = self.placeholders.reason(cond.match, field, raw, self.default_region)
				if why is not None:
					return why
		return None

	def rule_keys(self, rule: Rule, p: Prepared, memo: dict | None = None) -> set[str]:
		"""Blocking keys of one rule for one record, namespaced by condition so rules never mix.

		``memo`` (a dict kept for one record) shares the work between rules that block on the same values.
		"""
		keys: set[str] = set()
		scope = rule.scope_of(p.record)
		for i in rule.blocking_conditions:
			cond = rule.conditions[i]
			threshold = cond.threshold if cond.match in FUZZY_TYPES else 100.0
			plain = memo.get((cond.signature, threshold)) if memo is not None else None
			if plain is None:
				cmp = COMPARATORS[cond.match]
				plain = [k for v in p.values[cond.signature] for k in cmp.keys(v.norm, threshold)]
				if memo is not None:
					memo[(cond.signature, threshold)] = plain
			ns = f"{i}|" if scope is None else f"{i}|{scope}|"
			keys.update(ns + k for k in plain)
		return keys

	def keys(self, p: Prepared) -> dict[str, set[str]]:
		"""{rule name: keys}; a rule with no keys for this record (its blocking fields are blank) is left out."""
		out = {}
		memo: dict = {}
		for r in self.rules:
			k = self.rule_keys(r, p, memo)
			if k:
				out[r.name] = k
		for s in self.smart:
			k = s.record_keys(p.record)
			if k:
				out[s.name] = k
		return out

	def compare_rule(self, rule: Rule, a: Prepared, b: Prepared) -> Match | None:
		if rule.within and rule.scope_of(a.record) != rule.scope_of(b.record):
			return None
		hits: list[ConditionHit] = []
		held = 0
		for cond in rule.conditions:
			va, vb = a.values[cond.signature], b.values[cond.signature]
			if not va or not vb:
				if cond.blank == "ignore":
					f = (va or vb)[0].field if (va or vb) else cond.fields[0]
					hits.append(ConditionHit(cond.match, f, "", f, "", 0.0, "blank, ignored", skipped=True))
					continue
				return None
			cmp = COMPARATORS[cond.match]
			best = None
			best_score = -1.0
			for x in va:
				for y in vb:
					c = cmp.compare(x.norm, y.norm)
					if c.score > best_score:
						best_score, best = c.score, (x, y, c)
						if best_score >= 100.0:
							break
				if best_score >= 100.0:
					break
			threshold = cond.threshold if cond.match in FUZZY_TYPES else 100.0
			if best is None or best_score < threshold:
				return None
			x, y, c = best
			note = "; ".join(dict.fromkeys(n for n in (c.note, x.note, y.note) if n))  # once, not per side
			hits.append(ConditionHit(cond.match, x.field, x.raw, y.field, y.raw, c.score, note))
			held += 1
		if not held:
			return None
		score = min(h.score for h in hits if not h.skipped)
		return Match(b.id, rule.name, rule.action, rule.priority, score, hits)

	def compare(self, a: Prepared, b: Prepared, rules: Iterable[Rule] | None = None) -> Match | None:
		"""The fired rule with the lowest priority number (rules are kept sorted), or None."""
		for r in rules if rules is not None else self.rules:
			m = self.compare_rule(r, a, b)
			if m is not None:
				return m
		return None

	def all_matches(self, a: Prepared, b: Prepared) -> list[Match]:
		return [m for r in self.rules if (m := self.compare_rule(r, a, b)) is not None]


def load_rules(source: str | Path | Mapping | list, load_models: bool = True) -> RuleSet:
	"""A RuleSet from a path to a JSON file, a JSON string, or already-parsed data. Smart rules' model files
	are read relative to the rules file (or the current folder)."""
	if isinstance(source, (Mapping, list)):
		return RuleSet.from_dict(source, None, load_models)
	text = None
	base = None
	if isinstance(source, Path) or (isinstance(source, str) and not source.lstrip().startswith(("{", "["))):
		path = Path(source)
		base = path.parent
		try:
			text = path.read_text(encoding="utf-8-sig")
		except FileNotFoundError:
			raise RuleError(f"rules file not found: {path}") from None
		except (OSError, UnicodeDecodeError) as e:
			raise RuleError(f"cannot read rules file {path}: {e}") from None
	else:
		text = source
	try:
		data = json.loads(text)
	except json.JSONDecodeError as e:
		raise RuleError(f"rules are not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
	return RuleSet.from_dict(data, base, load_models)
