"""Placeholder values (issue #16): 无, 不详, N/A, 0, 13800138000, test@test.com, 先生 ... never match.

A placeholder counts as blank for its condition: no blocking key, never shown as a match, never in an index.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from _helpers import EXAMPLES, ROOT, compare, matches, one_rule

from crm_dedup.cli import main
from crm_dedup.engine import MemoryIndex, Placeholders, RuleError, RuleSet, check_record, load_rules
from crm_dedup.engine.match import KEY_VERSION
from crm_dedup.engine.placeholders import (
	ADMIN,
	BUILTIN,
	BUILTIN_DATA,
	BUILTIN_DIGEST,
	DOMAIN,
	FEW_DIGITS,
	FEW_DISTINCT,
	NO_ALNUM,
	ONE_CHAR,
	ONE_DIGIT,
	RUN,
	SHORT_CODE,
	TAIL,
	is_digit_run,
	national_number,
)

RULES = str(EXAMPLES / "rules.json")
COLUMNS = "id,customer_name,contact_person,phone_1,phone_2,phone_3,mobile_no,email_id,tax_id,city".split(",")
USCC_VALID = "91110000802100433B"

# The issue's example: unrelated companies whose only shared values are fillers ...
ISSUE_ROWS = [
	["1", "南京甲公司", "先生", "", "", "", "", "test@test.com", "无", "南京"],
	["2", "北京乙公司", "女士", "", "", "", "", "123@qq.com", "无", "北京"],
	["3", "上海丙公司", "先生", "", "", "", "", "", "不详", "上海"],
	["4", "广州丁公司", "女士", "", "", "", "", "", "不详", "广州"],
	["5", "深圳戊公司", "", "", "", "", "", "", "N/A", "深圳"],
	["6", "杭州己公司", "", "", "", "", "", "", "n/a", "杭州"],
	["7", "苏州庚公司", "", "", "", "", "", "123@qq.com", "0", "苏州"],
	["8", "成都辛公司", "", "", "", "", "", "test@test.com", "0", "成都"],
	["9", "武汉壬公司", "先生", "13800138000", "", "", "", "", "", "武汉"],
	["10", "西安癸公司", "女士", "", "", "", "+86 138-0013-8000", "", "", "西安"],
]
# ... and, in the same file, real duplicates that must still pair (a real tax id, mobile, QQ address)
CONTROL_ROWS = [
	["11", "南京金陵餐饮有限公司", "张伟", "", "", "", "", "", USCC_VALID, "南京"],
	["12", "金陵餐饮（南京）有限责任公司", "", "", "", "", "", "", "9111 0000 8021 0043 3B", ""],
	["13", "上海远大科技有限公司", "李娜", "", "", "", "13912345678", "", "", "上海"],
	["14", "远大科技股份有限公司", "", "139-1234-5678", "", "", "", "", "", ""],
	["15", "厦门鹭岛海产贸易有限公司", "朱红", "", "", "", "", "287364512@qq.com", "", "厦门"],
	["16", "鹭岛海产", "", "", "", "", "", "287364512@QQ.com", "", ""],
]
CONTROL_PAIRS = {("11", "12", "uscc"), ("13", "14", "phones"), ("15", "16", "email")}


def write_csv(path: Path, rows: list[list[str]]) -> Path:
	with open(path, "w", encoding="utf-8", newline="") as f:
		csv.writer(f).writerows([COLUMNS, *rows])
	return path


def run(capsys, *argv) -> tuple[int, str, str]:
	rc = main([str(a) for a in argv])
	out, err = capsys.readouterr()
	return rc, out, err


# ---- the issue's example, end to end through the CLI ----------------------------------------------------
def test_issue_example_scan_pairs_no_placeholder_and_keeps_real_duplicates(tmp_path, capsys):
	src = write_csv(tmp_path / "issue16.csv", ISSUE_ROWS + CONTROL_ROWS)
	pairs = tmp_path / "pairs.csv"
	rc, out, err = run(capsys, "scan", src, "--rules", RULES, "--id-column", "id", "--pairs", pairs)
	assert rc == 0, err
	with open(pairs, encoding="utf-8") as f:
		got = {(a, b, rule) for a, b, rule, _, _ in list(csv.reader(f))[1:]}
	assert got == CONTROL_PAIRS
	assert "16 records, 3 matched pairs, 3 clusters" in err


def test_issue_example_without_controls_has_no_pair_at_all(tmp_path, capsys):
	src = write_csv(tmp_path / "issue16.csv", ISSUE_ROWS)
	rc, out, err = run(capsys, "scan", src, "--rules", RULES, "--id-column", "id")
	assert rc == 0, err
	assert "Cluster" not in out
	assert "10 records, 0 matched pairs, 0 clusters" in out
	for filler in ("无", "不详", "N/A", "13800138000", "test@test.com", "123@qq.com", "先生"):
		assert filler not in out  # never shown as a match


def test_issue_example_check_finds_no_match_for_a_placeholder(tmp_path, capsys):
	src = write_csv(tmp_path / "issue16.csv", ISSUE_ROWS + CONTROL_ROWS)
	db = tmp_path / "index.sqlite"
	assert run(capsys, "index", src, "--rules", RULES, "--db", db, "--id-column", "id")[0] == 0
	query = {
		"customer_name": "重庆子公司",
		"contact_person": "先生",
		"phone_1": "138 0013 8000",
		"email_id": "TEST@test.com",
		"tax_id": "无",
	}
	rc, out, err = run(capsys, "check", "--rules", RULES, "--db", db, "--record", json.dumps(query))
	assert rc == 0, err
	assert json.loads(out) == {"matches": []}
	real = {"customer_name": "某公司", "mobile_no": "+86 139 1234 5678", "tax_id": "无"}
	rc, out, err = run(capsys, "check", "--rules", RULES, "--db", db, "--record", json.dumps(real))
	assert [(m["id"], m["rule"]) for m in json.loads(out)["matches"]] == [("13", "phones"), ("14", "phones")]


def test_placeholders_never_reach_a_key_index():
	rules = load_rules(RULES)
	idx = MemoryIndex()
	for row in ISSUE_ROWS:
		rec = dict(zip(COLUMNS, row, strict=True))
		keys = rules.keys(rules.prepare(rec))
		# the company name is each row's only real value: its keys are the only ones stored
		assert set(keys) <= {"name+city", "contact+name"}, (row, keys)
		idx.put(row[0], keys, rec)
	assert (
		check_record(rules, {"tax_id": "无", "phone_1": "13800138000", "email_id": "123@qq.com"}, idx) == []
	)


# ---- the rules of each match type -----------------------------------------------------------------------
@pytest.mark.parametrize(
	"value,reason",
	[
		("13800138000", BUILTIN),
		("+86 138-0013-8000", BUILTIN),
		("0086 13800138000", BUILTIN),
		("(+86) 138 0013 8000", BUILTIN),
		("１３８００１３８０００", BUILTIN),
		("10086", BUILTIN),
		("12345", BUILTIN),
		("13888888888", BUILTIN),
		("13333333333", FEW_DISTINCT),  # two distinct digits
		("13131313131", FEW_DISTINCT),
		("+86 22222222", ONE_DIGIT),
		("010-11111111", FEW_DISTINCT),
		("234567", RUN),  # ascending / descending runs of 6 digits or more
		("3456789012", RUN),  # 9 wraps to 0
		("123456", BUILTIN),  # also on the text list
		("87654321", BUILTIN),  # on no list: the run rule ...
		("0987654321", RUN),
		("13900000000", BUILTIN),
		("18600000000", TAIL),  # a mobile whose last 8 digits are one digit
		("186 9999 9999", TAIL),
		("11111111111", ONE_DIGIT),  # blank for the phone type itself
		("0", BUILTIN),
		("无", BUILTIN),
		("110", BUILTIN),
		("8", FEW_DIGITS),
	],
)
def test_phone_placeholders(value, reason):
	rules = one_rule("phone")
	got = rules.placeholder_reason("v", value)
	if value == "87654321":  # a CN local number: national number 87654321, a descending run
		assert got == RUN
	else:
		assert got == reason, value
	assert not matches(rules, value, value)
	assert rules.keys(rules.prepare({"v": value})) == {}


@pytest.mark.parametrize(
	"a,b",
	[
		("13612345678", "+86 136-1234-5678"),  # 13612345678 holds a run, but is not one
		("95555", "95555"),  # a bank's service line: five digits, kept
		("021-88888888", "(021) 8888 8888"),  # a landline's repeated digits are no mobile tail
		("13912340000", "139 1234 0000"),
		("025-84561234", "+86 25 8456 1234"),
	],
)
def test_real_phones_still_match(a, b):
	rules = one_rule("phone")
	assert rules.placeholder_reason("v", a) is None
	assert matches(rules, a, b)


@pytest.mark.parametrize(
	"value,reason",
	[
		("test@test.com", BUILTIN),
		("TEST@Test.COM", BUILTIN),
		("  mailto:test@example.com ", BUILTIN),
		("zhang.wei@example.com", DOMAIN),  # example.com/.org/.net are reserved for examples
		("boss@mail.example.org", DOMAIN),  # sub-domains too
		("abc@yopmail.com", DOMAIN),
		("x@foo.test", DOMAIN),  # reserved top-level domains
		("test@163.com", BUILTIN),  # placeholder local parts on any domain
		("noreply@jinling.cn", BUILTIN),
		("123@qq.com", BUILTIN),
		("4321@qq.com", FEW_DIGITS),  # 4 digits or fewer: no QQ number
		("111111@qq.com", ONE_DIGIT),
		("123456789@qq.com", RUN),
		("98765@qq.com", RUN),
		("aaa@163.com", ONE_CHAR),
		("@qq.com", "placeholder (not an e-mail address)"),
		("无", BUILTIN),
	],
)
def test_email_placeholders(value, reason):
	rules = one_rule("email")
	assert rules.placeholder_reason("v", value) == reason, value
	assert not matches(rules, value, value)


@pytest.mark.parametrize(
	"a,b",
	[
		("287364512@qq.com", "287364512@QQ.COM"),  # a real QQ number is digits
		("10001@qq.com", "10001@qq.com"),  # five digits, no run
		("a@jl.cn", "A@jl.cn"),  # one letter is a name's initial, not a filler
		("zhang.wei@jinling-food.cn", " Zhang.Wei@Jinling-Food.CN "),
		("sales@jinling.cn", "SALES@jinling.cn"),
	],
)
def test_real_emails_still_match(a, b):
	rules = one_rule("email")
	assert rules.placeholder_reason("v", a) is None
	assert matches(rules, a, b)


def test_an_email_field_with_a_real_and_a_throwaway_address_keeps_the_real_one():
	rules = one_rule("email")
	assert rules.placeholder_reason("v", "zw@jl.cn; test@test.com") is None
	assert rules.placeholder_reason("v", "test@test.com; 123@qq.com") == BUILTIN
	assert matches(rules, "zw@jl.cn; test@test.com", "ZW@jl.cn")
	assert not matches(rules, "zw@jl.cn; test@test.com", "test@test.com")


@pytest.mark.parametrize(
	"value,reason",
	[
		("无", BUILTIN),
		("不详", BUILTIN),
		("N/A", BUILTIN),
		("n/a", BUILTIN),
		("0", BUILTIN),
		("12345", BUILTIN),
		("ABC12", SHORT_CODE),  # shorter than 6 characters after normalisation: no code
		("a-b-c", SHORT_CODE),
		("000000000000000000", ONE_DIGIT),
		("0000 0000 0000 0000 00", ONE_DIGIT),
		("XXXXXXXXXXXXXXXXXX", ONE_CHAR),
		("123456789", BUILTIN),
		("987654", RUN),
		("123456789012345678", RUN),
	],
)
def test_id_code_placeholders(value, reason):
	rules = one_rule("id_code", fields=("tax_id",))
	assert rules.placeholder_reason("tax_id", value) == reason, value
	assert not matches(rules, {"tax_id": value}, {"tax_id": value})


@pytest.mark.parametrize(
	"a,b",
	[
		("200728001", "200728001"),  # a customer number of 9 digits
		("200728001", " 2007-28001 "),
		(USCC_VALID, "9111 0000 8021 0043 3b"),
		("91320100MA1XXXXX0A", "91320100ma1xxxxx0a"),  # an invalid checksum still matches
		("A12345", "a12345"),  # six characters
	],
)
def test_real_id_codes_still_match(a, b):
	rules = one_rule("id_code", fields=("tax_id",))
	assert rules.placeholder_reason("tax_id", a) is None
	assert matches(rules, {"tax_id": a}, {"tax_id": b})


@pytest.mark.parametrize("match", ["exact", "normalized", "fuzzy", "company_name", "person_name", "id_code"])
@pytest.mark.parametrize(
	"value",
	["无", "暂无", "没有", "不详", "未知", "待定", "空", "同上", "N/A", "NULL", "none", "未知", "000000"],
)
def test_text_fillers_apply_to_every_match_type(match, value):
	rules = one_rule(match, threshold=80 if match in ("fuzzy", "company_name", "person_name") else None)
	assert rules.placeholder_reason("v", value) is not None
	assert not matches(rules, value, value)
	assert not matches(rules, value, f" {value.upper()} ")


@pytest.mark.parametrize("value", ["-", "/", ".", "?", "--", "…"])
def test_exact_drops_values_without_a_letter_or_digit(value):
	rules = one_rule("exact")
	assert rules.placeholder_reason("v", value) in (NO_ALNUM, BUILTIN)
	assert not matches(rules, value, value)
	assert matches(rules, " CUST-0001 ", "CUST-0001")  # and still matches real codes exactly


@pytest.mark.parametrize(
	"value", ["先生", "女士", "小姐", "老板", "经理", "客户", "Mr.", "MRS", "ms", "Sir", "madam"]
)
def test_person_name_fillers(value):
	rules = one_rule("person_name", threshold=80)
	assert rules.placeholder_reason("v", value) == BUILTIN
	assert not matches(rules, value, value)


def test_person_names_with_a_title_are_real():
	rules = one_rule("person_name", threshold=80)
	assert rules.placeholder_reason("v", "张先生") is None
	assert matches(rules, "张先生", "张先生")
	assert matches(rules, "张伟", "Zhang Wei")
	assert rules.placeholder_reason("v", "Xian Sheng") is None  # 冼胜 in pinyin is a name


@pytest.mark.parametrize(
	"value", ["个人", "散客", "测试公司", "测试有限公司", "Test Company Ltd.", "个人（南京）"]
)
def test_company_name_fillers(value):
	rules = one_rule("company_name", threshold=80)
	assert rules.placeholder_reason("v", value) == BUILTIN
	assert not matches(rules, value, value)
	assert matches(rules, "金陵餐饮有限公司", "金陵餐饮(南京)有限公司")


def test_a_filler_is_blank_and_the_blank_setting_decides():
	doc = {
		"rules": [
			{
				"name": "name+tax",
				"conditions": [
					{"fields": ["customer_name"], "match": "company_name", "threshold": 90},
					{"fields": ["tax_id"], "match": "id_code", "blank": "ignore"},
				],
			}
		]
	}
	rules = RuleSet.from_dict(doc)
	a = {"customer_name": "金陵餐饮有限公司", "tax_id": "无"}
	b = {"customer_name": "金陵餐饮有限责任公司", "tax_id": "不详"}
	m = compare(rules, a, b)
	assert m is not None and m.hits[1].skipped  # blank, ignored: the names decide
	doc["rules"][0]["conditions"][1]["blank"] = "fail"
	assert compare(RuleSet.from_dict(doc), a, b) is None  # blank fails the rule


def test_helpers():
	assert is_digit_run("123456") and is_digit_run("0987654321") and is_digit_run("8901234")
	assert not is_digit_run("13612345678") and not is_digit_run("1") and not is_digit_run("12a")
	assert national_number("+8613800138000") == "13800138000"
	assert national_number("+12125551234") == "2125551234"
	assert national_number("+85221234567") == "21234567"
	assert national_number("#12345") == "12345"


# ---- admin lists -----------------------------------------------------------------------------------------
def rules_with(placeholders, *conditions, region="CN") -> RuleSet:
	conds = list(conditions) or [{"fields": ["v"], "match": "phone"}]
	return RuleSet.from_dict(
		{
			"options": {"default_region": region, "placeholders": placeholders},
			"rules": [{"name": "r", "conditions": conds}],
		}
	)


def test_admin_phone_list_is_normalised_like_the_values():
	assert matches(one_rule("phone"), "13900001111", "139 0000 1111")
	rules = rules_with({"phone": ["+86 139 0000 1111"]})
	for value in ("13900001111", "139-0000-1111", "0086 13900001111"):
		assert rules.placeholder_reason("v", value) == ADMIN
		assert not matches(rules, value, value)
	assert rules.placeholders.to_options() == {"builtin": True, "phone": ["+86 139 0000 1111"]}
	assert not matches(rules, "13800138000", "13800138000")  # the built-in list still holds


def test_admin_text_list_applies_to_every_type():
	for cond in (
		{"fields": ["v"], "match": "normalized"},
		{"fields": ["v"], "match": "exact"},
		{"fields": ["v"], "match": "company_name"},
		{"fields": ["v"], "match": "id_code"},
	):
		assert matches(
			RuleSet.from_dict({"rules": [{"name": "r", "conditions": [cond]}]}),
			"未登记的资料",
			"未登记的资料",
		)
		rules = rules_with({"text": ["未登记的资料"]}, cond)
		assert rules.placeholder_reason("v", " 未登記的資料 ") == ADMIN, cond
		assert not matches(rules, "未登记的资料", "未登记的资料")


@pytest.mark.parametrize(
	"match,entry,value",
	[
		("exact", "CUST-0000", " CUST-0000 "),
		("normalized", "暂未登记", "暂未 登记"),
		("fuzzy", "见附件", "见 附件"),
		("company_name", "某某贸易", "某某贸易有限公司"),
		("person_name", "采购部", "采购部"),
		("id_code", "91320000XXXXXXXXXX", "9132 0000 xxxx xxxx xx"),
		("email", "boss@corp-test.cn", "BOSS@corp-test.cn"),
		("email", "@corp-test.cn", "anyone@corp-test.cn"),
		("email", "sales@", "sales@somewhere.cn"),
	],
)
def test_admin_list_per_match_type(match, entry, value):
	cond = {"fields": ["v"], "match": match}
	if match in ("fuzzy", "company_name", "person_name"):
		cond["threshold"] = 90
	plain = rules_with({}, cond)
	assert plain.placeholder_reason("v", value) is None
	assert matches(plain, value, value)
	rules = rules_with({match: [entry]}, cond)
	assert rules.placeholder_reason("v", value) == ADMIN
	assert not matches(rules, value, value)


def test_admin_list_per_field():
	cond = {"fields": ["tax_id", "tax_id_2"], "match": "id_code"}
	rules = rules_with({"fields": {"tax_id": ["000", "待补充资料", "91320000XXXXXXXXXX"]}}, cond)
	a = {"tax_id": "9132-0000-XXXX-XXXX-XX"}
	assert rules.placeholder_reason("tax_id", a["tax_id"]) == ADMIN
	assert rules.placeholder_reason("tax_id_2", a["tax_id"]) is None  # only the named field
	assert not matches(rules, a, {"tax_id": "91320000XXXXXXXXXX"})
	assert not matches(rules, a, {"tax_id_2": "91320000XXXXXXXXXX"})  # a's side is blank
	assert matches(rules, {"tax_id_2": "91320000XXXXXXXXXX"}, {"tax_id_2": "91320000xxxxxxxxxx"})
	assert rules.placeholder_reason("tax_id", "待补充资料") == ADMIN


def test_builtin_false_turns_the_shipped_lists_off():
	rules = rules_with({"builtin": False})
	assert rules.placeholder_reason("v", "13800138000") is None
	assert matches(rules, "13800138000", "+86 138 0013 8000")
	ids = rules_with({"builtin": False}, {"fields": ["v"], "match": "id_code"})
	assert matches(ids, "无", "无")  # as before this feature
	assert matches(ids, "000000", "000000")
	# the admin's own lists still apply
	own = rules_with({"builtin": False, "phone": ["13800138000"]})
	assert own.placeholder_reason("v", "138-0013-8000") == ADMIN
	assert matches(own, "13888888888", "13888888888")
	assert Placeholders.from_options({"builtin": False}).checker("phone", ("v",)) is None  # no cost at all


def test_placeholder_reason_checks_every_condition_using_the_field():
	rules = load_rules(RULES)
	assert rules.placeholder_reason("tax_id", "无") == BUILTIN
	assert rules.placeholder_reason("mobile_no", "+86 138 0013 8000") == BUILTIN
	assert rules.placeholder_reason("email_id", "111111@qq.com") == ONE_DIGIT
	assert rules.placeholder_reason("contact_person", "先生") == BUILTIN
	assert rules.placeholder_reason("customer_name", "散客") == BUILTIN
	assert rules.placeholder_reason("tax_id", USCC_VALID) is None  # real
	assert rules.placeholder_reason("tax_id", "") is None  # blank, not a placeholder
	assert rules.placeholder_reason("tax_id", None) is None
	assert rules.placeholder_reason("no_such_field", "无") is None  # no condition uses it
	assert rules.placeholder_reason("mobile_no", ["13800138000", "13612345678"]) is None  # one is real
	assert rules.placeholder_reason("mobile_no", ["13800138000", "0"]) == BUILTIN


def test_reason_directly():
	ph = Placeholders.from_options(None)
	assert ph.reason("phone", "mobile_no", "13333333333") == FEW_DISTINCT
	assert ph.reason("phone", "mobile_no", "13612345678") is None
	assert ph.reason("email", "email_id", "n/a") == BUILTIN
	assert ph.reason("email", "email_id", "no address here") == "placeholder (not an e-mail address)"
	assert ph.reason("phone", "phone_1", "call me") == "placeholder (not a phone number)"
	assert ph.reason("id_code", "tax_id", "91110000802100433B") is None
	with pytest.raises(RuleError, match="unknown match type"):
		ph.reason("phonez", "x", "1")


# ---- options: validation and round trip ----------------------------------------------------------------
@pytest.mark.parametrize(
	"placeholders,message",
	[
		({"phones": ["1"]}, "options.placeholders has unknown key 'phones'"),
		({"text": "无"}, "options.placeholders.text must be a list of strings, got str"),
		({"phone": [13800138000]}, "options.placeholders.phone item 1 is not a string: 13800138000"),
		({"email": ["a@b.cn", None]}, "options.placeholders.email item 2 is not a string: None"),
		({"text": ["  "]}, "options.placeholders.text item 1 is blank"),
		({"builtin": "yes"}, "options.placeholders.builtin must be true or false"),
		({"fields": ["tax_id"]}, "options.placeholders.fields must be an object"),
		({"fields": {"tax_id": "000"}}, "options.placeholders.fields.tax_id must be a list of strings"),
		({"fields": {"tax_id": [0]}}, "options.placeholders.fields.tax_id item 1 is not a string: 0"),
		(["无"], "options.placeholders must be an object"),
	],
)
def test_bad_placeholder_options_raise_rule_errors_naming_the_problem(placeholders, message):
	with pytest.raises(RuleError) as e:
		rules_with(placeholders)
	assert message in str(e.value)


def test_bad_placeholder_options_exit_2_with_one_line(tmp_path, capsys):
	doc = json.loads((EXAMPLES / "rules.json").read_text(encoding="utf-8"))
	doc["options"]["placeholders"] = {"phone": "13800138000"}
	bad = tmp_path / "rules.json"
	bad.write_text(json.dumps(doc), encoding="utf-8")
	rc, out, err = run(capsys, "scan", EXAMPLES / "customers.csv", "--rules", bad)
	assert rc == 2 and out == ""
	assert err.strip() == ("crm-dedup: error: options.placeholders.phone must be a list of strings, got str")


def test_to_dict_round_trips_the_options_and_old_documents_still_load():
	opts = {
		"builtin": False,
		"text": ["待补", "未登记"],
		"phone": ["+86 139 0000 1111"],
		"email": ["@corp-test.cn"],
		"id_code": ["91320000XXXXXXXXXX"],
		"exact": ["C-0"],
		"fields": {"tax_id": ["000", "待补"]},
	}
	rules = rules_with(opts)
	assert rules.to_dict()["options"]["placeholders"] == opts
	again = RuleSet.from_dict(json.loads(json.dumps(rules.to_dict(), ensure_ascii=False)))
	assert again == rules and again.to_dict() == rules.to_dict()
	assert again.placeholders == Placeholders.from_options(opts)
	assert Placeholders.from_options(again.placeholders.to_options()) == again.placeholders
	# a document without placeholders: built-in lists, and to_dict writes nothing new
	old = load_rules(RULES)
	assert old.placeholders.is_default and "placeholders" not in old.to_dict()["options"]
	assert RuleSet.from_dict(old.to_dict()) == old
	assert Placeholders.from_options(None).to_options() == {"builtin": True}


def test_rule_sets_pickle_with_their_checks():
	import pickle

	rules = rules_with({"phone": ["13900001111"], "fields": {"v": ["13900002222"]}})
	rules.prepare({"v": "1"})  # checks compiled
	again = pickle.loads(pickle.dumps(rules))
	assert again == rules
	assert again.placeholder_reason("v", "13900001111") == ADMIN
	assert not matches(again, "13900002222", "13900002222")


# ---- the shipped data ----------------------------------------------------------------------------------
def test_builtin_lists_are_well_formed():
	data = BUILTIN_DATA
	for key in ("text", "person_name", "company_name"):
		assert data[key] and all(isinstance(s, str) and s.strip() for s in data[key])
	phone, email, code = data["phone"], data["email"], data["id_code"]
	assert "13800138000" in phone["numbers"] and phone["max_distinct_digits"] == 2
	assert phone["run_min_length"] == 6 and phone["distinct_digits_min_length"] == 7
	assert {"addresses", "domains", "local_parts"} <= set(email) and email["max_short_digits"] == 4
	assert code["min_length"] == 6 and code["run_min_length"] == 6
	for issue_filler in (
		"无",
		"暂无",
		"没有",
		"不详",
		"未知",
		"待定",
		"空",
		"同上",
		"-",
		"/",
		".",
		"n/a",
		"na",
	):
		assert issue_filler in data["text"]
	for title in ("先生", "女士", "小姐", "老板", "经理", "客户", "mr", "mrs", "ms", "sir", "madam"):
		assert title in data["person_name"]


def test_builtin_lists_are_shipped_as_package_data():
	setup = (ROOT / "setup.py").read_text(encoding="utf-8")
	assert '"engine/data/*.json"' in setup
	assert "*.json" in (ROOT / "MANIFEST.in").read_text(encoding="utf-8")


def test_changing_the_builtin_lists_bumps_the_key_version():
	# Keys depend on placeholders.json: an index built with other lists holds keys for values that are now
	# placeholders (or none for values that no longer are). When this fails, bump KEY_VERSION in
	# engine/match.py and pin the new digest and version here.
	assert (KEY_VERSION, BUILTIN_DIGEST[:16]) == (11, EXPECTED_DIGEST_16)


EXPECTED_DIGEST_16 = "8f5173b1240fb34d"
