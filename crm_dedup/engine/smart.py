"""Smart rules (智能匹配): Fellegi–Sunter scoring of record pairs, as Splink does, in pure Python.

A smart rule lists *comparisons*; each compares one field group of two records and says which *level* the pair
meets (exact, equal after normalisation, same pinyin, within N edits, fuzzy score bands, within N days, else).
A blank side is the null level: no weight. Each level has m (how often a true duplicate pair meets it) and u
(how often a pair of different records does); the pair's match weight is the prior log2(λ/(1-λ)) plus, per
comparison, log2(m/u) of the level met (plus a correction learned from labelled pairs), and its match
probability is 2^w / (1 + 2^w). Thresholds on that probability give the action (block / warn / log).

    {"name": "smart-customers", "kind": "smart", "priority": 6,
     "comparisons": [
        {"fields": ["customer_name"], "compare": "company_name", "bands": [92, 80], "key_threshold": 90},
        {"fields": ["phone_1", "phone_2", "mobile_no"], "compare": "phone"},
        {"fields": ["address"], "compare": "fuzzy_tokens", "bands": [90, 75], "key": false},
        {"fields": ["birth_date"], "compare": "fuzzy", "edits": [1, 2], "key": false}],
     "thresholds": {"block": 0.999, "warn": 0.95, "log": 0.8},
     "model": "model.json"}

``compare`` is any match type; ``bands`` are score bands (0-100, of the type's own score or of
``"scorer": "jaro_winkler"``), ``edits`` Levenshtein distances on the normalised text, ``days`` day windows
(date_within). ``key`` (default true) says whether the comparison's values are blocking keys (at
``key_threshold``, default 100: equality keys); at least one comparison must give keys. ``model`` is a file
(relative to the rules file) written by ``train`` (``smart_train.py``), or the model object itself; without it
the rule uses default weights (``default_model``).

The model file is versioned: ``format`` (MODEL_FORMAT), ``rule_hash`` (a hash of what defines the levels:
the comparisons, not the thresholds or the priority, so thresholds may change without retraining) and
``trained`` (when, on how many records, pairs and labels). A model for another definition is refused.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rapidfuzz.distance import JaroWinkler, Levenshtein

from .conditions import date_score
from .errors import RuleError
from .match import COMPARATORS, FUZZY_TYPES, MATCH_TYPES, ConditionHit, Match, raw_values
from .normalize.person import first_readings
from .placeholders import Placeholders

MODEL_FORMAT = 1
ACTIONS = ("block", "warn", "log")  # strongest first
EXACT_TYPES = frozenset({"normalized", "company_name", "person_name", "fuzzy", "fuzzy_tokens"})
PINYIN_TYPES = frozenset({"company_name", "person_name"})
SCORERS = ("type", "jaro_winkler")
# default u of "equal" by type: how often two different records agree (before training)
_DEFAULT_U_EQUAL = {"id_code": 1e-5, "email": 1e-5, "phone": 1e-5, "company_name": 1e-4, "person_name": 1e-3}
_DEFAULT_U_OTHER = (
	1e-2  # exact, normalized, fuzzy...: the field may have few distinct values (a city, a state)
)
_DEFAULT_LAMBDA = 1e-3  # two records drawn at random are duplicates (before training)
MIN_PROB = 1e-9  # m and u are kept within [MIN_PROB, 1 - MIN_PROB]: no level weighs infinitely


def _fail(rule: str, msg: str) -> RuleError:
	return RuleError(f"rule {rule!r}: {msg}")


def _numbers(rule: str, where: str, raw: Any, name: str, lo: float, hi: float) -> tuple[float, ...]:
	if raw is None:
		return ()
	if not isinstance(raw, list) or not all(
		isinstance(x, (int, float)) and not isinstance(x, bool) and lo <= x <= hi for x in raw
	):
		raise _fail(rule, f"{where}: {name} must be a list of numbers from {lo:g} to {hi:g}, got {raw!r}")
	return tuple(raw)


@dataclass(frozen=True)
class Comparison:
	"""One field group of a smart rule and its level ladder (strongest first, ``else`` last)."""

	name: str
	fields: tuple[str, ...]
	compare: str
	bands: tuple[float, ...] = ()  # descending
	edits: tuple[int, ...] = ()  # ascending
	days: tuple[int, ...] = ()  # ascending (date_within)
	scorer: str = "type"
	key: bool = True
	key_threshold: float = 100.0

	@property
	def levels(self) -> tuple[str, ...]:
		out = []
		if self.compare in EXACT_TYPES:
			out.append("exact")
		out.append("same day" if self.compare == "date_within" else "equal")
		if self.compare in PINYIN_TYPES:
			out.append("same pinyin")
		out += [f"within {e} edit{'s' if e > 1 else ''}" for e in self.edits]
		out += [f"within {d} days" for d in self.days]
		out += [f"score >= {b:g}" for b in self.bands]
		out.append("else")
		return tuple(out)

	def definition(self) -> dict:
		"""What defines the levels (the model's hash covers this)."""
		return {
			"fields": list(self.fields),
			"compare": self.compare,
			"bands": list(self.bands),
			"edits": list(self.edits),
			"days": list(self.days),
			"scorer": self.scorer,
		}

	def to_dict(self) -> dict:
		d: dict[str, Any] = {"name": self.name, "fields": list(self.fields), "compare": self.compare}
		for k in ("bands", "edits", "days"):
			if getattr(self, k):
				d[k] = list(getattr(self, k))
		if self.scorer != "type":
			d["scorer"] = self.scorer
		if not self.key:
			d["key"] = False
		if self.key_threshold != 100.0:
			d["key_threshold"] = self.key_threshold
		return d

	# ---- one pair ---------------------------------------------------------------------------------------
	def level(self, a: tuple, b: tuple) -> int:
		"""The level index of two non-blank prepared sides (each a tuple of (norm, folded raw, field, raw))."""
		if len(a) == 1 and len(b) == 1:
			return self._level1(a[0], b[0])
		cmp = COMPARATORS[self.compare]
		i = 0
		if self.compare in EXACT_TYPES:
			folded = {x[1] for x in a}
			if any(y[1] in folded for y in b):
				return 0
			i = 1
		norms_a = [x[0] for x in a]
		norms_b = [y[0] for y in b]
		best = -1.0
		for na in norms_a:
			for nb in norms_b:
				s = cmp.score(na, nb)
				if s > best:
					best = s
					if s >= 100.0:
						return i
		return self._below_equal(i + 1, best, [(na, nb) for na in norms_a for nb in norms_b])

	def _level1(self, x: tuple, y: tuple) -> int:
		"""``level`` of one value against one (the common case, without the loops)."""
		i = 0
		if self.compare in EXACT_TYPES:
			if x[1] == y[1]:
				return 0
			i = 1
		na, nb = x[0], y[0]
		best = COMPARATORS[self.compare].score(na, nb)
		if best >= 100.0:
			return i
		return self._below_equal(i + 1, best, [(na, nb)])

	def _below_equal(self, i: int, best: float, pairs: list[tuple]) -> int:
		"""The levels under "equal", counted from ``i``: same pinyin, within N edits, within N days, score bands;
		``best`` is the best score over ``pairs``, the (norm a, norm b) pairs compared."""
		compare = self.compare
		if compare in PINYIN_TYPES:
			if compare == "person_name":
				if best >= 95.0:
					return i
			elif any(
				isinstance(na, str) and not na.isascii() and first_readings(na) == first_readings(nb)
				for na, nb in pairs
			):
				return i
			i += 1
		if self.edits:
			cutoff = self.edits[-1] + 1
			dist = min(Levenshtein.distance(str(na), str(nb), score_cutoff=cutoff) for na, nb in pairs)
			for e in self.edits:
				if dist <= e:
					return i
				i += 1
		if self.days:
			for d in self.days:
				if best >= date_score(d):
					return i
				i += 1
		if self.bands:
			if self.scorer == "jaro_winkler":
				best = max(JaroWinkler.normalized_similarity(str(na), str(nb)) * 100.0 for na, nb in pairs)
			for band in self.bands:
				if best >= band:
					return i
				i += 1
		return i


def _parse_comparison(rule: str, i: int, raw: Any) -> Comparison:
	where = f"comparison {i + 1}"
	if not isinstance(raw, Mapping):
		raise _fail(rule, f"{where} must be an object")
	fields = raw.get("fields", raw.get("field"))
	if isinstance(fields, str):
		fields = [fields] if fields.strip() else []
	if (
		not isinstance(fields, list)
		or not fields
		or not all(isinstance(f, str) and f.strip() for f in fields)
	):
		raise _fail(rule, f"{where} needs 'fields', a list of field names")
	compare = raw.get("compare", raw.get("match"))
	if compare not in MATCH_TYPES:
		raise _fail(
			rule, f"{where} has unknown compare type {compare!r} (expected one of {', '.join(MATCH_TYPES)})"
		)
	unknown = set(raw) - {
		"name", "fields", "field", "compare", "match", "bands", "edits", "days", "scorer", "key", "key_threshold"
	}  # fmt: skip
	if unknown:
		raise _fail(rule, f"{where} has unknown key(s) {', '.join(sorted(unknown))}")
	bands = tuple(sorted(_numbers(rule, where, raw.get("bands"), "bands", 0, 99.999), reverse=True))
	edits = tuple(sorted(int(e) for e in _numbers(rule, where, raw.get("edits"), "edits", 1, 20)))
	days = tuple(sorted(int(d) for d in _numbers(rule, where, raw.get("days"), "days", 1, 100000)))
	if days and compare != "date_within":
		raise _fail(rule, f"{where}: 'days' is for date_within only")
	scorer = raw.get("scorer", "type")
	if scorer not in SCORERS:
		raise _fail(rule, f"{where}: scorer must be one of {', '.join(SCORERS)}, got {scorer!r}")
	key = raw.get("key", compare != "date_within")
	if not isinstance(key, bool):
		raise _fail(rule, f"{where}: key must be true or false")
	if key and compare == "date_within":
		raise _fail(rule, f"{where}: date_within gives no blocking keys (set key to false)")
	kt = raw.get("key_threshold", 100)
	if isinstance(kt, bool) or not isinstance(kt, (int, float)) or not 50 <= kt <= 100:
		raise _fail(rule, f"{where}: key_threshold must be a number from 50 to 100")
	name = raw.get("name") or fields[0].strip()
	return Comparison(
		str(name), tuple(f.strip() for f in fields), compare, bands, edits, days, scorer, key, float(kt)
	)


# ---- the model ------------------------------------------------------------------------------------------
@dataclass
class LevelParams:
	label: str
	m: float
	u: float
	adjust: float = 0.0  # log2 correction learned from labelled pairs
	order: float = 0.0  # log2 raise that keeps the ladder ordered (smart_train.make_monotone), before labels

	@property
	def weight(self) -> float:
		return math.log2(self.m / self.u) + self.order + self.adjust


@dataclass
class SmartModel:
	rule_hash: str
	lam: float
	levels: list[list[LevelParams]]  # per comparison, per level
	trained: dict = field(default_factory=dict)  # empty: default weights

	@property
	def prior(self) -> float:
		return math.log2(self.lam / (1.0 - self.lam))

	def weights(self) -> list[list[float]]:
		return [[lv.weight for lv in comp] for comp in self.levels]

	def to_dict(self, rule: SmartRule) -> dict:
		return {
			"format": MODEL_FORMAT,
			"rule": rule.name,
			"rule_hash": self.rule_hash,
			"trained": self.trained,
			"lambda": self.lam,
			"comparisons": [
				{
					"name": c.name,
					"levels": [
						{
							"label": lv.label,
							"m": lv.m,
							"u": lv.u,
							"order": lv.order,
							"adjust": lv.adjust,
							"weight": lv.weight,
						}
						for lv in params
					],
				}
				for c, params in zip(rule.comparisons, self.levels, strict=True)
			],
		}

	@classmethod
	def from_dict(cls, data: Any, rule: SmartRule, source: str = "the model") -> SmartModel:
		def bad(msg: str) -> RuleError:
			return _fail(rule.name, f"{source}: {msg}")

		if not isinstance(data, Mapping):
			raise bad("not a model object")
		if data.get("format") != MODEL_FORMAT:
			raise bad(
				f"model format {data.get('format')!r}, this engine reads format {MODEL_FORMAT}: retrain"
			)
		if data.get("rule_hash") != rule.definition_hash:
			raise bad(
				"trained for another definition of the rule (its comparisons changed since): retrain it "
				f"(model {str(data.get('rule_hash'))[:12]}, rule {rule.definition_hash[:12]})"
			)
		try:
			lam = float(data["lambda"])
			comps = data["comparisons"]
			levels = [
				[
					LevelParams(
						str(lv["label"]),
						float(lv["m"]),
						float(lv["u"]),
						float(lv.get("adjust", 0.0)),
						float(lv.get("order", 0.0)),
					)
					for lv in c["levels"]
				]
				for c in comps
			]
		except (KeyError, TypeError, ValueError) as e:
			raise bad(f"malformed model ({e.__class__.__name__}: {e})") from None
		if len(levels) != len(rule.comparisons) or any(
			[lv.label for lv in got] != list(c.levels)
			for got, c in zip(levels, rule.comparisons, strict=False)
		):
			raise bad("its levels do not match the rule's comparisons: retrain")
		for got in levels:
			for lv in got:
				if not (
					0 < lv.m < 1 and 0 < lv.u < 1 and math.isfinite(lv.adjust) and math.isfinite(lv.order)
				):
					raise bad(f"level {lv.label!r} has m or u outside (0, 1)")
		if not 0 < lam < 1:
			raise bad("lambda outside (0, 1)")
		trained = data.get("trained") if isinstance(data.get("trained"), Mapping) else {}
		return cls(rule.definition_hash, lam, levels, dict(trained))


def _clamp(p: float) -> float:
	return min(max(p, MIN_PROB), 1.0 - MIN_PROB)


def default_model(rule: SmartRule) -> SmartModel:
	"""Weights that work before training: agreement is strong evidence, "else" weak evidence against."""
	levels = []
	for c in rule.comparisons:
		labels = c.levels
		n_mid = len(labels) - 2  # between the strongest and "else"
		u_top = _DEFAULT_U_EQUAL.get(c.compare, _DEFAULT_U_OTHER)
		m = [0.0] * len(labels)
		u = [0.0] * len(labels)
		m[0], u[0] = 0.65 if n_mid else 0.9, u_top
		for k in range(1, len(labels) - 1):
			m[k] = 0.25 / n_mid
			u[k] = u_top * 10 * k
		m[-1] = 0.1
		u[-1] = max(1.0 - sum(u[:-1]), 0.5)
		sm, su = sum(m), sum(u)
		levels.append(
			[
				LevelParams(lb, _clamp(mi / sm), _clamp(ui / su))
				for lb, mi, ui in zip(labels, m, u, strict=True)
			]
		)
	return SmartModel(rule.definition_hash, _DEFAULT_LAMBDA, levels, {})


# ---- the rule -------------------------------------------------------------------------------------------
class SmartRule:
	"""A parsed smart rule; ``bind`` gives it the rule set's region and placeholders, ``model`` its weights."""

	kind = "smart"

	def __init__(
		self,
		name: str,
		comparisons: tuple[Comparison, ...],
		thresholds: dict[str, float],
		priority: int = 10,
		model_ref: str | dict | None = None,
		description: str = "",
	) -> None:
		self.name = name
		self.comparisons = comparisons
		self.thresholds = thresholds
		self.priority = priority
		self.model_ref = model_ref
		self.description = description
		self.definition_hash = hashlib.sha256(
			json.dumps([c.definition() for c in comparisons], sort_keys=True, ensure_ascii=False).encode()
		).hexdigest()
		self.model: SmartModel = default_model(self)
		self.region = "CN"
		self._checks: list = [None] * len(comparisons)

	@property
	def fields(self) -> set[str]:
		return {f for c in self.comparisons for f in c.fields}

	@property
	def min_probability(self) -> float:
		return min(self.thresholds.values())

	def action_for(self, probability: float) -> str | None:
		for action in ACTIONS:
			t = self.thresholds.get(action)
			if t is not None and probability >= t:
				return action
		return None

	def bind(self, region: str, placeholders: Placeholders) -> None:
		self.region = region
		self._checks = [placeholders.checker(c.compare, c.fields, region) for c in self.comparisons]

	def to_dict(self) -> dict:
		d: dict[str, Any] = {
			"name": self.name,
			"kind": "smart",
			"priority": self.priority,
			"comparisons": [c.to_dict() for c in self.comparisons],
			"thresholds": dict(self.thresholds),
		}
		if isinstance(self.model_ref, str):
			d["model"] = self.model_ref
		elif self.model.trained:
			d["model"] = self.model.to_dict(self)
		return d

	# ---- records --------------------------------------------------------------------------------------
	def prepare(self, record: Mapping[str, Any]) -> tuple:
		"""Per comparison: a tuple of (norm, folded raw, field, raw) of the record's non-blank values."""
		out = []
		for c, check in zip(self.comparisons, self._checks, strict=True):
			cmp = COMPARATORS[c.compare]
			vals = []
			seen = set()
			for f in c.fields:
				for raw in raw_values(record.get(f)):
					for part in cmp.split(raw):
						got = cmp.prepare(part, self.region)
						if got is None:
							continue
						norm = got[0]
						if check is not None and check(f, part, norm) is not None:
							continue
						if norm in seen:
							continue
						seen.add(norm)
						vals.append((norm, part.strip().casefold(), f, part))
			merge = getattr(cmp, "merge_values", None)
			if merge is not None and len(vals) > 1:
				items = frozenset().union(*(v[0] for v in vals))
				raw = ", ".join(v[3] for v in vals)
				vals = [(items, raw.casefold(), vals[0][2], raw)]
			out.append(tuple(vals))
		return tuple(out)

	def keys(self, prepared: tuple) -> set[str]:
		keys: set[str] = set()
		for i, (c, vals) in enumerate(zip(self.comparisons, prepared, strict=True)):
			if not c.key:
				continue
			cmp = COMPARATORS[c.compare]
			threshold = c.key_threshold if c.compare in FUZZY_TYPES else 100.0
			for v in vals:
				keys.update(f"{i}|{k}" for k in cmp.keys(v[0], threshold))
		return keys

	def record_keys(self, record: Mapping[str, Any]) -> set[str]:
		return self.keys(self.prepare(record))

	def pattern(self, a: tuple, b: tuple) -> tuple:
		"""The level index per comparison (None: a side is blank)."""
		return tuple(
			c.level(va, vb) if va and vb else None for c, va, vb in zip(self.comparisons, a, b, strict=True)
		)

	def weight_of(self, pattern: tuple, weights: list[list[float]] | None = None) -> float:
		weights = weights or self.model.weights()
		return self.model.prior + sum(weights[k][lv] for k, lv in enumerate(pattern) if lv is not None)

	def compare_prepared(
		self, a: tuple, b: tuple, id_b: Any = None, always: bool = False
	) -> SmartMatch | None:
		"""A SmartMatch when the pair's probability reaches a threshold (or ``always``), else None."""
		pattern = self.pattern(a, b)
		total = self.weight_of(pattern)
		probability = probability_of(total)
		action = self.action_for(probability)
		if action is None and not always:
			return None
		return self.explain(pattern, a, b, id_b, action)

	def compare(self, rec_a: Mapping, rec_b: Mapping, id_b: Any = None, always: bool = False):
		return self.compare_prepared(self.prepare(rec_a), self.prepare(rec_b), id_b, always)

	def explain(self, pattern: tuple, a: tuple, b: tuple, id_b: Any, action: str | None) -> SmartMatch:
		model = self.model
		rows = []
		hits = []
		for c, lv, va, vb, params in zip(self.comparisons, pattern, a, b, model.levels, strict=True):
			if lv is None:
				side = (va or vb)[0] if (va or vb) else None
				rows.append(
					{"comparison": c.name, "level": "blank", "weight": 0.0, "value_a": "", "value_b": ""}
				)
				f = side[2] if side else c.fields[0]
				hits.append(ConditionHit(c.compare, f, "", f, "", 0.0, "blank: no weight", skipped=True))
				continue
			x, y = _best_values(c, va, vb)
			p = params[lv]
			rows.append(
				{
					"comparison": c.name,
					"level": p.label,
					"weight": round(p.weight, 4),
					"m": p.m,
					"u": p.u,
					"field_a": x[2],
					"value_a": x[3],
					"field_b": y[2],
					"value_b": y[3],
				}
			)
			score = COMPARATORS[c.compare].score(x[0], y[0])
			hits.append(
				ConditionHit(c.compare, x[2], x[3], y[2], y[3], score, f"{p.label}, weight {p.weight:+.2f}")
			)
		total = model.prior + sum(r["weight"] for r in rows)
		probability = probability_of(total)
		waterfall = {
			"rule": self.name,
			"prior": round(model.prior, 4),
			"lambda": model.lam,
			"comparisons": rows,
			"total": round(total, 4),
			"probability": probability,
			"action": action,
			"trained": bool(model.trained),
		}
		return SmartMatch(
			id_b,
			self.name,
			action or "none",
			self.priority,
			100.0 * probability,
			hits,
			probability,
			waterfall,
		)


def probability_of(weight: float) -> float:
	if weight > 60:
		return 1.0
	if weight < -60:
		return 0.0
	odds = 2.0**weight
	return odds / (1.0 + odds)


def _best_values(c: Comparison, va: tuple, vb: tuple) -> tuple:
	cmp = COMPARATORS[c.compare]
	best, pair = -1.0, (va[0], vb[0])
	for x in va:
		for y in vb:
			s = 100.0 if x[1] == y[1] else cmp.score(x[0], y[0])
			if s > best:
				best, pair = s, (x, y)
	return pair


@dataclass
class SmartMatch(Match):
	"""A smart rule's hit: ``score`` is the probability in percent; ``waterfall`` the weights per comparison."""

	probability: float = 0.0
	waterfall: dict = field(default_factory=dict)

	@property
	def explain(self) -> str:
		return waterfall_text(self.waterfall)

	def to_dict(self) -> dict:
		d = super().to_dict()
		d["probability"] = self.probability
		d["smart"] = self.waterfall
		return d


def waterfall_text(w: Mapping) -> str:
	"""The weights of one pair as lines: prior, each comparison (level, weight, running total), total."""
	lines = [
		f"smart rule {w['rule']!r}: probability {w['probability']:.4f}, match weight {w['total']:+.2f}"
		+ (f" -> {w['action']}" if w.get("action") else " (below every threshold)")
		+ ("" if w.get("trained") else " [default weights: not trained]")
	]
	running = w["prior"]
	lines.append(f"  {'prior (λ=' + format(w['lambda'], '.4g') + ')':<40} {w['prior']:+8.2f} {running:+8.2f}")
	for r in w["comparisons"]:
		running += r["weight"]
		if r["level"] == "blank":
			label = f"{r['comparison']}: blank, no weight"
		else:
			label = f"{r['comparison']}: {r['level']}"
		lines.append(f"  {label:<40} {r['weight']:+8.2f} {running:+8.2f}")
		if r["level"] != "blank":
			lines.append(f"      {r['value_a']!r} ~ {r['value_b']!r}")
	lines.append(f"  {'total':<40} {w['total']:+8.2f}  p = {w['probability']:.4f}")
	return "\n".join(lines)


# ---- parsing --------------------------------------------------------------------------------------------
def parse_smart_rule(i: int, raw: Mapping, base: Path | None = None, load_model: bool = True) -> SmartRule:
	name = raw.get("name")
	if not isinstance(name, str) or not name.strip():
		raise RuleError(f"rule #{i + 1} has no name")
	name = name.strip()
	unknown = set(raw) - {
		"name", "kind", "priority", "comparisons", "thresholds", "model", "enabled", "description", "action"
	}  # fmt: skip
	if unknown:
		raise _fail(name, f"unknown key(s) {', '.join(sorted(unknown))}")
	priority = raw.get("priority", 10)
	if isinstance(priority, bool) or not isinstance(priority, int):
		raise _fail(name, f"priority must be a whole number, got {priority!r}")
	comps = raw.get("comparisons")
	if not isinstance(comps, list) or not comps:
		raise _fail(name, "a smart rule needs 'comparisons', a non-empty list")
	comparisons = tuple(_parse_comparison(name, j, c) for j, c in enumerate(comps))
	names = [c.name for c in comparisons]
	if len(set(names)) != len(names):
		raise _fail(name, "two comparisons have the same name (give one a 'name')")
	if not any(c.key for c in comparisons):
		raise _fail(name, "no comparison gives blocking keys: candidates could not be found (set key on one)")
	thresholds = raw.get("thresholds")
	if thresholds is None and raw.get("action") in ACTIONS:
		thresholds = {raw["action"]: 0.95}
	if not isinstance(thresholds, Mapping) or not thresholds:
		raise _fail(name, "a smart rule needs 'thresholds', e.g. {\"warn\": 0.95}")
	for action, t in thresholds.items():
		if action not in ACTIONS:
			raise _fail(name, f"unknown action {action!r} in thresholds (expected block, warn or log)")
		if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 < t < 1:
			raise _fail(name, f"threshold of {action} must be a probability between 0 and 1, got {t!r}")
	rule = SmartRule(
		name, comparisons, {a: float(t) for a, t in thresholds.items()}, priority, raw.get("model"),
		str(raw.get("description") or ""),
	)  # fmt: skip
	if load_model and rule.model_ref is not None:
		rule.model = load_model_ref(rule, rule.model_ref, base)
	return rule


def load_model_ref(rule: SmartRule, ref: Any, base: Path | None) -> SmartModel:
	if isinstance(ref, Mapping):
		return SmartModel.from_dict(ref, rule)
	if not isinstance(ref, str) or not ref.strip():
		raise _fail(rule.name, "'model' must be a file name or a model object")
	path = Path(ref)
	if not path.is_absolute() and base is not None:
		path = base / path
	try:
		text = path.read_text(encoding="utf-8")
	except FileNotFoundError:
		raise _fail(rule.name, f"model file not found: {path} (train it with crm-dedup train)") from None
	except (OSError, UnicodeDecodeError) as e:
		raise _fail(rule.name, f"cannot read model file {path}: {e}") from None
	try:
		data = json.loads(text)
	except json.JSONDecodeError as e:
		raise _fail(rule.name, f"model file {path} is not valid JSON: {e.msg} at line {e.lineno}") from None
	return SmartModel.from_dict(data, rule, f"model file {path}")
