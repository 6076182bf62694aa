"""The only place that turns doctypes into engine types.

Frappe document / Dedup Rule  ->  plain dicts and :class:`~crm_dedup.engine.RuleSet`  ->  engine  ->  results.

- Rule configuration is read from the doctypes once and kept as plain data in ``frappe.cache``
  (``config()``), cleared whenever a Dedup Rule or the Dedup Settings change (``clear_cache``). RuleSets are
  compiled from it once per process (``compiled()``).
- A record is a ``{field path: value}`` dict. A path is a fieldname (``mobile_no``) or a child-table field
  (``phone_nos.phone``), whose value is the list of that column's values (``doc_to_record``/``load_records``).
- A Dedup Rule is one engine rule (its name is the Dedup Rule's name). A cross check ("also check Contacts")
  maps the other doctype's records into the target's field names, so the engine never knows about doctypes;
  the key index stores the other doctype's keys under the same rule.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import frappe
from frappe import _
from frappe.utils import cint, flt

from crm_dedup.engine import Match, Placeholders, RuleError, RuleSet, check_record

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
}
MATCH_LABELS = {v: k for k, v in MATCH_TYPES.items()}
BLANKS = {"Not a Match": "fail", "Ignore": "ignore"}
ACTIONS = {"Block": "block", "Warn": "warn", "Log only": "log"}
ACTION_LABELS = {v: k for k, v in ACTIONS.items()}
ACTION_ORDER = {"block": 0, "warn": 1, "log": 2}  # hits are sorted by action first
EVENTS = ("insert", "edit", "import")

CONFIG_KEY = "crm_dedup:config"
CONFIG_TTL = 300  # seconds a shared configuration lives at most
DEFAULT_REGION = "CN"
# where a record with no owner field of its own gets its owner from (Contact/Address -> linked party)
PARTY_LINK_TABLE = "Dynamic Link"

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


def rule_doc_to_dict(rule: Any) -> dict:
	"""A Dedup Rule (document or dict with its child rows) as an engine rule dict."""
	conditions = []
	for c in rule.get("conditions") or []:
		match = MATCH_TYPES.get(c.get("match_type"), c.get("match_type"))
		cond = {
			"fields": split_fields(c.get("fields")),
			"match": match,
			"blank": BLANKS.get(c.get("blank_handling") or "Not a Match", "fail"),
		}
		if match in ("company_name", "person_name", "fuzzy"):
			cond["threshold"] = flt(c.get("threshold")) if c.get("threshold") not in (None, "") else 90.0
		conditions.append(cond)
	return {
		"name": rule.get("name") or rule.get("rule_name"),
		"priority": cint(rule.get("priority")),
		"action": ACTIONS.get(rule.get("action") or "Block", "block"),
		"conditions": conditions,
	}


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
	}
	if not (frappe.db.table_exists("Dedup Rule") and frappe.db.table_exists("Dedup Rule Condition")):
		return _finish(cfg)
	settings = frappe.db.get_singles_dict("Dedup Settings")
	cfg["enabled"] = bool(cint(settings.get("enabled", 1)))
	cfg["region"] = (settings.get("default_phone_region") or DEFAULT_REGION).strip().upper()
	cfg["notify_owner"] = bool(cint(settings.get("notify_owner", 1)))
	cfg["lock_timeout"] = cint(settings.get("lock_timeout")) or 10
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
	if frappe.db.table_exists("Dedup Override Role"):
		cfg["override_roles"] = frappe.get_all(
			"Dedup Override Role", filters={"parenttype": "Dedup Settings"}, pluck="role"
		)

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
		],
		order_by="priority asc, name asc",
	)
	if not rule_rows:
		return _finish(cfg)
	names = [r.name for r in rule_rows]
	conditions = defaultdict(list)
	for c in frappe.get_all(
		"Dedup Rule Condition",
		filters={"parenttype": "Dedup Rule", "parent": ["in", names]},
		fields=["parent", "fields", "match_type", "threshold", "blank_handling"],
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

	for r in rule_rows:
		engine_rule = rule_doc_to_dict({**r, "conditions": conditions.get(r.name, [])})
		try:
			RuleSet.from_dict({"options": engine_options(cfg), "rules": [engine_rule]})
		except RuleError as e:
			frappe.log_error(title=f"crm_dedup: rule {r.name} skipped", message=str(e))
			continue
		cross = {}
		for c in crosses.get(r.name, []):
			if not c.other_doctype or c.other_doctype == r.target_doctype:
				continue
			try:
				fmap = parse_field_map(c.field_map)
			except ValueError as e:
				frappe.log_error(title=f"crm_dedup: cross check of rule {r.name} skipped", message=str(e))
				continue
			if fmap:
				cross[c.other_doctype] = fmap
		cfg["rules"].append(
			{
				"name": r.name,
				"target": r.target_doctype,
				"apply": {
					"insert": bool(cint(r.apply_on_insert)),
					"edit": bool(cint(r.apply_on_edit)),
					"import": bool(cint(r.apply_on_import)),
				},
				"engine": engine_rule,
				"cross": cross,
			}
		)
	return _finish(cfg)


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
		{k: cfg[k] for k in ("enabled", "region", "rules", "placeholders")}, sort_keys=True, ensure_ascii=False, default=str
	)
	cfg["stamp"] = hashlib.blake2b(payload.encode(), digest_size=8).hexdigest()
	return cfg


def engine_options(cfg: dict) -> dict:
	"""The ``options`` of every engine RuleSet built from this configuration."""
	return {"default_region": cfg["region"], "placeholders": cfg["placeholders"]}


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
		return self.rules[name]["engine"]["action"]

	def target_rules(self, doctype: str, event: str | None = None) -> tuple[str, ...]:
		if not self.enabled:
			return ()
		return tuple(
			r["name"]
			for r in self.cfg["rules"]
			if r["target"] == doctype and (event is None or r["apply"].get(event))
		)

	def cross_views(self, doctype: str, event: str | None = None) -> list[tuple[str, tuple[str, ...], dict]]:
		"""[(other doctype, rule names, field map)] for a query on ``doctype``; rules sharing one field map
		for one other doctype are grouped."""
		groups: dict[tuple[str, str], tuple[list[str], dict]] = {}
		for name in self.target_rules(doctype, event):
			for other, fmap in self.rules[name]["cross"].items():
				key = (other, json.dumps(fmap, sort_keys=True))
				groups.setdefault(key, ([], fmap))[0].append(name)
		return [(other, tuple(names), fmap) for (other, _k), (names, fmap) in groups.items()]

	def query_fields(self, doctype: str, event: str | None = None) -> list[str]:
		"""Field paths a query record of ``doctype`` needs (fields of the rules targeting it)."""
		out: dict[str, None] = {}
		for name in self.target_rules(doctype, event):
			for c in self.rules[name]["engine"]["conditions"]:
				out.update(dict.fromkeys(c["fields"]))
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
		for _names, fmap in self.index_plan(doctype):
			if fmap is None:
				out.update(dict.fromkeys(self.query_fields(doctype)))
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


# ---- records ------------------------------------------------------------------------------------------
def _get(obj: Any, key: str) -> Any:
	if obj is None:
		return None
	if isinstance(obj, Mapping):
		return obj.get(key)
	return obj.get(key) if hasattr(obj, "get") else getattr(obj, key, None)


def path_value(doc: Any, path: str) -> Any:
	"""A field path's value on a document or dict: a scalar, or a list for ``table.field``."""
	if "." in path:
		table, child_field = path.split(".", 1)
		rows = _get(doc, table) or []
		return [v for row in rows if (v := _get(row, child_field)) not in (None, "")]
	return _get(doc, path)


def doc_to_record(doc: Any, rule_fields: Iterable[str] | None = None) -> dict:
	"""{field path: value} of a document (or dict) for the fields some rule reads (child paths as lists)."""
	if rule_fields is None:
		rule_fields = compiled().index_fields(_get(doc, "doctype"))
	return {p: path_value(doc, p) for p in rule_fields}


def map_record(record: Mapping[str, Any], field_map: Mapping[str, list[str]]) -> dict:
	"""An other-doctype record in the target's field names: {target field: values of the mapped paths}."""
	out = {}
	for target, paths in field_map.items():
		values: list[Any] = []
		for p in paths:
			v = record.get(p)
			if isinstance(v, list | tuple):
				values.extend(v)
			elif v not in (None, ""):
				values.append(v)
		out[target] = values
	return out


def _split_paths(doctype: str, paths: Iterable[str]) -> tuple[list[str], dict[str, tuple[str, list[str]]]]:
	"""(plain columns, {table fieldname: (child doctype, child columns)}) for paths that exist in the meta."""
	meta = frappe.get_meta(doctype)
	plain: list[str] = []
	tables: dict[str, tuple[str, list[str]]] = {}
	for p in paths:
		if "." in p:
			table, child_field = p.split(".", 1)
			df = meta.get_field(table)
			if not df or df.fieldtype not in ("Table", "Table MultiSelect"):
				continue
			child_meta = frappe.get_meta(df.options)
			if not (child_meta.get_field(child_field) or child_field == "name"):
				continue
			cols = tables.setdefault(table, (df.options, []))[1]
			if child_field not in cols:
				cols.append(child_field)
		elif (meta.get_field(p) and not meta.get_field(p).is_virtual) or p in ("name", "owner"):
			if p not in plain:
				plain.append(p)
	return plain, tables


def load_records(doctype: str, names: Iterable[str], paths: Iterable[str], db: Any = None) -> dict[str, dict]:
	"""{name: record} for existing ``names``, read with ``db`` (default ``frappe.db``)."""
	names = list(dict.fromkeys(str(n) for n in names))
	if not names:
		return {}
	db = db or frappe.db
	plain, tables = _split_paths(doctype, paths)
	cols = ", ".join(f"`{c}`" for c in ["name", *[p for p in plain if p != "name"]])
	out: dict[str, dict] = {}
	for start in range(0, len(names), 1000):
		chunk = tuple(names[start : start + 1000])
		for row in db.sql(
			f"select {cols} from `tab{doctype}` where name in %(names)s", {"names": chunk}, as_dict=True
		):
			rec = {p: row.get(p) for p in plain}
			for table, (_child, child_cols) in tables.items():
				for c in child_cols:
					rec[f"{table}.{c}"] = []
			out[row["name"]] = rec
		if not tables:
			continue
		found = tuple(n for n in chunk if n in out)
		if not found:
			continue
		for table, (child, child_cols) in tables.items():
			ccols = ", ".join(f"`{c}`" for c in child_cols)
			for row in db.sql(
				f"select parent, {ccols} from `tab{child}` where parenttype=%(dt)s and parentfield=%(pf)s"
				" and parent in %(names)s order by parent, idx",
				{"dt": doctype, "pf": table, "names": found},
				as_dict=True,
			):
				rec = out.get(row["parent"])
				if rec is None:
					continue
				for c in child_cols:
					v = row.get(c)
					if v not in (None, ""):
						rec[f"{table}.{c}"].append(v)
	return out


# ---- index keys ---------------------------------------------------------------------------------------
def index_keys(doctype: str, record: Mapping[str, Any]) -> dict[str, set[str]]:
	"""{rule name: keys} under which a record of ``doctype`` is stored in the key index."""
	comp = compiled()
	out: dict[str, set[str]] = {}
	for names, fmap in comp.index_plan(doctype):
		rs = comp.ruleset(names)
		rec = record if fmap is None else map_record(record, fmap)
		out.update(rs.keys(rs.prepare(rec)))
	return out


def placeholder_reason(doctype: str, path: str, value: Any) -> str | None:
	"""Why ``value`` counts as blank in ``doctype``.``path`` (None: a real value): judged by the match types of
	the enabled rules that read the field, else as text by the built-in and admins' lists."""
	comp = compiled()
	names = [
		n
		for n in comp.target_rules(doctype)
		if any(path in c["fields"] for c in comp.rules[n]["engine"]["conditions"])
	]
	rs = comp.ruleset(names)
	if rs is not None:
		reason = rs.placeholder_reason(path, value)
	else:
		reason = comp.placeholders.reason("normalized", path, str(value or ""), comp.region)
	return _(reason) if reason else None


# ---- duplicate search ---------------------------------------------------------------------------------
@dataclass
class DuplicateHit:
	"""An existing record a rule matched."""

	doctype: str
	name: str
	match: Match
	owner: str | None = None
	created: Any = None
	title: str | None = None
	extra: dict = field(default_factory=dict)

	@property
	def action(self) -> str:
		return self.match.action

	def to_dict(self) -> dict:
		return {
			"doctype": self.doctype,
			"name": self.name,
			"owner": self.owner,
			"created": str(self.created) if self.created else None,
			"title": self.title,
			"match": self.match.to_dict(),
		}


def is_not_duplicate(doctype_a: str, name_a: str, doctype_b: str, name_b: str) -> bool:
	"""True when the pair was marked "not a duplicate" (provided by crm_dedup.scans; False without it)."""
	try:
		scans = importlib.import_module("crm_dedup.scans")
	except ModuleNotFoundError as e:
		if e.name == "crm_dedup.scans":
			return False
		raise
	fn = getattr(scans, "is_not_duplicate", None)
	if fn is None:
		return False
	return bool(fn(doctype_a, name_a, doctype_b, name_b))


def find_duplicates(
	doc_or_dict: Any,
	doctype: str | None = None,
	event: str = "insert",
	exclude_self: bool = True,
	lock: bool = False,
	limit: int | None = None,
) -> list[DuplicateHit]:
	"""Existing records that an enabled rule for ``event`` matches: Block hits first, then Warn, then Log only;
	within an action by priority and score. A record matched by rules of different actions appears once per
	action.

	Searches the target doctype and every cross-checked doctype through the key index. ``lock=True`` (the
	save path) first takes the database locks on the record's Block-rule keys, so two transactions saving the
	same new record are serialised until the first commits; the lookup then reads the latest committed keys.
	"""
	from crm_dedup import key_index

	doctype = doctype or _get(doc_or_dict, "doctype")
	comp = compiled()
	own = comp.target_rules(doctype, event)
	if not own:
		return []
	views: list[tuple[str, tuple[str, ...], dict | None]] = [(doctype, own, None)]
	views += comp.cross_views(doctype, event)
	record = doc_to_record(doc_or_dict, comp.query_fields(doctype, event))
	self_name = _get(doc_or_dict, "name") if exclude_self else None

	if lock:
		to_lock: dict[str, set[str]] = {}
		rs_own = comp.ruleset(own)
		for rule, keys in rs_own.keys(rs_own.prepare(record)).items():
			if comp.action(rule) == "block":
				to_lock[rule] = keys
		if to_lock:
			key_index.lock_keys(to_lock, timeout=comp.cfg.get("lock_timeout") or 10)

	found: list[tuple[str, Match]] = []
	for src, names, fmap in views:
		if fmap is None:
			paths = comp.query_fields(doctype)
		else:
			paths = list(dict.fromkeys(p for ps in fmap.values() for p in ps))
		index = key_index.MariaDBIndex(src, paths, fmap)
		rs_all = comp.ruleset(names)
		index.prefetch(rs_all.keys(rs_all.prepare(record)))
		exclude = [self_name] if (self_name and src == doctype) else []
		# one search per action: a Log-only rule with a lower priority number must not hide a Block rule
		# that fires for the same pair (the engine reports one rule per pair)
		by_action: dict[str, list[str]] = defaultdict(list)
		for n in names:
			by_action[comp.action(n)].append(n)
		for action_names in by_action.values():
			rs = comp.ruleset(action_names)
			for m in check_record(rs, record, index, exclude=exclude):
				found.append((src, m))

	found = _drop_related(doc_or_dict, doctype, found)
	found.sort(key=lambda t: (ACTION_ORDER.get(t[1].action, 9), *t[1].sort_key()))
	if limit:
		found = found[:limit]
	return _describe(found)


def _drop_related(doc: Any, doctype: str, found: list[tuple[str, Match]]) -> list[tuple[str, Match]]:
	"""Drops matches that are not duplicates but relatives of the record: records it links to (a Customer's
	Lead, a Contact's Customer), records linking to it (a Customer's own Contacts), pairs marked "not a
	duplicate"."""
	if not found:
		return found
	name = _get(doc, "name")
	meta = frappe.get_meta(doctype)
	links: set[tuple[str, str]] = set()
	for df in meta.get_link_fields():
		if v := _get(doc, df.fieldname):
			links.add((df.options, str(v)))
	for df in meta.get_table_fields():
		if df.options == PARTY_LINK_TABLE:
			for row in _get(doc, df.fieldname) or []:
				if _get(row, "link_doctype") and _get(row, "link_name"):
					links.add((_get(row, "link_doctype"), str(_get(row, "link_name"))))
	out = []
	for src, m in found:
		if (src, str(m.id)) in links:
			continue
		if name and src != doctype and _links_to(src, str(m.id), doctype, name):
			continue
		if name and is_not_duplicate(doctype, name, src, str(m.id)):
			continue
		out.append((src, m))
	return out


def _links_to(src: str, src_name: str, doctype: str, name: str) -> bool:
	"""Whether record (src, src_name) points at (doctype, name) by a Link field or a Dynamic Link row."""
	meta = frappe.get_meta(src)
	for df in meta.get_link_fields():
		if df.options == doctype and frappe.db.get_value(src, src_name, df.fieldname) == name:
			return True
	for df in meta.get_table_fields():
		if df.options == PARTY_LINK_TABLE and frappe.db.exists(
			PARTY_LINK_TABLE,
			{"parenttype": src, "parent": src_name, "link_doctype": doctype, "link_name": name},
		):
			return True
	return False


def _describe(found: list[tuple[str, Match]]) -> list[DuplicateHit]:
	hits = []
	for src, m in found:
		info = record_info(src, str(m.id))
		hits.append(
			DuplicateHit(
				doctype=src,
				name=str(m.id),
				match=m,
				owner=owner_of(src, str(m.id)),
				created=info.get("creation"),
				title=info.get("title"),
			)
		)
	return hits


def record_info(doctype: str, name: str) -> dict:
	"""creation, owner, _assign and title of a record (the latest committed row if this transaction does not
	see it yet)."""
	meta = frappe.get_meta(doctype)
	title_field = meta.get_title_field()
	cols = ["name", "creation", "owner", "_assign"]
	if title_field and title_field != "name" and meta.get_field(title_field):
		cols.append(title_field)
	sql = "select {} from `tab{}` where name=%s".format(", ".join(f"`{c}`" for c in cols), doctype)
	rows = frappe.db.sql(sql, name, as_dict=True)
	if not rows:
		from crm_dedup import sidedb

		rows = sidedb.fresh_sql(sql, name, as_dict=True)
	if not rows:
		return {}
	row = rows[0]
	row["title"] = row.get(title_field) if title_field in row else None
	return row


# ---- owners -------------------------------------------------------------------------------------------
def owner_of(doctype: str, name: str, _depth: int = 0) -> str | None:
	"""The user who owns a record, per Dedup Settings: the configured owner field (a User, or a Sales Person /
	Employee resolved to its user); else the owner of a linked party (Contact/Address -> Customer/Lead);
	else the first assigned user; else the creator."""
	cfg = config()
	fieldpath = cfg["owner_fields"].get(doctype)
	if fieldpath:
		rec = load_records(doctype, [name], [fieldpath]).get(name)
		if rec is None:
			rec = load_records(doctype, [name], [fieldpath], db=FRESH_DB).get(name)
		for v in _as_list((rec or {}).get(fieldpath)):
			user = _resolve_user(doctype, fieldpath, v)
			if user:
				return user
	if _depth == 0:
		meta = frappe.get_meta(doctype)
		for df in meta.get_table_fields():
			if df.options != PARTY_LINK_TABLE:
				continue
			for row in frappe.get_all(
				PARTY_LINK_TABLE,
				filters={"parenttype": doctype, "parent": name, "parentfield": df.fieldname},
				fields=["link_doctype", "link_name"],
				order_by="idx asc",
			):
				if row.link_doctype in cfg["owner_fields"]:
					user = owner_of(row.link_doctype, row.link_name, _depth + 1)
					if user:
						return user
	info = record_info(doctype, name)
	if assigned := info.get("_assign"):
		try:
			users = json.loads(assigned)
		except ValueError:
			users = []
		if users:
			return users[0]
	return info.get("owner")


class _FreshDB:
	"""``db`` argument of load_records that reads the latest committed rows."""

	@staticmethod
	def sql(query: str, values: Any = None, as_dict: bool = False) -> list:
		from crm_dedup import sidedb

		return sidedb.fresh_sql(query, values, as_dict=as_dict)


FRESH_DB = _FreshDB()


def _as_list(v: Any) -> list:
	if v in (None, ""):
		return []
	return list(v) if isinstance(v, list | tuple) else [v]


def _resolve_user(doctype: str, path: str, value: Any) -> str | None:
	meta = frappe.get_meta(doctype)
	if "." in path:
		table, child_field = path.split(".", 1)
		tdf = meta.get_field(table)
		df = frappe.get_meta(tdf.options).get_field(child_field) if tdf else None
	else:
		df = meta.get_field(path)
	target = df.options if df and df.fieldtype == "Link" else None
	if target == "Sales Person":
		employee = frappe.db.get_value("Sales Person", value, "employee")
		return frappe.db.get_value("Employee", employee, "user_id") if employee else None
	if target == "Employee":
		return frappe.db.get_value("Employee", value, "user_id")
	if target in (None, "User") and frappe.db.exists("User", value):
		return value
	return None


# ---- field paths against the meta (rule validation, field picker) -------------------------------------
TEXT_TYPES = frozenset(
	{
		"Data",
		"Small Text",
		"Text",
		"Long Text",
		"Read Only",
		"Link",
		"Dynamic Link",
		"Select",
		"Autocomplete",
		"Phone",
	}
)
FIELD_TYPES_FOR = {
	"normalized": TEXT_TYPES,
	"fuzzy": TEXT_TYPES,
	"company_name": TEXT_TYPES,
	"person_name": TEXT_TYPES,
	"phone": frozenset({"Data", "Phone", "Small Text", "Text", "Read Only"}),
	"email": frozenset({"Data", "Small Text", "Text", "Read Only", "Link"}),
	"id_code": frozenset({"Data", "Small Text", "Read Only", "Link"}),
}
STANDARD_PATHS = {"name": "Data", "owner": "Link"}


def resolve_path(doctype: str, path: str) -> tuple[Any, str | None]:
	"""(docfield or None, error message or None) for a field path of ``doctype``."""
	from frappe.model import no_value_fields

	meta = frappe.get_meta(doctype)
	if "." in path:
		table, child_field = path.split(".", 1)
		tdf = meta.get_field(table)
		if not tdf:
			return None, _("{0} has no field {1}").format(_(doctype), table)
		if tdf.fieldtype not in ("Table", "Table MultiSelect"):
			return None, _("{0}.{1} is not a child table, so {2} cannot be read from it").format(
				_(doctype), table, path
			)
		child_meta = frappe.get_meta(tdf.options)
		df = child_meta.get_field(child_field)
		if not df:
			return None, _("child table {0} ({1}) has no field {2}").format(table, tdf.options, child_field)
	else:
		if path in STANDARD_PATHS:
			return frappe._dict(fieldname=path, fieldtype=STANDARD_PATHS[path], label=_(path.title())), None
		df = meta.get_field(path)
		if not df:
			return None, _("{0} has no field {1}").format(_(doctype), path)
	if df.fieldtype in no_value_fields:
		return None, _("{0} is a {1} field and holds no value to compare").format(path, _(df.fieldtype))
	if getattr(df, "is_virtual", 0):
		return None, _("{0} is a virtual field (not stored) and cannot be indexed").format(path)
	return df, None


def check_condition_field(doctype: str, path: str, match: str) -> str | None:
	"""An error message when ``path`` does not exist in ``doctype`` or its type does not fit ``match``."""
	df, error = resolve_path(doctype, path)
	if error:
		return error
	return _type_error(path, df, match)


def _type_error(path: str, df: Any, match: str) -> str | None:
	allowed = FIELD_TYPES_FOR.get(match)
	label = MATCH_LABELS.get(match, match)
	if allowed is not None and df.fieldtype not in allowed:
		return _("{0} is a {1} field; a {2} match needs one of: {3}").format(
			path, _(df.fieldtype), _(label), ", ".join(_(t) for t in sorted(allowed))
		)
	if df.fieldtype == "Data" and df.get("options"):
		kind = df.get("options")
		if match == "phone" and kind in ("Email", "URL", "Name"):
			return _("{0} holds an {1}, not a phone number").format(path, _(kind))
		if match == "email" and kind in ("Phone", "URL", "Name"):
			return _("{0} holds a {1}, not an email address").format(path, _(kind))
	return None


def _fits(path: str, df: Any) -> list[str]:
	"""Match type labels (Dedup Rule Condition values) this field can be used with."""
	return [label for label, match in MATCH_TYPES.items() if _type_error(path, df, match) is None]


def field_options(doctype: str) -> list[dict]:
	"""Every field of ``doctype`` a condition can use: standard, custom and child-table fields."""
	from frappe.model import no_value_fields

	meta = frappe.get_meta(doctype)
	name_df = frappe._dict(fieldname="name", fieldtype="Data")
	out = [
		{
			"value": "name",
			"label": _("ID"),
			"fieldtype": "Data",
			"group": _(doctype),
			"custom": 0,
			"fits": _fits("name", name_df),
		}
	]
	children = []
	for df in meta.fields:
		if df.fieldtype in ("Table", "Table MultiSelect"):
			children.append(df)
			continue
		if df.fieldtype in no_value_fields or getattr(df, "is_virtual", 0):
			continue
		out.append(
			{
				"value": df.fieldname,
				"label": _(df.label or df.fieldname),
				"fieldtype": df.fieldtype,
				"options": df.options if df.fieldtype == "Data" else None,
				"group": _(doctype),
				"custom": int(bool(df.get("is_custom_field"))),
				"fits": _fits(df.fieldname, df),
			}
		)
	for tdf in children:
		child_meta = frappe.get_meta(tdf.options)
		for df in child_meta.fields:
			if df.fieldtype in no_value_fields or getattr(df, "is_virtual", 0):
				continue
			out.append(
				{
					"value": f"{tdf.fieldname}.{df.fieldname}",
					"label": f"{_(tdf.label or tdf.fieldname)} › {_(df.label or df.fieldname)}",
					"fieldtype": df.fieldtype,
					"options": df.options if df.fieldtype == "Data" else None,
					"group": f"{_(tdf.label or tdf.fieldname)} ({_(tdf.options)})",
					"custom": int(bool(df.get("is_custom_field") or tdf.get("is_custom_field"))),
					"fits": _fits(f"{tdf.fieldname}.{df.fieldname}", df),
				}
			)
	return out
