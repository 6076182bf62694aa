"""The save path's duplicate lookup alone: find_duplicates() for held-out rows against 100,000 customers.

bench_save.py times whole inserts, where ERPNext's own work (30-45 ms, and noisy) hides a change of a
millisecond in the lookup. This script times only the lookup that every save runs (key index, candidate
records, rules), on the data that ``bench_save.py --keep`` leaves in the site (DDB-* customers, the three
"bench" rules and their keys):

	cd /opt/bench/frappe-bench/sites
	../env/bin/python ../apps/crm_dedup/benchmarks/bench_save.py --site dedup.localhost --csv /tmp/cust_100k.csv --keep
	../env/bin/python ../apps/crm_dedup/benchmarks/bench_lookup.py --site dedup.localhost --csv /tmp/cust_100k.csv
	../env/bin/python ../apps/crm_dedup/benchmarks/bench_lookup.py --site dedup.localhost --cleanup

Queries are the CSV rows after the base (--base), as the insert would send them (mobile_no moved to a free
phone_N field, like bench_save.py). Prints p50 / p95 / mean in ms and the number of queries with a hit (the
same for two versions of the code that find the same duplicates). Read-only: nothing is written.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time

import frappe

PREFIX = "DDB-"
RULES = ("bench uscc", "bench phones", "bench company")
COLUMNS = ("customer_name", "phone_1", "phone_2", "phone_3", "mobile_no", "email_id", "tax_id")


def find_duplicates_function():
	"""The save path's lookup of the code under test. Before/after figures of the #11 restructure run this
	script against both layouts, so the old location is accepted too."""
	try:
		from crm_dedup.core.lookup import find_duplicates
	except ImportError:  # the layout before the restructure (crm_dedup/bridge.py)
		from crm_dedup.bridge import find_duplicates
	return find_duplicates


def query(row: dict) -> dict:
	doc = {"doctype": "Customer", "customer_type": "Company"}
	for c in COLUMNS:
		if row.get(c):
			doc[c] = row[c]
	if mobile := doc.pop("mobile_no", None):
		for f in ("phone_1", "phone_2", "phone_3"):
			if not doc.get(f):
				doc[f] = mobile
				break
	return doc


def pct(values: list[float], p: float) -> float:
	s = sorted(values)
	return s[max(0, min(len(s) - 1, round(p / 100 * (len(s) - 1))))]


def run(csv_path: str, base: int, queries: int, rounds: int) -> dict:
	missing = [r for r in RULES if not frappe.db.exists("Dedup Rule", r)]
	if missing or frappe.db.count("Customer", {"name": ["like", f"{PREFIX}%"]}) < base:
		raise SystemExit(
			"run bench_save.py --keep first: the DDB-* customers and the bench rules are missing"
		)
	with open(csv_path, newline="", encoding="utf-8") as f:
		rows = list(csv.DictReader(f))[base : base + queries]
	find_duplicates = find_duplicates_function()
	frappe.flags.crm_dedup_only_rules = list(RULES)
	docs = [query(r) for r in rows]
	for d in docs[:50]:  # warm-up: meta, compiled rules
		find_duplicates(d, "Customer", event="insert")
	times: list[float] = []
	hits = 0
	for _round in range(rounds):
		for d in docs:
			t0 = time.perf_counter()
			found = find_duplicates(d, "Customer", event="insert")
			times.append((time.perf_counter() - t0) * 1000)
			hits += bool(found)
			frappe.db.rollback()  # a fresh snapshot per query, as a save would have
	return {
		"module": find_duplicates.__module__,
		"queries": len(times),
		"with_hit": hits // rounds,
		"p50_ms": round(pct(times, 50), 3),
		"p95_ms": round(pct(times, 95), 3),
		"mean_ms": round(statistics.fmean(times), 3),
	}


def cleanup() -> None:
	frappe.db.sql("delete from `tabCustomer` where name like %s", f"{PREFIX}%")
	for name in RULES:
		frappe.db.delete("Dedup Key", {"rule": name})
		if frappe.db.exists("Dedup Rule", name):
			frappe.delete_doc("Dedup Rule", name, force=1)
	frappe.db.commit()
	print("removed the DDB-* customers, the bench rules and their keys")


def main() -> int:
	ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
	ap.add_argument("--site", default="dedup.localhost")
	ap.add_argument("--sites-path", default=".")
	ap.add_argument("--csv")
	ap.add_argument("--base", type=int, default=100_000)
	ap.add_argument("--queries", type=int, default=500)
	ap.add_argument("--rounds", type=int, default=3)
	ap.add_argument("--cleanup", action="store_true")
	args = ap.parse_args()
	frappe.init(args.site, sites_path=args.sites_path)
	frappe.connect()
	frappe.set_user("Administrator")
	try:
		if args.cleanup:
			cleanup()
			return 0
		if not args.csv:
			ap.error("--csv is required")
		for k, v in run(args.csv, args.base, args.queries, args.rounds).items():
			print(f"{k:<12} {v}")
	finally:
		frappe.destroy()
	return 0


if __name__ == "__main__":
	raise SystemExit(main())
