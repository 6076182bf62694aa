# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt
"""Integration tests of batch scans and duplicate sets, run in a real site:

CI=1 bench --site SITE run-tests --module crm_dedup.crm_dedup.doctype.dedup_scan.test_dedup_scan

A seeded dataset of customers with planted duplicate clusters (phone written differently, e-mail in another
case, company name with another legal form and a region prefix) plus unrelated customers is bulk-inserted,
scanned with rules made for the test, and compared with the truth (pairwise precision / recall). Everything
is uniquely named per run and removed afterwards (scans commit per stage, like the real jobs).
"""

from __future__ import annotations

import itertools
import random
import string
import threading
import time

import frappe
from frappe.tests.utils import FrappeTestCase
from frappe.utils import now_datetime

from crm_dedup import bridge, scans

HAN = (
	"安邦宝贝北辰博雅灿烂昌盛晨光辰星达丰德润东方鼎盛方圆飞扬丰泰福瑞富源光明广厦国华海纳汉唐浩然和美恒通宏达华美"
	"辉煌吉祥佳禾嘉诚金鼎锦程精诚巨丰凯旋康泰坤元朗润乐享立信联创隆兴绿源美佳铭远南山宁远鹏程普惠启明千禾青山"
	"庆丰荣昌瑞丰润泽三和盛世顺达泰和腾飞天成通达同心万通伟业文华沃土祥云新锐鑫源兴隆旭日亚泰阳光一诺亿丰永盛"
)
INDUSTRY = ["科技", "贸易", "餐饮", "物流", "实业", "电子", "机械", "咨询", "医药", "文化"]
CITIES = ["南京", "上海", "杭州", "苏州", "广州", "成都"]


def token(n: int = 6) -> str:
	return "".join(random.choices(string.ascii_uppercase, k=n))


def han(n: int) -> str:
	return "".join(random.choices(HAN, k=n))


def spaced_phone(m: str) -> str:
	return f"+86 {m[:3]} {m[3:7]} {m[7:]}"


def seed_customers(prefix: str, clusters: int, singles: int, rng: random.Random | None = None) -> dict:
	"""Bulk-inserts customers named ``prefix-…``: ``clusters`` planted groups of 2-4 duplicates and
	``singles`` unrelated ones. Returns {"names": [...], "truth": {name: cluster id or None}}."""
	rng = rng or random.Random()
	now = now_datetime()
	rows = []
	truth: dict[str, int | None] = {}
	used_mobiles: set[str] = set()

	def mobile() -> str:
		while True:
			m = f"1{rng.choice('3589')}{rng.randint(0, 10**9 - 1):09d}"
			if m not in used_mobiles:
				used_mobiles.add(m)
				return m

	def company() -> str:
		return "".join(rng.choices(HAN, k=rng.randint(4, 6))) + rng.choice(INDUSTRY)

	def add(name: str, customer_name: str, mobile_no: str | None, email: str | None, cid: int | None) -> None:
		rows.append(
			(name, customer_name, "Company", mobile_no, email, now, now, "Administrator", "Administrator", 0)
		)
		truth[name] = cid

	n = 0
	for cid in range(clusters):
		core = company()
		m = mobile()
		mail = f"{prefix.lower()}.c{cid}@jinling-trade.cn"
		add(f"{prefix}-{n:05d}", f"{core}有限公司", m, mail, cid)
		n += 1
		variants = rng.sample(["phone", "email", "name"], k=rng.randint(1, 3))
		for v in variants:
			if v == "phone":  # same mobile written the +86 way, another name, no e-mail
				add(f"{prefix}-{n:05d}", company() + "有限公司", spaced_phone(m), None, cid)
			elif v == "email":  # same e-mail in upper case, another name and phone
				add(f"{prefix}-{n:05d}", company() + "有限公司", mobile(), mail.upper(), cid)
			else:  # region prefix + another legal form, nothing else in common
				add(f"{prefix}-{n:05d}", f"{rng.choice(CITIES)}{core}有限责任公司", mobile(), None, cid)
			n += 1
	for _i in range(singles):
		add(f"{prefix}-{n:05d}", company() + "有限公司", mobile(), f"{prefix.lower()}.s{n}@jinling-trade.cn", None)
		n += 1
	frappe.db.bulk_insert(
		"Customer",
		[
			"name",
			"customer_name",
			"customer_type",
			"mobile_no",
			"email_id",
			"creation",
			"modified",
			"owner",
			"modified_by",
			"docstatus",
		],
		rows,
	)
	frappe.db.commit()
	return {"names": [r[0] for r in rows], "truth": truth}


def pairwise_scores(truth: dict[str, int | None], found_sets: list[list[str]]) -> dict:
	"""Pairwise precision / recall of ``found_sets`` (lists of record names) against planted clusters."""
	true_pairs = {
		tuple(sorted(p))
		for cid in {c for c in truth.values() if c is not None}
		for p in itertools.combinations([n for n, c in truth.items() if c == cid], 2)
	}
	found_pairs = {
		tuple(sorted(p)) for s in found_sets for p in itertools.combinations([m for m in s if m in truth], 2)
	}
	tp = len(true_pairs & found_pairs)
	return {
		"true_pairs": len(true_pairs),
		"found_pairs": len(found_pairs),
		"tp": tp,
		"precision": tp / len(found_pairs) if found_pairs else 1.0,
		"recall": tp / len(true_pairs) if true_pairs else 1.0,
	}


class ScanTestCase(FrappeTestCase):
	def setUp(self) -> None:
		frappe.set_user("Administrator")
		frappe.flags.crm_dedup_scan_now = True  # run the scan's jobs inline
		self.sfx = token()
		self.prefix = f"SCN{self.sfx}"
		self.rules: list[str] = []
		self.scans: list[str] = []

	def tearDown(self) -> None:
		frappe.flags.crm_dedup_scan_now = False
		frappe.set_user("Administrator")
		frappe.db.rollback()
		sets = set()
		for rule in self.rules:
			sets.update(frappe.get_all("Duplicate Set", filters={"top_rule": rule}, pluck="name"))
		m = frappe.qb.DocType("Duplicate Set Member")
		sets.update(
			frappe.qb.from_(m).select(m.parent).where(m.member_name.like(f"{self.prefix}-%")).run(pluck=True)
		)
		if sets:
			scans._delete_sets(sorted(sets))
		frappe.db.delete("Dedup Not Duplicate", {"name_a": ["like", f"{self.prefix}-%"]})
		for s in self.scans:
			frappe.db.delete("Dedup Scan", {"name": s})
		frappe.db.delete("Customer", {"name": ["like", f"{self.prefix}-%"]})
		frappe.db.delete("Dedup Merge Log", {"survivor": ["like", f"{self.prefix}-%"]})
		for rule in self.rules:
			frappe.db.delete("Dedup Key", {"rule": rule})
			frappe.db.delete("Dedup Scan", {"rule": rule})
			if frappe.db.exists("Dedup Rule", rule):
				frappe.delete_doc("Dedup Rule", rule, force=1, ignore_permissions=True)
		frappe.db.commit()
		bridge.clear_cache()

	def make_rule(self, label: str, action: str, conditions: list[dict], priority: int = 1) -> str:
		rule = frappe.get_doc(
			{
				"doctype": "Dedup Rule",
				"rule_name": f"scan test {label} {self.sfx}",
				"target_doctype": "Customer",
				"action": action,
				"priority": priority,
				# scans use every enabled rule; the save-time checks of other tests are left alone
				"apply_on_insert": 0,
				"apply_on_edit": 0,
				"apply_on_import": 0,
				"conditions": conditions,
			}
		).insert()
		self.rules.append(rule.name)
		frappe.db.commit()
		return rule.name

	def standard_rules(self) -> list[str]:
		return [
			self.make_rule("phone", "Block", [{"fields": "mobile_no", "match_type": "Phone"}], 1),
			self.make_rule("email", "Block", [{"fields": "email_id", "match_type": "Email"}], 2),
			self.make_rule(
				"name",
				"Warn",
				[{"fields": "customer_name", "match_type": "Company Name", "threshold": 92}],
				3,
			),
		]

	def run_scan(self, rule: str | None = None, chunk_size: int | None = None, doctype: str = "Customer"):
		doc = frappe.get_doc({"doctype": "Dedup Scan", "scan_doctype": doctype, "rule": rule})
		if chunk_size is not None:
			doc.chunk_size = chunk_size
		doc.insert()
		self.scans.append(doc.name)
		scans.enqueue_scan(doc)
		doc.reload()
		self.assertEqual(doc.status, "Completed", doc.error)
		return doc

	def my_sets(self, status: str = "Open") -> dict[str, list[str]]:
		s = frappe.qb.DocType("Duplicate Set")
		m = frappe.qb.DocType("Duplicate Set Member")
		out: dict[str, list[str]] = {}
		for parent, member in (
			frappe.qb.from_(m)
			.join(s)
			.on(s.name == m.parent)
			.select(m.parent, m.member_name)
			.where((s.status == status) & m.member_name.like(f"{self.prefix}-%"))
			.orderby(m.parent)
			.orderby(m.idx)
			.run()
		):
			out.setdefault(parent, []).append(member)
		return out

	def scan_all_rules(self, rules: list[str], chunk_size: int | None = None) -> list:
		"""One scan per rule (the test's rules only; other engineers' Customer rules stay out)."""
		return [self.run_scan(rule=r, chunk_size=chunk_size) for r in rules]


class TestScan(ScanTestCase):
	def test_planted_clusters_precision_recall_and_rerun(self):
		rules = self.standard_rules()
		data = seed_customers(self.prefix, clusters=40, singles=160, rng=random.Random(7))
		docs = self.scan_all_rules(rules)
		found = list(self.my_sets().values())
		score = pairwise_scores(data["truth"], found)
		print(f"\nscan of seeded customers: {score}")
		self.assertGreaterEqual(score["recall"], 0.99, score)
		self.assertGreaterEqual(score["precision"], 0.95, score)
		# one set per planted cluster, no set mixes two clusters
		for members in found:
			self.assertEqual(len({data["truth"][m] for m in members}), 1, members)
		self.assertEqual(len(found), 40)

		# summary on the scan record
		phone = docs[0]
		self.assertGreater(phone.records, len(data["names"]) - 1)
		self.assertGreater(phone.pairs, 0)
		self.assertTrue(phone.started_at and phone.finished_at)
		self.assertIn("compare_seconds", phone.summary)

		# set content: members with owner and title, pairs with rule, fields and explanation
		set_name = next(iter(self.my_sets()))
		sd = frappe.get_doc("Duplicate Set", set_name)
		self.assertEqual(sd.ref_doctype, "Customer")
		self.assertTrue(all(m.record_owner == "Administrator" for m in sd.members))
		self.assertTrue(all(m.member_title for m in sd.members))
		self.assertTrue(sd.pairs and all(p.rule in rules and p.explanation for p in sd.pairs))

		# re-running updates the open sets instead of adding new ones
		before = self.my_sets()
		again = self.scan_all_rules(rules)
		self.assertEqual(sum(d.sets_new for d in again), 0)
		self.assertEqual(self.my_sets(), before)

	def test_chunked_scan_finds_the_same_sets(self):
		rule = self.make_rule("phone", "Block", [{"fields": "mobile_no", "match_type": "Phone"}])
		data = seed_customers(self.prefix, clusters=15, singles=40, rng=random.Random(11))
		inline = self.run_scan(rule=rule, chunk_size=0)
		first = self.my_sets()
		chunked = self.run_scan(rule=rule, chunk_size=25)
		self.assertGreater(chunked.jobs, 2)  # several key jobs + the compare job
		self.assertEqual(chunked.pairs, inline.pairs)
		self.assertEqual(chunked.sets_new, 0)
		self.assertEqual(self.my_sets(), first)
		phone_truth = {n: c for n, c in data["truth"].items()}
		self.assertTrue(first and all(len({phone_truth[m] for m in s}) == 1 for s in first.values()))

	def test_not_duplicate_is_remembered(self):
		rule = self.make_rule("phone", "Block", [{"fields": "mobile_no", "match_type": "Phone"}])
		now = now_datetime()
		mob = "13" + "".join(random.choices(string.digits, k=9))
		names = [f"{self.prefix}-A", f"{self.prefix}-B"]
		frappe.db.bulk_insert(
			"Customer",
			[
				"name",
				"customer_name",
				"customer_type",
				"mobile_no",
				"creation",
				"modified",
				"owner",
				"modified_by",
			],
			[
				(names[0], f"{self.prefix} 甲", "Company", mob, now, now, "Administrator", "Administrator"),
				(
					names[1],
					f"{self.prefix} 乙",
					"Company",
					spaced_phone(mob),
					now,
					now,
					"Administrator",
					"Administrator",
				),
			],
		)
		frappe.db.commit()
		self.run_scan(rule=rule)
		(set_name,) = self.my_sets()
		self.assertFalse(scans.is_not_duplicate("Customer", names[0], "Customer", names[1]))

		# the save-time check finds the pair as long as it is not marked
		from crm_dedup import key_index

		frappe.db.set_value("Dedup Rule", rule, "apply_on_edit", 1)
		frappe.db.commit()
		bridge.clear_cache()
		key_index.rebuild(rule, commit=True, progress=False)
		a = frappe.get_doc("Customer", names[0])
		self.assertEqual([h.name for h in bridge.find_duplicates(a, "Customer", event="edit")], [names[1]])

		scans.mark_not_duplicate(set_name, reason="two branches sharing a phone")
		frappe.db.commit()
		self.assertEqual(frappe.db.get_value("Duplicate Set", set_name, "status"), "Not Duplicate")
		self.assertTrue(scans.is_not_duplicate("Customer", names[1], "Customer", names[0]))
		self.assertIn((names[0], names[1]), scans.not_duplicate_pairs("Customer"))

		# a later scan skips the pair: no new open set
		doc = self.run_scan(rule=rule)
		self.assertEqual(self.my_sets(), {})
		self.assertGreaterEqual(doc.skipped_pairs, 1)

		# the save-time check ignores it too (bridge.find_duplicates asks crm_dedup.scans.is_not_duplicate)
		self.assertEqual(bridge.find_duplicates(a, "Customer", event="edit"), [])

		# reopening forgets it
		scans.reopen_set(set_name)
		frappe.db.commit()
		self.assertFalse(scans.is_not_duplicate("Customer", names[0], "Customer", names[1]))

	def test_one_pair_not_duplicate_splits_the_set(self):
		rule = self.make_rule("phone", "Block", [{"fields": "mobile_no", "match_type": "Phone"}])
		email = self.make_rule("email", "Block", [{"fields": "email_id", "match_type": "Email"}], 2)
		now = now_datetime()
		mob = "13" + "".join(random.choices(string.digits, k=9))
		mail = f"{self.prefix.lower()}@jinling-trade.cn"
		# A-B share the phone, B-C share the e-mail: one set {A, B, C}
		a, b, c = (f"{self.prefix}-{x}" for x in "ABC")
		frappe.db.bulk_insert(
			"Customer",
			["name", "customer_name", "customer_type", "mobile_no", "email_id", "creation", "modified"],
			[
				(a, f"{self.prefix} 甲", "Company", mob, None, now, now),
				(b, f"{self.prefix} 乙", "Company", mob, mail, now, now),
				(c, f"{self.prefix} 丙", "Company", None, mail.upper(), now, now),
			],
		)
		frappe.db.commit()
		self.run_scan(rule=rule)
		self.run_scan(rule=email)
		sets = self.my_sets()
		self.assertEqual(len(sets), 1)
		set_name, members = next(iter(sets.items()))
		self.assertEqual(sorted(members), [a, b, c])
		doc = frappe.get_doc("Duplicate Set", set_name)
		pair = next(p for p in doc.pairs if {p.name_a, p.name_b} == {b, c})
		scans.mark_not_duplicate(set_name, pair=pair.name)
		frappe.db.commit()
		self.assertEqual(sorted(self.my_sets()[set_name]), [a, b])
		self.assertTrue(scans.is_not_duplicate("Customer", c, "Customer", b))

	def test_merge_closes_the_set(self):
		try:
			from crm_dedup import merge
		except ImportError:
			self.skipTest("merge feature not installed")
		# tax id, not a phone: ERPNext would create (and commit) a primary Contact for a mobile number when
		# the merge saves the survivor, which these bulk-inserted customers do not have yet
		rule = self.make_rule("tax", "Block", [{"fields": "tax_id", "match_type": "ID Code"}])
		now = now_datetime()
		tax = "91320100" + "".join(random.choices(string.ascii_uppercase + string.digits, k=10))
		a, b = f"{self.prefix}-A", f"{self.prefix}-B"
		frappe.db.bulk_insert(
			"Customer",
			[
				"name",
				"customer_name",
				"customer_type",
				"tax_id",
				"creation",
				"modified",
				"owner",
				"modified_by",
			],
			[
				(a, f"{self.prefix} 甲", "Company", tax, now, now, "Administrator", "Administrator"),
				(b, f"{self.prefix} 乙", "Company", tax.lower(), now, now, "Administrator", "Administrator"),
			],
		)
		frappe.db.commit()
		self.run_scan(rule=rule)
		(set_name,) = self.my_sets()
		self.assertEqual(scans.get_duplicate_flags("Customer", [a, b]), {a: set_name, b: set_name})
		log = merge.merge("Customer", a, [("Customer", b)])
		frappe.db.commit()
		self.assertEqual(frappe.db.get_value("Duplicate Set", set_name, "status"), "Merged")
		self.assertEqual(frappe.db.get_value("Duplicate Set", set_name, "merge_log"), log.name)
		self.assertEqual(scans.get_duplicate_flags("Customer", [a]), {})

	def test_deleted_member_is_dropped_on_refresh(self):
		rule = self.make_rule("phone", "Block", [{"fields": "mobile_no", "match_type": "Phone"}])
		now = now_datetime()
		mob = "13" + "".join(random.choices(string.digits, k=9))
		names = [f"{self.prefix}-{x}" for x in "ABC"]
		frappe.db.bulk_insert(
			"Customer",
			["name", "customer_name", "customer_type", "mobile_no", "creation", "modified"],
			[(n, f"{n} co", "Company", mob, now, now) for n in names],
		)
		frappe.db.commit()
		self.run_scan(rule=rule)
		(set_name,) = self.my_sets()
		frappe.db.delete("Customer", {"name": names[2]})
		frappe.db.commit()
		self.assertTrue(scans.refresh_set(set_name)["changed"])
		self.assertEqual(sorted(self.my_sets()[set_name]), names[:2])
		self.assertEqual(frappe.db.get_value("Duplicate Set", set_name, "status"), "Open")
		frappe.db.delete("Customer", {"name": names[1]})
		frappe.db.commit()
		self.assertEqual(scans.refresh_set(set_name)["status"], "Resolved")

	def test_record_indicator(self):
		rule = self.make_rule("phone", "Block", [{"fields": "mobile_no", "match_type": "Phone"}])
		now = now_datetime()
		mob = "13" + "".join(random.choices(string.digits, k=9))
		a, b = f"{self.prefix}-A", f"{self.prefix}-B"
		frappe.db.bulk_insert(
			"Customer",
			["name", "customer_name", "customer_type", "mobile_no", "creation", "modified", "owner"],
			[
				(a, f"{self.prefix} 甲", "Company", mob, now, now, "Administrator"),
				(b, f"{self.prefix} 乙", "Company", mob, now, now, "Administrator"),
			],
		)
		frappe.db.commit()
		self.run_scan(rule=rule)
		(set_name,) = self.my_sets()
		info = scans.get_record_sets("Customer", a)
		self.assertEqual(len(info), 1)
		self.assertEqual(info[0]["set"], set_name)
		self.assertEqual([o["name"] for o in info[0]["others"]], [b])
		self.assertEqual(info[0]["why"][0]["rule"], rule)
		self.assertIn("Customer", scans.indicator_doctypes())

	def test_table_loader_reads_what_the_bridge_reads(self):
		"""The scan's keyset loader gives the same records as bridge.load_records (child paths as lists)."""
		paths = ["first_name", "company_name", "phone_nos.phone", "email_ids.email_id", "mobile_no"]
		old_page = scans.PAGE
		scans.PAGE = 7  # several pages
		try:
			loaded = dict(scans._iter_table("Contact", paths))
		finally:
			scans.PAGE = old_page
		self.assertEqual(len(loaded), frappe.db.count("Contact"))
		names = list(loaded)[:60]
		self.assertEqual({n: loaded[n] for n in names}, bridge.load_records("Contact", names, paths))
		if len(names) > 3:
			first, last = names[1], names[3]
			self.assertEqual([n for n, _r in scans._iter_table("Contact", paths, first, last)], names[1:4])


def _hold_row_lock(conf, scan: str, held: threading.Event, release: threading.Event) -> None:
	"""Takes the Dedup Scan row lock on a connection of its own and keeps it until ``release`` is set."""
	import pymysql

	conn = pymysql.connect(
		host=conf.db_host or "127.0.0.1",
		port=int(conf.db_port or 3306),
		user=conf.db_name,
		password=conf.db_password,
		database=conf.db_name,
		charset="utf8mb4",
	)
	try:
		with conn.cursor() as cur:
			cur.execute("set session innodb_lock_wait_timeout = 20")
			cur.execute("begin")
			cur.execute("select name from `tabDedup Scan` where name = %s for update", (scan,))
			held.set()
			release.wait(30)
		conn.rollback()
	finally:
		conn.close()


def _wait_for_scan(scan: str, timeout: float = 60) -> None:
	"""Waits until the worker is done with the scan, so that tearDown does not delete under a running job."""
	deadline = time.time() + timeout
	while time.time() < deadline:
		frappe.db.rollback()
		if frappe.db.get_value("Dedup Scan", scan, "status") not in ("Queued", "Running"):
			return
		time.sleep(0.5)


class TestScanJobs(ScanTestCase):
	def test_one_job_per_scan(self):
		"""Queued for real on the long queue: the same scan cannot be queued (or run) twice."""
		from frappe.utils.background_jobs import get_job

		frappe.flags.crm_dedup_scan_now = False
		rule = self.make_rule("phone", "Block", [{"fields": "mobile_no", "match_type": "Phone"}])
		doc = frappe.get_doc({"doctype": "Dedup Scan", "scan_doctype": "Customer", "rule": rule}).insert()
		self.scans.append(doc.name)
		scans.enqueue_scan(doc)
		# The live worker would pick the job up and could finish it before the assertions below run. A second
		# connection queues for the scan's row lock now, gets it when our commit enqueues the job, and holds it
		# while we look: the job's first write ("Running") waits behind it, so the job stays in flight.
		held, release = threading.Event(), threading.Event()
		holder = threading.Thread(target=_hold_row_lock, args=(frappe.local.conf, doc.name, held, release))
		holder.start()
		time.sleep(0.3)  # the holder is waiting for the row lock before the commit hands it over
		frappe.db.commit()  # enqueue_after_commit
		self.assertTrue(held.wait(10), "the lock holder did not get the scan's row lock")
		try:
			job = get_job(scans.job_id(doc.name))
			self.assertIsNotNone(job)
			self.assertTrue(job.origin.endswith("long"), job.origin)
			doc.reload()
			self.assertEqual(doc.status, "Queued")
			with self.assertRaises(frappe.ValidationError):
				scans.enqueue_scan(doc)
			# a second scan of the same DocType waits for this one
			other = frappe.get_doc(
				{"doctype": "Dedup Scan", "scan_doctype": "Customer", "rule": rule}
			).insert()
			self.scans.append(other.name)
			with self.assertRaises(frappe.ValidationError):
				scans.enqueue_scan(other)
		finally:
			release.set()
			holder.join(10)
			job = get_job(scans.job_id(doc.name))
			if job and job.get_status() == "queued":
				job.cancel()
				job.delete()
			_wait_for_scan(doc.name)

	def test_scheduled_scan_follows_settings(self):
		rule = self.make_rule("phone", "Block", [{"fields": "mobile_no", "match_type": "Phone"}])
		settings = frappe.get_single("Dedup Settings")
		old = (settings.scan_frequency, settings.scan_doctypes)
		try:
			frappe.db.set_single_value(
				"Dedup Settings", {"scan_frequency": "Never", "scan_doctypes": "Customer"}
			)
			before = frappe.db.count("Dedup Scan", {"triggered_by": "Schedule"})
			scans.run_scheduled_daily()
			self.assertEqual(frappe.db.count("Dedup Scan", {"triggered_by": "Schedule"}), before)
			frappe.db.set_single_value("Dedup Settings", "scan_frequency", "Weekly")
			scans.run_scheduled_daily()
			self.assertEqual(frappe.db.count("Dedup Scan", {"triggered_by": "Schedule"}), before)
			scans.run_scheduled_weekly()
			new = frappe.get_all(
				"Dedup Scan",
				filters={"triggered_by": "Schedule"},
				fields=["name", "status", "scan_doctype"],
				order_by="creation desc",
				limit=1,
			)
			self.scans += [n.name for n in new]
			self.assertEqual(new[0].scan_doctype, "Customer")
			self.assertEqual(new[0].status, "Completed")
			self.assertIn(rule, frappe.db.get_value("Dedup Scan", new[0].name, "summary"))
		finally:
			frappe.db.set_single_value("Dedup Settings", {"scan_frequency": old[0], "scan_doctypes": old[1]})
			# a full scan of the shared site may have found other people's duplicates: remove those sets
			made = frappe.get_all("Duplicate Set", filters={"scan": ["in", self.scans or [""]]}, pluck="name")
			if made:
				scans._delete_sets(made)
			frappe.db.commit()
