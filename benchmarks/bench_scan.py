"""Times ``scan_records`` (the code path of ``crm-dedup scan``) on a generated file.

	python benchmarks/generate.py --rows 1000000 --seed 1 -o benchmarks/out/customers_1m.csv
	python benchmarks/bench_scan.py benchmarks/out/customers_1m.csv

Prints the time to read the CSV, the scan's wall and CPU time per phase (keys / compare), records per second,
the peak memory of this process and of its worker processes (``resource.getrusage`` max RSS), the machine's
load average before and after (the 2 cores are shared: a busy machine makes every figure worse), and the
scan's stats. ``--workers`` is passed to scan_records (default: its own choice, 2 for large inputs).
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import sys
import time
from pathlib import Path

from crm_dedup.engine import load_rules, scan_records

ROOT = Path(__file__).resolve().parent.parent


def read(path: str) -> list[tuple[str, dict]]:
	rows = []
	with open(path, encoding="utf-8-sig", newline="") as f:
		for rec in csv.DictReader(f):
			rid = rec.pop("id")
			rec.pop("entity", None)
			rows.append((rid, rec))
	return rows


def main(argv: list[str] | None = None) -> int:
	ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
	ap.add_argument("input")
	ap.add_argument("--rules", default=str(ROOT / "examples" / "rules.json"))
	ap.add_argument("--workers", type=int, default=None)
	ap.add_argument("--limit", type=int, default=None, help="scan only the first N rows")
	args = ap.parse_args(argv)

	load_before = os.getloadavg()
	rules = load_rules(args.rules)
	t = time.monotonic()
	rows = read(args.input)
	if args.limit:
		rows = rows[: args.limit]
	read_s = time.monotonic() - t
	rss_read = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

	marks: dict[str, float] = {}
	cpu_marks: dict[str, float] = {}

	def progress(phase: str, done: int, total: int) -> None:
		marks.setdefault(phase, time.monotonic())
		cpu_marks.setdefault(phase, time.process_time())

	cpu0 = time.process_time()
	children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
	t0 = time.monotonic()
	result = scan_records(rules, rows, progress=progress, total=len(rows), workers=args.workers)
	wall = time.monotonic() - t0
	cpu = time.process_time() - cpu0
	children = resource.getrusage(resource.RUSAGE_CHILDREN)
	child_cpu = (children.ru_utime + children.ru_stime) - (children0.ru_utime + children0.ru_stime)
	keys_s = marks.get("compare", t0 + wall) - t0
	self_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
	child_rss = children.ru_maxrss / 1024
	n = len(rows)
	print(f"input        {args.input}: {n:,} rows, read in {read_s:.1f}s ({rss_read:,.0f} MB after reading)")
	print(f"rules        {args.rules}")
	print(f"scan wall    {wall:.1f}s  ({n / wall:,.0f} records/s)")
	print(f"  keys       {keys_s:.1f}s   compare+cluster {wall - keys_s:.1f}s")
	cpu_keys = cpu_marks.get("compare", cpu0 + cpu) - cpu0
	print(
		f"  cpu        this process {cpu:.1f}s (keys phase {cpu_keys:.1f}s, compare {cpu - cpu_keys:.1f}s), "
		f"worker processes {child_cpu:.1f}s"
	)
	print(f"peak memory  this process {self_rss:,.0f} MB (max RSS), largest worker {child_rss:,.0f} MB")
	print(f"load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f} (2 cores, shared)")
	print(f"stats        {result.stats}")
	return 0


if __name__ == "__main__":
	sys.exit(main())
