"""The engine's public API: ``crm_dedup.engine.__all__`` holds everything the app and the CLI use, and the
CLI imports from the package only; ``legal_form_suffix``."""

from __future__ import annotations

import ast

import pytest
from _helpers import ROOT

import crm_dedup.engine as engine
from crm_dedup.engine import legal_form_suffix
from crm_dedup.engine.normalize.company import LEGAL_CN, LEGAL_FORMS_EN

# what the Frappe layer imports (issue #11) and the CLI needs
USED = {
	"BUILTIN_DIGEST",
	"DEFAULT_CAP",
	"KEY_VERSION",
	"DedupError",
	"InputError",
	"KeyIndex",
	"Match",
	"MemoryIndex",
	"Placeholders",
	"RuleError",
	"RuleSet",
	"SQLiteIndex",
	"UnionFind",
	"check_record",
	"common_values",
	"iter_keys",
	"key_hash",
	"legal_form_suffix",
	"load_rules",
	"normalize_email",
	"normalize_phone",
	"scan_records",
}


def test_all_names_the_public_api():
	assert USED <= set(engine.__all__)
	assert len(engine.__all__) == len(set(engine.__all__))
	for name in engine.__all__:
		assert getattr(engine, name) is not None, name


def test_the_cli_imports_the_engine_package_only():
	tree = ast.parse((ROOT / "crm_dedup" / "cli.py").read_text(encoding="utf-8"))
	for node in ast.walk(tree):
		if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("crm_dedup"):
			assert node.module == "crm_dedup.engine", node.module
			assert {a.name for a in node.names} <= set(engine.__all__)
		if isinstance(node, ast.Import):
			assert not any(a.name.startswith("crm_dedup.engine.") for a in node.names)


@pytest.mark.parametrize(
	"name,suffix",
	[
		("南京金陵贸易有限责任公司", "有限责任公司"),
		("金陵餐饮有限公司", "有限公司"),
		("金陵餐饮股份有限公司", "股份有限公司"),
		("金陵集团有限公司", "集团有限公司"),
		("金陵餐饮有限公司上海浦东分公司", "分公司"),
		("金陵貿易有限責任公司", "有限責任公司"),  # traditional characters, as typed
		("金陵餐饮（南京）有限公司", "有限公司"),  # full-width brackets inside the name
		("金陵餐饮(南京)有限公司", "有限公司"),
		("金陵贸易有限公司（筹）", ""),  # a bracketed part at the end is no legal form
		("金陵贸易有限公司 ", "有限公司"),  # trailing whitespace left out
		("Acme Trading Co., Ltd.", "Co., Ltd."),
		("Acme Trading Co.,Ltd", "Co.,Ltd"),
		("ACME TRADING CO., LTD.", "CO., LTD."),
		("ＡＣＭＥ　ＴＲＡＤＩＮＧ　ＣＯ．，ＬＴＤ．", "ＣＯ．，ＬＴＤ．"),  # full width, as typed
		("Acme (China) Co., Ltd.", "Co., Ltd."),
		("Acme China Co., Ltd.", "Co., Ltd."),  # China is dropped by company_core, but no legal form
		("Acme Company Limited", "Company Limited"),
		("Acme GmbH", "GmbH"),
		("Acme Inc.", "Inc."),
		("Acme Ltd (HK)", ""),
		("Acme", ""),
		("金陵餐饮", ""),
		("Ltd.", ""),  # never the whole name
		("公司", ""),
		("", ""),
		("   ", ""),
		(None, ""),
	],
)
def test_legal_form_suffix(name, suffix):
	assert legal_form_suffix(name) == suffix


def test_legal_form_suffix_is_a_tail_of_the_name_from_the_engines_lists():
	for form in LEGAL_CN:
		assert legal_form_suffix("金陵餐饮" + form) == form
	for form in LEGAL_FORMS_EN:
		assert legal_form_suffix("Acme " + form.upper()) == form.upper()
	for junk in ["x" * 5000, "公司" * 3000, "Co. " * 2000, "\x00\ud800 Ltd", "（（（（有限公司"]:
		got = legal_form_suffix(junk)
		assert isinstance(got, str) and junk.rstrip().endswith(got)
