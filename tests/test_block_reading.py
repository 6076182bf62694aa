"""A streamed scan whose workers read blocks of the file themselves (``scan._bucket_blocks``) finds what the
scan reading the rows in this process finds, and fails with the very same message on every bad input."""

from __future__ import annotations

import csv
import multiprocessing
import os

import pytest
from _helpers import EXAMPLES

from crm_dedup import cli
from crm_dedup.engine import load_rules, scan_records
from crm_dedup.engine import scan as scan_module

pytestmark = pytest.mark.skipif(
	"fork" not in multiprocessing.get_all_start_methods(), reason="workers are forked"
)

RULES = load_rules(EXAMPLES / "rules.json")
with open(EXAMPLES / "customers.csv", encoding="utf-8", newline="") as _f:
	HEADER, *ROWS = list(csv.reader(_f))


def _text(rows, header=HEADER, newline="\n") -> str:
	return "".join(",".join(_quoted(v) for v in row) + newline for row in [header, *rows])


def _quoted(v: str) -> str:
	return '"' + v.replace('"', '""') + '"' if any(c in v for c in ',"\n\r') else v


def _many(n=3):
	"""The example rows n times over, with ids of their own."""
	return [[f"{row[0]}-{k}", *row[1:]] for k in range(n) for row in ROWS]


def _outcome(path, workers, id_column="id"):
	try:
		result = scan_records(RULES, cli.stream_csv(str(path), id_column, RULES), workers=workers)
	except cli.InputError as e:
		return "error", str(e)
	return (
		[(a, b, m.rule, round(m.score, 3)) for a, b, m in result.pairs],
		result.clusters,
		[(a, b, m.rule) for a, b, m in result.possible],
		result.stats["records"],
	)


def _same(tmp_path, data: bytes, id_column="id", expect_error=None, block=64, read_in_blocks=True):
	"""The scan of ``data`` with workers reading blocks equals the serial one; ``read_in_blocks``: the workers'
	blocks gave the scan (no error, and no second reading in this process)."""
	path = tmp_path / "in.csv"
	path.write_bytes(data)
	serial = _outcome(path, 1, id_column)
	used = []
	real = scan_module._bucket_blocks

	def spy(*args):
		used.append(real(*args))
		return used[-1]

	with pytest.MonkeyPatch.context() as mp:
		mp.setattr(scan_module, "_BLOCK", block)
		mp.setattr(scan_module, "_bucket_blocks", spy)
		blocks = _outcome(path, 2, id_column)
	assert blocks == serial
	if read_in_blocks is not None:
		assert (len(used) == 1 and used[0] is not None) == (read_in_blocks and expect_error is None)
	if expect_error is None:
		assert serial[0] != "error" and serial[0], serial
	else:
		assert serial[0] == "error" and expect_error in serial[1], serial
	return serial


def test_good_files_read_in_blocks_give_the_same_scan(tmp_path):
	rows = _many()
	rows[4][9] = "南京\n(江宁)"  # a quoted field over two lines
	rows[7][1] = 'say "hi", 公司'  # doubled quotes in a quoted field
	_same(tmp_path, _text(rows).encode())
	_same(tmp_path, b"\xef\xbb\xbf" + _text(rows, newline="\r\n").encode())  # BOM, CRLF
	_same(
		tmp_path, _text(rows).replace("\n", "\n\n \n", 5).encode().rstrip(b"\n")
	)  # blank rows, no last line end
	_same(tmp_path, _text([row[1:] for row in rows], HEADER[1:]).encode(), id_column=None)  # numbered rows
	_same(tmp_path, _text(rows).encode(), block=1 << 20)
	for block in (1, 7):  # blocks shorter than a row: a cut may land in the quoted field (read again here)
		_same(tmp_path, _text(rows).encode(), block=block, read_in_blocks=None)


def test_a_quote_in_an_unquoted_field_misleads_the_cut_but_not_the_scan(tmp_path):
	rows = _many()
	rows[2][2] = "Zhang 5in"
	rows[9][9] = "南京\n江宁"  # the line end in this quoted field is the one that looks like a row's end...
	data = _text(rows).replace("Zhang 5in", 'Zhang 5"').encode()  # ...after a literal quote: an odd count
	_same(tmp_path, data, block=1 << 20, read_in_blocks=False)  # one read, cut there: read again here
	for block in (1, 40, 100, 333):
		_same(tmp_path, data, block=block, read_in_blocks=None)


@pytest.mark.parametrize(
	"damage, word",
	[
		(lambda rows: rows[20].append("extra"), "line 22 has 11 fields"),
		(lambda rows: rows[20].__setitem__(0, " "), "line 22 has an empty 'id'"),
		(lambda rows: rows[25].__setitem__(0, rows[3][0]), "line 27 repeats id"),
		(lambda rows: rows[25].__setitem__(0, rows[24][0]), "line 27 repeats id"),
	],
)
def test_bad_rows_fail_as_the_serial_reading_fails(tmp_path, damage, word):
	rows = _many()
	damage(rows)
	_same(tmp_path, _text(rows).encode(), expect_error=word)


def test_a_repeated_id_before_a_bad_row_is_the_error(tmp_path, monkeypatch):
	monkeypatch.setattr(cli, "_STREAM_CHUNK", 8)  # the serial reading looks for repeats chunk by chunk
	rows = _many()
	rows[10][0] = rows[2][0]
	rows[40].append("extra")
	_same(tmp_path, _text(rows).encode(), expect_error="line 12 repeats id")


def test_bad_bytes_and_bad_quotes_fail_as_the_serial_reading_fails(tmp_path):
	data = _text(_many()).encode()
	at = data.index(b"\n", len(data) // 2) + 5
	_same(tmp_path, data[:at] + b"\xff\xfe" + data[at:], expect_error="not UTF-8")
	_same(tmp_path, data + b'X9,"unterminated,,,,,,,,\n', expect_error="malformed CSV")
	_same(
		tmp_path, data[: at - 4] + b'"a"b' + data[at - 4 :], expect_error="malformed CSV"
	)  # a row starts "a"b
	_same(tmp_path, data[:at] + b'"a"b' + data[at:])  # inside an unquoted field: quotes like any character


def _task(n):
	if n == 3:
		raise ValueError("three")
	if n == 4:
		os._exit(1)  # a worker killed (out of memory, say)
	return n * 2


def test_workers_give_results_in_order_and_raise_what_a_task_raised():
	with scan_module._Workers(2, _task) as workers:
		procs = list(workers.procs)
		for n in range(3):
			workers.send(n)
		assert [workers.recv() for _ in range(3)] == [0, 2, 4]
		workers.send(3)
		with pytest.raises(ValueError, match="three"):
			workers.recv()
		workers.send(1)
		assert workers.recv() == 2  # the worker that raised goes on
		workers.send(4)
		with pytest.raises(RuntimeError, match="ended unexpectedly"):
			workers.recv()
	assert not any(p.is_alive() for p in procs)
