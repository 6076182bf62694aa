"""The engine and the CLI work where frappe cannot be imported, and no engine module imports it."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap

from _helpers import ROOT

ENGINE = ROOT / "crm_dedup" / "engine"

BLOCK_BY_FINDER = """
import sys
class NoFrappe:
	def find_spec(self, name, path=None, target=None):
		if name == "frappe" or name.startswith("frappe."):
			raise ImportError("frappe is not installed here")
		return None
sys.meta_path.insert(0, NoFrappe())
try:
	import frappe
except ImportError:
	pass
else:
	raise SystemExit("the finder did not block frappe")
"""

BLOCK_BY_NONE = """
import sys
sys.modules["frappe"] = None  # any "import frappe" now raises ImportError
"""

USE_ENGINE = """
import json, sys
import crm_dedup.engine as engine
import crm_dedup.cli as cli
from crm_dedup.engine import MemoryIndex, check_record, load_rules, scan_records
rules = load_rules({"rules": [{"name": "phones", "conditions": [{"fields": ["phone"], "match": "phone"}]}]})
idx = MemoryIndex()
idx.put("C1", rules.keys(rules.prepare({"phone": "13612345678"})), {"phone": "13612345678"})
assert [m.id for m in check_record(rules, {"phone": "+86 136 1234 5678"}, idx)] == ["C1"]
assert len(scan_records(rules, [("1", {"phone": "13612345678"}), ("2", {"phone": "0086 13612345678"})]).pairs) == 1
assert cli.main(["scan", sys.argv[1], "--rules", sys.argv[2], "--id-column", "id", "--pairs", sys.argv[3]]) == 0
assert not any(m == "frappe" or m.startswith("frappe.") for m, mod in sys.modules.items() if mod is not None)
print("ok")
"""


def _run(prelude: str, tmp_path) -> subprocess.CompletedProcess:
	code = textwrap.dedent(prelude) + textwrap.dedent(USE_ENGINE)
	return subprocess.run(
		[
			sys.executable,
			"-c",
			code,
			str(ROOT / "examples" / "customers.csv"),
			str(ROOT / "examples" / "rules.json"),
			str(tmp_path / "pairs.csv"),
		],
		capture_output=True,
		text=True,
		cwd=tmp_path,
		timeout=120,
	)


def test_engine_and_cli_import_and_work_with_frappe_blocked_by_a_finder(tmp_path):
	res = _run(BLOCK_BY_FINDER, tmp_path)
	assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr
	assert (tmp_path / "pairs.csv").read_text(encoding="utf-8").startswith("id_a,id_b,rule,action,score")


def test_engine_and_cli_import_with_frappe_set_to_none(tmp_path):
	res = _run(BLOCK_BY_NONE, tmp_path)
	assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr


def test_the_blocking_really_blocks(tmp_path):
	# guard against a vacuous pass: the same prelude makes a frappe import fail
	for prelude in (BLOCK_BY_FINDER, BLOCK_BY_NONE):
		res = subprocess.run(
			[sys.executable, "-c", textwrap.dedent(prelude) + "\nimport frappe\n"],
			capture_output=True,
			text=True,
			timeout=60,
		)
		assert res.returncode != 0 and ("ImportError" in res.stderr or "ModuleNotFoundError" in res.stderr)


def _imported_modules(path) -> set[str]:
	tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
	names = set()
	for node in ast.walk(tree):
		if isinstance(node, ast.Import):
			names.update(a.name for a in node.names)
		elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
			names.add(node.module)
		elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
			"import_module",
			"__import__",
		):
			names.update(
				a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)
			)
	return names


def test_no_engine_module_imports_frappe():
	files = sorted(ENGINE.rglob("*.py")) + [ROOT / "crm_dedup" / "cli.py"]
	assert len(files) >= 10  # engine/*.py and engine/normalize/*.py were found
	for path in files:
		text = path.read_text(encoding="utf-8")
		assert "import frappe" not in text and "from frappe" not in text, path
		bad = {m for m in _imported_modules(path) if m == "frappe" or m.startswith("frappe.")}
		assert not bad, f"{path.relative_to(ROOT)} imports {bad}"
