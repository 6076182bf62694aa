# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt
"""Shared factories of the Frappe integration tests (imported by the test modules beside each capability).

Users, the Phone 1/2/3 custom fields of Customer, random names and numbers, and ``DedupTestCase``: rules made by
a test are the only ones that take part in it (the site is shared), and everything it made is removed.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable

import frappe
from frappe.custom.doctype.custom_field.custom_field import create_custom_fields
from frappe.tests.utils import FrappeTestCase

from crm_dedup.core import sidedb
from crm_dedup.core.config import clear_cache
from crm_dedup.scans.start import enqueue_scan

OWNER_A = "dedup.rep.a@example.com"
REP_B = "dedup.rep.b@example.com"
MANAGER = "dedup.manager@example.com"
HAN = "东南西北春夏秋冬梅兰竹菊松柏杨柳山水云海星月"
# 字号 characters, industries and cities for realistic company names
TRADE_HAN = (
	"安邦宝贝北辰博雅灿烂昌盛晨光辰星达丰德润东方鼎盛方圆飞扬丰泰福瑞富源光明广厦国华海纳汉唐浩然和美恒通宏达华美"
	"辉煌吉祥佳禾嘉诚金鼎锦程精诚巨丰凯旋康泰坤元朗润乐享立信联创隆兴绿源美佳铭远南山宁远鹏程普惠启明千禾青山"
	"庆丰荣昌瑞丰润泽三和盛世顺达泰和腾飞天成通达同心万通伟业文华沃土祥云新锐鑫源兴隆旭日亚泰阳光一诺亿丰永盛"
)
INDUSTRY = ["科技", "贸易", "餐饮", "物流", "实业", "电子", "机械", "咨询", "医药", "文化"]
CITIES = ["南京", "上海", "杭州", "苏州", "广州", "成都"]


def suffix(n: int = 6) -> str:
	return "".join(random.choices(string.ascii_uppercase + string.digits, k=n))


def han_suffix(n: int = 3) -> str:
	return "".join(random.choices(HAN, k=n))


def random_mobile(prefix: str = "139") -> str:
	return prefix + "".join(random.choices(string.digits, k=8))


def token(n: int = 6) -> str:
	return "".join(random.choices(string.ascii_uppercase, k=n))


def trade_name(n: int) -> str:
	return "".join(random.choices(TRADE_HAN, k=n))


def spaced_phone(m: str) -> str:
	"""13912345678 -> +86 139 1234 5678 (the same number as a human types it)."""
	return f"+86 {m[:3]} {m[3:7]} {m[7:]}"


def ensure_user(email: str, first_name: str, roles: list[str], password: str | None = None) -> None:
	"""A desk user with these roles (created once, committed)."""
	if frappe.db.exists("User", email):
		return
	user = frappe.get_doc(
		{"doctype": "User", "email": email, "first_name": first_name, "send_welcome_email": 0}
	)
	if password:
		user.new_password = password
	user.insert(ignore_permissions=True)
	user.add_roles(*roles)
	frappe.db.commit()


def ensure_phone_fields() -> None:
	"""Custom fields Phone 1/2/3 on Customer (a field group across custom fields; benchmarks use them too)."""
	create_custom_fields(
		{
			"Customer": [
				{
					"fieldname": f"phone_{i}",
					"label": f"Phone {i}",
					"fieldtype": "Data",
					"options": "Phone",
					"insert_after": "mobile_no" if i == 1 else f"phone_{i - 1}",
				}
				for i in (1, 2, 3)
			]
		}
	)


def settings_rows(table: str, fields: tuple[str, ...]) -> list[dict]:
	"""The rows of a Dedup Settings table, to give back with ``restore_settings_rows`` after a test."""
	return [{f: r.get(f) for f in fields} for r in frappe.get_single("Dedup Settings").get(table)]


def restore_settings_rows(table: str, rows: list[dict]) -> None:
	"""Puts a Dedup Settings table back as Administrator, commits, without the rebuild a change would queue."""
	frappe.set_user("Administrator")
	frappe.db.rollback()
	settings = frappe.get_single("Dedup Settings")
	settings.set(table, rows)
	settings.flags.crm_dedup_no_rebuild = True
	settings.save()
	frappe.db.commit()


def ensure_fixtures() -> None:
	"""Custom fields Phone 1/2/3 on Customer (a field group across custom fields) and three users."""
	ensure_phone_fields()
	for email, first, roles in (
		(OWNER_A, "Rep A", ["Sales User"]),
		(REP_B, "Rep B", ["Sales User"]),
		(MANAGER, "Dedup Mgr", ["Sales User", "Sales Manager"]),
	):
		ensure_user(email, first, roles)
	frappe.db.commit()


class DedupTestCase(FrappeTestCase):
	@classmethod
	def setUpClass(cls) -> None:
		super().setUpClass()
		ensure_fixtures()

	def setUp(self) -> None:
		frappe.set_user("Administrator")
		self.sfx = suffix()
		self.cleanup: list[tuple[str, str]] = []
		self.rules: list[str] = []
		# the site is shared: other people's enabled rules must not take part in these tests
		frappe.flags.crm_dedup_only_rules = self.rules

	def tearDown(self) -> None:
		frappe.flags.crm_dedup_only_rules = None
		frappe.set_user("Administrator")
		frappe.db.rollback()
		# what was committed on the way (ERPNext commits on Contact insert; logs are committed on purpose);
		# retried because the shared site may deadlock us with someone else's transaction
		for attempt in range(3):
			try:
				self._cleanup()
				break
			except frappe.QueryDeadlockError:
				frappe.db.rollback()
				if attempt == 2:
					raise
		clear_cache()

	def _cleanup(self) -> None:
		for doctype, name in reversed(self.cleanup):
			if frappe.db.exists(doctype, name):
				frappe.delete_doc(doctype, name, force=1, ignore_permissions=True)
		for rule in self.rules:
			frappe.db.delete("Dedup Collision Log", {"rule": rule})
			frappe.db.delete("Dedup Key", {"rule": rule})
			if frappe.db.exists("Dedup Rule", rule):
				frappe.delete_doc("Dedup Rule", rule, force=1, ignore_permissions=True)
		frappe.db.commit()
		for name in frappe.get_all(
			"Notification Log", filters={"for_user": ["in", [OWNER_A, REP_B, MANAGER]]}, pluck="name"
		):
			frappe.db.delete("Notification Log", {"name": name})
		frappe.db.commit()

	# helpers
	def make_rule(self, label: str, target: str, action: str, conditions: list[dict], **extra) -> str:
		rule = frappe.get_doc(
			{
				"doctype": "Dedup Rule",
				"rule_name": f"test {label} {self.sfx}",
				"target_doctype": target,
				"action": action,
				"priority": 1,
				"conditions": conditions,
				**extra,
			}
		)
		# isolate the rule from whatever else the shared site holds: only records made by this test are
		# indexed under it (no rebuild over the site's records)
		rule.flags.crm_dedup_no_rebuild = True
		rule.insert()
		self.rules.append(rule.name)
		return rule.name

	def run_scan(self, doctype: str = "Customer", rule: str | None = None) -> frappe.Document:
		"""A Dedup Scan of ``doctype`` (one rule, or all), its jobs run in this process; it and its sets are
		removed after the test."""
		doc = frappe.get_doc({"doctype": "Dedup Scan", "scan_doctype": doctype, "rule": rule}).insert()
		self.cleanup.append(("Dedup Scan", doc.name))
		frappe.flags.crm_dedup_scan_now = True
		try:
			enqueue_scan(doc)
		finally:
			frappe.flags.crm_dedup_scan_now = False
		doc.reload()
		self.assertEqual(doc.status, "Completed", doc.error)
		for s in frappe.get_all("Duplicate Set", {"scan": doc.name}, pluck="name"):
			self.cleanup.append(("Duplicate Set", s))
		return doc

	def data_import(self, doctype: str, content: str, label: str) -> frappe.Document:
		"""A committed Data Import (Insert New Records) of the CSV text ``content``; removed after the test."""
		f = frappe.get_doc(
			{
				"doctype": "File",
				"file_name": f"{label}-{self.sfx}.csv",
				"content": content.encode(),
				"is_private": 1,
			}
		).insert(ignore_permissions=True)
		di = frappe.get_doc(
			{
				"doctype": "Data Import",
				"reference_doctype": doctype,
				"import_type": "Insert New Records",
				"import_file": f.file_url,
				"mute_emails": 1,
			}
		).insert()
		self.cleanup[:0] = [("File", f.name), ("Data Import", di.name)]
		frappe.db.commit()
		return di

	def customer(self, name: str, **fields) -> frappe.Document:
		doc = frappe.get_doc({"doctype": "Customer", "customer_name": name, **fields})
		doc.insert()
		self.cleanup.append(("Customer", doc.name))
		return doc


def insert_in_thread(
	site: str, sites_path: str, i: int, make: Callable, rules: list[str], barrier, results: dict
) -> None:
	"""One of many threads inserting at the same instant: its own site connection, only ``rules`` count; waits at
	``barrier``, inserts ``make(i)`` and commits; ``results[i]`` = ("ok", name) or (exception class name, message)."""
	frappe.init(site=site, sites_path=sites_path)
	try:
		frappe.connect()
		frappe.set_user("Administrator")
		frappe.flags.crm_dedup_only_rules = rules
		barrier.wait(timeout=120)
		try:
			doc = make(i)
			doc.insert()
			frappe.db.commit()
			results[i] = ("ok", doc.name)
		except Exception as e:
			frappe.db.rollback()
			results[i] = (type(e).__name__, str(e)[:3000])
	finally:
		sidedb.close()
		frappe.destroy()
