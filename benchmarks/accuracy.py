"""Pairwise precision and recall of a scan against the generator's ground truth.

	python benchmarks/generate.py --rows 20000 --seed 1 -o benchmarks/out/customers_20k.csv
	python benchmarks/accuracy.py benchmarks/out/customers_20k.csv --rules examples/rules.json

A true pair is two rows with the same ``entity``. Two counts of predicted pairs are reported:
- *cluster pairs* (the headline figure): every two rows in the same predicted cluster, i.e. what a person
  reviewing the Duplicate Sets sees, transitive links included;
- *matched pairs*: the pairs a rule fired on directly (the PAIRS.csv of ``crm-dedup scan``).
Recall is also broken down by the rule that found a pair, and the missed pairs are sampled so one can see
why (``--show-misses N``).
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections import Counter, defaultdict
from itertools import combinations
from pathlib import Path

from crm_dedup.engine import load_rules, scan_records


def read(path: str) -> tuple[list[tuple[str, dict]], dict[str, str]]:
	rows, truth = [], {}
	with open(path, encoding="utf-8-sig", newline="") as f:
		for rec in csv.DictReader(f):
			rid = rec.pop("id")
			truth[rid] = rec.pop("entity")
			rows.append((rid, rec))
	return rows, truth


def pr(tp: int, predicted: int, actual: int) -> tuple[float, float, float]:
	p = tp / predicted if predicted else 1.0
	r = tp / actual if actual else 1.0
	f = 2 * p * r / (p + r) if p + r else 0.0
	return p, r, f


def main(argv: list[str] | None = None) -> int:
	ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
	ap.add_argument("input", help="CSV written by benchmarks/generate.py")
	ap.add_argument(
		"--rules", default=str(Path(__file__).resolve().parent.parent / "examples" / "rules.json")
	)
	ap.add_argument("--show-misses", type=int, default=0, help="print this many missed and wrong pairs")
	args = ap.parse_args(argv)

	rules = load_rules(args.rules)
	rows, truth = read(args.input)
	by_id = dict(rows)
	started = time.monotonic()
	result = scan_records(rules, rows)
	elapsed = time.monotonic() - started

	members: dict[str, list[str]] = defaultdict(list)
	for rid, ent in truth.items():
		members[ent].append(rid)
	actual = sum(len(m) * (len(m) - 1) // 2 for m in members.values())

	def key(a: str, b: str) -> tuple[str, str]:
		return (a, b) if a < b else (b, a)

	matched = {key(a, b): m for a, b, m in result.pairs}
	matched_tp = sum(1 for a, b in matched if truth[a] == truth[b])
	cluster_pairs = set()
	for c in result.clusters:
		cluster_pairs.update(key(a, b) for a, b in combinations(c, 2))
	cluster_tp = sum(1 for a, b in cluster_pairs if truth[a] == truth[b])

	print(
		f"{len(rows):,} rows, {len(members):,} entities, {actual:,} true duplicate pairs; rules {args.rules}"
	)
	print(f"scan {elapsed:.1f}s, {result.stats}")
	print(f"{'':16}{'predicted':>10}{'correct':>10}{'precision':>11}{'recall':>8}{'F1':>8}")
	for label, pred, tp in (
		("cluster pairs", len(cluster_pairs), cluster_tp),
		("matched pairs", len(matched), matched_tp),
	):
		p, r, f = pr(tp, pred, actual)
		print(f"{label:16}{pred:>10,}{tp:>10,}{p:>11.4f}{r:>8.4f}{f:>8.4f}")

	by_rule = Counter(m.rule for (a, b), m in matched.items() if truth[a] == truth[b])
	wrong_rule = Counter(m.rule for (a, b), m in matched.items() if truth[a] != truth[b])
	print("matched pairs by rule (correct / wrong):")
	for r in rules.rules:
		print(f"  {r.name:16}{by_rule[r.name]:>8,} / {wrong_rule[r.name]:,}")

	if args.show_misses:
		true_pairs = [key(a, b) for m in members.values() for a, b in combinations(sorted(m), 2)]
		missed = [p for p in true_pairs if p not in cluster_pairs]
		wrong = [(p, m) for p, m in matched.items() if truth[p[0]] != truth[p[1]]]
		cols = [c for c in next(iter(by_id.values()))]
		print(f"\nmissed pairs ({len(missed):,}), first {args.show_misses}:")
		for a, b in missed[: args.show_misses]:
			print(f"  {a} | " + " | ".join(by_id[a][c] for c in cols))
			print(f"  {b} | " + " | ".join(by_id[b][c] for c in cols))
			print()
		print(f"wrong matched pairs ({len(wrong):,}), first {args.show_misses}:")
		for (a, b), m in wrong[: args.show_misses]:
			print(f"  {m.explain}")
			print(f"  {a} | " + " | ".join(by_id[a][c] for c in cols))
			print(f"  {b} | " + " | ".join(by_id[b][c] for c in cols))
			print()
	return 0


if __name__ == "__main__":
	sys.exit(main())
