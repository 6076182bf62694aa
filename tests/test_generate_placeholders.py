"""benchmarks/generate.py --placeholders: fillers in blank fields only, same rows otherwise; RATE 0 changes
nothing. Needs the generator's data packages (pip install -e .[bench]); skipped without them."""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import io
import sys

import pytest
from _helpers import ROOT

for pkg in ("companynameparser", "cpca", "jieba"):
	if importlib.util.find_spec(pkg) is None:
		pytest.skip(f"the generator needs {pkg} (pip install -e .[bench])", allow_module_level=True)

sys.path.insert(0, str(ROOT / "benchmarks"))
import generate  # noqa: E402

# sha256 of `generate.py --rows 300 --seed 3` before --placeholders existed
BEFORE = "937042f49e660d630b5997a63fb697674892831eb533acc1bb56c5570ad34b74"


def _rows(placeholders: float) -> str:
	out = io.StringIO()
	generate.generate(300, 0.1, 3, out, placeholders=placeholders)
	return out.getvalue()


@pytest.fixture(scope="module")
def outputs():
	return _rows(0.0), _rows(0.3)


def test_rate_zero_writes_the_same_bytes(outputs):
	assert hashlib.sha256(outputs[0].encode("utf-8")).hexdigest() == BEFORE


def test_placeholders_fill_blank_fields_only(outputs):
	clean, mixed = (list(csv.reader(io.StringIO(t))) for t in outputs)
	header = clean[0]
	filled = 0
	for a, b in zip(clean[1:], mixed[1:], strict=True):
		for col, x, y in zip(header, a, b, strict=True):
			if x != y:
				assert x == "", (col, x, y)  # a real value is never replaced
				kind = "phone" if col in generate.PHONE_SLOTS else col
				assert y in generate.PLACEHOLDERS[kind]
				filled += 1
	assert filled > 100
