"""The bounded-memory scan (compact stores, blocks by sorted key hashes, streamed CSV rows, forked workers)
finds exactly the pairs and clusters of a straightforward reference: every pair of records sharing a key of
``RuleSet.keys`` (string keys, a dict of lists), judged by ``RuleSet.compare`` on fully prepared records,
clustered into sets by ``engine.build_sets`` (strong links only).

The data are generated Chinese customer rows (``benchmarks/generate.py``); the test is skipped without the
generator's data packages (pip install -e .[bench])."""

from __future__ import annotations

import csv
import importlib.util
import io
import multiprocessing
import os
import subprocess
import sys
from collections import defaultdict

import pytest
from _helpers import EXAMPLES, ROOT

from crm_dedup import cli
from crm_dedup.engine import blocks, build_sets, load_rules, scan_records
from crm_dedup.engine import scan as scan_module

for pkg in ("companynameparser", "cpca", "jieba"):
	if importlib.util.find_spec(pkg) is None:
		pytest.skip(f"the generator needs {pkg} (pip install -e .[bench])", allow_module_level=True)

sys.path.insert(0, str(ROOT / "benchmarks"))
import generate  # noqa: E402

RULES = load_rules(EXAMPLES / "rules.json")
ROWS = 4000


@pytest.fixture(scope="module")
def data() -> tuple[str, list[tuple[str, dict]]]:
	out = io.StringIO()
	generate.generate(ROWS, 0.2, 7, out)
	text = out.getvalue()
	records = []
	for rec in csv.DictReader(io.StringIO(text)):
		rid = rec.pop("id")
		rec.pop("entity")
		records.append((rid, rec))
	return text, records


def _sort_id(s: str) -> tuple:
	return (0, int(s), s) if s.isdigit() else (1, 0, s)


def reference(rules, records) -> tuple[list[tuple[str, str, str, float]], list[list[str]]]:
	"""Pairs (id_a, id_b, rule, score) and clusters, the plain way (no key is shared by more than 200
	records in this data, so no neighbourhood windows come in)."""
	prepared = [rules.prepare(rec, id=rid) for rid, rec in records]
	buckets: dict[tuple[str, str], list[int]] = defaultdict(list)
	for n, p in enumerate(prepared):
		for rule, keys in rules.keys(p).items():
			for k in keys:
				buckets[(rule, k)].append(n)
	assert max(len(b) for b in buckets.values()) <= 200
	candidates = {(a, b) for members in buckets.values() for a in members for b in members if a < b}
	pairs, matched = [], []
	for a, b in candidates:
		m = rules.compare(prepared[a], prepared[b])
		if m is not None:
			ida, idb = sorted((records[a][0], records[b][0]), key=_sort_id)
			pairs.append((ida, idb, m.rule, round(m.score, 6)))
			matched.append((ida, idb, m))
	# the duplicate sets from these pairs, by the set builder every scan uses (engine.sets, tested on its own)
	matched.sort(key=lambda t: (_sort_id(t[0]), _sort_id(t[1])))
	clusters = build_sets(matched, rules.set_threshold)[0]
	return sorted(pairs, key=lambda t: (_sort_id(t[0]), _sort_id(t[1]))), clusters


@pytest.fixture(scope="module")
def expected(data):
	return reference(RULES, data[1])


def _got(result) -> tuple[list, list]:
	return [(a, b, m.rule, round(m.score, 6)) for a, b, m in result.pairs], result.clusters


def test_scan_of_a_list_equals_the_reference(data, expected):
	pairs, clusters = expected
	assert len(pairs) > 300 and len(clusters) > 200  # the data really has duplicates, of every kind
	assert {p[2] for p in pairs} == {r.name for r in RULES.rules}
	assert _got(scan_records(RULES, data[1], workers=1)) == expected


def test_streamed_csv_in_worker_processes_equals_the_reference(data, expected, tmp_path, monkeypatch):
	if "fork" not in multiprocessing.get_all_start_methods():
		pytest.skip("worker processes are forked; this platform cannot fork")
	# small chunks and no minimum, so that 4,000 rows take every parallel path: keys in workers from
	# streamed rows, and candidate pairs judged in workers
	monkeypatch.setattr(scan_module, "_CHUNK", 300)
	monkeypatch.setattr(scan_module, "PARALLEL_PAIRS", 0)
	monkeypatch.setattr(scan_module, "_PAIR_CHUNK", 500)
	monkeypatch.setattr(scan_module, "_PREPARED_CACHE", 50)  # the judge's cache starts afresh often
	monkeypatch.setattr(cli, "_STREAM_CHUNK", 700)
	monkeypatch.setattr(blocks, "_SORT_PART", 5000)  # a rule's keys sorted in parts
	monkeypatch.setattr(blocks, "_PAIR_BATCH", 1000)  # and its pairs made in batches
	monkeypatch.setattr(blocks, "PAIR_BUDGET", 2000)  # candidate pairs merged and judged in several runs
	path = tmp_path / "c.csv"
	path.write_text(data[0], encoding="utf-8")
	monkeypatch.setattr(scan_module, "_BLOCK", 20_000)  # workers read the file in ~200-row blocks
	stream = cli.stream_csv(str(path), "id", RULES)
	assert _got(scan_records(RULES, stream, workers=2)) == expected
	# rows streamed from elsewhere (no file the workers could read): the rows themselves go to the workers
	stream = cli.stream_csv(str(path), "id", RULES)
	stream.file = None
	assert _got(scan_records(RULES, stream, workers=2)) == expected
	# and the command end to end: the files it writes hold the same pairs and clusters
	pairs_csv, clusters_csv = tmp_path / "p.csv", tmp_path / "k.csv"
	args = [str(path), "--rules", str(EXAMPLES / "rules.json"), "--id-column", "id"]
	assert cli.main(["scan", *args, "--pairs", str(pairs_csv), "--clusters", str(clusters_csv)]) == 0
	with pairs_csv.open(encoding="utf-8") as f:
		rows = list(csv.DictReader(f))
	assert [(r["id_a"], r["id_b"], r["rule"], r["score"]) for r in rows] == [
		(a, b, rule, f"{score:.1f}") for a, b, rule, score in expected[0]
	]
	with clusters_csv.open(encoding="utf-8") as f:
		member_of = {r["id"]: int(r["cluster_id"]) for r in csv.DictReader(f)}
	assert member_of == {i: n for n, members in enumerate(expected[1], 1) for i in members}


def test_a_repeated_id_is_found_at_its_first_line_while_streaming(tmp_path, monkeypatch):
	monkeypatch.setattr(cli, "_STREAM_CHUNK", 2)
	path = tmp_path / "r.csv"
	path.write_text("id,phone\nA,1\nB,2\nC,3\nB,4\nA,5\nD\n", encoding="utf-8")
	rules = load_rules({"rules": [{"name": "p", "conditions": [{"fields": ["phone"], "match": "phone"}]}]})
	stream = cli.stream_csv(str(path), "id", rules)
	with pytest.raises(cli.InputError, match=r"line 5 repeats id 'B'"):  # before the bad row at line 7
		scan_records(rules, stream, workers=1)


def test_records_keyed_apart_and_judged_in_one_place_equal_the_reference(data, expected, monkeypatch):
	"""A site's scan: key jobs key chunks of the table (``key_chunk``, bytes that travel through redis) and one
	compare job judges them all (``scan_keyed``), with the judging in worker processes."""
	monkeypatch.setattr(scan_module, "PARALLEL_PAIRS", 0)
	monkeypatch.setattr(scan_module, "_PAIR_CHUNK", 500)
	monkeypatch.setattr(blocks, "PAIR_BUDGET", 2000)
	records = data[1]
	chunks = [scan_module.key_chunk(RULES, records[lo : lo + 700]) for lo in range(0, len(records), 700)]
	assert all(isinstance(c, bytes) for c in chunks)
	workers = 2 if "fork" in multiprocessing.get_all_start_methods() else 1
	assert _got(scan_module.scan_keyed(RULES, iter(chunks), workers=workers)) == expected
	with pytest.raises(ValueError, match="condition rules only"):
		scan_module.scan_keyed(load_rules(EXAMPLES / "smart_rules.json"), iter(chunks))


def test_chunks_keyed_by_unrelated_processes_meet_on_the_same_keys(tmp_path):
	"""Python's hash() of a str differs from one process to the next: key jobs run in different workers, so a
	chunk's key hashes must not depend on the process that made them."""
	code = (
		"import csv, hashlib, sys; from crm_dedup.engine import load_rules, key_chunk; "
		"rows = [(r.pop('id'), r) for r in csv.DictReader(open(sys.argv[1], encoding='utf-8'))]; "
		"print(hashlib.sha256(key_chunk(load_rules(sys.argv[2]), rows)).hexdigest())"
	)
	digests = set()
	for seed in ("1", "2", "random"):
		env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
		out = subprocess.run(
			[sys.executable, "-c", code, str(EXAMPLES / "customers.csv"), str(EXAMPLES / "rules.json")],
			capture_output=True,
			text=True,
			env=env,
			check=True,
		)
		digests.add(out.stdout.strip())
	assert len(digests) == 1 and len(next(iter(digests))) == 64
