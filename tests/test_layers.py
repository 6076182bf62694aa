"""The import rule of the app, read from the source with ``ast`` (no frappe needed).

engine  <-  core  <-  capabilities (checks, scans, merge, collision_query, rules)  <-  entry points
(hooks.py strings, doctype controllers, reports, pages, install, cli). Capabilities never import each other;
nothing imports upwards; no cycles; no function-local imports of the app's own modules, no importlib, no
``except ImportError`` around them; every dotted path written as a string (hooks, JS ``frappe.call`` methods,
enqueue) names something that exists. See docs/ARCHITECTURE.md.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "crm_dedup"
CAPABILITIES = ("checks", "scans", "merge", "collision_query", "rules")
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80


def module_name(path: Path) -> str:
	rel = path.relative_to(ROOT).with_suffix("")
	parts = list(rel.parts)
	if parts[-1] == "__init__":
		parts = parts[:-1]
	return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
	return {module_name(p): p for p in APP.rglob("*.py") if "node_modules" not in p.parts}


@cache
def tree(path: Path) -> ast.Module:
	return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


# test-support modules: shared factories (crm_dedup.testing) and a capability's test data (fixtures.py, seed.py)
TEST_SUPPORT = ("testing", "fixtures", "seed")


def is_test(name: str) -> bool:
	last = name.rsplit(".", 1)[-1]
	return last.startswith("test_") or last in TEST_SUPPORT


def layer(name: str) -> str:
	"""engine | core | <capability> | entry."""
	parts = name.split(".")
	if len(parts) > 1 and parts[1] == "engine":
		return "engine"
	if len(parts) > 1 and parts[1] == "core":
		return "core"
	if len(parts) > 1 and parts[1] in CAPABILITIES:
		return parts[1]
	return "entry"


def resolve(name: str, level: int, module: str, path: Path) -> str:
	"""The absolute module of an ``import``/``from`` (relative ones resolved against ``module``)."""
	if not level:
		return name
	base = module.split(".")
	if path.name != "__init__.py":
		base = base[:-1]
	base = base[: len(base) - (level - 1)]
	return ".".join(base + ([name] if name else []))


def app_imports(module: str, path: Path) -> list[tuple[str, ast.AST]]:
	"""(imported app module, node) for every import of the app's own modules in the file."""
	out = []
	for node in ast.walk(tree(path)):
		if isinstance(node, ast.Import):
			out += [(a.name, node) for a in node.names if a.name.split(".")[0] == "crm_dedup"]
		elif isinstance(node, ast.ImportFrom):
			target = resolve(node.module or "", node.level, module, path)
			if target.split(".")[0] != "crm_dedup":
				continue
			for a in node.names:
				sub = f"{target}.{a.name}"
				out.append((sub if sub in modules() else target, node))
	return out


def owner_module(name: str) -> str:
	"""The module a dotted import name lands in (``crm_dedup.core.config`` for ``crm_dedup.core.config.X``)."""
	while name and name not in modules():
		name = name.rsplit(".", 1)[0] if "." in name else ""
	return name


def allowed(src: str, dst: str) -> bool:
	s, d = layer(src), layer(dst)
	if is_test(dst) and not is_test(src):
		return False  # production code never imports test support
	if d == "engine":
		return True
	if s == "engine":
		return False
	if d == "core":
		return s != "engine"
	if d in CAPABILITIES:
		# a capability imports only itself; entry points and tests may import any capability
		return s == d or s == "entry" or is_test(src)
	# d is an entry point (controllers, reports, hooks, install): other entry points and tests may import it
	return s == "entry" or is_test(src) or dst == "crm_dedup"


def test_the_app_has_the_layout():
	for package in ("core", *CAPABILITIES, "engine"):
		assert (APP / package / "__init__.py").is_file(), package
	for gone in (
		"bridge",
		"key_index",
		"events",
		"api",
		"collision",
		"data_import",
		"merge",
		"scans",
		"sidedb",
	):
		assert not (APP / f"{gone}.py").exists(), f"crm_dedup/{gone}.py is back"


def test_imports_run_one_way():
	bad = []
	for module, path in modules().items():
		for target, node in app_imports(module, path):
			dst = owner_module(target)
			if dst and not allowed(module, dst):
				bad.append(
					f"{path.relative_to(ROOT)}:{node.lineno} imports {dst} ({layer(module)} -> {layer(dst)})"
				)
	assert not bad, "\n".join(bad)


def test_no_function_local_imports_importlib_or_import_guards():
	bad = []
	for module, path in modules().items():
		t = tree(path)
		for fn in ast.walk(t):
			if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
				continue
			for node in ast.walk(fn):
				if isinstance(node, ast.Import | ast.ImportFrom):
					names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
					target = (
						resolve(node.module or "", node.level, module, path)
						if isinstance(node, ast.ImportFrom)
						else ""
					)
					if target.split(".")[0] == "crm_dedup" or any(
						n.split(".")[0] == "crm_dedup" for n in names
					):
						bad.append(f"{path.relative_to(ROOT)}:{node.lineno} function-local import of the app")
		for node in ast.walk(t):
			# importlib.resources (data files) is fine; importing modules by name is not
			if isinstance(node, ast.Call) and (
				getattr(node.func, "attr", None) == "import_module"
				or getattr(node.func, "id", None) in ("import_module", "__import__")
			):
				bad.append(f"{path.relative_to(ROOT)}:{node.lineno} importlib.import_module / __import__")
			if isinstance(node, ast.Try):
				guards = {getattr(h.type, "id", None) for h in node.handlers if h.type is not None} & {
					"ImportError",
					"ModuleNotFoundError",
				}
				app = any(
					isinstance(n, ast.Import | ast.ImportFrom)
					and (
						(
							isinstance(n, ast.ImportFrom)
							and resolve(n.module or "", n.level, module, path).startswith("crm_dedup")
						)
						or (
							isinstance(n, ast.Import) and any(a.name.startswith("crm_dedup") for a in n.names)
						)
					)
					for stmt in node.body
					for n in ast.walk(stmt)
				)
				if guards and app:
					bad.append(
						f"{path.relative_to(ROOT)}:{node.lineno} import of the app guarded by except ImportError"
					)
	assert not bad, "\n".join(bad)


def test_no_import_cycles():
	graph: dict[str, set[str]] = {}
	for module, path in modules().items():
		graph[module] = {d for t, _n in app_imports(module, path) if (d := owner_module(t)) and d != module}
		# importing crm_dedup.x.y runs crm_dedup/x/__init__.py first: not an edge of the source's making
	state: dict[str, int] = {}
	stack: list[str] = []
	cycles = []

	def visit(m: str) -> None:
		state[m] = 1
		stack.append(m)
		for d in sorted(graph.get(m, ())):
			if state.get(d) == 1:
				cycles.append(" -> ".join(stack[stack.index(d) :] + [d]))
			elif not state.get(d):
				visit(d)
		stack.pop()
		state[m] = 2

	for m in sorted(graph):
		if not state.get(m):
			visit(m)
	assert not cycles, "\n".join(cycles)


def defines(module: str, attr: str) -> bool:
	path = modules().get(module)
	if path is None:
		return False
	t = tree(path)
	for node in t.body:
		if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.name == attr:
			return True
		if isinstance(node, ast.Assign) and any(getattr(t_, "id", None) == attr for t_ in node.targets):
			return True
		if isinstance(node, ast.ImportFrom) and any((a.asname or a.name) == attr for a in node.names):
			return True
	return False


DOTTED = re.compile(r"""["'](crm_dedup(?:\.[A-Za-z_][A-Za-z0-9_]*)+)["']""")
# JS namespaces (frappe.provide("crm_dedup.x"), crm_dedup.x = ...) and asset names are not Python paths
JS_NAMESPACE = re.compile(
	r"""(?:frappe\.provide\(["']|^)(crm_dedup(?:\.[A-Za-z_]\w*)+)(?:["']\)|\s*=)""", re.M
)


def dotted_strings() -> list[tuple[str, str]]:
	out = []
	files = [APP / "hooks.py"]
	files += [p for p in APP.rglob("*.js") if "node_modules" not in p.parts]
	files += [p for p in APP.rglob("*.py") if p.name != "hooks.py"]
	files += list((ROOT / "benchmarks").glob("*.py"))
	for p in files:
		for m in DOTTED.finditer(p.read_text(encoding="utf-8")):
			out.append((str(p.relative_to(ROOT)), m.group(1)))
	return out


def test_every_dotted_path_written_as_a_string_exists():
	bad = []
	checked = 0
	namespaces = {
		m.group(1)
		for p in APP.rglob("*.js")
		if "node_modules" not in p.parts
		for m in JS_NAMESPACE.finditer(p.read_text(encoding="utf-8"))
	}
	for where, dotted in dotted_strings():
		if dotted in namespaces or dotted.endswith((".bundle.js", ".bundle.css")):
			continue
		if dotted in modules():
			checked += 1
			continue
		module, _, attr = dotted.rpartition(".")
		if module in modules() and defines(module, attr):
			checked += 1
			continue
		bad.append(f"{where}: {dotted}")
	assert not bad, "\n".join(bad)
	assert checked >= 20  # hooks, JS methods and enqueue strings were found at all


def frappe_layer_files() -> list[tuple[str, Path]]:
	return [
		(m, p)
		for m, p in modules().items()
		if layer(m) != "engine" and not is_test(m) and m not in ("crm_dedup.cli",)
	]


def test_modules_and_functions_stay_small():
	bad = []
	for _m, path in frappe_layer_files():
		n = len(path.read_text(encoding="utf-8").splitlines())
		if n > MAX_MODULE_LINES:
			bad.append(f"{path.relative_to(ROOT)}: {n} lines")
		for node in ast.walk(tree(path)):
			if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
				length = node.end_lineno - node.lineno + 1
				if length > MAX_FUNCTION_LINES:
					bad.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}() {length} lines")
	assert not bad, "\n".join(bad)


@pytest.mark.parametrize(
	"src, dst, ok",
	[
		("crm_dedup.core.lookup", "crm_dedup.engine.index", True),
		("crm_dedup.engine.check", "crm_dedup.core.keys", False),
		("crm_dedup.core.keys", "crm_dedup.checks.events", False),
		("crm_dedup.checks.events", "crm_dedup.scans.start", False),
		("crm_dedup.checks.events", "crm_dedup.checks.decision", True),
		("crm_dedup.crm_dedup.doctype.dedup_rule.dedup_rule", "crm_dedup.rules.rebuild", True),
		("crm_dedup.merge.run", "crm_dedup.crm_dedup.doctype.dedup_rule.dedup_rule", False),
		("crm_dedup.checks.test_placeholders", "crm_dedup.merge.survivorship", True),
		("crm_dedup.scans.seed", "crm_dedup.testing", True),
		("crm_dedup.scans.jobs", "crm_dedup.scans.seed", False),
		("crm_dedup.core.config", "crm_dedup.testing", False),
	],
)
def test_the_rule_itself(src, dst, ok):
	assert allowed(src, dst) is ok
