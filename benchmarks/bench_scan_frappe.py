"""Benchmark: a batch duplicate scan (crm_dedup.scans) of 100,000 customers in a real Frappe/ERPNext site.

Seeds N customers in bulk (``frappe.db.bulk_insert``; planted duplicate clusters: the same mobile written
the +86 way, the e-mail in upper case, the tax id with spaces, the company name with a region prefix and
another legal form), creates four rules (phone / e-mail / tax id Block, company name Warn; not applied on
save, so nobody else's saves are affected), runs a Dedup Scan and reports wall time, peak memory of the job
process and pairwise precision / recall against the planted clusters. Removes everything afterwards
(``--keep`` leaves it).

Run with the bench's Python from the bench folder (sites/ must be reachable):

    cd /opt/bench/frappe-bench
    env/bin/python /work/main/benchmarks/bench_scan_frappe.py --site dedup.localhost --records 100000 \
        --mode worker --chunk 0

``--mode bench`` queues the scan on the ``long`` queue and waits: the site's own ``bench worker`` processes
run its jobs, as in production (start two or more to spread the key jobs).
``--mode worker`` queues the scan for real on the ``long`` queue and runs one worker process that takes
this scan's jobs off the queue one at a time and runs each in a forked work horse through Frappe's
``execute_job`` - what ``bench worker`` does - leaving other people's jobs on the shared queue alone;
``--mode inline`` runs the scan's jobs in this process. ``--chunk 0`` = one job; ``--chunk 25000`` = key
jobs of 25,000 records + one compare job (all on the one worker).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import string
import subprocess
import sys
import time

HAN = (
	"安邦宝贝北辰博雅灿烂昌盛晨光辰星达丰德润东方鼎盛方圆飞扬丰泰福瑞富源光明广厦国华海纳汉唐浩然和美恒通宏达华美"
	"辉煌吉祥佳禾嘉诚金鼎锦程精诚巨丰凯旋康泰坤元朗润乐享立信联创隆兴绿源美佳铭远南山宁远鹏程普惠启明千禾青山"
	"庆丰荣昌瑞丰润泽三和盛世顺达泰和腾飞天成通达同心万通伟业文华沃土祥云新锐鑫源兴隆旭日亚泰阳光一诺亿丰永盛"
	"中信汇智云帆星河远航卓越智联众合致远正大长城银河宇航元亨百川博远创新大地鼎新飞龙高新海天恒信红星华夏"
)
INDUSTRY = [
	"科技",
	"贸易",
	"餐饮",
	"物流",
	"实业",
	"电子",
	"机械",
	"咨询",
	"医药",
	"文化",
	"建设",
	"传媒",
	"软件",
	"食品",
	"服装",
	"化工",
]
LEGAL = ["有限公司", "有限公司", "有限公司", "股份有限公司", "有限责任公司"]
CITIES = ["南京", "上海", "杭州", "苏州", "广州", "成都", "北京", "深圳", "武汉", "西安"]
PREFIX = "BENCH"
COLUMNS = [
	"name",
	"customer_name",
	"customer_type",
	"mobile_no",
	"email_id",
	"tax_id",
	"creation",
	"modified",
	"owner",
	"modified_by",
	"docstatus",
]


def connect(site: str, bench: str):
	os.chdir(os.path.join(bench, "sites"))
	import frappe

	frappe.init(site=site, sites_path=".")
	frappe.connect()
	frappe.set_user("Administrator")
	return frappe


def generate(n: int, clusters: int, rng: random.Random):
	"""Rows for tabCustomer and the truth {name: cluster id or None}."""
	from frappe.utils import now_datetime

	now = now_datetime()
	used: set[str] = set()

	def unique(make):
		while True:
			v = make()
			if v not in used:
				used.add(v)
				return v

	def mobile():
		return unique(lambda: f"1{rng.choice('3578')}{rng.randint(0, 10**9 - 1):09d}")

	def tax():
		return unique(lambda: "91" + "".join(rng.choices(string.digits + "ABCDEFGHJKLMNPQRTUWXY", k=16)))

	def core():
		return unique(lambda: "".join(rng.choices(HAN, k=rng.randint(3, 5))) + rng.choice(INDUSTRY))

	rows, truth = [], {}
	seq = itertools.count()

	def add(name_parts, mob, mail, tid, cid):
		name = f"{PREFIX}-{next(seq):07d}"
		rows.append(
			(name, name_parts, "Company", mob, mail, tid, now, now, "Administrator", "Administrator", 0)
		)
		truth[name] = cid

	for cid in range(clusters):
		c = core()
		m, mail, tid = mobile(), f"c{cid}.{rng.randint(0, 999)}@ex{cid % 97}.cn", tax()
		add(c + rng.choice(LEGAL), m, mail, tid, cid)
		for v in rng.sample(["phone", "email", "tax", "name"], k=rng.choice([1, 1, 2])):
			if v == "phone":
				add(core() + "有限公司", f"+86 {m[:3]} {m[3:7]} {m[7:]}", None, None, cid)
			elif v == "email":
				add(core() + "有限公司", mobile(), mail.upper(), None, cid)
			elif v == "tax":
				add(core() + "有限公司", mobile(), None, f"{tid[:6]} {tid[6:12]} {tid[12:]}".lower(), cid)
			else:
				add(rng.choice(CITIES) + c + "有限责任公司", mobile(), None, None, cid)
	while len(rows) < n:
		add(
			(rng.choice(CITIES) if rng.random() < 0.2 else "") + core() + rng.choice(LEGAL),
			mobile(),
			f"u{len(rows)}@ex{rng.randint(0, 999)}.cn" if rng.random() < 0.5 else None,
			tax() if rng.random() < 0.3 else None,
			None,
		)
	return rows, truth


def make_rules(frappe, sfx: str) -> list[str]:
	specs = [
		("phone", "Block", 1, [{"fields": "mobile_no", "match_type": "Phone"}]),
		("email", "Block", 2, [{"fields": "email_id", "match_type": "Email"}]),
		("tax", "Block", 3, [{"fields": "tax_id", "match_type": "ID Code"}]),
		("name", "Warn", 4, [{"fields": "customer_name", "match_type": "Company Name", "threshold": 90}]),
	]
	names = []
	for label, action, prio, conditions in specs:
		doc = frappe.get_doc(
			{
				"doctype": "Dedup Rule",
				"rule_name": f"scanbench {label} {sfx}",
				"target_doctype": "Customer",
				"action": action,
				"priority": prio,
				"apply_on_insert": 0,
				"apply_on_edit": 0,
				"apply_on_import": 0,
				"conditions": conditions,
			}
		).insert()
		names.append(doc.name)
	frappe.db.commit()
	return names


def scores(truth: dict, found_sets: list[list[str]]) -> dict:
	by_cluster: dict[int, list[str]] = {}
	for n, c in truth.items():
		if c is not None:
			by_cluster.setdefault(c, []).append(n)
	true_pairs = {p for ms in by_cluster.values() for p in itertools.combinations(sorted(ms), 2)}
	found = {p for s in found_sets for p in itertools.combinations(sorted(m for m in s if m in truth), 2)}
	tp = len(true_pairs & found)
	return {
		"true_pairs": len(true_pairs),
		"found_pairs": len(found),
		"true_positives": tp,
		"precision": round(tp / len(found), 4) if found else 1.0,
		"recall": round(tp / len(true_pairs), 4) if true_pairs else 1.0,
	}


def work_for(site: str, bench: str, scan: str) -> None:
	"""One worker that runs only the jobs of ``scan`` (ids ``<site>::crm_dedup_scan::<scan>...``), oldest
	first, each in a forked child through frappe's execute_job, until the scan is finished."""
	frappe = connect(site, bench)
	from frappe.utils.background_jobs import execute_job, get_queue

	q = get_queue("long")
	prefix = f"{site}::crm_dedup_scan::{scan}"
	while True:
		frappe.db.rollback()
		if frappe.db.get_value("Dedup Scan", scan, "status") in ("Completed", "Failed"):
			break
		ids = [i for i in q.get_job_ids() if i == prefix or i.startswith(prefix + "::")]
		if not ids:
			time.sleep(0.2)
			continue
		job = q.fetch_job(ids[0])
		q.remove(ids[0])
		kwargs = dict(job.kwargs)
		job.delete()
		pid = os.fork()
		if pid == 0:  # the work horse
			try:
				execute_job(**kwargs)
			finally:
				os._exit(0)
		os.waitpid(pid, 0)
	frappe.destroy()


def main() -> None:
	ap = argparse.ArgumentParser()
	ap.add_argument("--work-for", help=argparse.SUPPRESS)
	ap.add_argument("--site", default="dedup.localhost")
	ap.add_argument("--bench", default="/opt/bench/frappe-bench")
	ap.add_argument("--records", type=int, default=100_000)
	ap.add_argument("--clusters", type=int, default=2_500)
	ap.add_argument("--mode", choices=["worker", "inline", "bench"], default="worker")
	ap.add_argument("--chunk", type=int, default=0, help="records per key job; 0 = one job")
	ap.add_argument("--keep", action="store_true")
	ap.add_argument("--reuse", action="store_true", help="reuse customers and rules left by --keep")
	args = ap.parse_args()
	if args.work_for:
		work_for(args.site, args.bench, args.work_for)
		return

	frappe = connect(args.site, args.bench)
	from crm_dedup.core.config import compiled
	from crm_dedup.core.sets import delete_sets
	from crm_dedup.scans.start import enqueue_scan

	sfx = "".join(random.choices(string.ascii_uppercase, k=5))
	rng = random.Random(42)
	out: dict = {"records": args.records, "mode": args.mode, "chunk": args.chunk}
	rules: list[str] = []
	worker = None
	from frappe.utils import now_datetime

	started = now_datetime()
	try:
		if args.reuse:
			rules = frappe.get_all("Dedup Rule", filters={"rule_name": ["like", "scanbench %"]}, pluck="name")
			_rows, truth = generate(args.records, args.clusters, rng)
		else:
			if frappe.db.count("Customer", {"name": ["like", f"{PREFIX}-%"]}):
				sys.exit(f"customers {PREFIX}-* exist already (left by --keep?): use --reuse or remove them")
			rules = make_rules(frappe, sfx)  # before seeding: their index rebuild is then instant
			t = time.time()
			rows, truth = generate(args.records, args.clusters, rng)
			out["generate_s"] = round(time.time() - t, 1)
			t = time.time()
			frappe.db.bulk_insert("Customer", COLUMNS, rows, chunk_size=10_000)
			frappe.db.commit()
			out["seed_s"] = round(time.time() - t, 1)
			del rows
		out["customers_in_site"] = frappe.db.count("Customer")
		out["rules"] = sorted(compiled().target_rules("Customer"))

		doc = frappe.get_doc({"doctype": "Dedup Scan", "scan_doctype": "Customer", "chunk_size": args.chunk})
		doc.insert()
		out["scan"] = doc.name
		frappe.db.commit()
		t0 = time.time()
		if args.mode == "inline":
			frappe.flags.crm_dedup_scan_now = True
			enqueue_scan(doc)
		elif args.mode == "bench":
			enqueue_scan(doc)
			frappe.db.commit()  # the job is enqueued after commit; the bench's workers take it
			t0 = time.time()
			while True:
				time.sleep(1)
				frappe.db.rollback()
				if frappe.db.get_value("Dedup Scan", doc.name, "status") in ("Completed", "Failed"):
					break
		else:
			enqueue_scan(doc)
			frappe.db.commit()  # the job is enqueued after commit
			t0 = time.time()
			worker = subprocess.Popen(
				[sys.executable, os.path.abspath(__file__), "--site", args.site, "--bench", args.bench]
				+ ["--work-for", doc.name],
				stdout=subprocess.DEVNULL,
				stderr=open("/tmp/bench_scan_worker.log", "w"),
			)
			while True:
				time.sleep(1)
				frappe.db.rollback()
				status = frappe.db.get_value("Dedup Scan", doc.name, "status")
				if status in ("Completed", "Failed") or worker.poll() is not None:
					break
		wall = time.time() - t0
		doc.reload()
		if doc.status != "Completed":
			raise SystemExit(f"scan {doc.name} {doc.status}: {doc.error}")
		summary = json.loads(doc.summary)
		out.update(
			{
				"scan": doc.name,
				"wall_s": round(wall, 1),
				"scan_duration_s": doc.duration,
				"jobs": doc.jobs,
				"pairs": doc.pairs,
				"sets": doc.sets_found,
				"compared": doc.compared,
				"per_doctype": summary,
				"peak_rss_mb_compare_job": max(s.get("peak_rss_mb", 0) for s in summary),
				"peak_rss_mb_key_jobs": max(s.get("key_job_peak_rss_mb", 0) for s in summary),
				"peak_rss_mb_judges": max(s.get("judge_peak_rss_mb", 0) for s in summary),
			}
		)
		# precision / recall of the open sets over the benchmark's customers: the duplicate sets (confidence
		# Likely), the possible pairs (confidence Possible: one weak link on one field) and both together
		m = frappe.qb.DocType("Duplicate Set Member")
		s = frappe.qb.DocType("Duplicate Set")
		found: dict[str, list[str]] = {}
		kind: dict[str, str] = {}
		for parent, member, confidence in (
			frappe.qb.from_(m)
			.join(s)
			.on(s.name == m.parent)
			.select(m.parent, m.member_name, s.confidence)
			.where((s.status == "Open") & m.member_name.like(f"{PREFIX}-%"))
			.run()
		):
			found.setdefault(parent, []).append(member)
			kind[parent] = confidence
		out["quality"] = scores(truth, [v for k, v in found.items() if kind[k] != "Possible"])
		out["quality_possible_pairs"] = scores(truth, [v for k, v in found.items() if kind[k] == "Possible"])
		out["quality_all_open_sets"] = scores(truth, list(found.values()))
		# the matched pairs kept in open sets (Duplicate Set Pair rows), by rule
		p = frappe.qb.DocType("Duplicate Set Pair")
		by_rule: dict[str, list[int]] = {}
		for a, b, rule in (
			frappe.qb.from_(p)
			.join(s)
			.on(s.name == p.parent)
			.select(p.name_a, p.name_b, p.rule)
			.where((s.status == "Open") & p.name_a.like(f"{PREFIX}-%") & p.name_b.like(f"{PREFIX}-%"))
			.run()
		):
			ok = truth.get(a) is not None and truth.get(a) == truth.get(b)
			by_rule.setdefault(rule, [0, 0])[0 if ok else 1] += 1
		out["matched_pairs_by_rule"] = {r: {"true": t, "false": f} for r, (t, f) in by_rule.items()}
	finally:
		frappe.flags.crm_dedup_scan_now = False
		if worker and worker.poll() is None:
			worker.terminate()
			worker.wait(30)
		if not args.keep:
			frappe.db.rollback()
			m = frappe.qb.DocType("Duplicate Set Member")
			sets = (
				frappe.qb.from_(m)
				.select(m.parent)
				.distinct()
				.where(m.member_name.like(f"{PREFIX}-%"))
				.run(pluck=True)
			)
			for i in range(0, len(sets), 1000):
				delete_sets(sets[i : i + 1000])
			frappe.db.delete("Customer", {"name": ["like", f"{PREFIX}-%"]})
			if out.get("scan"):
				# sets this scan created for other customers of the shared site, and the scan itself
				made = frappe.get_all(
					"Duplicate Set",
					filters={"scan": out["scan"], "first_seen": [">=", started]},
					pluck="name",
				)
				for i in range(0, len(made), 1000):
					delete_sets(made[i : i + 1000])
				frappe.db.delete("Dedup Scan", {"name": out["scan"]})
			for r in rules:
				frappe.db.delete("Dedup Key", {"rule": r})
				frappe.db.delete("Dedup Scan", {"rule": r})
				frappe.delete_doc("Dedup Rule", r, force=1, ignore_permissions=True)
			frappe.db.commit()
		frappe.destroy()
	print(json.dumps(out, ensure_ascii=False, indent=1, default=str))


if __name__ == "__main__":
	main()
