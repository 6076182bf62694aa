"""Times ``check_record`` against a 1,000,000-record SQLite index, and a naive scan for comparison.

	python benchmarks/generate.py --rows 1004000 --seed 1 -o benchmarks/out/customers_1m.csv
	python benchmarks/bench_check.py benchmarks/out/customers_1m.csv --db benchmarks/out/index.sqlite

From the generated file, ``--queries`` rows are held out: half are duplicates (their customer has other
rows, which stay in the index) and half are new (their customer has no other row). Every other row is put
into the index the way ``crm-dedup index`` does (``SQLiteIndex.put_many`` with ``RuleSet.keys``; the keys
are computed in 2 worker processes, ``scan.iter_keys``). An existing ``--db`` built from the same file,
rules and query count is reused (``--rebuild`` forces a new one).

Then each held-out row is checked with ``check_record`` (p50/p95/p99 latency, and how many duplicates found
their customer), and a sample of ``--naive`` queries is answered the way one would without an index: with
every record's name and phones in memory, ``rapidfuzz.process.extract`` of the query's company name over all
names (ratio >= 80) plus equality of the query's phone digits with every stored phone field. The speed-up
is the naive mean time per query over check_record's.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

from rapidfuzz import fuzz, process

from crm_dedup.engine import KEY_VERSION, SQLiteIndex, check_record, iter_keys, load_rules

ROOT = Path(__file__).resolve().parent.parent
PHONE_FIELDS = ("phone_1", "phone_2", "phone_3", "mobile_no")
_NON_DIGIT = re.compile(r"\D+")


def read(path: str) -> list[tuple[str, dict]]:
	with open(path, encoding="utf-8-sig", newline="") as f:
		return [(rec.pop("id"), rec) for rec in csv.DictReader(f)]


def split(rows: list[tuple[str, dict]], n_queries: int, seed: int):
	"""(rows to index, duplicate queries, new queries); ``entity`` is dropped from what is indexed."""
	count = Counter(rec["entity"] for _, rec in rows)
	rng = random.Random(seed)
	order = list(range(len(rows)))
	rng.shuffle(order)
	dup_q, new_q, taken_entities = [], [], set()
	held = set()
	half = n_queries // 2
	for i in order:
		ent = rows[i][1]["entity"]
		if ent in taken_entities:
			continue
		if count[ent] >= 2 and len(dup_q) < half:
			dup_q.append(i)
		elif count[ent] == 1 and len(new_q) < n_queries - half:
			new_q.append(i)
		else:
			continue
		taken_entities.add(ent)
		held.add(i)
		if len(dup_q) >= half and len(new_q) >= n_queries - half:
			break
	indexed = [
		(rid, {k: v for k, v in rec.items() if k != "entity"})
		for i, (rid, rec) in enumerate(rows)
		if i not in held
	]
	return indexed, [rows[i] for i in dup_q], [rows[i] for i in new_q]


def build(db: str, rules, indexed, fingerprint: str) -> float:
	for suffix in ("", "-wal", "-shm"):
		if os.path.exists(db + suffix):
			os.unlink(db + suffix)
	t = time.monotonic()
	index = SQLiteIndex(db)
	index.begin()
	done = 0

	def items():
		nonlocal done
		for (rid, rec), keys in zip(indexed, iter_keys(rules, indexed), strict=True):
			done += 1
			if done % 100_000 == 0:
				sys.stderr.write(f"\rindexed {done:,} {time.monotonic() - t:5.0f}s")
			yield rid, keys, rec

	index.put_many(items())
	index.set_meta("bench", fingerprint)
	index.commit()
	index.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
	index.close()
	sys.stderr.write("\n")
	return time.monotonic() - t


def percentile(sorted_vals: list[float], q: float) -> float:
	return sorted_vals[min(len(sorted_vals) - 1, int(q * len(sorted_vals)))]


def main(argv: list[str] | None = None) -> int:
	ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
	ap.add_argument("input")
	ap.add_argument("--db", default=str(ROOT / "benchmarks" / "out" / "index.sqlite"))
	ap.add_argument("--rules", default=str(ROOT / "examples" / "rules.json"))
	ap.add_argument("--queries", type=int, default=4000)
	ap.add_argument("--naive", type=int, default=20, help="queries answered by the naive full scan")
	ap.add_argument("--seed", type=int, default=1)
	ap.add_argument("--rebuild", action="store_true")
	args = ap.parse_args(argv)

	rules = load_rules(args.rules)
	t = time.monotonic()
	rows = read(args.input)
	indexed, dup_q, new_q = split(rows, args.queries, args.seed)
	del rows
	print(
		f"input      {args.input}: {len(indexed):,} rows indexed, {len(dup_q):,} duplicate + {len(new_q):,} new queries held out (read {time.monotonic() - t:.1f}s)"
	)
	fingerprint = json.dumps(
		{
			"input": os.path.abspath(args.input),
			"size": os.path.getsize(args.input),
			"rules": rules.to_dict(),
			"queries": args.queries,
			"seed": args.seed,
			"key_version": KEY_VERSION,
		},
		sort_keys=True,
	)
	reuse = False
	if os.path.exists(args.db) and not args.rebuild:
		idx = SQLiteIndex(args.db, create=False)
		reuse = idx.get_meta("bench") == fingerprint
		idx.close()
	if reuse:
		print(f"index      {args.db} reused (built earlier from the same input, rules and queries)")
	else:
		load = os.getloadavg()[0]
		secs = build(args.db, rules, indexed, fingerprint)
		print(
			f"index      built in {secs:.0f}s ({len(indexed) / secs:,.0f} records/s; load average {load:.1f} -> {os.getloadavg()[0]:.1f})"
		)
	size = os.path.getsize(args.db)
	print(f"index file {args.db}: {size / 1e6:,.0f} MB")

	# ---- check_record --------------------------------------------------------------------------------
	index = SQLiteIndex(args.db, create=False)
	queries = [(rid, rec, True) for rid, rec in dup_q] + [(rid, rec, False) for rid, rec in new_q]
	random.Random(args.seed).shuffle(queries)
	truth = _entities_of(args.input, {rec["entity"] for _, rec, _ in queries})
	# warm-up: the first queries pay for opening the file and lazy imports
	for _rid, rec, _ in queries[:50]:
		check_record(rules, _query(rec), index)
	times = []
	cpu = []  # CPU time of this thread a query: comparable on a loaded machine, where wall time is not
	found_dup = found_any_new = 0
	load = os.getloadavg()[0]
	for _rid, rec, is_dup in queries:
		q = _query(rec)
		t0, c0 = time.perf_counter(), time.thread_time()
		matches = check_record(rules, q, index)
		times.append((time.perf_counter() - t0) * 1000)
		cpu.append((time.thread_time() - c0) * 1000)
		if is_dup and any(m.id in truth.get(rec["entity"], ()) for m in matches):
			found_dup += 1
		if not is_dup and matches:
			found_any_new += 1
	times.sort()
	mean_check = statistics.fmean(times)
	print(
		f"check      {len(times):,} queries: p50 {percentile(times, 0.5):.2f} ms, p95 {percentile(times, 0.95):.2f} ms, "
		f"p99 {percentile(times, 0.99):.2f} ms, mean {mean_check:.2f} ms, max {times[-1]:.1f} ms (load average {load:.1f} -> {os.getloadavg()[0]:.1f})"
	)
	cpu.sort()
	print(
		f"check CPU  p50 {percentile(cpu, 0.5):.2f} ms, p95 {percentile(cpu, 0.95):.2f} ms, "
		f"mean {statistics.fmean(cpu):.2f} ms (thread CPU time a query)"
	)
	print(
		f"           duplicates that found their customer: {found_dup:,}/{len(dup_q):,}; "
		f"new customers with some match (false alarms): {found_any_new:,}/{len(new_q):,}"
	)
	index.close()

	# ---- naive: every record, rapidfuzz over names + phone equality ------------------------------------
	names = [rec["customer_name"] for _, rec in indexed]
	phones = [_NON_DIGIT.sub("", rec[f])[-11:] for _, rec in indexed for f in PHONE_FIELDS]
	sample = queries[: args.naive]
	naive_times = []
	for _, rec, _ in sample:
		t0 = time.perf_counter()
		hits = process.extract(rec["customer_name"], names, scorer=fuzz.ratio, score_cutoff=80, limit=20)
		wanted = {d for f in PHONE_FIELDS if (d := _NON_DIGIT.sub("", rec[f])[-11:])}
		same_phone = [i // 4 for i, p in enumerate(phones) if p and p in wanted] if wanted else []
		naive_times.append((time.perf_counter() - t0) * 1000)
		del hits, same_phone
	naive_mean = statistics.fmean(naive_times)
	print(
		f"naive      {len(sample)} queries over {len(indexed):,} records (rapidfuzz.process.extract ratio>=80 on "
		f"names + phone digits equality on 4 fields): mean {naive_mean:.0f} ms, p50 {statistics.median(naive_times):.0f} ms"
	)
	print(f"speed-up   {naive_mean / mean_check:,.0f}x (naive mean / check mean); p95 target 5 ms")
	return 0


def _query(rec: dict) -> dict:
	return {k: v for k, v in rec.items() if k != "entity"}


def _entities_of(path: str, entities: set[str]) -> dict[str, set[str]]:
	out: dict[str, set[str]] = {}
	with open(path, encoding="utf-8-sig", newline="") as f:
		for rec in csv.DictReader(f):
			if rec["entity"] in entities:
				out.setdefault(rec["entity"], set()).add(rec["id"])
	return out


if __name__ == "__main__":
	sys.exit(main())
