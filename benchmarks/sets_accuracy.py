"""Pairs and duplicate sets against the generator's ground truth, for one source tree or side by side.

	python benchmarks/generate.py --rows 100000 --seed 1 -o /tmp/i17/c100k.csv
	git archive c009291 | tar -x -C /tmp/i17/old          # the tree before issue #17
	python benchmarks/sets_accuracy.py /tmp/i17/c100k.csv --tree /tmp/i17/old --json /tmp/i17/old100k.json
	python benchmarks/sets_accuracy.py /tmp/i17/c100k.csv --tree . --json /tmp/i17/new100k.json
	python benchmarks/sets_accuracy.py --table /tmp/i17/old100k.json /tmp/i17/new100k.json

A true pair is two rows with the same ``entity``. Reported per run: *matched pairs* (the pairs a rule fired on,
PAIRS.csv) and *set pairs* (every two records of one duplicate set, i.e. ``result.clusters``: what a person
reviewing the sets sees) with precision and recall; the largest set against the largest entity; the set-size
distribution; possible links (trees that have them); the scan's wall time and the process's peak RSS.
``--tree`` puts that source tree first on ``sys.path`` (the old tree has no ``possible`` links).
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path


def read(path: str) -> tuple[list[tuple[str, dict]], dict[str, str]]:
	# accuracy.read's twin, kept here: accuracy imports crm_dedup when imported, before --tree can pick the tree
	rows, truth = [], {}
	with open(path, encoding="utf-8-sig", newline="") as f:
		for rec in csv.DictReader(f):
			rid = rec.pop("id")
			truth[rid] = rec.pop("entity")
			rows.append((rid, rec))
	return rows, truth


def _pr(tp: int, predicted: int, actual: int) -> tuple[float, float]:
	return (tp / predicted if predicted else 1.0), (tp / actual if actual else 1.0)


def measure(input_path: str, rules_path: str) -> dict:
	from crm_dedup.engine import load_rules, scan_records

	rules = load_rules(rules_path)
	rows, truth = read(input_path)
	started = time.monotonic()
	result = scan_records(rules, rows)
	elapsed = time.monotonic() - started
	entity_size = Counter(truth.values())
	actual = sum(n * (n - 1) // 2 for n in entity_size.values())
	matched = {(a, b) if a < b else (b, a) for a, b, _ in result.pairs}
	matched_tp = sum(1 for a, b in matched if truth[a] == truth[b])
	set_pairs = 0
	set_tp = 0
	for c in result.clusters:  # pairs implied by a set: n(n-1)/2, correct ones per entity inside it
		set_pairs += len(c) * (len(c) - 1) // 2
		per = Counter(truth[i] for i in c)
		set_tp += sum(n * (n - 1) // 2 for n in per.values())
	sizes = Counter(len(c) for c in result.clusters)
	largest = result.clusters[0] if result.clusters else []
	mp, mr = _pr(matched_tp, len(matched), actual)
	sp, sr = _pr(set_tp, set_pairs, actual)
	by_rule: dict[str, list[int]] = defaultdict(lambda: [0, 0])
	for a, b, m in result.pairs:
		by_rule[m.rule][0 if truth[a] == truth[b] else 1] += 1
	return {
		"tree": str(Path(sys.modules["crm_dedup"].__file__).resolve().parent.parent),
		"input": input_path,
		"rows": len(rows),
		"true_pairs": actual,
		"largest_entity": max(entity_size.values()),
		"matched": len(matched),
		"matched_precision": round(mp, 4),
		"matched_recall": round(mr, 4),
		"set_pairs": set_pairs,
		"set_precision": round(sp, 4),
		"set_recall": round(sr, 4),
		"sets": len(result.clusters),
		"largest_set": len(largest),
		"largest_set_sample": largest[:6],
		"size_distribution": {str(k): v for k, v in sorted(sizes.items())},
		"possible": len(getattr(result, "possible", []) or []),
		"by_rule": {k: v for k, v in sorted(by_rule.items())},
		"scan_seconds": round(elapsed, 1),
		"peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
		"stats": result.stats,
	}


def _dist(d: dict) -> str:
	items = sorted((int(k), v) for k, v in d.items())
	head = [f"{k}:{v:,}" for k, v in items if k <= 6]
	tail = sum(v for k, v in items if k > 6)
	return " ".join(head) + (f" >6:{tail:,}" if tail else "")


def table(paths: list[str]) -> None:
	runs = [json.loads(Path(p).read_text(encoding="utf-8")) for p in paths]
	rows = [
		("rows", lambda r: f"{r['rows']:,}"),
		("tree", lambda r: r["tree"]),
		("matched pairs", lambda r: f"{r['matched']:,}"),
		("pairwise precision", lambda r: f"{r['matched_precision']:.4f}"),
		("pairwise recall", lambda r: f"{r['matched_recall']:.4f}"),
		("set pairs", lambda r: f"{r['set_pairs']:,}"),
		("set precision", lambda r: f"{r['set_precision']:.4f}"),
		("set recall", lambda r: f"{r['set_recall']:.4f}"),
		("sets", lambda r: f"{r['sets']:,}"),
		("largest set (entity)", lambda r: f"{r['largest_set']} ({r['largest_entity']})"),
		("set sizes", lambda r: _dist(r["size_distribution"])),
		("possible links", lambda r: f"{r['possible']:,}"),
		("scan wall time", lambda r: f"{r['scan_seconds']} s"),
		("peak RSS", lambda r: f"{r['peak_rss_mb']:,} MB"),
	]
	width = max(28, *(len(v(r)) + 2 for _, v in rows for r in runs))
	for label, value in rows:
		print(f"{label:22}" + "".join(f"{value(r):>{width}}" for r in runs))


def main(argv: list[str] | None = None) -> int:
	ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
	ap.add_argument("input", nargs="?", help="CSV written by benchmarks/generate.py")
	ap.add_argument(
		"--rules", default=str(Path(__file__).resolve().parent.parent / "examples" / "rules.json")
	)
	ap.add_argument("--tree", default=str(Path(__file__).resolve().parent.parent), help="source tree to run")
	ap.add_argument("--json", help="also write the figures here")
	ap.add_argument("--table", nargs="+", metavar="JSON", help="print these runs side by side instead")
	args = ap.parse_args(argv)
	if args.table:
		table(args.table)
		return 0
	if not args.input:
		ap.error("an input CSV is needed (or --table)")
	sys.path.insert(0, str(Path(args.tree).resolve()))
	figures = measure(args.input, args.rules)
	text = json.dumps(figures, ensure_ascii=False, indent=1)
	if args.json:
		Path(args.json).write_text(text + "\n", encoding="utf-8")
	print(text)
	return 0


if __name__ == "__main__":
	sys.exit(main())
