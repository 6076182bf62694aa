"""Save-time overhead of the duplicate checks: ms added to Customer.insert() with 100,000 customers, 3 rules.

	python3 benchmarks/generate.py --rows 100600 --dup-rate 0.1 --seed 11 -o /tmp/cust_100k.csv
	cd /opt/bench/frappe-bench/sites && ../env/bin/python ../apps/crm_dedup/benchmarks/bench_save.py \\
		--site dedup.localhost --csv /tmp/cust_100k.csv [--base 100000] [--samples 300] [--keep] [--scoped]

(or ``bench --site SITE execute benchmarks.bench_save.run --kwargs "{'csv_path': '/tmp/cust_100k.csv'}"``)

1. loads the first --base rows of the CSV as Customers (bulk SQL, names DDB-<id>; custom fields Phone 1/2/3),
2. creates three rules — 统一社会信用代码 (Block, tax_id), phones (Block, phone_1/2/3 + mobile_no, a field
   group), company name (Warn, customer_name, fuzzy 90) — and builds their key index (timed),
3. inserts the next rows one by one with ``doc.insert()`` + commit, alternating blocks of 25 rows with the
   rules on and off (off = no rule applies: the "*" handlers return at once), and reports p50/p95 of
   insert() for both and their difference, plus the time spent inside the checks themselves
   (find_duplicates, including the key locks, and index_doc),
4. removes everything it created (unless --keep).

``--scoped`` adds the same three rules scoped ("Search within: same values of fields", territory) and cycles
blocks of inserts through three states — unscoped rules, scoped rules, no rules — in one run, so the cost of
scope is measured under the same load. Every customer's territory is then its city's (``DDB <city>``, created once and
kept for the next run — deleting hundreds of territories queues one link clean-up job each; blank city, blank
territory).

Only these three rules take part (``frappe.flags.crm_dedup_only_rules``), whatever else the site holds.
mobile_no of the inserted rows goes to a free phone_N field: ERPNext creates (and commits) a Contact for a new
Customer with a mobile number, which would measure ERPNext rather than the checks.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from contextlib import contextmanager

import frappe

# benchmarks/ is the script's own folder: both scripts build the inserted document alike
from bench_lookup import COLUMNS
from bench_lookup import query as insert_payload

from crm_dedup.checks import events
from crm_dedup.core import guard
from crm_dedup.core.config import clear_cache
from crm_dedup.core.errors import DedupDuplicateError, DedupWarning
from crm_dedup.rules.rebuild import rebuild
from crm_dedup.testing import ensure_phone_fields

PREFIX = "DDB-"
RULES = [
	("bench uscc", "Block", 1, [{"fields": "tax_id", "match_type": "ID Code"}]),
	(
		"bench phones",
		"Block",
		2,
		[{"fields": "phone_1, phone_2, phone_3, mobile_no", "match_type": "Phone"}],
	),
	(
		"bench company",
		"Warn",
		3,
		[{"fields": "customer_name", "match_type": "Company Name", "threshold": 90}],
	),
]


def pct(values: list[float], p: float) -> float:
	if not values:
		return float("nan")
	s = sorted(values)
	k = max(0, min(len(s) - 1, round(p / 100 * (len(s) - 1))))
	return s[k]


def read_rows(path: str) -> list[dict]:
	with open(path, encoding="utf-8-sig", newline="") as f:
		return list(csv.DictReader(f))


TERRITORY_PREFIX = "DDB "


def territory_of(row: dict) -> str | None:
	return f"{TERRITORY_PREFIX}{row['city']}" if row.get("city") else None


def ensure_territories(rows: list[dict]) -> None:
	for name in sorted({t for r in rows if (t := territory_of(r))}):
		if not frappe.db.exists("Territory", name):
			frappe.get_doc(
				{"doctype": "Territory", "territory_name": name, "parent_territory": "All Territories"}
			).insert(ignore_permissions=True)
	frappe.db.commit()


def load_base(rows: list[dict], scoped: bool = False) -> float:
	"""Bulk-inserts the base customers (skipped when already there, with territories when ``scoped``).
	Returns seconds."""
	have = frappe.db.count("Customer", {"name": ["like", f"{PREFIX}%"]})
	with_territory = frappe.db.count(
		"Customer", {"name": ["like", f"{PREFIX}%"], "territory": ["like", f"{TERRITORY_PREFIX}%"]}
	)
	if have >= len(rows) and bool(with_territory) == scoped:
		print(f"base: {have} {PREFIX}* customers already loaded")
		return 0.0
	frappe.db.sql("delete from `tabCustomer` where name like %s", f"{PREFIX}%")
	t0 = time.perf_counter()
	now = frappe.utils.now_datetime()
	cols = ["name", "creation", "modified", "owner", "modified_by", "customer_type", "territory", *COLUMNS]
	for start in range(0, len(rows), 2000):
		chunk = rows[start : start + 2000]
		values = []
		for r in chunk:
			values.append(
				(f"{PREFIX}{r['id']}", now, now, "Administrator", "Administrator", "Company")
				+ (territory_of(r) if scoped else None,)
				+ tuple((r.get(c) or None) for c in COLUMNS)
			)
		marks = ", ".join(["(" + ", ".join(["%s"] * len(cols)) + ")"] * len(values))
		frappe.db.sql(
			f"insert into `tabCustomer` ({', '.join(f'`{c}`' for c in cols)}) values {marks}",
			[v for row in values for v in row],
		)
		frappe.db.commit()
	secs = time.perf_counter() - t0
	print(f"base: loaded {len(rows)} customers in {secs:.1f}s")
	return secs


def make_rules(scoped: bool = False) -> list[str]:
	names = []
	scope = {"search_within": "Same values of fields", "scope_fields": "territory"} if scoped else {}
	for name, action, priority, conditions in RULES:
		name = f"{name} scoped" if scoped else name
		if frappe.db.exists("Dedup Rule", name):
			frappe.delete_doc("Dedup Rule", name, force=1)
		frappe.db.delete("Dedup Key", {"rule": name})
		doc = frappe.get_doc(
			{
				"doctype": "Dedup Rule",
				"rule_name": name,
				"target_doctype": "Customer",
				"action": action,
				"priority": priority,
				"conditions": conditions,
				**scope,
			}
		)
		doc.flags.crm_dedup_no_rebuild = True
		doc.insert()
		names.append(doc.name)
	frappe.db.commit()
	return names


@contextmanager
def timing(store: list[float]):
	t0 = time.perf_counter()
	try:
		yield
	finally:
		store.append((time.perf_counter() - t0) * 1000)


def run(
	csv_path: str,
	base: int = 100_000,
	samples: int = 300,
	block: int = 25,
	keep: bool = False,
	scoped: bool = False,
) -> dict:
	frappe.set_user("Administrator")
	t = time.perf_counter()
	ensure_phone_fields()
	rows = read_rows(csv_path)
	if len(rows) < base + samples + 5:
		raise SystemExit(
			f"{csv_path} has {len(rows)} rows; need --base + --samples + 5 = {base + samples + 5}"
		)
	if scoped:
		ensure_territories(rows[: base + samples + 5])
	load_base(rows[:base], scoped)
	print(f"setup: {time.perf_counter() - t:.1f}s")
	started = frappe.utils.now_datetime()
	rule_names = [r[0] for r in RULES] + ([f"{r[0]} scoped" for r in RULES] if scoped else [])
	created: list[str] = []
	try:
		return _run(rows, base, samples, block, created, scoped)
	finally:
		if not keep:
			names = {r["customer_name"] for r in rows[base : base + samples + 5]}
			cleanup(rule_names, created, names, started)


def _run(
	rows: list[dict], base: int, samples: int, block: int, created: list[str], scoped: bool = False
) -> dict:
	plain = make_rules()
	scoped_names = make_rules(True) if scoped else []
	rule_names = plain + scoped_names
	frappe.flags.crm_dedup_only_rules = list(rule_names)
	clear_cache()

	t0 = time.perf_counter()
	keys_total = 0
	per_rule = {}
	for name in rule_names:
		per_rule[name] = rebuild(name, commit=True, progress=False)[name]
		keys_total += per_rule[name]
	print("keys per rule:", per_rule)
	rebuild_secs = time.perf_counter() - t0
	print(f"index: {keys_total} keys for {frappe.db.count('Customer')} customers in {rebuild_secs:.1f}s")

	# time inside the checks, separately from the whole insert
	inner: dict[str, list[float]] = {"find_duplicates": [], "index_doc": []}
	orig_find, orig_index = events.find_duplicates, guard.index_doc

	def find_timed(*a, **k):
		with timing(inner["find_duplicates"]):
			return orig_find(*a, **k)

	def index_timed(*a, **k):
		with timing(inner["index_doc"]):
			return orig_index(*a, **k)

	events.find_duplicates, guard.index_doc = find_timed, index_timed
	with_rules: list[float] = []
	with_scoped: list[float] = []
	without: list[float] = []
	with_commit: list[float] = []
	without_commit: list[float] = []
	rejected: dict[str, list[float]] = {"block": [], "warn": []}
	checks: list[float] = []
	checks_scoped: list[float] = []
	invalid = 0
	try:
		# warm-up (first-call imports, meta caches), not measured
		for r in rows[base + samples : base + samples + 5]:
			try:
				_insert(r, created, scoped)
				frappe.db.commit()
			except Exception:
				frappe.db.rollback()
		states = [plain, scoped_names, []] if scoped else [plain, []]
		for i, r in enumerate(rows[base : base + samples]):
			active = states[(i // block) % len(states)]
			on = bool(active)
			frappe.flags.crm_dedup_only_rules = list(active)
			marks = (len(inner["find_duplicates"]), len(inner["index_doc"]))
			t_start = time.perf_counter()
			try:
				_insert(r, created, scoped)
			except DedupDuplicateError:
				frappe.db.rollback()
				rejected["block"].append((time.perf_counter() - t_start) * 1000)
				continue
			except DedupWarning:
				frappe.db.rollback()
				rejected["warn"].append((time.perf_counter() - t_start) * 1000)
				continue
			except frappe.ValidationError:  # e.g. Frappe's own phone-number check on a messy value
				frappe.db.rollback()
				invalid += 1
				continue
			t_insert = time.perf_counter()
			frappe.db.commit()
			t_end = time.perf_counter()
			target = with_scoped if (on and active is scoped_names) else (with_rules if on else without)
			target.append((t_insert - t_start) * 1000)
			(with_commit if on else without_commit).append((t_end - t_start) * 1000)
			if on:  # time inside the checks during this successful insert
				spent = sum(inner["find_duplicates"][marks[0] :]) + sum(inner["index_doc"][marks[1] :])
				(checks_scoped if active is scoped_names else checks).append(spent)
	finally:
		events.find_duplicates, guard.index_doc = orig_find, orig_index
		frappe.flags.crm_dedup_only_rules = None

	result = {
		"scoped": scoped,
		"customers": base,
		"keys": keys_total,
		"rebuild_s": round(rebuild_secs, 1),
		"inserts_with_rules": len(with_rules),
		"inserts_without_rules": len(without),
		"blocked": len(rejected["block"]),
		"warned": len(rejected["warn"]),
		"invalid_rows_skipped": invalid,
	}
	for label, values in (
		("insert_without_rules", without),
		("insert_with_rules", with_rules),
		("insert_with_scoped_rules", with_scoped),
		("insert_commit_without_rules", without_commit),
		("insert_commit_with_rules", with_commit),
		("find_duplicates", inner["find_duplicates"]),
		("index_doc", inner["index_doc"]),
		("rejected_block", rejected["block"]),
	):
		result[f"{label}_p50_ms"] = round(pct(values, 50), 2)
		result[f"{label}_p95_ms"] = round(pct(values, 95), 2)
	result["added_p50_ms"] = round(
		result["insert_with_rules_p50_ms"] - result["insert_without_rules_p50_ms"], 2
	)
	result["added_p95_ms"] = round(
		result["insert_with_rules_p95_ms"] - result["insert_without_rules_p95_ms"], 2
	)
	if scoped:
		result["scoped_vs_unscoped_added_p50"] = round(
			(result["insert_with_scoped_rules_p50_ms"] - result["insert_without_rules_p50_ms"])
			/ max(result["added_p50_ms"], 1e-9),
			3,
		)
		result["scoped_vs_unscoped_insert_p95"] = round(
			result["insert_with_scoped_rules_p95_ms"] / result["insert_with_rules_p95_ms"], 3
		)
	result["checks_p50_ms"] = round(pct(checks, 50), 2)
	result["checks_p95_ms"] = round(pct(checks, 95), 2)
	if scoped:
		result["checks_scoped_p50_ms"] = round(pct(checks_scoped, 50), 2)
		result["checks_scoped_p95_ms"] = round(pct(checks_scoped, 95), 2)
	result["mean_with_minus_without_ms"] = round(statistics.mean(with_rules) - statistics.mean(without), 2)
	print()
	for k, v in result.items():
		print(f"{k:36} {v}")

	return result


def _insert(row: dict, created: list[str], scoped: bool = False) -> None:
	payload = insert_payload(row)  # mobile_no moved to a free phone_N (see the module docstring)
	if scoped and territory_of(row):
		payload["territory"] = territory_of(row)
	d = frappe.get_doc(payload)
	d.insert()
	created.append(d.name)


def cleanup(rule_names: list[str], created: list[str], names: set[str], started) -> None:
	frappe.db.rollback()
	frappe.flags.crm_dedup_only_rules = None
	leftovers = frappe.get_all(
		"Customer",
		filters={"customer_name": ["in", list(names)], "creation": [">=", started]},
		pluck="name",
	)
	gone = sorted(set(created) | set(leftovers))
	for start in range(0, len(gone), 500):
		frappe.db.sql(
			"delete from `tabCustomer` where name in %(n)s", {"n": tuple(gone[start : start + 500])}
		)
	frappe.db.sql("delete from `tabCustomer` where name like %s", f"{PREFIX}%")
	for name in rule_names:
		frappe.db.delete("Dedup Key", {"rule": name})
		frappe.db.delete("Dedup Collision Log", {"rule": name})
		if frappe.db.exists("Dedup Rule", name):
			frappe.delete_doc("Dedup Rule", name, force=1)
	frappe.db.commit()
	print(f"cleaned up: {len(gone)} inserted customers, the {PREFIX}* base, rules and keys")


def main() -> int:
	ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
	ap.add_argument("--site", default="dedup.localhost")
	ap.add_argument("--sites-path", default=".")
	ap.add_argument("--csv", required=True)
	ap.add_argument("--base", type=int, default=100_000)
	ap.add_argument("--samples", type=int, default=300)
	ap.add_argument("--keep", action="store_true")
	ap.add_argument("--scoped", action="store_true", help="the rules search within the same territory")
	args = ap.parse_args()
	frappe.init(args.site, sites_path=args.sites_path)
	frappe.connect()
	try:
		run(args.csv, base=args.base, samples=args.samples, keep=args.keep, scoped=args.scoped)
	finally:
		frappe.destroy()
	return 0


if __name__ == "__main__":
	sys.exit(main())
