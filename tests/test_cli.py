"""The crm-dedup CLI contract: file formats, ids, index updates, check output, and bad input (exit 2)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import sqlite3
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from _helpers import EXAMPLES, ROOT
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_dedup.cli import main, write_outputs
from crm_dedup.engine import Match, ScanResult

RULES = str(EXAMPLES / "rules.json")
CSV_IN = str(EXAMPLES / "customers.csv")

# The duplicates planted in examples/customers.csv, and the rule that must report each of them:
EXPECTED_PAIRS = {
	("C001", "C002"): "phones",  # 13612345678 in phone_1 ~ +86 136 1234 5678 in phone_2 (crosswise)
	("C003", "C004"): "email",  # lina@ ~ LiNa@ (C004 has no phone, no tax id)
	("C006", "C007"): "name+city",  # 深圳华强电子 ~ 深圳華強電子 (traditional), same city
	("C011", "C012"): "name+city",  # 有限公司 ~ 有限责任公司
	("C013", "C014"): "phones",  # 13012345678 ~ 0086 130 1234 5678
	("C017", "C018"): "contact+name",  # 孙涛 on both; 海湾啤酒 ~ 海湾啤酒销售: 字号 same, 销售 after (85)
}
ACTIONS = {"phones": "block", "email": "block", "name+city": "warn", "contact+name": "log"}


def read_rows(path) -> list[list[str]]:
	with open(path, encoding="utf-8", newline="") as f:
		return list(csv.reader(f))


def write_csv(path: Path, rows: list[list[str]], bom: bool = False) -> Path:
	with open(path, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as f:
		csv.writer(f).writerows(rows)
	return path


def example_rows() -> list[list[str]]:
	return read_rows(CSV_IN)


def run(capsys, *argv) -> tuple[int, str, str]:
	rc = main([str(a) for a in argv])
	out, err = capsys.readouterr()
	return rc, out, err


# ---- scan --------------------------------------------------------------------------------------------
def test_scan_writes_pairs_and_clusters(tmp_path, capsys):
	pairs, clusters = tmp_path / "pairs.csv", tmp_path / "clusters.csv"
	rc, out, err = run(
		capsys,
		"scan",
		CSV_IN,
		"--rules",
		RULES,
		"--id-column",
		"id",
		"--pairs",
		pairs,
		"--clusters",
		clusters,
	)
	assert rc == 0 and out == ""
	assert "20 records, 6 matched pairs, 6 clusters" in err
	rows = read_rows(pairs)
	assert rows[0] == ["id_a", "id_b", "rule", "action", "score"]
	got = {(a, b): (rule, action, float(score)) for a, b, rule, action, score in rows[1:]}
	assert len(got) == len(rows) - 1  # one row per pair
	assert {frozenset(p) for p in got} == {
		frozenset(p) for p in EXPECTED_PAIRS
	}  # unordered pairs, no repeats
	for (a, b), (rule, action, score) in got.items():
		assert EXPECTED_PAIRS[(a, b) if (a, b) in EXPECTED_PAIRS else (b, a)] == rule
		assert action == ACTIONS[rule] and 0 < score <= 100
	assert got[("C017", "C018")][2] == 85.0  # the contact+name rule's weakest condition (company at 85)
	crows = read_rows(clusters)
	assert crows[0] == ["id", "cluster_id"]
	cluster_of = dict(crows[1:])
	assert set(cluster_of) == {i for p in EXPECTED_PAIRS for i in p}  # only records in clusters of >= 2
	for a, b in EXPECTED_PAIRS:
		assert cluster_of[a] == cluster_of[b]
	assert len(set(cluster_of.values())) == 6


def test_scan_without_id_column_uses_row_numbers(tmp_path, capsys):
	by_id, by_row = tmp_path / "id.csv", tmp_path / "row.csv"
	assert run(capsys, "scan", CSV_IN, "--rules", RULES, "--id-column", "id", "--pairs", by_id)[0] == 0
	assert run(capsys, "scan", CSV_IN, "--rules", RULES, "--pairs", by_row)[0] == 0
	row_of = {r[0]: str(n) for n, r in enumerate(example_rows()[1:], 1)}  # C001 is data row 1
	assert row_of["C001"] == "1" and row_of["C020"] == "20"
	mapped = sorted(
		(row_of[a], row_of[b], rule, action, score) for a, b, rule, action, score in read_rows(by_id)[1:]
	)
	assert sorted(tuple(r) for r in read_rows(by_row)[1:]) == mapped


def test_scan_tolerates_bom_and_blank_lines(tmp_path, capsys):
	rows = example_rows()
	src = write_csv(tmp_path / "bom.csv", rows, bom=True)
	assert src.read_bytes().startswith(b"\xef\xbb\xbf")
	out = tmp_path / "pairs.csv"
	rc, _, err = run(capsys, "scan", src, "--rules", RULES, "--id-column", "id", "--pairs", out)
	assert rc == 0, err
	assert {(a, b) for a, b, *_ in read_rows(out)[1:]} == set(EXPECTED_PAIRS)
	# blank lines are not rows (as csv.DictReader and spreadsheet imports see the file)
	text = src.read_text(encoding="utf-8-sig").replace("\r\n", "\n").replace("\nC010", "\n\nC010")
	(tmp_path / "blank.csv").write_text(text, encoding="utf-8")
	rc, _, err = run(capsys, "scan", tmp_path / "blank.csv", "--rules", RULES, "--pairs", out)
	assert rc == 0, err
	assert ("11", "12") in {(a, b) for a, b, *_ in read_rows(out)[1:]}  # C011 ~ C012 keep their row numbers


def test_scan_report_is_readable(capsys):
	rc, out, err = run(capsys, "scan", CSV_IN, "--rules", RULES, "--id-column", "id")
	assert rc == 0 and err == ""  # no progress bar for 20 rows
	assert out.count("Cluster ") == 6
	assert "C001: " in out and "customer_name=南京金陵餐饮有限公司" in out
	assert "C006 ~ C007: name+city (warn) score 100" in out
	assert out.rstrip().endswith(
		"20 records, 6 matched pairs, 6 clusters\n"
		"set sizes (records: sets): 2: 6; largest set 2 records (C001, C002)\n"
		"0 possible links (weak or cut links, not merged into the sets)"
	)


def test_scan_possible_links_file_and_summary(tmp_path, capsys):
	"""Three records with one name and one city, one pair of them sharing a phone: the phone pair is a set,
	the name links (Warn, under the set threshold of 101 here) are possible links to it, never merged."""
	src = tmp_path / "in.csv"
	rules = tmp_path / "rules.json"
	data = json.loads((EXAMPLES / "rules.json").read_text(encoding="utf-8"))
	data["options"]["set_threshold"] = 101  # only Block links build sets
	rules.write_text(json.dumps(data), encoding="utf-8")
	header = "id,customer_name,contact_person,phone_1,phone_2,phone_3,mobile_no,email_id,tax_id,city\n"
	src.write_text(
		header
		+ "1,南京金陵餐饮有限公司,,13612345678,,,,,,南京\n"
		+ "2,金陵餐饮有限公司,,,,,+86 136 1234 5678,,,南京\n"
		+ "3,金陵餐饮(南京)有限公司,,,,,,,,南京\n",
		encoding="utf-8",
	)
	clusters, possible = tmp_path / "c.csv", tmp_path / "p.csv"
	rc, out, err = run(
		capsys,
		"scan",
		src,
		"--rules",
		rules,
		"--id-column",
		"id",
		"--clusters",
		clusters,
		"--possible",
		possible,
	)
	assert rc == 0 and out == ""
	assert read_rows(clusters) == [["id", "cluster_id"], ["1", "1"], ["2", "1"]]
	rows = read_rows(possible)
	assert rows[0] == ["id_a", "id_b", "rule", "action", "score", "cluster_a", "cluster_b"]
	assert sorted(r[:2] + r[5:] for r in rows[1:]) == [["1", "3", "1", ""], ["2", "3", "1", ""]]
	assert "3 records, 3 matched pairs, 1 clusters" in err
	assert "set sizes (records: sets): 2: 1; largest set 2 records (1, 2)" in err
	assert "2 possible links" in err
	rc, out, err = run(capsys, "scan", src, "--rules", rules, "--id-column", "id")
	assert "possible: 1 ~ 3 (no cluster): name+city (warn) score 100" in out


def test_scan_summary_counts_possible_pairs(tmp_path, capsys):
	"""A Warn rule on the company name alone: 富航隆 ~ 富航龙 (same reading, 92) builds no set; the summary counts
	it as a possible pair, and the possible-links file lists it."""
	src, rules = tmp_path / "in.csv", tmp_path / "rules.json"
	rule = {
		"name": "name",
		"action": "warn",
		"conditions": [{"fields": ["customer_name"], "match": "company_name"}],
	}
	rules.write_text(json.dumps({"rules": [rule]}), encoding="utf-8")
	src.write_text(
		"id,customer_name\n1,富航隆科技有限公司\n2,富航龙科技有限公司\n3,金陵餐饮有限公司\n", encoding="utf-8"
	)
	possible = tmp_path / "p.csv"
	rc, out, err = run(capsys, "scan", src, "--rules", rules, "--id-column", "id", "--possible", possible)
	assert rc == 0 and out == ""
	assert "1 matched pairs, 0 clusters" in err
	assert "1 possible links (weak or cut links, not merged into the sets); 1 possible pairs" in err
	assert [r[:3] for r in read_rows(possible)[1:]] == [["1", "2", "name"]]


def test_scan_progress_bar_on_stderr(tmp_path, capsys):
	rc, out, err = run(capsys, "scan", CSV_IN, "--rules", RULES, "--progress", "--pairs", tmp_path / "p.csv")
	assert rc == 0 and "prepare" in err and "compare" in err and "100.0%" in err


def test_scan_output_to_a_pipe_writes_into_it_and_keeps_it(tmp_path, capsys):
	# like --pairs /dev/null or /dev/stdout: the node must be written to, never replaced by a regular file
	fifo = tmp_path / "pairs.fifo"
	os.mkfifo(fifo)
	got: list[str] = []
	reader = threading.Thread(target=lambda: got.append(fifo.read_text(encoding="utf-8")), daemon=True)
	reader.start()
	rc, _, err = run(capsys, "scan", CSV_IN, "--rules", RULES, "--id-column", "id", "--pairs", fifo)
	reader.join(timeout=30)
	assert rc == 0, err
	assert stat.S_ISFIFO(os.stat(fifo).st_mode)
	assert got and got[0].splitlines()[0] == "id_a,id_b,rule,action,score"
	assert len(got[0].splitlines()) == 1 + len(EXPECTED_PAIRS)


def test_scan_into_a_closed_pipe_stops_quietly(tmp_path):
	# crm-dedup scan ... | head: the report's reader goes away. `true` exits before Python has even started,
	# so the first write meets a closed pipe: no traceback, no error line, exit 141 (as if killed by SIGPIPE)
	proc = subprocess.run(
		f"set -o pipefail; {sys.executable} -m crm_dedup.cli scan {CSV_IN} --rules {RULES} --id-column id | true",
		shell=True,
		executable="/bin/bash",
		capture_output=True,
		text=True,
		cwd=ROOT,
		timeout=120,
	)
	assert proc.stderr == ""
	assert proc.returncode == 141


# ---- index / check -----------------------------------------------------------------------------------
def index_count(db: Path) -> tuple[int, int]:
	con = sqlite3.connect(db)
	try:
		return tuple(
			con.execute(q).fetchone()[0]
			for q in ("SELECT COUNT(*) FROM records", "SELECT COUNT(*) FROM keys")
		)
	finally:
		con.close()


def check(capsys, db, *query_args) -> list[dict]:
	rc, out, err = run(capsys, "check", "--rules", RULES, "--db", db, *query_args)
	assert rc == 0, err
	return [json.loads(line) for line in out.splitlines()]


def test_index_then_check(tmp_path, capsys):
	db = tmp_path / "idx.sqlite"
	rc, _, err = run(capsys, "index", CSV_IN, "--rules", RULES, "--db", db, "--id-column", "id")
	assert rc == 0 and "indexed 20 records; the index holds 20" in err
	# another rep types C003's mobile into phone_3 and a different name
	[line] = check(
		capsys, db, "--record", json.dumps({"customer_name": "远大科技", "phone_3": "+86 139-1234-5678"})
	)
	assert list(line) == ["matches"]
	# C003 by phone (block, priority 2); C004 by name alone (远大科技 ~ 远大科技(上海)股份有限公司, the query has
	# no city and city is blank="ignore"), a weaker rule, so second
	assert [(x["id"], x["rule"]) for x in line["matches"]] == [("C003", "phones"), ("C004", "name+city")]
	m = line["matches"][0]
	assert set(m) == {"id", "rule", "action", "score", "explain"}
	assert (m["id"], m["rule"], m["action"], m["score"]) == ("C003", "phones", "block", 100.0)
	assert "mobile_no='13912345678'" in m["explain"] and "phone_3='+86 139-1234-5678'" in m["explain"]


def test_check_records_file_one_line_per_query_best_first(tmp_path, capsys):
	db = tmp_path / "idx.sqlite"
	assert run(capsys, "index", CSV_IN, "--rules", RULES, "--db", db, "--id-column", "id")[0] == 0
	queries = [
		# C001's tax id (uscc, priority 1) and a name equal to C001's and C002's (name+city, priority 4)
		{"tax_id": "91320100 MA1XXXXX0A", "customer_name": "金陵餐饮有限公司", "city": "南京"},
		{"customer_name": "完全不同的公司", "phone_1": "010-99999999"},
		{"email_id": "ZHAOMIN@baiyunpharma.cn"},
	]
	f = tmp_path / "q.jsonl"
	f.write_text("\n".join(json.dumps(q, ensure_ascii=False) for q in queries) + "\n\n", encoding="utf-8")
	lines = check(capsys, db, "--records", f)
	assert len(lines) == 3
	first = [(m["id"], m["rule"], m["action"]) for m in lines[0]["matches"]]
	assert first == [("C001", "uscc", "block"), ("C002", "name+city", "warn")]
	assert "invalid checksum" in lines[0]["matches"][0]["explain"]  # 91320100MA1XXXXX0A is a made-up code
	assert lines[1] == {"matches": []}
	assert [m["id"] for m in lines[2]["matches"]] == ["C010"]


def test_check_id_column_excludes_the_record_itself(tmp_path, capsys):
	db = tmp_path / "idx.sqlite"
	assert run(capsys, "index", CSV_IN, "--rules", RULES, "--db", db, "--id-column", "id")[0] == 0
	c001 = dict(zip(example_rows()[0], example_rows()[1], strict=True))
	[line] = check(capsys, db, "--record", json.dumps(c001, ensure_ascii=False))
	assert [m["id"] for m in line["matches"]][:1] == ["C001"]
	[line] = check(capsys, db, "--record", json.dumps(c001, ensure_ascii=False), "--id-column", "id")
	assert [m["id"] for m in line["matches"]] == ["C002"]


def test_index_rerun_updates_never_duplicates(tmp_path, capsys):
	db = tmp_path / "idx.sqlite"
	for _ in range(2):
		assert run(capsys, "index", CSV_IN, "--rules", RULES, "--db", db, "--id-column", "id")[0] == 0
	records, keys = index_count(db)
	assert records == 20
	# C005 changes its mobile number; re-indexing the edited file replaces it
	rows = example_rows()
	i = next(n for n, r in enumerate(rows) if r[0] == "C005")
	rows[i][rows[0].index("mobile_no")] = "150 9999 8888"
	edited = write_csv(tmp_path / "edited.csv", rows)
	assert run(capsys, "index", edited, "--rules", RULES, "--db", db, "--id-column", "id")[0] == 0
	assert index_count(db) == (20, keys)
	[old] = check(capsys, db, "--record", json.dumps({"phone_2": "15012345678"}))
	[new] = check(capsys, db, "--record", json.dumps({"phone_2": "15099998888"}))
	assert old == {"matches": []}
	assert [m["id"] for m in new["matches"]] == ["C005"]
	# without --id-column the row numbers are the ids, and they update too
	assert run(capsys, "index", edited, "--rules", RULES, "--db", db)[0] == 0
	assert run(capsys, "index", edited, "--rules", RULES, "--db", db)[0] == 0
	assert index_count(db)[0] == 40


def test_check_refuses_an_index_built_with_other_rules(tmp_path, capsys):
	db = tmp_path / "idx.sqlite"
	assert run(capsys, "index", CSV_IN, "--rules", RULES, "--db", db, "--id-column", "id")[0] == 0
	other = tmp_path / "other.json"
	doc = json.loads(Path(RULES).read_text(encoding="utf-8"))
	doc["rules"] = doc["rules"][:2]
	other.write_text(json.dumps(doc), encoding="utf-8")
	rc = main(["check", "--rules", str(other), "--db", str(db), "--record", "{}"])
	_, err = capsys.readouterr()
	assert rc == 2 and "other rules" in err
	# re-indexing with the new rules re-keys the stored records, then check works
	assert main(["index", CSV_IN, "--rules", str(other), "--db", str(db), "--id-column", "id"]) == 0
	assert "re-keying" in capsys.readouterr().err
	assert (
		main(["check", "--rules", str(other), "--db", str(db), "--record", '{"phone_1": "13612345678"}']) == 0
	)
	assert json.loads(capsys.readouterr().out)["matches"][0]["id"] == "C001"


# ---- bad input ---------------------------------------------------------------------------------------
def bad_inputs(tmp: Path) -> dict[str, tuple[list[str], str]]:
	"""name -> (scan arguments without outputs, a word the error line must contain)."""
	rows = example_rows()
	extra = [r[:] for r in rows]
	extra[5].append("surplus")
	dup = [r[:] for r in rows] + [rows[3][:]]
	badrules = tmp / "bad.json"
	badrules.write_text('{"rules": [{"name": "x", "conditions": [}', encoding="utf-8")
	unknown_type = tmp / "unknown.json"
	unknown_type.write_text(
		json.dumps(
			{"rules": [{"name": "by-tel", "conditions": [{"fields": ["phone_1"], "match": "telephone"}]}]}
		),
		encoding="utf-8",
	)
	unknown_col = tmp / "col.json"
	unknown_col.write_text(
		json.dumps({"rules": [{"name": "by-fax", "conditions": [{"fields": ["fax"], "match": "phone"}]}]}),
		encoding="utf-8",
	)
	(tmp / "empty.csv").write_bytes(b"")
	(tmp / "quote.csv").write_text('id,customer_name\nC1,"金陵餐饮\n', encoding="utf-8")
	(tmp / "gbk.csv").write_bytes("id,customer_name\nC1,金陵餐饮\n".encode("gbk"))
	return {
		"missing file": ([str(tmp / "nope.csv"), "--rules", RULES], "not found"),
		"missing rules": ([CSV_IN, "--rules", str(tmp / "nope.json")], "not found"),
		"bad json": ([CSV_IN, "--rules", str(badrules)], "not valid JSON"),
		"unknown match type": ([CSV_IN, "--rules", str(unknown_type)], "by-tel"),
		"unknown column": ([CSV_IN, "--rules", str(unknown_col)], "fax"),
		"malformed row": ([str(write_csv(tmp / "extra.csv", extra)), "--rules", RULES], "line 6"),
		"unterminated quote": (
			[
				str(tmp / "quote.csv"),
				"--rules",
				'{"rules": [{"name": "n", "conditions": [{"fields": ["customer_name"], "match": "exact"}]}]}',
			],
			"malformed CSV",
		),
		"empty file": ([str(tmp / "empty.csv"), "--rules", RULES], "empty"),
		"not utf-8": (
			[
				str(tmp / "gbk.csv"),
				"--rules",
				'[{"name": "n", "conditions": [{"fields": ["customer_name"], "match": "exact"}]}]',
			],
			"UTF-8",
		),
		"repeated id": (
			[str(write_csv(tmp / "dup.csv", dup)), "--rules", RULES, "--id-column", "id"],
			"repeats id",
		),
		"no id column": ([CSV_IN, "--rules", RULES, "--id-column", "customer_id"], "customer_id"),
	}


BAD_NAMES = [
	"missing file",
	"missing rules",
	"bad json",
	"unknown match type",
	"unknown column",
	"malformed row",
	"unterminated quote",
	"empty file",
	"not utf-8",
	"repeated id",
	"no id column",
]


def one_error_line(err: str, word: str) -> None:
	lines = err.strip().splitlines()
	assert len(lines) == 1, err
	assert lines[0].startswith("crm-dedup: error: ") and word in lines[0], lines[0]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_input_scan_exits_2_and_writes_nothing(tmp_path, capsys, name):
	args, word = bad_inputs(tmp_path)[name]
	pairs, clusters = tmp_path / "out" / "pairs.csv", tmp_path / "out" / "clusters.csv"
	pairs.parent.mkdir()
	clusters.write_text("kept\n", encoding="utf-8")  # an older output must stay as it was
	rc, out, err = run(capsys, "scan", *args, "--pairs", pairs, "--clusters", clusters)
	assert rc == 2
	one_error_line(err, word)
	assert not pairs.exists()
	assert clusters.read_text(encoding="utf-8") == "kept\n"
	assert sorted(p.name for p in pairs.parent.iterdir()) == ["clusters.csv"]  # no temporary files either


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_input_index_leaves_no_new_db_and_an_old_one_unchanged(tmp_path, capsys, name):
	args, word = bad_inputs(tmp_path)[name]
	new_db = tmp_path / "new.sqlite"
	rc, _, err = run(capsys, "index", *args, "--db", new_db)
	assert rc == 2
	one_error_line(err, word)
	assert not any(p.name.startswith("new.sqlite") for p in tmp_path.iterdir())
	old_db = tmp_path / "old.sqlite"
	assert main(["index", CSV_IN, "--rules", RULES, "--db", str(old_db), "--id-column", "id"]) == 0
	capsys.readouterr()
	before = hashlib.sha256(old_db.read_bytes()).hexdigest(), index_count(old_db)
	rc, _, err = run(capsys, "index", *args, "--db", old_db)
	assert rc == 2
	one_error_line(err, word)
	assert (hashlib.sha256(old_db.read_bytes()).hexdigest(), index_count(old_db)) == before


def test_scan_output_folder_missing_writes_neither_output(tmp_path, capsys):
	pairs = tmp_path / "pairs.csv"
	rc, _, err = run(
		capsys, "scan", CSV_IN, "--rules", RULES, "--pairs", pairs, "--clusters", tmp_path / "no" / "c.csv"
	)
	assert rc == 2
	one_error_line(err, "does not exist")
	assert list(tmp_path.iterdir()) == []


def test_index_db_folder_missing_or_not_an_index(tmp_path, capsys):
	rc, _, err = run(capsys, "index", CSV_IN, "--rules", RULES, "--db", tmp_path / "no" / "x.sqlite")
	assert rc == 2
	one_error_line(err, "does not exist")
	notdb = tmp_path / "notes.sqlite"
	notdb.write_text("these are my notes, not an index\n", encoding="utf-8")
	rc, _, err = run(capsys, "index", CSV_IN, "--rules", RULES, "--db", notdb)
	assert rc == 2
	one_error_line(err, "not a crm-dedup index")
	assert notdb.read_text(encoding="utf-8") == "these are my notes, not an index\n"


def test_check_bad_input(tmp_path, capsys):
	db = tmp_path / "idx.sqlite"
	rc, out, err = run(capsys, "check", "--rules", RULES, "--db", db, "--record", "{}")
	assert rc == 2 and out == ""
	one_error_line(err, "index not found")
	assert not db.exists()  # checking never creates an index
	assert main(["index", CSV_IN, "--rules", RULES, "--db", str(db)]) == 0
	capsys.readouterr()
	for args, word in [
		(["--record", '{"phone_1": '], "not valid JSON"),
		(["--record", '["13612345678"]'], "JSON object"),
		(["--records", str(tmp_path / "none.jsonl")], "not found"),
	]:
		rc, out, err = run(capsys, "check", "--rules", RULES, "--db", db, *args)
		assert rc == 2 and out == ""
		one_error_line(err, word)
	lines = tmp_path / "q.jsonl"
	lines.write_text('{"phone_1": "13612345678"}\n{"phone_1": \n', encoding="utf-8")
	rc, out, err = run(capsys, "check", "--rules", RULES, "--db", db, "--records", lines)
	assert rc == 2 and out == ""  # no partial answers either
	one_error_line(err, "line 2")


# ---- as a program ------------------------------------------------------------------------------------
def test_python_m_crm_dedup_cli(tmp_path):
	pairs = tmp_path / "pairs.csv"
	ok = subprocess.run(
		[
			sys.executable,
			"-m",
			"crm_dedup.cli",
			"scan",
			CSV_IN,
			"--rules",
			RULES,
			"--id-column",
			"id",
			"--pairs",
			str(pairs),
		],
		capture_output=True,
		text=True,
		cwd=ROOT,
		timeout=120,
	)
	assert ok.returncode == 0, ok.stderr
	assert len(read_rows(pairs)) == 1 + len(EXPECTED_PAIRS)
	bad = subprocess.run(
		[sys.executable, "-m", "crm_dedup.cli", "scan", str(tmp_path / "missing.csv"), "--rules", RULES],
		capture_output=True,
		text=True,
		cwd=tmp_path,
		timeout=120,
	)
	assert bad.returncode == 2 and bad.stdout == ""
	one_error_line(bad.stderr, "input file not found")


def test_a_foreign_sqlite_file_is_refused_and_left_untouched(tmp_path, capsys):
	db = tmp_path / "crm.sqlite"  # some other program's database passed as --db by mistake
	con = sqlite3.connect(db)
	con.execute("CREATE TABLE records (x)")
	con.execute("INSERT INTO records VALUES (1)")
	con.commit()
	con.close()
	before = db.read_bytes()
	for argv in (
		["index", CSV_IN, "--rules", RULES, "--db", db],
		["check", "--rules", RULES, "--db", db, "--record", "{}"],
	):
		rc, out, err = run(capsys, *argv)
		assert rc == 2 and out == ""
		one_error_line(err, "not a crm-dedup index")
	assert db.read_bytes() == before
	assert sorted(p.name for p in tmp_path.iterdir()) == ["crm.sqlite"]  # no -wal / -shm side files either


def test_check_on_an_empty_file_or_a_damaged_index(tmp_path, capsys):
	empty = tmp_path / "empty.sqlite"
	empty.write_bytes(b"")
	rc, _, err = run(capsys, "check", "--rules", RULES, "--db", empty, "--record", "{}")
	assert rc == 2 and empty.read_bytes() == b""
	one_error_line(err, "holds no index yet")
	db = tmp_path / "idx.sqlite"
	assert main(["index", CSV_IN, "--rules", RULES, "--db", str(db)]) == 0
	capsys.readouterr()
	with open(db, "r+b") as f:  # overwrite pages after the schema page: a disk error, a bad copy
		f.seek(8192)
		f.write(b"\xff" * 12288)
	rc, out, err = run(
		capsys, "check", "--rules", RULES, "--db", db, "--record", '{"phone_1": "13612345678"}'
	)
	assert rc == 2 and out == ""
	one_error_line(err, "malformed")


def _csv_reference(result) -> tuple[str, str, str]:
	out = [io.StringIO() for _ in range(3)]
	w = csv.writer(out[0])
	w.writerow(["id_a", "id_b", "rule", "action", "score"])
	for a, b, m in result.pairs:
		w.writerow([a, b, m.rule, m.action, f"{m.score:.1f}"])
	w = csv.writer(out[1])
	w.writerow(["id", "cluster_id"])
	for n, members in enumerate(result.clusters, 1):
		for i in members:
			w.writerow([i, n])
	w = csv.writer(out[2])
	w.writerow(["id_a", "id_b", "rule", "action", "score", "cluster_a", "cluster_b"])
	cluster_of = result.cluster_of()
	for a, b, m in result.possible:
		w.writerow([a, b, m.rule, m.action, f"{m.score:.1f}", cluster_of.get(a, ""), cluster_of.get(b, "")])
	return tuple(f.getvalue() for f in out)


_FIELD = st.text(alphabet='ab1 ,"\r\n\t;', min_size=0, max_size=5)


@given(st.lists(st.tuples(_FIELD, _FIELD, _FIELD, st.floats(0, 100)), max_size=6), st.integers(0, 3))
@settings(max_examples=300, deadline=None)
def test_write_outputs_is_what_csv_writer_writes(links, n_sets):
	"""The outputs are written as plain text when no field needs quoting, by csv.writer otherwise: the same
	bytes either way (ids or rule names with commas, quotes or line breaks)."""
	pairs = [(a, b, Match(b, rule, "warn", 4, score)) for a, b, rule, score in links]
	ids = list(dict.fromkeys(x for a, b, _ in pairs for x in (a, b)))
	clusters = [ids[k::n_sets] for k in range(n_sets) if ids[k::n_sets]] if n_sets else []
	result = ScanResult(pairs=pairs, clusters=clusters, possible=pairs[::2])
	out = [io.StringIO() for _ in range(3)]
	write_outputs(result, *out)
	assert tuple(f.getvalue() for f in out) == _csv_reference(result)
