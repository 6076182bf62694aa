"""Compact per-record storage for a batch scan: what a scan keeps of a million records, in a few flat buffers.

A scan needs, for every record, its id, the prepared values its blocking conditions were keyed on (checked
for every candidate pair) and, for the records some pair reaches ``compare_rule`` with, the rest of the record.
Held as Python objects (a dict per record, tuples of tuples of values) that was ~4.7 GB for 1,000,000 records;
here it is:

- ``StrArray``: strings (ids) as one UTF-8 buffer plus an offsets array, ~(len + 8) bytes a string;
- ``BlobArray``: one serialised object per record (the norms of the ready conditions), the same layout;
- ``Spill``: one serialised object per record in an unlinked temporary file (the prepared values in full, and
  the record's rule fields), read back with ``os.pread`` for the few records that need them. The page cache
  holds it, not this process.

Objects are serialised with ``marshal`` (strings, numbers, tuples, dicts: a fraction of pickle's time), or
with ``pickle`` when a value is of another type (a person name's prepared form). Every buffer is a numpy
array or a ``bytes``: forked workers read them without copying a page (no reference counts to touch).
"""

from __future__ import annotations

import marshal
import os
import pickle
import tempfile
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

_MARSHAL = b"M"
_PICKLE = b"P"


def joined(items: list[bytes]) -> tuple[bytes, np.ndarray]:
	"""Byte records as one buffer and their lengths (what ``extend_joined`` takes)."""
	return b"".join(items), np.fromiter(map(len, items), dtype=np.int64, count=len(items))


def dump(obj: Any) -> bytes:
	"""``obj`` as bytes for ``load``: marshal where it can, pickle otherwise."""
	try:
		return _MARSHAL + marshal.dumps(obj)
	except ValueError:  # an object marshal does not know (a dataclass)
		return _PICKLE + pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)


def load(data: bytes | memoryview) -> Any:
	if data[:1] == _MARSHAL:
		return marshal.loads(data[1:])
	return pickle.loads(data[1:])


class _Chunked:
	"""Append-only byte records: one buffer and an offsets array, grown chunk by chunk, then frozen."""

	def __init__(self) -> None:
		self._parts: list[bytes] = []
		self._lengths: list[np.ndarray] = []
		self._buf: bytes | None = None
		self._ends: np.ndarray | None = None
		self._n = 0

	def extend_bytes(self, items: list[bytes]) -> None:
		self.extend_joined(b"".join(items), np.fromiter(map(len, items), dtype=np.int64, count=len(items)))

	def extend_joined(self, data: bytes, lengths: np.ndarray) -> None:
		"""Appends ``len(lengths)`` records given as one buffer and their lengths."""
		self._parts.append(data)
		self._lengths.append(lengths)
		self._n += len(lengths)
		self._buf = None

	def freeze(self) -> None:
		if self._buf is None:
			self._buf = b"".join(self._parts)
			self._parts = [self._buf]
			lengths = np.concatenate(self._lengths) if self._lengths else np.zeros(0, np.int64)
			self._lengths = [lengths]
			# array('q'), not numpy: indexing it gives a Python int at once (millions of look-ups)
			self._ends = array("q", np.cumsum(lengths).tobytes())

	def raw(self, i: int) -> bytes:
		if self._buf is None:
			self.freeze()
		ends = self._ends
		return self._buf[ends[i - 1] if i else 0 : ends[i]]

	def __len__(self) -> int:
		return self._n

	@property
	def nbytes(self) -> int:
		self.freeze()
		return len(self._buf) + len(self._ends) * self._ends.itemsize


class StrArray(_Chunked):
	"""Strings by index, stored as UTF-8 (surrogates pass through)."""

	def extend(self, items: Iterable[str]) -> None:
		self.extend_bytes([s.encode("utf-8", "surrogatepass") for s in items])

	def __getitem__(self, i: int) -> str:
		return self.raw(i).decode("utf-8", "surrogatepass")


class BlobArray(_Chunked):
	"""Objects by index, each stored as ``dump`` bytes."""

	def __getitem__(self, i: int) -> Any:
		return load(self.raw(i))


class Spill:
	"""Objects by index in an unlinked temporary file: written once in order, read back one by one."""

	def __init__(self, folder: str | None = None) -> None:
		self._file = tempfile.TemporaryFile(prefix="crm-dedup-scan-", dir=folder)
		self._fd = self._file.fileno()
		self._lengths: list[np.ndarray] = []
		self._ends: np.ndarray | None = None
		self._size = 0

	def extend_bytes(self, items: list[bytes]) -> None:
		self.extend_joined(b"".join(items), np.fromiter(map(len, items), dtype=np.int64, count=len(items)))

	def extend_joined(self, data: bytes, lengths: np.ndarray) -> None:
		os.pwrite(self._fd, data, self._size)
		self._size += len(data)
		self._lengths.append(lengths)
		self._ends = None

	def __getitem__(self, i: int) -> Any:
		ends = self._ends
		if ends is None:
			lengths = np.concatenate(self._lengths) if self._lengths else np.zeros(0, np.int64)
			self._lengths = [lengths]
			ends = self._ends = array("q", np.cumsum(lengths).tobytes())
		start = ends[i - 1] if i else 0
		return load(os.pread(self._fd, ends[i] - start, start))

	@property
	def size(self) -> int:
		return self._size

	def close(self) -> None:
		self._file.close()


@dataclass
class RowStream:
	"""Records as rows under one header, read chunk by chunk: what ``scan_records`` streams a file as.

	``chunks`` yields (ids, rows) with one row (a list of strings in ``header`` order) per id; it is iterated
	once, and may raise (a malformed row) at any point. ``total`` is the expected number of rows, if known
	(progress, and whether worker processes are worth starting).
	"""

	header: list[str]
	chunks: Iterable[tuple[list[str], list[list[str]]]]
	total: int | None = None
	file: RowFile | None = None  # the file the rows are read from, when worker processes may read it


@dataclass
class RowFile:
	"""A file of rows that worker processes can read in blocks themselves (``scan``'s streamed keying): the
	reading process only cuts the file into blocks at line ends; a worker makes a block's rows.

	``rows(block, first)``: (ids, rows) of a block of the file's bytes, as ``RowStream.chunks`` would give them
	(``first``: the block starts the file, header included); None when the block holds anything ``chunks``
	would fail on, or may not end where a row ends. ``check()`` reads the whole file as ``chunks`` does and
	raises its first error (if any): what a scan runs when a block gave None. ``numbered``: the rows have no
	ids, they are numbered from 1 (``rows`` gives no ids)."""

	path: str
	rows: Callable[[bytes, bool], tuple[list[str], list[list[str]]] | None]
	check: Callable[[], None]
	numbered: bool = False
