"""common_values and ``crm-dedup scan --report-common``: the fillers of this data that no list knows yet."""

from __future__ import annotations

import csv
import json
import random

from _helpers import EXAMPLES

from crm_dedup.cli import main
from crm_dedup.engine import common_values, load_rules

RULES = str(EXAMPLES / "rules.json")
COLUMNS = "id,customer_name,contact_person,phone_1,phone_2,phone_3,mobile_no,email_id,tax_id,city".split(",")
BRANDS = "金陵 远大 华强 鹭岛 山城 海湾 新华 东方 长城 黄河 泰山 天府 江南 北辰 南山 西湖 星光 宏达 恒通 瑞丰".split()
TRADES = "餐饮 科技 电子 贸易 物流 建材 服装 酒店 医药 食品 机械 化工 印刷 家具 五金".split()
CITIES = "南京 上海 北京 广州 深圳 杭州 苏州 成都 武汉 西安".split()
SURNAMES = "王李张刘陈杨黄赵吴周"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚"


def generated(n: int, seed: int = 7) -> list[tuple[str, dict]]:
	"""n unrelated customers with real-looking values (each its own name, mobile, e-mail, tax id)."""
	rng = random.Random(seed)
	rows, used = [], set()
	while len(rows) < n:
		city = rng.choice(CITIES)
		name = city + rng.choice(BRANDS) + rng.choice(TRADES) + rng.choice(BRANDS)[0] + "有限公司"
		if name in used:
			continue
		used.add(name)
		rows.append(
			(
				f"G{len(rows) + 1:04d}",
				{
					"customer_name": name,
					"contact_person": rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN),
					"phone_1": "",
					"phone_2": "",
					"phone_3": "",
					"mobile_no": f"1{rng.choice('3589')}{rng.randrange(10**9):09d}",
					"email_id": f"{rng.randrange(10**5, 10**9)}@qq.com",
					"tax_id": f"91{rng.randrange(10**15):015d}X",
					"city": city,
				},
			)
		)
	return rows


def test_common_values_reports_a_filler_shared_by_unrelated_records():
	rules = load_rules(RULES)
	rows = generated(300)
	for _, rec in rows[10:250:20]:  # 12 unrelated companies with a filler no list knows
		rec["tax_id"] = "12300000"
	for _, rec in rows[5:200:10]:  # 20 with a filler the built-in list knows: never reported
		rec["phone_1"] = "13800138000"
		rec["tax_id"] = "无"
	found = common_values(rules, rows)
	assert found[0]["field"] == "tax_id" and found[0]["match"] == "id_code"
	assert (found[0]["value"], found[0]["norm"]) == ("12300000", "12300000")
	assert found[0]["records"] == 12 and found[0]["distinct_others"] == 12
	assert found[0]["example_ids"] == [rid for rid, _ in rows[10:250:20]][:5]
	assert not any(d["norm"] in ("无", "+8613800138000") for d in found)


def test_common_values_does_not_report_real_shared_values():
	rules = load_rules(RULES)
	rows = generated(200)
	# two duplicates of one customer: a real shared tax id, name and phone
	first = rows[0][1]
	rows.append(("D1", dict(first, mobile_no="+86 " + first["mobile_no"], email_id="")))
	# one customer entered six times: all share its phone, and its name links them (one customer, not six)
	for i in range(6):
		rows.append((f"S{i}", dict(rows[1][1], tax_id="", email_id="", contact_person="")))
	found = common_values(rules, rows, min_records=5)
	assert not any(d["norm"] in (first["tax_id"], "+86" + rows[1][1]["mobile_no"]) for d in found), found
	assert not any(d["field"] in ("tax_id", "mobile_no") for d in found), found
	# min_records counts the different-looking records: six rows of one customer are one
	shared = [d for d in common_values(rules, rows, min_records=2) if d["field"] == "mobile_no"]
	assert all(d["distinct_others"] >= 2 for d in shared)


def test_common_values_order_and_limit():
	rules = load_rules(RULES)
	rows = generated(300)
	for _, rec in rows[:30]:
		rec["tax_id"] = "12300000"
	for _, rec in rows[100:110]:
		rec["email_id"] = "shared-box@corp.cn"
	for _, rec in rows[200:207]:
		rec["contact_person"] = "采购部"
	found = common_values(rules, rows)
	assert [(d["field"], d["records"]) for d in found[:3]] == [
		("tax_id", 30),
		("email_id", 10),
		("contact_person", 7),
	]
	assert common_values(rules, rows, limit=1) == found[:1]
	assert [d["field"] for d in common_values(rules, rows, min_records=8)] == ["tax_id", "email_id"]


def test_common_values_skips_qualifying_conditions():
	# name+city: the city is blank="ignore", a qualifier; 南京 on 30 records is no placeholder
	rules = load_rules(RULES)
	rows = generated(300)
	for _, rec in rows[:30]:
		rec["city"] = "南京"
	assert not any(d["field"] == "city" for d in common_values(rules, rows))


def _write(path, rows):
	with open(path, "w", encoding="utf-8", newline="") as f:
		w = csv.writer(f)
		w.writerow(COLUMNS)
		for rid, rec in rows:
			w.writerow([rid] + [rec.get(c, "") for c in COLUMNS[1:]])
	return path


def test_cli_report_common_table_and_json(tmp_path, capsys):
	rows = generated(120)
	for _, rec in rows[:9]:
		rec["tax_id"] = "12300000"
	src = _write(tmp_path / "in.csv", rows)
	assert main(["scan", str(src), "--rules", RULES, "--id-column", "id", "--report-common"]) == 0
	out, err = capsys.readouterr()
	assert "Values shared by 5 or more records that look unrelated" in out
	lines = out.splitlines()
	header = next(i for i, line in enumerate(lines) if line.startswith("field"))
	assert lines[header].split() == ["field", "match", "records", "unrelated", "value", "examples"]
	assert lines[header + 1].split()[:5] == ["tax_id", "id_code", "9", "9", "'12300000'"]
	assert "Cluster" not in out  # the report replaces the cluster report
	assert main(["scan", str(src), "--rules", RULES, "--id-column", "id", "--report-common", "--json"]) == 0
	data = json.loads(capsys.readouterr()[0])
	assert data[0]["value"] == "12300000" and data[0]["example_ids"] == [r for r, _ in rows[:5]]
	assert main(["scan", str(src), "--rules", RULES, "--report-common", "--min-records", "10"]) == 0
	assert "No value is shared by 10 or more records" in capsys.readouterr()[0]


def test_cli_report_common_bad_input_exits_2(tmp_path, capsys):
	src = _write(tmp_path / "in.csv", generated(10))
	for argv, message in [
		(
			["--report-common", "--pairs", str(tmp_path / "p.csv")],
			"--report-common prints a report instead of scanning: leave out --pairs, --clusters and --possible",
		),
		(["--min-records", "3"], "--json, --min-records and --limit go with --report-common"),
		(["--report-common", "--min-records", "1"], "--min-records must be at least 2, got 1"),
		(["--report-common", "--limit", "0"], "--limit must be at least 1, got 0"),
	]:
		assert main(["scan", str(src), "--rules", RULES, *argv]) == 2
		out, err = capsys.readouterr()
		assert out == "" and err.strip() == f"crm-dedup: error: {message}", err
	assert not (tmp_path / "p.csv").exists()
