# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt
"""Rule configuration: read from Dedup Rule / Dedup Settings once, kept as plain data in ``frappe.cache``
(``config()``), cleared whenever a rule or the settings change (``clear_cache``), compiled into engine RuleSets
once per process (``compiled()``). A Dedup Rule is one engine rule; a cross check ("also check Contacts") maps
the other doctype's records into the target's field names, so the engine never knows about doctypes.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import frappe
from frappe import _
from frappe.utils import cint, flt

from crm_dedup.core import scope
from crm_dedup.core.records import get_value as _get
from crm_dedup.engine import Placeholders, RuleError, RuleSet

# Dedup Rule Condition select values -> engine match types
MATCH_TYPES = {
	"Exact": "exact",
	"Normalized": "normalized",
	"Company Name": "company_name",
	"Person Name": "person_name",
	"Phone": "phone",
	"Email": "email",
	"ID Code": "id_code",
	"Fuzzy": "fuzzy",
	"Fuzzy Tokens": "fuzzy_tokens",
	"Set Overlap": "set_overlap",
	"Set Containment": "set_containment",
	"Date Within": "date_within",
}
THRESHOLD_TYPES = ("company_name", "person_name", "fuzzy", "fuzzy_tokens", "set_overlap", "set_containment")
MATCH_LABELS = {v: k for k, v in MATCH_TYPES.items()}
BLANKS = {"Not a Match": "fail", "Ignore": "ignore"}
ACTIONS = {"Block": "block", "Warn": "warn", "Log only": "log"}
ACTION_LABELS = {v: k for k, v in ACTIONS.items()}
ACTION_ORDER = {"block": 0, "warn": 1, "log": 2}  # hits are sorted by action first
EVENTS = ("insert", "edit", "import")
SAME_VALUES = "Same values of fields"  # Dedup Rule.search_within
MATCHING_FILTER = "Records matching a filter"

CONFIG_KEY = "crm_dedup:config"
CONFIG_TTL = 300  # seconds a shared configuration lives at most
DEFAULT_REGION = "CN"

_compiled_cache: dict[tuple[str, str], Compiled] = {}


# ---- configuration --------------------------------------------------------------------------------------
def clear_cache(doc: Any = None, method: str | None = None) -> None:
	"""Drops the cached rule configuration (doc_events of Dedup Rule / Dedup Settings).

	Until this transaction ends, its configuration is built from what it sees but not shared through redis
	(other processes must not apply an uncommitted rule); after commit or rollback the shared copy is dropped
	again, so nobody keeps one built from an older snapshot.
	"""
	frappe.cache.delete_value(CONFIG_KEY)
	frappe.local.crm_dedup_config = None
	frappe.local.crm_dedup_config_only = None
	frappe.local.crm_dedup_tree = None
	if getattr(frappe.local, "db", None) is None:
		return
	if not getattr(frappe.local, "crm_dedup_config_dirty", False):
		frappe.local.crm_dedup_config_dirty = True
		frappe.db.after_commit.add(_after_transaction)
		frappe.db.after_rollback.add(_after_transaction)


def _after_transaction() -> None:
	frappe.local.crm_dedup_config_dirty = False
	frappe.local.crm_dedup_config = None
	frappe.local.crm_dedup_config_only = None
	frappe.cache.delete_value(CONFIG_KEY)


def config() -> dict:
	"""The enabled rules and settings as plain data.

	Kept for the request in ``frappe.local`` and shared through redis for CONFIG_TTL seconds (cleared when a
	rule or the settings change), so a save of a doctype without rules costs a dict lookup.
	"""
	only = frappe.flags.crm_dedup_only_rules  # tests, benchmarks: consider just these rules (never shared)
	if only is not None:
		memo = getattr(frappe.local, "crm_dedup_config_only", None)
		if memo is not None and memo[0] == tuple(sorted(only)):
			return memo[1]
	else:
		cfg = getattr(frappe.local, "crm_dedup_config", None)
		if cfg is not None:
			return cfg
	dirty = getattr(frappe.local, "crm_dedup_config_dirty", False) or only is not None
	cfg = None if dirty else frappe.cache.get_value(CONFIG_KEY, expires=True)
	if cfg is None:
		cfg = _build_config()
		if only is not None:
			cfg["rules"] = [r for r in cfg["rules"] if r["name"] in only]
			cfg = _finish(cfg)
		if not dirty:
			frappe.cache.set_value(CONFIG_KEY, cfg, expires_in_sec=CONFIG_TTL)
	if only is None:
		frappe.local.crm_dedup_config = cfg
	else:
		frappe.local.crm_dedup_config_only = (tuple(sorted(only)), cfg)
	return cfg


def split_fields(text: str | None) -> list[str]:
	"""'mobile_no, phone_nos.phone' -> ['mobile_no', 'phone_nos.phone'] (commas, semicolons or new lines)."""
	return [f.strip() for f in re.split(r"[,;\n，；]+", text or "") if f.strip()]


def parse_field_map(text: str | None) -> dict[str, list[str]]:
	"""Cross-check field map: one line per rule field, ``rule_field[, rule_field] = other_path[, other_path]``.

	Raises ValueError naming the bad line.
	"""
	out: dict[str, list[str]] = {}
	for n, line in enumerate((text or "").splitlines(), 1):
		line = line.strip()
		if not line or line.startswith("#"):
			continue
		parts = re.split(r"\s*(?:=>|->|→|=|:)\s*", line, maxsplit=1)
		if len(parts) != 2:
			raise ValueError(_("line {0} ({1}) is not of the form rule_field = other_field").format(n, line))
		left, right = split_fields(parts[0]), split_fields(parts[1])
		if not left or not right:
			raise ValueError(_("line {0} ({1}) is not of the form rule_field = other_field").format(n, line))
		for target in left:
			paths = out.setdefault(target, [])
			paths.extend(p for p in right if p not in paths)
	return out


def _numbers(text: Any) -> list[float]:
	return [flt(x) for x in re.split(r"[,;\s，；]+", str(text or "")) if x.strip()]


def smart_doc_to_dict(rule: Any) -> dict:
	"""A Dedup Rule of kind Smart as an engine smart rule dict (its stored model inline, if trained)."""
	comparisons = []
	for c in rule.get("comparisons") or []:
		comp: dict[str, Any] = {
			"name": (c.get("comparison_name") or "").strip(),
			"fields": split_fields(c.get("fields")),
			"compare": MATCH_TYPES.get(c.get("compare"), c.get("compare")),
			"key": bool(cint(c.get("use_for_keys"))) if c.get("use_for_keys") not in (None, "") else True,
		}
		for key, label in (("bands", "bands"), ("edits", "edits"), ("days", "days")):
			if values := _numbers(c.get(label)):
				comp[key] = [int(v) for v in values] if key in ("edits", "days") else values
		if flt(c.get("key_threshold")):
			comp["key_threshold"] = flt(c.get("key_threshold"))
		comparisons.append(comp)
	thresholds = {
		a: flt(rule.get(f"{a}_probability"))
		for a in ("block", "warn", "log")
		if flt(rule.get(f"{a}_probability")) > 0
	}
	out = {
		"name": rule.get("name") or rule.get("rule_name"),
		"kind": "smart",
		"priority": cint(rule.get("priority")),
		"comparisons": comparisons,
		"thresholds": thresholds,
	}
	if rule.get("model"):
		out["model"] = (
			json.loads(rule.get("model")) if isinstance(rule.get("model"), str) else rule.get("model")
		)
	return out


def engine_fields(engine_rule: dict) -> list[str]:
	"""Field paths an engine rule dict reads (conditions, or a smart rule's comparisons, and scope fields)."""
	out = dict.fromkeys(f for c in engine_rule.get("conditions") or () for f in c["fields"])
	out.update(dict.fromkeys(f for c in engine_rule.get("comparisons") or () for f in c["fields"]))
	out.update(dict.fromkeys(engine_rule.get("within") or ()))
	return list(out)


def rule_doc_to_dict(rule: Any) -> dict:
	"""A Dedup Rule (document or dict with its child rows) as an engine rule dict."""
	if rule.get("kind") == "Smart":
		return smart_doc_to_dict(rule)
	conditions = []
	for c in rule.get("conditions") or []:
		match = MATCH_TYPES.get(c.get("match_type"), c.get("match_type"))
		cond = {
			"fields": split_fields(c.get("fields")),
			"match": match,
			"blank": BLANKS.get(c.get("blank_handling") or "Not a Match", "fail"),
		}
		if match in THRESHOLD_TYPES:
			cond["threshold"] = flt(c.get("threshold")) if c.get("threshold") not in (None, "") else 90.0
		elif match == "date_within":
			cond["days"] = cint(c.get("days"))
		conditions.append(cond)
	out = {
		"name": rule.get("name") or rule.get("rule_name"),
		"priority": cint(rule.get("priority")),
		"action": ACTIONS.get(rule.get("action") or "Block", "block"),
		"conditions": conditions,
	}
	if rule.get("search_within") == SAME_VALUES and (within := split_fields(rule.get("scope_fields"))):
		out["within"] = within
	return out


def placeholder_options(settings: Any) -> dict:
	"""The engine's ``placeholders`` option from Dedup Settings (a document or a dict with its rows): the
	built-in lists on or off, plus the admins' values per match type ("Any": every type) or per field."""
	builtin = _get(settings, "builtin_placeholders")
	out: dict[str, Any] = {"builtin": True if builtin in (None, "") else bool(cint(builtin))}
	fields: dict[str, list[str]] = {}
	for row in _get(settings, "placeholders") or []:
		value = str(_get(row, "value") or "").strip()
		if not value:
			continue
		path = str(_get(row, "field_path") or "").strip()
		if path:
			fields.setdefault(path, []).append(value)
			continue
		label = _get(row, "match_type") or "Any"
		key = "text" if label == "Any" else MATCH_TYPES.get(label, label)
		out.setdefault(key, []).append(value)
	if fields:
		out["fields"] = fields
	return out


def _build_config() -> dict:
	cfg: dict[str, Any] = {
		"enabled": False,
		"region": DEFAULT_REGION,
		"placeholders": {"builtin": True},
		"rules": [],
		"owner_fields": {},
		"override_roles": [],
		"notify_owner": True,
		"lock_timeout": 10,
		"aliases": [],
	}
	if not (frappe.db.table_exists("Dedup Rule") and frappe.db.table_exists("Dedup Rule Condition")):
		return _finish(cfg)
	_read_settings(cfg)
	rule_rows = frappe.get_all(
		"Dedup Rule",
		filters={"enabled": 1},
		fields=[
			"name",
			"target_doctype",
			"action",
			"priority",
			"apply_on_insert",
			"apply_on_edit",
			"apply_on_import",
			"is_core",
			"kind",
			"block_probability",
			"warn_probability",
			"log_probability",
			"model",
			"route_to_owner",
			"needs_review",
			"applies_when",
			"search_within",
			"scope_fields",
			"search_filter",
		],
		order_by="priority asc, name asc",
	)
	if not rule_rows:
		return _finish(cfg)
	conditions, crosses = _rule_children([r.name for r in rule_rows])
	comparisons = _smart_children([r.name for r in rule_rows if r.kind == "Smart"])
	for r in rule_rows:
		if r.kind == "Smart":
			r = frappe._dict({**r, "comparisons": comparisons.get(r.name, [])})
		rule = _rule_config(cfg, r, conditions.get(r.name, []), crosses.get(r.name, []))
		if rule is not None:
			cfg["rules"].append(rule)
	return _finish(cfg)


def _read_settings(cfg: dict) -> None:
	"""Dedup Settings and its tables (placeholders, owner fields, override roles) into ``cfg``."""
	settings = frappe.db.get_singles_dict("Dedup Settings")
	cfg["enabled"] = bool(cint(settings.get("enabled", 1)))
	cfg["region"] = (settings.get("default_phone_region") or DEFAULT_REGION).strip().upper()
	cfg["notify_owner"] = bool(cint(settings.get("notify_owner", 1)))
	cfg["lock_timeout"] = cint(settings.get("lock_timeout")) or 10
	if settings.get("set_threshold") not in (None, ""):
		cfg["set_threshold"] = min(101.0, max(0.0, flt(settings.get("set_threshold"))))
	if frappe.db.table_exists("Dedup Placeholder"):
		rows = frappe.get_all(
			"Dedup Placeholder",
			filters={"parenttype": "Dedup Settings"},
			fields=["match_type", "field_path", "value"],
			order_by="idx asc",
		)
		cfg["placeholders"] = placeholder_options(
			{"builtin_placeholders": settings.get("builtin_placeholders", 1), "placeholders": rows}
		)
	if frappe.db.table_exists("Dedup Owner Field"):
		for row in frappe.get_all(
			"Dedup Owner Field",
			filters={"parenttype": "Dedup Settings"},
			fields=["ref_doctype", "owner_field"],
			order_by="idx asc",
		):
			cfg["owner_fields"].setdefault(row.ref_doctype, (row.owner_field or "").strip())
	if frappe.db.table_exists("Dedup Alias"):
		cfg["aliases"] = [
			[r.alias, r.canonical]
			for r in frappe.get_all("Dedup Alias", fields=["alias", "canonical"], order_by="alias asc")
			if (r.alias or "").strip() and (r.canonical or "").strip()
		]
	if frappe.db.table_exists("Dedup Override Role"):
		cfg["override_roles"] = frappe.get_all(
			"Dedup Override Role", filters={"parenttype": "Dedup Settings"}, pluck="role"
		)


def _rule_children(names: list[str]) -> tuple[dict[str, list], dict[str, list]]:
	"""The conditions and enabled cross checks of these rules, by rule name, in row order."""
	conditions = defaultdict(list)
	for c in frappe.get_all(
		"Dedup Rule Condition",
		filters={"parenttype": "Dedup Rule", "parent": ["in", names]},
		fields=["parent", "fields", "match_type", "threshold", "days", "blank_handling"],
		order_by="idx asc",
	):
		conditions[c.parent].append(c)
	crosses = defaultdict(list)
	if frappe.db.table_exists("Dedup Rule Cross Check"):
		for c in frappe.get_all(
			"Dedup Rule Cross Check",
			filters={"parenttype": "Dedup Rule", "parent": ["in", names], "enabled": 1},
			fields=["parent", "other_doctype", "field_map"],
			order_by="idx asc",
		):
			crosses[c.parent].append(c)
	return conditions, crosses


def _smart_children(names: list[str]) -> dict[str, list]:
	out = defaultdict(list)
	if names and frappe.db.table_exists("Dedup Smart Comparison"):
		for c in frappe.get_all(
			"Dedup Smart Comparison",
			filters={"parenttype": "Dedup Rule", "parent": ["in", names]},
			fields=[
				"parent",
				"comparison_name",
				"fields",
				"compare",
				"bands",
				"edits",
				"days",
				"use_for_keys",
				"key_threshold",
			],
			order_by="idx asc",
		):
			out[c.parent].append(c)
	return out


def _rule_config(cfg: dict, r: Any, conditions: list, crosses: list) -> dict | None:
	"""One enabled rule as plain data; None (and an Error Log) when the engine refuses it."""
	engine_rule = rule_doc_to_dict({**r, "conditions": conditions})
	try:
		RuleSet.from_dict({"options": engine_options(cfg), "rules": [engine_rule]})
	except RuleError as e:
		frappe.log_error(title=f"crm_dedup: rule {r.name} skipped", message=str(e))
		return None
	cross = {}
	for c in crosses:
		if not c.other_doctype or c.other_doctype == r.target_doctype:
			continue
		try:
			fmap = parse_field_map(c.field_map)
		except ValueError as e:
			frappe.log_error(title=f"crm_dedup: cross check of rule {r.name} skipped", message=str(e))
			continue
		if fmap:
			cross[c.other_doctype] = fmap
	try:
		applies = scope.parse(r.applies_when)
		search = scope.parse(r.search_filter) if r.search_within == MATCHING_FILTER else []
	except ValueError as e:
		frappe.log_error(title=f"crm_dedup: rule {r.name} skipped", message=str(e))
		return None
	return {
		"name": r.name,
		"target": r.target_doctype,
		"core": bool(cint(r.is_core)),
		"route": bool(cint(r.route_to_owner)),
		"review": bool(cint(r.needs_review)),
		"applies": applies,
		"search": search,
		"apply": {
			"insert": bool(cint(r.apply_on_insert)),
			"edit": bool(cint(r.apply_on_edit)),
			"import": bool(cint(r.apply_on_import)),
		},
		"engine": engine_rule,
		"cross": cross,
	}


def _finish(cfg: dict) -> dict:
	targets: dict[str, list[str]] = defaultdict(list)
	touching: dict[str, list[str]] = defaultdict(list)
	if cfg["enabled"]:
		for r in cfg["rules"]:
			targets[r["target"]].append(r["name"])
			touching[r["target"]].append(r["name"])
			for other in r["cross"]:
				touching[other].append(r["name"])
	cfg["targets"] = dict(targets)
	cfg["touching"] = dict(touching)
	payload = json.dumps(
		{k: cfg.get(k) for k in ("enabled", "region", "rules", "placeholders", "aliases", "set_threshold")},
		sort_keys=True,
		ensure_ascii=False,
		default=str,
	)
	cfg["stamp"] = hashlib.blake2b(payload.encode(), digest_size=8).hexdigest()
	return cfg


def engine_options(cfg: dict) -> dict:
	"""The ``options`` of every engine RuleSet built from this configuration."""
	options = {"default_region": cfg["region"], "placeholders": cfg["placeholders"]}
	if cfg.get("aliases"):
		options["aliases"] = cfg["aliases"]
	if cfg.get("set_threshold") is not None:
		options["set_threshold"] = cfg["set_threshold"]
	return options


def rules_touching(doctype: str) -> list[str]:
	"""Rule names whose target or cross-check doctype is ``doctype`` (enabled rules only)."""
	return list(config()["touching"].get(doctype, ()))


def is_active_for(doctype: str) -> bool:
	"""True when some enabled rule touches ``doctype`` (the fast exit of every "*" doc event)."""
	return doctype in config()["touching"]


# ---- compiled rule sets (per process) ----------------------------------------------------------------
class Compiled:
	"""RuleSets and field plans compiled from one configuration."""

	def __init__(self, cfg: dict):
		self.cfg = cfg
		self.enabled = cfg["enabled"]
		self.region = cfg["region"]
		self.rules = {r["name"]: r for r in cfg["rules"]}
		self._sets: dict[tuple[str, ...], RuleSet] = {}
		self.placeholders = Placeholders.from_options(cfg["placeholders"])

	def ruleset(self, names: Iterable[str]) -> RuleSet | None:
		names = tuple(sorted(names))
		if not names:
			return None
		rs = self._sets.get(names)
		if rs is None:
			rs = self._sets[names] = RuleSet.from_dict(
				{"options": engine_options(self.cfg), "rules": [self.rules[n]["engine"] for n in names]}
			)
		return rs

	def action(self, name: str) -> str:
		return (
			self.rules[name]["engine"].get("action") or "smart"
		)  # a smart hit's action is its probability's

	def target_rules(self, doctype: str, event: str | None = None) -> tuple[str, ...]:
		if not self.enabled:
			return ()
		return tuple(
			r["name"]
			for r in self.cfg["rules"]
			if r["target"] == doctype and (event is None or r["apply"].get(event))
		)

	def applicable(self, doctype: str, event: str | None, record: dict) -> tuple[str, ...]:
		"""The rules for ``event`` whose "Applies when" filters the record (``query_fields`` shape) meets."""
		return tuple(
			n
			for n in self.target_rules(doctype, event)
			if not self.rules[n]["applies"] or scope.matches(doctype, self.rules[n]["applies"], record)
		)

	def searchable(self, name: str, record: dict) -> bool:
		"""Whether a stored record of the rule's target is one the rule searches ("Search within" filter)."""
		rule = self.rules[name]
		return not rule["search"] or scope.matches(rule["target"], rule["search"], record)

	def rule_paths(self, name: str) -> list[str]:
		"""Field paths of its target that one rule reads: conditions, scope fields, search filter."""
		rule = self.rules[name]
		out = dict.fromkeys(engine_fields(rule["engine"]))
		out.update(dict.fromkeys(scope.paths(rule["target"], rule["search"])))
		return list(out)

	def cross_views(
		self, doctype: str, event: str | None = None, names: Iterable[str] | None = None
	) -> list[tuple[str, tuple[str, ...], dict]]:
		"""[(other doctype, rule names, field map)] for a query on ``doctype`` (by ``names``, default: all
		rules for ``event``); rules sharing one field map for one other doctype are grouped."""
		groups: dict[tuple[str, str], tuple[list[str], dict]] = {}
		for name in self.target_rules(doctype, event) if names is None else names:
			for other, fmap in self.rules[name]["cross"].items():
				key = (other, json.dumps(fmap, sort_keys=True))
				groups.setdefault(key, ([], fmap))[0].append(name)
		return [(other, tuple(names), fmap) for (other, _k), (names, fmap) in groups.items()]

	def query_fields(self, doctype: str, event: str | None = None) -> list[str]:
		"""Field paths a query record of ``doctype`` needs (fields of the rules targeting it)."""
		out: dict[str, None] = {}
		for name in self.target_rules(doctype, event):
			rule = self.rules[name]
			out.update(dict.fromkeys(engine_fields(rule["engine"])))
			out.update(dict.fromkeys(scope.paths(doctype, rule["applies"])))
		return list(out)

	def index_plan(self, doctype: str) -> list[tuple[tuple[str, ...], dict | None]]:
		"""How a record of ``doctype`` is keyed: [(rule names, field map or None for its own rules)]."""
		if not self.enabled:
			return []
		plan: list[tuple[tuple[str, ...], dict | None]] = []
		own = self.target_rules(doctype)
		if own:
			plan.append((own, None))
		for r in self.cfg["rules"]:
			fmap = r["cross"].get(doctype)
			if fmap and r["target"] != doctype:
				plan.append(((r["name"],), fmap))
		return plan

	def index_fields(self, doctype: str) -> list[str]:
		"""Field paths of ``doctype`` that some rule reads (own rules and cross-check maps)."""
		out: dict[str, None] = {}
		for names, fmap in self.index_plan(doctype):
			if fmap is None:
				out.update(dict.fromkeys(self.query_fields(doctype)))
				for name in names:
					out.update(dict.fromkeys(self.rule_paths(name)))
			else:
				for paths in fmap.values():
					out.update(dict.fromkeys(paths))
		return list(out)


def compiled() -> Compiled:
	cfg = config()
	key = (frappe.local.site or "", cfg["stamp"])
	comp = _compiled_cache.get(key)
	if comp is None:
		if len(_compiled_cache) > 16:
			_compiled_cache.clear()
		comp = _compiled_cache[key] = Compiled(cfg)
	return comp


def get_rules(doctype: str, event: str | None = None) -> RuleSet | None:
	"""Enabled rules targeting ``doctype`` (``event``: insert | edit | import filters apply_on_*)."""
	comp = compiled()
	return comp.ruleset(comp.target_rules(doctype, event))


def placeholder_reason(doctype: str, path: str, value: Any) -> str | None:
	"""Why ``value`` counts as blank in ``doctype``.``path`` (None: a real value): judged by the match types of
	the enabled rules that read the field, else as text by the built-in and admins' lists."""
	comp = compiled()
	names = [n for n in comp.target_rules(doctype) if path in engine_fields(comp.rules[n]["engine"])]
	rs = comp.ruleset(names)
	if rs is not None:
		reason = rs.placeholder_reason(path, value)
	else:
		reason = comp.placeholders.reason("normalized", path, str(value or ""), comp.region)
	return _(reason) if reason else None
