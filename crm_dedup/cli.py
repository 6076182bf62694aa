"""``crm-dedup``: the matching engine on CSV files, with an embedded SQLite index.

	crm-dedup scan INPUT.csv --rules RULES.json [--id-column id] [--pairs PAIRS.csv] [--clusters CLUSTERS.csv]
		[--possible POSSIBLE.csv]
	crm-dedup scan INPUT.csv --rules RULES.json --report-common [--min-records N] [--limit N] [--json]
	crm-dedup index INPUT.csv --rules RULES.json --db INDEX.sqlite [--id-column id]
	crm-dedup check --rules RULES.json --db INDEX.sqlite (--record JSON | --records FILE.jsonl)
	crm-dedup train INPUT.csv --rules RULES.json [--id-column id] [--labels PAIRS.csv] [--rule NAME] --out MODEL.json
	crm-dedup explain INPUT.csv --rules RULES.json [--id-column id] ID_A ID_B [--json]

Bad input exits 2 with one clear line on stderr, and leaves no half-written output behind.
This module imports no frappe.
"""

from __future__ import annotations

import argparse
import csv
import gc
import hashlib
import io
import json
import os
import sqlite3
import sys
import tempfile
import time
import unicodedata
from array import array
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from crm_dedup.engine import (
	BUILTIN_DIGEST,
	KEY_VERSION,
	DedupError,
	InputError,
	RowFile,
	RowStream,
	RuleError,
	RuleSet,
	SQLiteIndex,
	StrArray,
	check_record,
	common_values,
	load_rules,
	possible_pairs,
	scan_all,
	scan_records,
	train_smart,
	waterfall_text,
)

PROGRESS_MIN_ROWS = 10_000
csv.field_size_limit(16 * 1024 * 1024)


class Progress:
	"""A one-line progress bar on stderr, shown for large inputs only."""

	def __init__(self, enabled: bool) -> None:
		self.enabled = enabled
		self.last = 0.0
		self.started = time.monotonic()

	def __call__(self, phase: str, done: int, total: int) -> None:
		if not self.enabled:
			return
		now = time.monotonic()
		if done < total and now - self.last < 0.25:
			return
		self.last = now
		if total:
			width = 30
			filled = int(width * done / max(total, 1))
			bar = "#" * filled + "-" * (width - filled)
			msg = f"\r{phase:8} [{bar}] {done:>9,}/{total:,} {100 * done / max(total, 1):5.1f}% {now - self.started:6.1f}s"
		else:
			msg = f"\r{phase:8} {done:>9,} {now - self.started:6.1f}s"
		sys.stderr.write(msg)
		if done >= total and total:
			sys.stderr.write("\n")
		sys.stderr.flush()


def read_csv(path: str, id_column: str | None, rules: RuleSet) -> tuple[list[tuple[str, dict]], list[str]]:
	"""All rows as (id, record); raises InputError naming the file and line of the first bad row. ``scan``
	streams the file instead (``stream_csv``); ``index`` and ``scan --report-common`` read it whole."""
	f, reader, header = _open_csv(path, id_column, rules)
	rows: list[tuple[str, dict]] = []
	try:
		seen: set[str] = set()
		for line, rid, row in _data_rows(reader, header, path, id_column, InputError):
			rec = dict(zip(header, row, strict=True))
			if rid in seen:
				raise InputError(f"{path}: line {line} repeats id {rid!r}")
			seen.add(rid)
			rows.append((rid, rec))
	except UnicodeDecodeError as e:
		raise InputError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
	except csv.Error as e:
		raise InputError(f"{path}: malformed CSV: {e}") from None
	finally:
		f.close()
	return rows, header


_STREAM_CHUNK = 5_000  # rows handed to the scan at once


def _data_rows(
	reader: Any, header: list[str], path: str, id_column: str | None, fail: Callable[[str], Exception]
) -> Iterator[tuple[int, str, list[str]]]:
	"""(line, id, row) of every non-blank row, the id from ``id_column`` or the row's number; a row with the
	wrong number of fields or an empty id raises ``fail(message)`` (``read_csv`` and ``stream_csv`` alike)."""
	id_pos = header.index(id_column) if id_column is not None else None
	count = 0
	for row in reader:
		line = reader.line_num
		if not row or (len(row) == 1 and not row[0].strip()):
			continue
		if len(row) != len(header):
			raise fail(f"{path}: line {line} has {len(row)} fields, the header has {len(header)}")
		count += 1
		if id_pos is None:
			yield line, str(count), row
			continue
		rid = row[id_pos].strip()
		if not rid:
			raise fail(f"{path}: line {line} has an empty {id_column!r}")
		yield line, rid, row


def _open_csv(path: str, id_column: str | None, rules: RuleSet):
	"""(file, csv reader, header) after the header checks of ``read_csv``."""
	p = Path(path)
	if not p.is_file():
		raise InputError(f"input file not found: {path}")
	f = p.open(encoding="utf-8-sig", newline="")
	try:
		reader = csv.reader(f, strict=True)
		try:
			header = next(reader)
		except StopIteration:
			raise InputError(f"{path}: the file is empty (no header row)") from None
		header = [h.strip() for h in header]
		if len(set(header)) != len(header):
			dup = next(h for h in header if header.count(h) > 1)
			raise InputError(f"{path}: column {dup!r} appears twice in the header")
		if id_column is not None and id_column not in header:
			raise InputError(
				f"{path}: no column {id_column!r} (--id-column); columns are {', '.join(header)}"
			)
		try:
			rules.check_columns(header)
		except RuleError as e:
			raise InputError(f"{path}: {e}") from None
	except UnicodeDecodeError as e:
		f.close()
		raise InputError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
	except csv.Error as e:
		f.close()
		raise InputError(f"{path}: malformed CSV: {e}") from None
	except BaseException:
		f.close()
		raise
	return f, reader, header


def _first_repeat(hashes: array, lines: array, ids: StrArray) -> tuple[int, str] | None:
	"""(line, id) of the first row, in file order, whose id an earlier row has; None when ids are unique.
	Found by sorting the ids' hashes (numpy), not with a set of a million strings."""
	h = np.frombuffer(hashes, dtype=np.int64)
	if len(h) < 2:
		return None
	order = np.argsort(h, kind="stable")  # equal hashes in row order
	same = np.flatnonzero(h[order][1:] == h[order][:-1])
	best: tuple[int, str] | None = None
	for k in same.tolist():
		later = int(order[k + 1])
		rid = ids[later]
		# an earlier row of the same hash run with the same id (not only the same hash)
		j = k
		while j >= 0 and h[order[j]] == h[later]:
			if ids[int(order[j])] == rid:
				line = lines[later]
				if best is None or line < best[0]:
					best = (line, rid)
				break
			j -= 1
	return best


def stream_csv(path: str, id_column: str | None, rules: RuleSet) -> RowStream:
	"""The rows of a CSV file as a ``RowStream`` for ``scan_records``: the header is checked now, the rows
	while the scan reads them, with the errors (and messages) of ``read_csv`` in file order. Only the ids (a
	``StrArray``), their hashes and line numbers are kept, to find a repeated id."""
	f, reader, header = _open_csv(path, id_column, rules)
	f.close()
	with open(path, "rb") as raw:  # the expected number of rows, for the progress bar (~0.1 s a 100 MB)
		lines = sum(block.count(b"\n") for block in iter(lambda: raw.read(1 << 20), b""))

	def chunks() -> Iterator[tuple[list[str], list[list[str]]]]:
		f, reader, _ = _open_csv(path, id_column, rules)
		id_pos = header.index(id_column) if id_column is not None else None
		seen = StrArray()
		hashes: array = array("q")
		line_of: array = array("q")

		def fail(message: str) -> InputError:
			repeat = _first_repeat(hashes, line_of, seen)
			if repeat is not None:
				return InputError(f"{path}: line {repeat[0]} repeats id {repeat[1]!r}")
			return InputError(message)

		try:
			ids: list[str] = []
			rows: list[list[str]] = []
			lines_chunk: list[int] = []
			for line, rid, row in _data_rows(reader, header, path, id_column, fail):
				ids.append(rid)
				rows.append(row)
				lines_chunk.append(line)
				if len(rows) >= _STREAM_CHUNK:
					if id_pos is not None:
						seen.extend(ids)
						hashes.extend(map(hash, ids))
						line_of.extend(lines_chunk)
					yield ids, rows
					ids, rows, lines_chunk = [], [], []
			if id_pos is not None:
				seen.extend(ids)
				hashes.extend(map(hash, ids))
				line_of.extend(lines_chunk)
				repeat = _first_repeat(hashes, line_of, seen)
				if repeat is not None:
					raise InputError(f"{path}: line {repeat[0]} repeats id {repeat[1]!r}")
			if rows:
				yield ids, rows
		except UnicodeDecodeError as e:
			raise fail(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
		except csv.Error as e:
			raise fail(f"{path}: malformed CSV: {e}") from None
		finally:
			f.close()

	id_pos = header.index(id_column) if id_column is not None else None

	def check() -> None:
		for _ in stream_csv(path, id_column, rules).chunks:
			pass

	def rows(block: bytes, first: bool) -> tuple[list[str], list[list[str]]] | None:
		return _block_rows(block, first, len(header), id_pos)

	file = RowFile(path, rows, check, numbered=id_pos is None)
	return RowStream(header, chunks(), max(0, lines - 1), file)


def _block_rows(
	block: bytes, first: bool, n_fields: int, id_pos: int | None
) -> tuple[list[str], list[list[str]]] | None:
	"""``RowFile.rows`` of a CSV file: (ids, rows) of the data rows of a block of its bytes cut at a line end
	(the first block holds the header), as ``stream_csv``'s chunks give them; None where they would fail
	(not UTF-8, malformed, a row with the wrong number of fields or an empty id) or the block may end inside
	a quoted field (the strict reader fails there: a block never ends mid-row unnoticed)."""
	try:
		reader = csv.reader(
			io.StringIO(block.decode("utf-8-sig" if first else "utf-8"), newline=""), strict=True
		)
		if first:
			next(reader, None)  # the header, checked by stream_csv
		ids: list[str] = []
		rows: list[list[str]] = []
		for row in reader:
			if not row or (len(row) == 1 and not row[0].strip()):
				continue
			if len(row) != n_fields:
				return None
			if id_pos is not None:
				rid = row[id_pos].strip()
				if not rid:
					return None
				ids.append(rid)
			rows.append(row)
	except (UnicodeDecodeError, csv.Error):
		return None
	return ids, rows


def records_of(path: str, id_column: str | None, rules: RuleSet, wanted: set[str]) -> dict[str, dict]:
	"""The records (as dicts) of these ids, read again from the file (the report prints cluster members)."""
	out: dict[str, dict] = {}
	stream = stream_csv(path, id_column, rules)
	for ids, rows in stream.chunks:
		for rid, row in zip(ids, rows, strict=True):
			if rid in wanted:
				out[rid] = dict(zip(stream.header, row, strict=True))
	return out


def _umask() -> int:
	mask = os.umask(0)
	os.umask(mask)
	return mask


@contextmanager
def atomic_outputs(*paths: str | None) -> Iterator[list[Any]]:
	"""Opens a temporary file beside each given path (None: no file) and moves them all into place only when
	every write went well; on any error every temporary file is removed and no target is touched."""
	opened: list[tuple[Path, str, Any]] = []
	files: list[Any] = []
	try:
		for path in paths:
			if not path:
				files.append(None)
				continue
			target = Path(path)
			folder = target.parent
			if not folder.is_dir():
				raise InputError(f"cannot write {path}: folder {folder} does not exist")
			if target.is_dir():
				raise InputError(f"cannot write {path}: it is a folder")
			if target.exists() and not target.is_file():
				# /dev/null, /dev/stdout, a pipe: write straight to it (replacing it would destroy the node)
				files.append(open(target, "w", encoding="utf-8", newline=""))
				opened.append((target, "", files[-1]))
				continue
			fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
			f = os.fdopen(fd, "w", encoding="utf-8", newline="")
			opened.append((target, tmp, f))
			files.append(f)
		yield files
		mode = 0o666 & ~_umask()
		for _, tmp, f in opened:
			f.close()
			if tmp:
				os.chmod(tmp, mode)
		for target, tmp, _ in opened:
			if tmp:
				os.replace(tmp, target)
	except BaseException:
		for _, tmp, f in opened:
			f.close()
			if tmp and os.path.exists(tmp):
				os.unlink(tmp)
		raise


_INDEX_TABLES = {"meta", "records", "keys"}


def verify_index_file(path: str) -> None:
	"""Raises InputError unless ``path`` is absent, empty, or a crm-dedup index. Reads only (an immutable,
	read-only connection): a file that is not an index is never touched, not even by SQLite's side files."""
	p = Path(path)
	if not p.exists() or (p.is_file() and p.stat().st_size == 0):
		return
	if not p.is_file():
		raise InputError(f"{path} is not a crm-dedup index: not a regular file")
	try:
		con = sqlite3.connect(f"{p.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
		try:
			tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
			columns = {r[1] for r in con.execute("PRAGMA table_info(records)")}
		finally:
			con.close()
	except sqlite3.Error as e:
		raise InputError(f"{path} is not a crm-dedup index: {e}") from None
	if tables and not (_INDEX_TABLES <= tables and {"rid", "id", "data"} <= columns):
		raise InputError(
			f"{path} is not a crm-dedup index: it holds other tables ({', '.join(sorted(tables))})"
		)


def rules_fingerprint(rules: RuleSet) -> str:
	"""Changes with the rules and with the engine's blocking keys (an index built otherwise is re-keyed),
	the built-in placeholder lists included."""
	doc = {"rules": rules.to_dict(), "key_version": KEY_VERSION, "placeholders": BUILTIN_DIGEST}
	return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def _short(value: Any, width: int = 40) -> str:
	text = " ".join(str(value).split())
	return text if len(text) <= width else text[: width - 1] + "…"


# ---- commands ----------------------------------------------------------------------------------------
def cmd_scan(args: argparse.Namespace) -> int:
	if args.report_common and (args.pairs or args.clusters or args.possible):
		raise InputError(
			"--report-common prints a report instead of scanning: leave out --pairs, --clusters and --possible"
		)
	if not args.report_common and (args.json or args.min_records is not None or args.limit is not None):
		raise InputError("--json, --min-records and --limit go with --report-common")
	min_records = 5 if args.min_records is None else args.min_records
	if min_records < 2:
		raise InputError(f"--min-records must be at least 2, got {min_records}")
	limit = 50 if args.limit is None else args.limit
	if limit < 1:
		raise InputError(f"--limit must be at least 1, got {limit}")
	rules = load_rules(args.rules)
	if args.report_common:
		rows, _ = read_csv(args.input, args.id_column, rules)
		found = common_values(rules, rows, min_records=min_records, limit=limit)
		if args.json:
			sys.stdout.write(json.dumps(found, ensure_ascii=False, indent=1) + "\n")
		else:
			print_common(found, len(rows), min_records)
		return 0
	# condition rules stream the file (bounded memory, engine.scan); smart rules need the records in a list
	rows = read_csv(args.input, args.id_column, rules)[0] if rules.smart else None
	source = rows if rows is not None else stream_csv(args.input, args.id_column, rules)
	total = len(rows) if rows is not None else source.total
	with (
		_collector_paused(),
		atomic_outputs(args.pairs, args.clusters, args.possible) as (
			pairs_file,
			clusters_file,
			possible_file,
		),
	):
		progress = Progress(total >= PROGRESS_MIN_ROWS or args.progress)
		if rows is not None:
			result = scan_all(rules, rows, progress=progress, total=total)
		else:
			result = scan_records(rules, source, progress=progress)
		write_outputs(result, pairs_file, clusters_file, possible_file)
	if not args.pairs and not args.clusters and not args.possible:
		members = {i for cluster in result.clusters for i in cluster}
		members |= {i for a, b, _m in result.possible for i in (a, b)}
		records = dict(rows) if rows is not None else records_of(args.input, args.id_column, rules, members)
		print_report(result, records, rules)
	else:
		sys.stderr.write(summary(result) + "\n")
	return 0


@contextmanager
def _collector_paused(freeze: bool = True) -> Iterator[None]:
	"""A scan's result is a few objects per matched pair (a million at 1,000,000 records): the cyclic collector,
	resumed, would go through them all again and again (a second each time) and find nothing to free. It stays
	paused while the result is made and written, and resumes without them (``freeze``: ``gc.freeze``)."""
	enabled = gc.isenabled()
	gc.disable()
	try:
		yield
	finally:
		if freeze:
			gc.freeze()
		if enabled:
			gc.enable()


def _write_csv(file, header: list[str], rows: Callable[[], Iterable[tuple]], text: str, n: int) -> None:
	"""``csv.writer(file)``'s header and ``rows()``, given as ``text`` (``n`` lines, fields joined by commas)
	when that is what csv writes: no field it would quote (a comma, a quote or a line break in a field
	makes the commas or line ends not add up)."""
	if (
		'"' not in text
		and text.count(",") == n * (len(header) - 1)
		and text.count("\n") == n
		and text.count("\r") == n
	):
		file.write(",".join(header) + "\r\n")
		file.write(text)
		return
	w = csv.writer(file)
	w.writerow(header)
	w.writerows(rows())


def write_outputs(result, pairs_file, clusters_file, possible_file) -> None:
	"""A scan's pairs, clusters and possible links as CSV (a file None: not written)."""
	with _collector_paused(freeze=False):
		_write_outputs(result, pairs_file, clusters_file, possible_file)


def _write_outputs(result, pairs_file, clusters_file, possible_file) -> None:
	if pairs_file:
		pairs = result.pairs
		text = "".join([f"{a},{b},{m.rule},{m.action},{m.score:.1f}\r\n" for a, b, m in pairs])
		_write_csv(
			pairs_file,
			["id_a", "id_b", "rule", "action", "score"],
			lambda: ((a, b, m.rule, m.action, f"{m.score:.1f}") for a, b, m in pairs),
			text,
			len(pairs),
		)
	if clusters_file:
		clusters = result.clusters
		text = "".join([f"{i},{n}\r\n" for n, members in enumerate(clusters, 1) for i in members])
		_write_csv(
			clusters_file,
			["id", "cluster_id"],
			lambda: ((i, n) for n, members in enumerate(clusters, 1) for i in members),
			text,
			sum(map(len, clusters)),
		)
	if possible_file:
		possible, cluster_of = result.possible, result.cluster_of()
		rows = [
			(a, b, m.rule, m.action, f"{m.score:.1f}", cluster_of.get(a, ""), cluster_of.get(b, ""))
			for a, b, m in possible
		]
		text = "".join([f"{a},{b},{r},{x},{s},{ca},{cb}\r\n" for a, b, r, x, s, ca, cb in rows])
		header = ["id_a", "id_b", "rule", "action", "score", "cluster_a", "cluster_b"]
		_write_csv(possible_file, header, lambda: rows, text, len(rows))


def summary(result) -> str:
	"""The closing lines of a scan: counts, the set-size distribution, the largest set, possible links."""
	s = result.stats
	lines = [f"{s['records']:,} records, {s['pairs']:,} matched pairs, {s['clusters']:,} clusters"]
	if s.get("oversized_keys"):
		lines[0] += f" ({s['oversized_keys']} very common keys compared by neighbourhood only)"
	if result.clusters:
		sizes = ", ".join(f"{size}: {count:,}" for size, count in result.size_distribution().items())
		largest = result.clusters[0]
		shown = ", ".join(largest[:5]) + (", …" if len(largest) > 5 else "")
		lines.append(f"set sizes (records: sets): {sizes}; largest set {len(largest)} records ({shown})")
	lone = len(possible_pairs(result.clusters, result.possible))
	lines.append(
		f"{len(result.possible):,} possible links (weak or cut links, not merged into the sets)"
		+ (f"; {s['split_links']:,} links cut to split sets" if s.get("split_links") else "")
		+ (
			f"; {lone:,} possible pairs (two records in no set, each the other's best weak link: review them apart)"
			if lone
			else ""
		)
	)
	return "\n".join(lines)


def print_report(result, records: dict[str, dict], rules: RuleSet) -> None:
	fields = [f for r in rules.rules for c in r.conditions for f in c.fields]
	fields += [f for s in rules.smart for c in s.comparisons for f in c.fields]
	fields = list(dict.fromkeys(fields))
	pairs_by_cluster: dict[int, list] = {}
	possible_by_cluster: dict[int, list] = {}
	cluster_of = result.cluster_of()
	for a, b, m in result.pairs:
		n = cluster_of.get(a)
		if n is not None and n == cluster_of.get(b):
			pairs_by_cluster.setdefault(n, []).append((a, b, m))
	for a, b, m in result.possible:
		for n in dict.fromkeys(x for x in (cluster_of.get(a), cluster_of.get(b)) if x is not None):
			possible_by_cluster.setdefault(n, []).append((a, b, m))
	out = sys.stdout
	for n, members in enumerate(result.clusters, 1):
		out.write(f"Cluster {n} ({len(members)} records)\n")
		for i in members:
			rec = records[i]
			vals = ", ".join(f"{f}={_short(rec[f])}" for f in fields if str(rec.get(f) or "").strip())
			out.write(f"  {i}: {vals}\n")
		for a, b, m in pairs_by_cluster.get(n, []):
			out.write(
				f"    {a} ~ {b}: {m.rule} ({m.action}) score {m.score:.0f} — {'; '.join(h.text() for h in m.hits)}\n"
			)
		for a, b, m in possible_by_cluster.get(n, []):
			other = cluster_of.get(b) if cluster_of.get(a) == n else cluster_of.get(a)
			where = f"cluster {other}" if other else "no cluster"
			out.write(f"    possible: {a} ~ {b} ({where}): {m.rule} ({m.action}) score {m.score:.0f}\n")
		out.write("\n")
	out.write(summary(result) + "\n")


def _width(text: str) -> int:
	"""Terminal columns of the text (Chinese characters take two)."""
	return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
	return text + " " * max(0, width - _width(text))


def print_common(found: list[dict], n_records: int, min_records: int) -> None:
	out = sys.stdout
	if not found:
		out.write(
			f"No value is shared by {min_records} or more records that look unrelated "
			f"({n_records:,} records read): no likely placeholders beyond the lists in force.\n"
		)
		return
	out.write(
		f"Values shared by {min_records} or more records that look unrelated (likely placeholders), most "
		f"suspicious first; {n_records:,} records read.\n"
		"records: how many have the value; unrelated: how many different-looking customers they are (records "
		"sharing another rule value count once).\n\n"
	)
	head = ("field", "match", "records", "unrelated", "value", "examples")
	rows = [
		(
			d["field"],
			d["match"],
			f"{d['records']:,}",
			f"{d['distinct_others']:,}",
			_short(repr(d["value"]), 32),
			", ".join(d["example_ids"][:3]) + (", …" if d["records"] > 3 else ""),
		)
		for d in found
	]
	widths = [max(_width(r[i]) for r in (head, *rows)) for i in range(len(head))]
	right = {2, 3}
	for r in (head, *rows):
		cells = [
			" " * (widths[i] - _width(c)) + c if i in right else _pad(c, widths[i]) for i, c in enumerate(r)
		]
		out.write("  ".join(cells).rstrip() + "\n")
	out.write(
		f"\n{len(found)} value{'s' if len(found) != 1 else ''}. Add the placeholders among them to "
		'"options": {"placeholders": {...}} in the rules file (docs/placeholders.md).\n'
	)


def cmd_index(args: argparse.Namespace) -> int:
	rules = load_rules(args.rules)
	rows, _ = read_csv(args.input, args.id_column, rules)
	folder = Path(args.db).parent
	if not folder.is_dir():
		raise InputError(f"cannot write {args.db}: folder {folder} does not exist")
	verify_index_file(args.db)
	created = not os.path.exists(args.db)
	index = SQLiteIndex(args.db)
	progress = Progress(len(rows) >= PROGRESS_MIN_ROWS or args.progress)
	fp = rules_fingerprint(rules)
	try:
		index.begin()
		old = index.get_meta("rules")
		if old is not None and old != fp and len(index):
			print("rules changed since this index was built: re-keying the stored records", file=sys.stderr)
			index.clear_keys()
			index.put_many((i, rules.keys(rules.prepare(r)), r) for i, r in list(index.iter_records()))
		index.set_meta("rules", fp)

		def items():
			for n, (rid, rec) in enumerate(rows, 1):
				if n % 5000 == 0:
					progress("index", n, len(rows))
				yield rid, rules.keys(rules.prepare(rec, id=rid)), rec

		n = index.put_many(items())
		progress("index", len(rows), len(rows))
		index.commit()
		total = len(index)
	except BaseException:
		index.rollback()
		index.close()
		if created:
			for suffix in ("", "-wal", "-shm"):
				if os.path.exists(args.db + suffix):
					os.unlink(args.db + suffix)
		raise
	index.close()
	print(f"indexed {n:,} records; the index holds {total:,}", file=sys.stderr)
	return 0


def _queries(args: argparse.Namespace) -> list[dict]:
	if args.record is not None:
		try:
			rec = json.loads(args.record)
		except json.JSONDecodeError as e:
			raise InputError(f"--record is not valid JSON: {e.msg} at column {e.colno}") from None
		if not isinstance(rec, dict):
			raise InputError("--record must be a JSON object")
		return [rec]
	p = Path(args.records)
	if not p.is_file():
		raise InputError(f"records file not found: {args.records}")
	out = []
	try:
		with p.open(encoding="utf-8-sig") as f:
			for n, line in enumerate(f, 1):
				if not line.strip():
					continue
				try:
					rec = json.loads(line)
				except json.JSONDecodeError as e:
					raise InputError(f"{args.records}: line {n} is not valid JSON: {e.msg}") from None
				if not isinstance(rec, dict):
					raise InputError(f"{args.records}: line {n} is not a JSON object")
				out.append(rec)
	except UnicodeDecodeError as e:
		raise InputError(f"{args.records}: not UTF-8 text ({e.reason})") from None
	return out


def cmd_check(args: argparse.Namespace) -> int:
	rules = load_rules(args.rules)
	queries = _queries(args)
	verify_index_file(args.db)
	if os.path.isfile(args.db) and os.path.getsize(args.db) == 0:
		raise InputError(f"{args.db} holds no index yet: run crm-dedup index first")
	index = SQLiteIndex(args.db, create=False)
	try:
		fp = index.get_meta("rules")
		if fp is None:
			raise InputError(f"{args.db} holds no index yet: run crm-dedup index first")
		if fp != rules_fingerprint(rules):
			raise InputError(
				f"{args.db} was built with other rules or an older crm-dedup: "
				"run crm-dedup index with these rules first"
			)
		lines = []
		for q in queries:
			exclude = [str(q[args.id_column])] if args.id_column and q.get(args.id_column) else []
			matches = check_record(rules, q, index, exclude=exclude)
			payload = [
				{
					"id": m.id,
					"rule": m.rule,
					"action": m.action,
					"score": round(m.score, 1),
					"explain": m.explain,
					**({"smart": m.waterfall} if hasattr(m, "waterfall") else {}),
				}
				for m in matches
			]
			lines.append(json.dumps({"matches": payload}, ensure_ascii=False))
	finally:
		index.close()
	sys.stdout.write("\n".join(lines) + ("\n" if lines else ""))
	return 0


def read_labels(path: str) -> list[tuple[str, str, str]]:
	"""(id_a, id_b, label) rows of a labelled pairs CSV with the header id_a,id_b,label."""
	p = Path(path)
	if not p.is_file():
		raise InputError(f"labels file not found: {path}")
	try:
		with p.open(encoding="utf-8-sig", newline="") as f:
			reader = csv.DictReader(f)
			need = {"id_a", "id_b", "label"}
			if not reader.fieldnames or not need <= {h.strip() for h in reader.fieldnames}:
				raise InputError(f"{path}: the header must name id_a, id_b and label")
			rows = []
			for row in reader:
				row = {(k or "").strip(): v for k, v in row.items()}
				if None in row.values():
					raise InputError(f"{path}: line {reader.line_num} has too few fields")
				rows.append((row["id_a"], row["id_b"], row["label"]))
			return rows
	except UnicodeDecodeError as e:
		raise InputError(f"{path}: not UTF-8 text ({e.reason})") from None
	except csv.Error as e:
		raise InputError(f"{path}: malformed CSV: {e}") from None


def _smart_rule(rules: RuleSet, name: str | None):
	if not rules.smart:
		raise InputError('the rules file has no smart rule (a rule with "kind": "smart") to train')
	if name is None:
		if len(rules.smart) > 1:
			names = ", ".join(s.name for s in rules.smart)
			raise InputError(f"the rules file has several smart rules ({names}): choose one with --rule")
		return rules.smart[0]
	for s in rules.smart:
		if s.name == name:
			return s
	raise InputError(f"no smart rule named {name!r} in the rules file")


def cmd_train(args: argparse.Namespace) -> int:
	rules = load_rules(args.rules, load_models=False)  # the model may not exist yet: it is what we write
	rule = _smart_rule(rules, args.rule)
	rows, _ = read_csv(args.input, args.id_column, rules)
	labels = read_labels(args.labels) if args.labels else []
	progress = Progress(len(rows) >= PROGRESS_MIN_ROWS or args.progress)
	model = train_smart(rule, rows, labels, progress=progress, n_random=args.random_pairs)
	doc = model.to_dict(rule)
	with atomic_outputs(args.out) as (out,):
		json.dump(doc, out, ensure_ascii=False, indent=1)
		out.write("\n")
	t = doc["trained"]
	print(
		f"trained {rule.name!r} on {t['records']:,} records: {t['candidate_pairs']:,} candidate pairs, "
		f"{t['random_pairs']:,} random pairs, {t['labels']['pairs']} labelled pairs, EM {t['em_iterations']} "
		f"iterations, λ={doc['lambda']:.4g}, {t['seconds']} s -> {args.out}",
		file=sys.stderr,
	)
	for c in doc["comparisons"]:
		levels = ", ".join(f"{lv['label']} {lv['weight']:+.1f}" for lv in c["levels"])
		print(f"  {c['name']}: {levels}", file=sys.stderr)
	return 0


def cmd_explain(args: argparse.Namespace) -> int:
	rules = load_rules(args.rules)
	rows, _ = read_csv(args.input, args.id_column, rules)
	records = dict(rows)
	for rid in (args.id_a, args.id_b):
		if rid not in records:
			raise InputError(f"{args.input}: no record with id {rid!r}")
	a, b = records[args.id_a], records[args.id_b]
	pa, pb = rules.prepare(a, id=args.id_a), rules.prepare(b, id=args.id_b)
	out = []
	for r in rules.rules:
		m = rules.compare_rule(r, pa, pb)
		out.append({"rule": r.name, "fired": m is not None, **(m.to_dict() if m else {})})
	for s in rules.smart:
		out.append({"rule": s.name, "kind": "smart", **s.compare(a, b, args.id_b, always=True).to_dict()})
	if args.json:
		sys.stdout.write(json.dumps(out, ensure_ascii=False, indent=1) + "\n")
		return 0
	for d in out:
		if d.get("kind") == "smart":
			sys.stdout.write(waterfall_text(d["smart"]) + "\n")
		elif d["fired"]:
			sys.stdout.write(f"rule {d['rule']!r} fires ({d['action']}): {d['explain']}\n")
		else:
			sys.stdout.write(f"rule {d['rule']!r} does not fire\n")
	return 0


def build_parser() -> argparse.ArgumentParser:
	parser = argparse.ArgumentParser(
		prog="crm-dedup", description="Find duplicate CRM records (撞单) in CSV files."
	)
	sub = parser.add_subparsers(dest="command", required=True)

	scan = sub.add_parser("scan", help="find duplicate clusters inside one CSV file")
	scan.add_argument("input")
	scan.add_argument("--rules", required=True)
	scan.add_argument("--id-column")
	scan.add_argument("--pairs", help="write matched pairs here (id_a,id_b,rule,action,score)")
	scan.add_argument("--clusters", help="write cluster membership here (id,cluster_id)")
	scan.add_argument(
		"--possible",
		help="write possible links here (id_a,id_b,rule,action,score,cluster_a,cluster_b): matched pairs "
		"whose two records are not in one cluster",
	)
	scan.add_argument("--progress", action="store_true", help="show the progress bar even for small files")
	scan.add_argument(
		"--report-common",
		action="store_true",
		help="instead of scanning, report values shared by many unrelated records (likely placeholders)",
	)
	scan.add_argument(
		"--min-records",
		type=int,
		help="with --report-common: report values shared by at least this many unrelated records (default 5)",
	)
	scan.add_argument("--json", action="store_true", help="with --report-common: print the report as JSON")
	scan.add_argument("--limit", type=int, help="with --report-common: report at most this many values (50)")
	scan.set_defaults(func=cmd_scan)

	index = sub.add_parser("index", help="add CSV rows to a persistent SQLite index")
	index.add_argument("input")
	index.add_argument("--rules", required=True)
	index.add_argument("--db", required=True)
	index.add_argument("--id-column")
	index.add_argument("--progress", action="store_true")
	index.set_defaults(func=cmd_index)

	check = sub.add_parser("check", help="check records against an index, one JSON line per record")
	check.add_argument("--rules", required=True)
	check.add_argument("--db", required=True)
	group = check.add_mutually_exclusive_group(required=True)
	group.add_argument("--record", help="one record as a JSON object")
	group.add_argument("--records", help="a file with one JSON object per line")
	check.add_argument("--id-column", help="a query's own id in the index is never reported as its duplicate")
	check.set_defaults(func=cmd_check)

	train = sub.add_parser("train", help="train a smart rule's weights on a CSV file (and labelled pairs)")
	train.add_argument("input")
	train.add_argument("--rules", required=True)
	train.add_argument("--id-column")
	train.add_argument("--labels", help="labelled pairs: a CSV with id_a,id_b,label (1 duplicate, 0 not)")
	train.add_argument("--rule", help="the smart rule to train (when the rules file has several)")
	train.add_argument("--out", required=True, help="write the model (JSON) here")
	train.add_argument("--random-pairs", type=int, default=50_000, help="pairs drawn to learn u (50,000)")
	train.add_argument("--progress", action="store_true")
	train.set_defaults(func=cmd_train)

	explain = sub.add_parser("explain", help="why two records of a CSV file match or not, rule by rule")
	explain.add_argument("input")
	explain.add_argument("id_a")
	explain.add_argument("id_b")
	explain.add_argument("--rules", required=True)
	explain.add_argument("--id-column")
	explain.add_argument("--json", action="store_true")
	explain.set_defaults(func=cmd_explain)
	return parser


def _silence_stdout() -> None:
	"""Points stdout at /dev/null, so that flushing it at exit does not raise BrokenPipeError again."""
	try:
		devnull = os.open(os.devnull, os.O_WRONLY)
		os.dup2(devnull, sys.stdout.fileno())
	except (OSError, AttributeError, ValueError):  # no real file descriptor behind sys.stdout
		pass


def main(argv: list[str] | None = None) -> int:
	parser = build_parser()
	args = parser.parse_args(argv)
	try:
		return args.func(args)
	except DedupError as e:
		print(f"crm-dedup: error: {e}", file=sys.stderr)
		return 2
	except BrokenPipeError:
		# the reader went away (``crm-dedup scan ... | head``): stop quietly, as a command killed by SIGPIPE does;
		# output files are complete (they are renamed into place before the report is printed)
		_silence_stdout()
		return 141
	except OSError as e:
		print(f"crm-dedup: error: {e.strerror or e}: {e.filename or ''}".rstrip(": "), file=sys.stderr)
		return 2
	except sqlite3.Error as e:  # a locked or damaged index
		print(f"crm-dedup: error: index {getattr(args, 'db', '')}: {e}", file=sys.stderr)
		return 2
	except KeyboardInterrupt:
		print("crm-dedup: interrupted; nothing was written", file=sys.stderr)
		return 130


if __name__ == "__main__":
	sys.exit(main())
