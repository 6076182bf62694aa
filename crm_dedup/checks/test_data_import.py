# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt
"""Duplicate checks of a real Data Import (Frappe's importer, Customer rows), run in a real site:

CI=1 bench --site SITE run-tests --module crm_dedup.checks.test_data_import

A CSV is attached to a Data Import and imported with ``start_import()`` (synchronous in tests). Some rows
duplicate existing customers (the phone written the +86 way, the e-mail in upper case, the tax id with
spaces), some duplicate an earlier row of the same file - one of them an earlier row that was itself only
warned (similar company name) and therefore imported. Exactly those rows must fail, with the form's message
in the import log, their collision logged although the row was rolled back; every other row is imported.

The same scenario at full size (1,000 rows, 50 known duplicates) is ``demo()``:

bench --site SITE execute crm_dedup.checks.test_data_import.demo
"""

from __future__ import annotations

import csv
import io
import json
import random
import string
import time

import frappe
from frappe.tests.utils import FrappeTestCase
from frappe.utils import now_datetime

from crm_dedup.checks import data_import
from crm_dedup.core.config import clear_cache
from crm_dedup.core.guard import index_doc
from crm_dedup.core.sets import delete_sets
from crm_dedup.scans.indicators import get_record_sets
from crm_dedup.testing import INDUSTRY, spaced_phone
from crm_dedup.testing import TRADE_HAN as HAN

REP = "scan.rep@example.com"
COLUMNS = ["customer_name", "customer_type", "mobile_no", "email_id", "tax_id"]


def ensure_rep() -> None:
	if not frappe.db.exists("User", REP):
		user = frappe.get_doc(
			{
				"doctype": "User",
				"email": REP,
				"first_name": "Scan",
				"last_name": "Rep",
				"send_welcome_email": 0,
			}
		)
		user.insert(ignore_permissions=True)
		user.add_roles("Sales User")
		frappe.db.commit()


class Scenario:
	"""Rules, existing customers and an import file with known duplicate rows."""

	def __init__(self, rows: int, existing_dups: int, file_dups: int, seed: int | None = None) -> None:
		self.rng = random.Random(seed)
		self.sfx = "".join(self.rng.choices(string.ascii_uppercase, k=6))
		self.prefix = f"IMP{self.sfx}"
		self.n_rows = rows
		self.n_existing_dups = existing_dups
		self.n_file_dups = file_dups
		self.rules: list[str] = []
		self.used: set[str] = set()
		self.rows: list[dict] = []
		self.expected_rejected: dict[int, str] = {}  # spreadsheet row number -> why
		self.expected_flagged: set[int] = set()
		self.placeholder_rows: set[int] = set()
		self.existing: list[dict] = []
		self.data_import: str | None = None
		self.file: str | None = None

	# ---- values ---------------------------------------------------------------------------------------
	def _unique(self, make) -> str:
		while True:
			v = make()
			if v not in self.used:
				self.used.add(v)
				return v

	def mobile(self) -> str:
		return self._unique(lambda: f"1{self.rng.choice('3589')}{self.rng.randint(0, 10**9 - 1):09d}")

	def tax(self) -> str:
		alphabet = string.digits + "ABCDEFGHJKLMNPQRTUWXY"
		return self._unique(lambda: "9132" + "".join(self.rng.choices(alphabet, k=14)))

	def core(self) -> str:
		return self._unique(lambda: "".join(self.rng.choices(HAN, k=self.rng.randint(5, 7))))

	def company(self) -> str:
		return f"{self.core()}{self.rng.choice(INDUSTRY)}有限公司"

	def email(self) -> str:
		return self._unique(lambda: f"{self.prefix.lower()}.{len(self.used)}@jinling-trade.cn")

	# ---- setup ----------------------------------------------------------------------------------------
	def make_rules(self) -> None:
		specs = [
			("phone", "Block", 1, [{"fields": "mobile_no", "match_type": "Phone"}]),
			("email", "Block", 2, [{"fields": "email_id", "match_type": "Email"}]),
			("tax", "Block", 3, [{"fields": "tax_id", "match_type": "ID Code"}]),
			("name", "Warn", 4, [{"fields": "customer_name", "match_type": "Company Name", "threshold": 95}]),
		]
		for label, action, prio, conditions in specs:
			rule = frappe.get_doc(
				{
					"doctype": "Dedup Rule",
					"rule_name": f"import test {label} {self.sfx}",
					"target_doctype": "Customer",
					"action": action,
					"priority": prio,
					"apply_on_insert": 0,
					"apply_on_edit": 0,
					"apply_on_import": 1,
					"conditions": conditions,
				}
			).insert()
			self.rules.append(rule.name)
		frappe.db.commit()

	def seed_existing(self, count: int) -> None:
		"""Existing customers (bulk-inserted, then indexed), owned by REP."""
		now = now_datetime()
		rows = []
		for i in range(count):
			cust = {
				"name": f"{self.prefix}-E{i:04d}",
				"customer_name": self.company(),
				"mobile_no": self.mobile(),
				"email_id": self.email(),
				"tax_id": self.tax(),
			}
			self.existing.append(cust)
			rows.append(
				(
					cust["name"],
					cust["customer_name"],
					"Company",
					cust["mobile_no"],
					cust["email_id"],
					cust["tax_id"],
					REP,
					now,
					now,
					"Administrator",
					"Administrator",
				)
			)
		frappe.db.bulk_insert(
			"Customer",
			[
				"name",
				"customer_name",
				"customer_type",
				"mobile_no",
				"email_id",
				"tax_id",
				"account_manager",
				"creation",
				"modified",
				"owner",
				"modified_by",
			],
			rows,
		)
		frappe.db.commit()
		# index just these records (a rebuild would re-key every customer of the shared site)
		clear_cache()
		for cust in self.existing:
			index_doc(frappe.get_doc("Customer", cust["name"]))
		frappe.db.commit()

	def build_rows(self) -> None:
		"""Unique rows, then known duplicates placed at fixed spreadsheet rows (row number = index + 2)."""
		for _i in range(self.n_rows):
			self.rows.append(
				{
					"customer_name": self.company(),
					"customer_type": "Company",
					"mobile_no": self.mobile(),
					"email_id": self.email(),
					"tax_id": self.tax(),
				}
			)
		row_no = lambda i: i + 2  # noqa: E731  (header is spreadsheet row 1)
		# 1. row 3 is only warned (its name resembles an existing customer's) and is imported ...
		warned = 1
		base = self.existing[0]
		self.rows[warned]["customer_name"] = "南京" + base["customer_name"].replace(
			"有限公司", "有限责任公司"
		)
		self.expected_flagged.add(row_no(warned))
		# ... and a later row (row 9) has row 3's phone: rejected as a duplicate of row 3
		free = [i for i in range(self.n_rows) if i not in (warned,)]
		chain = 7
		self.rows[chain]["mobile_no"] = spaced_phone(self.rows[warned]["mobile_no"])
		self.expected_rejected[row_no(chain)] = f"row {row_no(warned)} (warned, imported)"
		taken = {warned, chain}
		self.rng.shuffle(free)
		free = [i for i in free if i not in taken]

		# 2. duplicates of existing customers, the value written differently
		kinds = ["phone", "email", "tax"]
		for k in range(self.n_existing_dups):
			i = free.pop()
			taken.add(i)
			e = self.existing[1 + k % (len(self.existing) - 1)]
			kind = kinds[k % 3]
			if kind == "phone":
				self.rows[i]["mobile_no"] = spaced_phone(e["mobile_no"])
			elif kind == "email":
				self.rows[i]["email_id"] = e["email_id"].upper()
			else:
				t = e["tax_id"]
				self.rows[i]["tax_id"] = f"{t[:6]} {t[6:12]} {t[12:]}".lower()
			self.expected_rejected[row_no(i)] = f"existing {e['name']} ({kind})"

		# 3. duplicates of earlier rows of the same file (the earlier row itself is imported)
		for k in range(self.n_file_dups - 1):
			later = max(free)
			free.remove(later)
			earlier_candidates = [i for i in free if i < later]
			earlier = self.rng.choice(earlier_candidates)
			free.remove(earlier)
			taken.update((earlier, later))
			kind = kinds[k % 3]
			if kind == "phone":
				self.rows[later]["mobile_no"] = spaced_phone(self.rows[earlier]["mobile_no"])
			elif kind == "email":
				self.rows[later]["email_id"] = self.rows[earlier]["email_id"].upper()
			else:
				self.rows[later]["tax_id"] = self.rows[earlier]["tax_id"].lower()
			self.expected_rejected[row_no(later)] = f"row {row_no(earlier)} ({kind})"

		# 4. fillers (#16): unrelated rows sharing 无 / N/A as tax id and 13800138000 as mobile are all imported
		fillers = [("无", "13800138000"), ("无", "138-0013-8000"), ("N/A", "+86 13800138000"), ("n/a", "")]
		for tax_id, mobile in fillers[: min(len(fillers), len(free))]:
			i = free.pop()
			self.rows[i]["tax_id"] = tax_id
			self.rows[i]["mobile_no"] = mobile
			self.placeholder_rows.add(row_no(i))

	def attach(self) -> str:
		buf = io.StringIO()
		w = csv.DictWriter(buf, fieldnames=COLUMNS)
		w.writeheader()
		w.writerows(self.rows)
		f = frappe.get_doc(
			{
				"doctype": "File",
				"file_name": f"customers-{self.sfx}.csv",
				"content": buf.getvalue().encode("utf-8"),
				"is_private": 1,
			}
		).insert(ignore_permissions=True)
		self.file = f.name
		di = frappe.get_doc(
			{
				"doctype": "Data Import",
				"reference_doctype": "Customer",
				"import_type": "Insert New Records",
				"import_file": f.file_url,
				"mute_emails": 1,
			}
		).insert()
		self.data_import = di.name
		frappe.db.commit()
		return di.name

	def setup(self) -> None:
		ensure_rep()
		self.make_rules()
		self.seed_existing(max(12, self.n_existing_dups + 2))
		self.build_rows()
		self.attach()

	# ---- run ------------------------------------------------------------------------------------------
	def dry_run(self) -> dict:
		return data_import.dry_run(self.data_import)

	def run_import(self) -> dict:
		di = frappe.get_doc("Data Import", self.data_import)
		t0 = time.time()
		di.start_import()  # synchronous in tests / developer mode (Frappe runs the job inline)
		seconds = time.time() - t0
		logs = frappe.get_all(
			"Data Import Log",
			filters={"data_import": self.data_import},
			fields=["success", "row_indexes", "messages", "docname"],
			order_by="log_index asc",
		)
		failed: dict[int, list[str]] = {}
		imported: list[str] = []
		for log in logs:
			rows = json.loads(log.row_indexes or "[]")
			if log.success:
				imported.append(log.docname)
			else:
				msgs = [json.loads(m) if isinstance(m, str) else m for m in json.loads(log.messages or "[]")]
				failed[rows[0]] = [f"{m.get('title', '')}: {m.get('message', '')}" for m in msgs]
		# collision logs of this import, whichever rule of the shared site matched first
		since = frappe.db.get_value("Data Import", self.data_import, "creation")
		titles = {r["customer_name"] for r in self.rows}
		collisions = [
			c
			for c in frappe.get_all(
				"Dedup Collision Log",
				filters={
					"source": "Data Import",
					"outcome": "Import Rejected",
					"attempted_at": [">=", since],
				},
				fields=["ref_title", "existing_name", "existing_owner", "rule"],
			)
			if c.ref_title in titles
		]
		flagged = [
			c
			for c in frappe.get_all(
				"Dedup Collision Log",
				filters={"source": "Data Import", "outcome": "Import Flagged", "attempted_at": [">=", since]},
				fields=["ref_name", "ref_title", "existing_name"],
			)
			if c.ref_title in titles
		]
		return {
			"seconds": round(seconds, 1),
			"status": frappe.db.get_value("Data Import", self.data_import, "status"),
			"imported": imported,
			"failed": failed,
			"collisions": collisions,
			"flagged": flagged,
		}

	# ---- cleanup --------------------------------------------------------------------------------------
	def cleanup(self, imported: list[str] | None = None) -> None:
		frappe.set_user("Administrator")
		frappe.db.rollback()
		names = list(imported or [])
		if self.data_import:
			names += frappe.get_all(
				"Data Import Log", filters={"data_import": self.data_import, "success": 1}, pluck="docname"
			)
		names = sorted(set(n for n in names if n))
		contacts = (
			frappe.get_all("Customer", filters={"name": ["in", names]}, pluck="customer_primary_contact")
			if names
			else []
		)
		for c in [c for c in contacts if c]:
			frappe.db.delete("Dynamic Link", {"parenttype": "Contact", "parent": c})
			frappe.db.delete("Contact Phone", {"parent": c})
			frappe.db.delete("Contact Email", {"parent": c})
			frappe.db.delete("Contact", {"name": c})
		m = frappe.qb.DocType("Duplicate Set Member")
		sets = (
			frappe.qb.from_(m)
			.select(m.parent)
			.distinct()
			.where(m.member_name.isin(names + [e["name"] for e in self.existing] or [""]))
			.run(pluck=True)
		)
		if sets:
			delete_sets(sets)
		for start in range(0, len(names), 500):
			frappe.db.delete("Customer", {"name": ["in", names[start : start + 500]]})
		frappe.db.delete("Customer", {"name": ["like", f"{self.prefix}-%"]})
		if self.data_import:
			frappe.db.delete("Data Import Log", {"data_import": self.data_import})
			frappe.db.delete("Data Import", {"name": self.data_import})
		if self.file:
			frappe.delete_doc("File", self.file, force=1, ignore_permissions=True)
		for rule in self.rules:
			frappe.db.delete("Dedup Collision Log", {"rule": rule})
			frappe.db.delete("Dedup Key", {"rule": rule})
			if frappe.db.exists("Dedup Rule", rule):
				frappe.delete_doc("Dedup Rule", rule, force=1, ignore_permissions=True)
		frappe.db.commit()
		clear_cache()


class TestDataImportDedup(FrappeTestCase):
	def setUp(self) -> None:
		frappe.set_user("Administrator")
		self.scenario: Scenario | None = None
		self.imported: list[str] = []

	def tearDown(self) -> None:
		if self.scenario:
			self.scenario.cleanup(self.imported)

	def test_import_rejects_exactly_the_duplicates(self):
		sc = self.scenario = Scenario(rows=60, existing_dups=6, file_dups=4, seed=5)
		sc.setup()
		expected = sc.expected_rejected
		self.assertEqual(len(expected), 10)

		# dry run: the same rows, nothing imported
		before = frappe.db.count("Customer")
		report = sc.dry_run()
		self.assertEqual(frappe.db.count("Customer"), before)
		self.assertEqual(report["total"], 60)
		blocked = {r["row"] for r in report["rows"] if r["action"] == "Block"}
		self.assertEqual(blocked, set(expected))
		warned = {r["row"] for r in report["rows"] if r["action"] == "Warn"}
		self.assertEqual(warned, sc.expected_flagged)
		chain = next(r for r in report["rows"] if r["row"] == 9)
		self.assertEqual((chain["source"], chain["other_row"]), ("file", 3))
		existing_hit = next(r for r in report["rows"] if r["source"] == "existing" and r["action"] == "Block")
		self.assertEqual(existing_hit["owner"], REP)
		self.assertIn("Scan Rep", existing_hit["message"])

		# the real import
		res = sc.run_import()
		self.imported = res["imported"]
		self.assertEqual(set(res["failed"]), set(expected), res["failed"])
		self.assertEqual(len(res["imported"]), 50)
		self.assertEqual(res["status"], "Partial Success")
		for row, messages in res["failed"].items():
			# the form's message, naming the existing record and its owner; nothing leaked from other rows
			self.assertEqual(len(messages), 1, messages)
			self.assertIn("already exists", messages[0])
			if expected[row].startswith("existing"):
				self.assertIn("Scan Rep", messages[0])
				self.assertIn(expected[row].split()[1], messages[0])
		# rows whose tax id and mobile are fillers (无, N/A, 13800138000) are not duplicates of each other
		self.assertEqual(len(sc.placeholder_rows), 4)
		self.assertFalse(sc.placeholder_rows & set(res["failed"]))
		# row 9 duplicated row 3, which was only warned and therefore imported
		self.assertIn(9, res["failed"])
		self.assertNotIn(3, res["failed"])
		# the collision of every rejected row survived the rollback of that row
		rejected_names = {sc.rows[r - 2]["customer_name"] for r in expected}
		self.assertEqual({c.ref_title for c in res["collisions"]}, rejected_names)
		self.assertTrue(all(c.existing_owner for c in res["collisions"]))
		# the warned row was imported, flagged, and put in a duplicate set with the existing customer
		self.assertEqual({c.ref_title for c in res["flagged"]}, {sc.rows[1]["customer_name"]})
		flagged = res["flagged"][0]
		self.assertEqual(flagged.existing_name, sc.existing[0]["name"])
		self.assertIn(flagged.ref_name, res["imported"])
		info = get_record_sets("Customer", flagged.ref_name)
		self.assertEqual([o["name"] for o in info[0]["others"]], [sc.existing[0]["name"]])
		# rejected rows are not in the database
		for r in expected:
			self.assertFalse(frappe.db.exists("Customer", {"customer_name": sc.rows[r - 2]["customer_name"]}))

	def test_update_import_never_matches_itself(self):
		sc = self.scenario = Scenario(rows=0, existing_dups=0, file_dups=0, seed=9)
		ensure_rep()
		sc.make_rules()
		sc.seed_existing(3)
		a, b, c = sc.existing
		buf = io.StringIO()
		w = csv.writer(buf)
		w.writerow(["name", "tax_id", "website"])
		w.writerow([a["name"], a["tax_id"].lower(), "https://a.example.com"])  # its own tax id: no match
		w.writerow([b["name"], c["tax_id"], ""])  # c's tax id: a duplicate of c
		f = frappe.get_doc(
			{
				"doctype": "File",
				"file_name": f"update-{sc.sfx}.csv",
				"content": buf.getvalue().encode(),
				"is_private": 1,
			}
		).insert(ignore_permissions=True)
		sc.file = f.name
		di = frappe.get_doc(
			{
				"doctype": "Data Import",
				"reference_doctype": "Customer",
				"import_type": "Update Existing Records",
				"import_file": f.file_url,
				"mute_emails": 1,
			}
		).insert()
		sc.data_import = di.name
		frappe.db.commit()

		report = sc.dry_run()
		self.assertEqual(
			[(r["row"], r["action"], r["existing"]) for r in report["rows"]], [(3, "Block", c["name"])]
		)
		res = sc.run_import()
		self.assertEqual(list(res["failed"]), [3])
		self.assertIn(c["name"], res["failed"][3][0])
		self.assertEqual(res["imported"], [a["name"]])
		self.assertEqual(frappe.db.get_value("Customer", a["name"], "website"), "https://a.example.com")
		self.assertEqual(frappe.db.get_value("Customer", b["name"], "tax_id"), b["tax_id"])


def demo(rows: int = 1000, existing_dups: int = 30, file_dups: int = 20, keep: int = 0) -> dict:
	"""The full-size scenario in the real site; prints the counts. ``keep=1`` leaves the data in place."""
	frappe.set_user("Administrator")
	sc = Scenario(rows=rows, existing_dups=existing_dups, file_dups=file_dups, seed=2025)
	sc.setup()
	expected = sc.expected_rejected
	t0 = time.time()
	report = sc.dry_run()
	dry_seconds = time.time() - t0
	dry_blocked = {r["row"] for r in report["rows"] if r["action"] == "Block"}
	res = sc.run_import()
	failed = set(res["failed"])
	out = {
		"data_import": sc.data_import,
		"rows": rows,
		"known_duplicates": len(expected),
		"dry_run_seconds": round(dry_seconds, 1),
		"dry_run_blocked": len(dry_blocked),
		"dry_run_warned": report["counts"]["Warn"],
		"dry_run_matches_expected": dry_blocked == set(expected),
		"import_seconds": res["seconds"],
		"import_status": res["status"],
		"imported": len(res["imported"]),
		"rejected": len(failed),
		"rejected_exactly_expected": failed == set(expected),
		"missed": sorted(set(expected) - failed),
		"unexpected": sorted(failed - set(expected)),
		"rejected_rows_with_collision_log": len({c.ref_title for c in res["collisions"]}),
		"collision_rules": sorted({c.rule for c in res["collisions"]}),
		"flagged_rows": len({c.ref_title for c in res["flagged"]}),
		"sample_messages": {r: res["failed"][r][0][:400] for r in sorted(failed)[:3]},
		"row_9": res["failed"].get(9, ["(imported)"])[0][:400],
	}
	print(json.dumps(out, ensure_ascii=False, indent=1))
	if not keep:
		sc.cleanup(res["imported"])
	return out


def demo_cleanup(sfx: str) -> None:
	"""Removes what ``demo(keep=1)`` left (``sfx``: the six letters in its rule names)."""
	sc = Scenario(rows=0, existing_dups=0, file_dups=0)
	sc.sfx, sc.prefix = sfx, f"IMP{sfx}"
	sc.rules = frappe.get_all(
		"Dedup Rule", filters={"rule_name": ["like", f"import test % {sfx}"]}, pluck="name"
	)
	sc.file = frappe.db.get_value("File", {"file_name": f"customers-{sfx}.csv"}, "name")
	if sc.file:
		url = frappe.db.get_value("File", sc.file, "file_url")
		sc.data_import = frappe.db.get_value("Data Import", {"import_file": url}, "name")
	sc.cleanup()
