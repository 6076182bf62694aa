# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt
"""Integration tests of ownership after a collision, run in a real site with ERPNext's hooks live:

CI=1 bench --site SITE run-tests --module crm_dedup.ownership.test_ownership

Protection period and public pool (the daily job), race-safe claims, claims checked like a save, and routing of
a new record to the existing owner by server code, REST (through the running web server), Data Import, with
Frappe's Assignment Rules overridden only on a match.
"""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import frappe
import requests
from frappe.cache_manager import clear_doctype_map
from frappe.desk.form.save import savedocs
from frappe.utils import add_days, now_datetime, today

from crm_dedup.core import tokens
from crm_dedup.core.errors import DedupDuplicateError
from crm_dedup.core.owners import first_entry_order
from crm_dedup.core.pairs import is_not_duplicate
from crm_dedup.crm_dedup.report.dedup_ownership_report import dedup_ownership_report as ownership_report
from crm_dedup.merge.preview import build_preview
from crm_dedup.ownership import api, disputes, pool
from crm_dedup.ownership import claim as claims
from crm_dedup.ownership.policy import POOL_FIELD, UNTIL_FIELD, policy_of
from crm_dedup.testing import (
	MANAGER,
	OWNER_A,
	REP_B,
	DedupTestCase,
	ensure_user,
	han_suffix,
	random_mobile,
	restore_settings_rows,
	settings_rows,
)

POLICY_FIELDS = (
	"ref_doctype",
	"protection_days",
	"warn_days",
	"first_entry_policy",
	"activity_doctypes",
	"fallback_user",
	"fallback_role",
)
CLAIMERS = [f"dedup.claim.{i}@example.com" for i in range(10)]


class OwnershipTestCase(DedupTestCase):
	@classmethod
	def setUpClass(cls) -> None:
		super().setUpClass()
		# the test site has no outgoing mail account, and tests send mail at once: alerts go to the bell only
		for user in (OWNER_A, REP_B, MANAGER):
			if not frappe.db.exists("Notification Settings", user):
				frappe.get_doc({"doctype": "Notification Settings", "name": user}).insert(
					ignore_permissions=True
				)
			frappe.db.set_value("Notification Settings", user, "enable_email_notifications", 0)
		frappe.db.commit()

	def setUp(self) -> None:
		super().setUp()
		self.saved_policies = settings_rows("ownership_policies", POLICY_FIELDS)
		self.set_policies(
			[
				{"ref_doctype": "Customer", "protection_days": 90, "warn_days": 5},
				{"ref_doctype": "Lead", "protection_days": 30, "warn_days": 3, "fallback_user": MANAGER},
			]
		)

	def tearDown(self) -> None:
		names = [n for _dt, n in self.cleanup]
		restore_settings_rows("ownership_policies", self.saved_policies)
		super().tearDown()
		frappe.db.delete("Dedup Ownership Log", {"ref_name": ["in", names or [""]]})
		frappe.db.commit()

	def set_policies(self, rows: list[dict]) -> None:
		settings = frappe.get_single("Dedup Settings")
		settings.set("ownership_policies", rows)
		settings.flags.crm_dedup_no_rebuild = True
		settings.save()
		frappe.db.commit()

	def aged(self, doc, days: int) -> None:
		"""Backdates a record's creation (as old data would be)."""
		frappe.db.set_value(
			doc.doctype, doc.name, "creation", now_datetime() - timedelta(days=days), update_modified=False
		)
		frappe.db.commit()

	def logs(self, event: str, name: str) -> list:
		return frappe.get_all(
			"Dedup Ownership Log",
			{"event": event, "ref_name": name},
			["user", "previous_owner", "new_owner", "existing_name", "detail"],
		)

	def lead(self, company: str, **fields) -> frappe.Document:
		doc = frappe.get_doc(
			{"doctype": "Lead", "first_name": f"Li {self.sfx}", "company_name": company, **fields}
		)
		doc.insert()
		self.cleanup.append(("Lead", doc.name))
		return doc


class TestPublicPool(OwnershipTestCase):
	def test_daily_job_releases_warns_and_keeps_active_records(self):
		lapsed = self.customer(f"甲{self.sfx}贸易有限公司", account_manager=OWNER_A)
		soon = self.customer(f"乙{self.sfx}贸易有限公司", account_manager=OWNER_A)
		active = self.customer(f"丙{self.sfx}贸易有限公司", account_manager=OWNER_A)
		self.aged(lapsed, 100)
		self.aged(soon, 85)  # protected until today + 5: the owner is warned today (warn 5 days before)
		self.aged(active, 100)
		comment = frappe.get_doc(
			{
				"doctype": "Comment",
				"comment_type": "Comment",
				"reference_doctype": "Customer",
				"reference_name": active.name,
				"content": "visited",
			}
		).insert(ignore_permissions=True)
		frappe.db.set_value("Comment", comment.name, "creation", now_datetime() - timedelta(days=10))
		self.cleanup.append(("Comment", comment.name))
		frappe.db.commit()

		pool.run_daily()

		self.assertEqual(pool.status("Customer", lapsed.name)["in_pool"], True)
		self.assertEqual(pool.status("Customer", soon.name)["in_pool"], False)
		self.assertEqual(str(pool.status("Customer", soon.name)["protected_until"]), add_days(today(), 5))
		kept = pool.status("Customer", active.name)
		self.assertFalse(kept["in_pool"])
		self.assertEqual(str(kept["protected_until"]), add_days(today(), 80))  # 10 days ago + 90
		self.assertEqual(self.logs("Released", lapsed.name)[0].previous_owner, OWNER_A)
		self.assertTrue(self.logs("Release Warned", soon.name))
		self.assertFalse(self.logs("Released", active.name))
		notes = frappe.get_all(
			"Notification Log",
			{"for_user": OWNER_A, "document_name": ["in", [lapsed.name, soon.name]]},
			pluck="document_name",
		)
		self.assertEqual(sorted(notes), sorted([lapsed.name, soon.name]))
		# new activity takes a record back out of the pool
		frappe.get_doc(
			{
				"doctype": "Comment",
				"comment_type": "Comment",
				"reference_doctype": "Customer",
				"reference_name": lapsed.name,
				"content": "called again",
			}
		).insert(ignore_permissions=True)
		pool.refresh("Customer", policy_of("Customer"), [lapsed.name])
		self.assertFalse(pool.status("Customer", lapsed.name)["in_pool"])

	def test_protection_period_zero_means_no_pool_and_negative_is_refused(self):
		with self.assertRaises(frappe.ValidationError) as ctx:
			self.set_policies([{"ref_doctype": "Customer", "protection_days": -1}])
		self.assertIn("negative", str(ctx.exception))
		self.set_policies([{"ref_doctype": "Customer", "protection_days": 0}])
		old = self.customer(f"丁{self.sfx}贸易有限公司", account_manager=OWNER_A)
		self.aged(old, 1000)
		counts = pool.refresh("Customer", policy_of("Customer"), [old.name])
		self.assertEqual((counts["records"], counts["released"]), (1, 0))
		with self.assertRaises(claims.ClaimRefused):
			claims.claim("Customer", old.name, REP_B)


class TestClaims(OwnershipTestCase):
	def pooled(self, label: str, **fields) -> frappe.Document:
		doc = self.customer(f"{label}{self.sfx}{han_suffix()}有限公司", **fields)
		self.aged(doc, 200)
		pool.refresh("Customer", policy_of("Customer"), [doc.name])
		frappe.db.commit()
		self.assertTrue(pool.status("Customer", doc.name)["in_pool"])
		return doc

	def test_ten_reps_claim_one_record_at_once(self):
		for email in CLAIMERS:
			ensure_user(email, email.split("@")[0], ["Sales User"])
		doc = self.pooled("戊", account_manager=OWNER_A)
		barrier = threading.Barrier(len(CLAIMERS))
		results: dict[str, tuple] = {}
		site, sites_path = frappe.local.site, frappe.local.sites_path

		def run(user: str) -> None:
			frappe.init(site=site, sites_path=sites_path)
			try:
				frappe.connect()
				frappe.set_user(user)
				barrier.wait(timeout=60)
				try:
					claims.claim("Customer", doc.name)
					frappe.db.commit()
					results[user] = ("ok",)
				except Exception as e:
					frappe.db.rollback()
					results[user] = (type(e).__name__, str(e))
			finally:
				frappe.destroy()

		threads = [threading.Thread(target=run, args=(u,)) for u in CLAIMERS]
		for t in threads:
			t.start()
		for t in threads:
			t.join(timeout=120)
		frappe.db.rollback()  # a fresh snapshot: what the claimers committed
		winners = [u for u, r in results.items() if r[0] == "ok"]
		refused = [r for r in results.values() if r[0] == "ClaimRefused"]
		print(f"\n10 parallel claims: {len(winners)} ok, {len(refused)} refused")
		self.assertEqual(len(winners), 1, results)
		self.assertEqual(len(refused), 9, results)
		self.assertTrue(all("not in the public pool" in r[1] for r in refused))
		self.assertEqual(frappe.db.get_value("Customer", doc.name, "account_manager"), winners[0])
		self.assertFalse(frappe.db.get_value("Customer", doc.name, POOL_FIELD))
		self.assertEqual(str(frappe.db.get_value("Customer", doc.name, UNTIL_FIELD)), add_days(today(), 90))
		self.assertEqual(len(self.logs("Claimed", doc.name)), 1)
		self.assertEqual(len(self.logs("Claim Refused", doc.name)), 9)

	def test_claim_is_checked_like_a_save(self):
		self.make_rule("phones", "Customer", "Block", [{"fields": "phone_1, phone_2", "match_type": "Phone"}])
		phone = random_mobile()
		colleague = self.customer(f"己{self.sfx}科技有限公司", phone_1=phone, account_manager=OWNER_A)
		frappe.flags.ignore_dedup = True  # old data: a twin that went to the pool
		try:
			twin = self.pooled("庚", phone_2=phone)
		finally:
			frappe.flags.ignore_dedup = False
		with self.assertRaises(DedupDuplicateError) as ctx:
			claims.claim("Customer", twin.name, REP_B)
		self.assertIn(colleague.name, str(ctx.exception))
		self.assertTrue(pool.status("Customer", twin.name)["in_pool"])  # nothing half-written
		self.assertEqual(self.logs("Claim Refused", twin.name)[0].existing_name, colleague.name)
		# the colleague's own claim of the twin is fine (it would be theirs twice)
		claims.claim("Customer", twin.name, OWNER_A)

	def test_claims_that_make_no_sense_are_refused_clearly(self):
		mine = self.customer(f"辛{self.sfx}贸易有限公司", account_manager=REP_B)
		pool.refresh("Customer", policy_of("Customer"), [mine.name])
		with self.assertRaises(claims.ClaimRefused) as ctx:
			claims.claim("Customer", mine.name, REP_B)
		self.assertIn("yours already", str(ctx.exception))
		with self.assertRaises(claims.ClaimRefused) as ctx:
			claims.claim("Customer", mine.name, OWNER_A)
		self.assertIn("not in the public pool", str(ctx.exception))
		with self.assertRaises(frappe.DoesNotExistError):
			claims.claim("Customer", f"nobody {self.sfx}", OWNER_A)


class TestRouting(OwnershipTestCase):
	def route_rule(self) -> str:
		return self.make_rule(
			"route",
			"Lead",
			"Log only",
			[{"fields": "company_name", "match_type": "Company Name", "threshold": 90}],
			route_to_owner=1,
		)

	def todos(self, name: str, status: str = "Open") -> list[str]:
		return frappe.get_all(
			"ToDo", {"reference_type": "Lead", "reference_name": name, "status": status}, pluck="allocated_to"
		)

	def test_server_code_insert_is_routed_to_the_existing_owner(self):
		self.route_rule()
		company = f"壬{self.sfx}{han_suffix()}科技有限公司"
		first = self.lead(company, lead_owner=OWNER_A)
		frappe.set_user(REP_B)
		second = self.lead(company)
		frappe.set_user("Administrator")
		self.assertEqual(self.todos(second.name), [OWNER_A])
		self.assertEqual(frappe.db.get_value("Lead", second.name, "lead_owner"), OWNER_A)
		(log,) = self.logs("Routed", second.name)
		self.assertEqual((log.new_owner, log.existing_name, log.user), (OWNER_A, first.name, REP_B))
		self.assertTrue(
			frappe.db.exists("Notification Log", {"for_user": OWNER_A, "document_name": second.name})
		)

	def test_desk_save_is_routed(self):
		self.route_rule()
		company = f"卯辰{self.sfx}{han_suffix()}科技有限公司"
		self.lead(company, lead_owner=OWNER_A)
		frappe.set_user(REP_B)
		savedocs(
			json.dumps({"doctype": "Lead", "first_name": f"Desk {self.sfx}", "company_name": company}), "Save"
		)
		frappe.set_user("Administrator")
		name = frappe.db.get_value("Lead", {"first_name": f"Desk {self.sfx}"})
		self.cleanup.append(("Lead", name))
		self.assertEqual(self.todos(name), [OWNER_A])

	def test_assignment_rule_is_overridden_only_on_a_match(self):
		self.route_rule()
		rule = frappe.get_doc(
			{
				"doctype": "Assignment Rule",
				"name": f"dedup test {self.sfx}",
				"document_type": "Lead",
				"priority": 1,
				"rule": "Round Robin",
				"assign_condition": f'company_name and "{self.sfx}" in company_name',
				"users": [{"user": REP_B}],
				"assignment_days": [
					{"day": d}
					for d in ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
				],
			}
		).insert(ignore_permissions=True)
		self.cleanup.insert(0, ("Assignment Rule", rule.name))
		# the rule may be rolled back rather than deleted: Frappe's cached map of Lead rules must go too
		self.addCleanup(clear_doctype_map, "Assignment Rule", "Lead")
		company = f"癸{self.sfx}{han_suffix()}科技有限公司"
		self.lead(company, lead_owner=OWNER_A)
		unmatched = self.lead(f"子{self.sfx}{han_suffix()}物流有限公司")
		self.assertEqual(self.todos(unmatched.name), [REP_B])  # no match: the Assignment Rule's choice
		matched = self.lead(company)
		self.assertEqual(self.todos(matched.name), [OWNER_A])
		self.assertEqual(self.todos(matched.name, "Cancelled"), [REP_B])

	def test_disabled_owner_falls_back_to_the_policy_user(self):
		self.route_rule()
		gone = f"dedup.gone.{self.sfx.lower()}@example.com"
		ensure_user(gone, "Gone", ["Sales User"])
		company = f"丑{self.sfx}{han_suffix()}科技有限公司"
		self.lead(company, lead_owner=gone)
		frappe.db.set_value("User", gone, "enabled", 0)
		self.cleanup.insert(0, ("User", gone))
		routed = self.lead(company)
		self.assertEqual(self.todos(routed.name), [MANAGER])
		(log,) = self.logs("Routed to Fallback", routed.name)
		self.assertIn(gone, log.detail)

	def test_rest_and_data_import_inserts_are_routed(self):
		self.route_rule()
		frappe.flags.crm_dedup_only_rules = None  # the web server sees every committed rule
		company = f"寅{self.sfx}{han_suffix()}科技有限公司"
		self.lead(company, lead_owner=OWNER_A)
		frappe.db.commit()
		# REST, through the running web server (127.0.0.1 only), as a Sales User with API keys
		api_user = REP_B
		key, secret = frappe.generate_hash(length=15), frappe.generate_hash(length=15)
		user = frappe.get_doc("User", api_user)
		user.api_key, user.api_secret = key, secret
		user.save(ignore_permissions=True)
		frappe.db.commit()
		r = requests.post(
			"http://127.0.0.1:8000/api/resource/Lead",
			json={"first_name": f"Rest {self.sfx}", "company_name": company},
			headers={"Authorization": f"token {key}:{secret}", "Host": frappe.local.site},
			timeout=60,
		)
		self.assertTrue(r.ok, r.text[:2000])
		rest = r.json()["data"]["name"]
		self.cleanup.append(("Lead", rest))
		self.assertEqual(self.todos(rest), [OWNER_A])
		self.assertEqual(self.logs("Routed", rest)[0].user, api_user)
		# Data Import (the importer's background job runs inline in tests)
		content = f"first_name,company_name\nImport {self.sfx},{company}\n"
		di = self.data_import("Lead", content, "leads")
		di.start_import()
		(imported,) = frappe.get_all(
			"Data Import Log", {"data_import": di.name, "success": 1}, pluck="docname"
		)
		self.cleanup.append(("Lead", imported))
		self.assertEqual(self.todos(imported), [OWNER_A])
		self.assertTrue(self.logs("Routed", imported))


class TestDisputes(OwnershipTestCase):
	def phone_rule(self) -> str:
		return self.make_rule(
			"phones", "Customer", "Block", [{"fields": "phone_1, phone_2", "match_type": "Phone"}]
		)

	def blocked_attempt(self, phone: str) -> str:
		"""REP_B tries to save a customer with ``phone`` and is blocked; returns REP_B's collision log."""
		frappe.set_user(REP_B)
		with self.assertRaises(DedupDuplicateError):
			frappe.get_doc(
				{"doctype": "Customer", "customer_name": f"卯{self.sfx}贸易有限公司", "phone_2": phone}
			).insert()
		frappe.db.rollback()
		frappe.set_user("Administrator")
		return frappe.get_all(
			"Dedup Collision Log",
			{"attempted_by": REP_B, "outcome": "Blocked"},
			pluck="name",
			order_by="creation desc",
			limit=1,
		)[0]

	def test_dispute_filed_decided_transferred_and_logged(self):
		self.phone_rule()
		phone = random_mobile()
		existing = self.customer(f"辰{self.sfx}科技有限公司", phone_1=phone, account_manager=OWNER_A)
		frappe.db.commit()  # the blocked attempt rolls back
		log_name = self.blocked_attempt(phone)
		frappe.set_user(REP_B)
		key = tokens.issue("Customer", existing.name)  # what the save dialog hands a rep who may not read it
		dispute = api.file_dispute(reason="我上周拜访过他们", dispute_key=key)
		self.assertEqual(api.file_dispute(reason="again", dispute_key=key), dispute)  # filed once
		with self.assertRaises(frappe.PermissionError):  # a Sales Manager outside the owner's team
			frappe.set_user(MANAGER)
			api.decide_dispute(dispute, "Transfer to Claimant")
		frappe.set_user("Administrator")
		doc = frappe.get_doc("Dedup Dispute", dispute)
		# the save dialog does not know its collision log: the dispute finds and links it
		self.assertEqual(str(doc.collision_log), str(log_name))
		self.assertEqual(frappe.db.get_value("Dedup Collision Log", log_name, "dispute"), dispute)
		self.assertTrue(doc.rule and doc.explanation)
		self.assertEqual((doc.claimant, doc.existing_owner, doc.status), (REP_B, OWNER_A, "Open"))
		view = api.dispute_view(dispute)
		self.assertTrue(view["can_decide"])
		self.assertEqual(view["existing"]["owner"], OWNER_A)
		result = api.decide_dispute(dispute, "Transfer to Claimant", "visited first")
		self.assertEqual(result["status"], "Decided")
		self.assertEqual(frappe.db.get_value("Customer", existing.name, "account_manager"), REP_B)
		doc.reload()
		self.assertEqual(
			(doc.status, doc.decision, doc.decided_by), ("Decided", "Transfer to Claimant", "Administrator")
		)
		self.assertGreaterEqual(doc.hours_to_decision, 0)
		self.assertTrue(self.logs("Dispute Decided", existing.name))
		for user in (REP_B, OWNER_A):
			self.assertTrue(
				frappe.db.exists("Notification Log", {"for_user": user, "document_name": dispute})
			)
		with self.assertRaises(frappe.ValidationError):
			api.decide_dispute(dispute, "Keep Owner")  # decided once
		self.cleanup.append(("Dedup Dispute", dispute))

	def test_nothing_is_released_while_a_dispute_is_open(self):
		lapsed = self.customer(f"巳{self.sfx}贸易有限公司", account_manager=OWNER_A)
		self.aged(lapsed, 200)
		frappe.set_user(REP_B)
		dispute = disputes.file("Customer", lapsed.name, "my customer since 2019")
		frappe.set_user("Administrator")
		self.cleanup.append(("Dedup Dispute", dispute))
		counts = pool.refresh("Customer", policy_of("Customer"), [lapsed.name])
		self.assertEqual((counts["released"], counts["held_by_dispute"]), (0, 1))
		api.decide_dispute(dispute, "Keep Owner")
		self.assertEqual(pool.refresh("Customer", policy_of("Customer"), [lapsed.name])["released"], 1)

	def test_share_not_a_duplicate_and_a_deleted_record(self):
		a = self.customer(f"午{self.sfx}贸易有限公司", account_manager=OWNER_A)
		b = self.customer(f"未{self.sfx}贸易有限公司", account_manager=REP_B)
		c = self.customer(f"申{self.sfx}贸易有限公司", account_manager=OWNER_A)
		frappe.set_user(REP_B)
		share = disputes.file("Customer", a.name, "joint account", "Customer", b.name)
		not_dup = disputes.file("Customer", c.name, "a different company", "Customer", b.name)
		with self.assertRaises(frappe.ValidationError):
			disputes.file("Customer", b.name, "mine?")  # one's own record: nothing to dispute
		with self.assertRaises(frappe.ValidationError):
			disputes.file("Customer", a.name, "   ")  # a reason is required
		frappe.set_user("Administrator")
		self.cleanup += [("Dedup Dispute", share), ("Dedup Dispute", not_dup)]
		api.decide_dispute(share, "Share")
		self.assertTrue(
			frappe.db.exists("DocShare", {"share_doctype": "Customer", "share_name": a.name, "user": REP_B})
		)
		api.decide_dispute(not_dup, "Not a Duplicate")
		self.assertTrue(is_not_duplicate("Customer", c.name, "Customer", b.name))
		frappe.set_user(REP_B)
		withdrawn = disputes.file("Customer", c.name, "second thoughts", "Customer", b.name)
		frappe.set_user("Administrator")
		self.cleanup.append(("Dedup Dispute", withdrawn))
		frappe.delete_doc("Customer", c.name, force=1)
		self.assertEqual(frappe.db.get_value("Dedup Dispute", withdrawn, "status"), "Withdrawn")

	def test_warn_match_of_a_needs_review_rule_files_a_review(self):
		self.make_rule(
			"review",
			"Customer",
			"Warn",
			[{"fields": "customer_name", "match_type": "Company Name", "threshold": 90}],
			needs_review=1,
		)
		first = self.customer(f"酉{self.sfx}八骏科技有限公司", account_manager=OWNER_A)
		doc = frappe.get_doc({"doctype": "Customer", "customer_name": f"酉{self.sfx}八骏科技有限公司 "})
		doc.flags.dedup_override = True
		doc.insert()
		self.cleanup.append(("Customer", doc.name))
		(review,) = frappe.get_all(
			"Dedup Dispute", {"existing_name": first.name, "kind": "Review"}, ["name", "ref_name", "status"]
		)
		self.cleanup.append(("Dedup Dispute", review.name))
		self.assertEqual((review.ref_name, review.status), (doc.name, "Open"))


class TestMonitoring(OwnershipTestCase):
	def test_report_counts_claims_disputes_and_transfers_per_rep_and_week(self):
		pooled = self.customer(f"戌{self.sfx}贸易有限公司", account_manager=OWNER_A)
		self.aged(pooled, 200)
		pool.refresh("Customer", policy_of("Customer"), [pooled.name])
		claims.claim("Customer", pooled.name, REP_B)
		other = self.customer(f"亥{self.sfx}贸易有限公司", account_manager=OWNER_A)
		frappe.set_user(REP_B)
		dispute = disputes.file("Customer", other.name, "met them at the fair")
		frappe.set_user("Administrator")
		self.cleanup.append(("Dedup Dispute", dispute))
		api.decide_dispute(dispute, "Transfer to Claimant")
		frappe.db.commit()
		columns, data, _msg, chart = ownership_report.execute({"group_by": "Rep"})
		(row,) = [
			r for r in data if r["who"] == REP_B and str(r["week"]) == str(ownership_report.week_of(today()))
		]
		self.assertGreaterEqual(row["claims"], 1)
		self.assertGreaterEqual(row["disputes_opened"], 1)
		self.assertGreaterEqual(row["disputes_decided"], 1)
		self.assertGreaterEqual(row["transfers"], 1)
		self.assertIsNotNone(row["median_hours"])
		self.assertEqual(chart["type"], "bar")
		self.assertIn("transfers", [c["fieldname"] for c in columns])


class TestFirstEntry(OwnershipTestCase):
	def test_first_entry_policy_orders_the_survivor_and_the_suggestion(self):
		older = self.customer(f"甲乙{self.sfx}贸易有限公司", account_manager=OWNER_A)
		newer = self.customer(f"甲乙{self.sfx}贸易有限责任公司", account_manager=REP_B)
		self.aged(older, 10)
		self.assertEqual(first_entry_order("Customer", [newer.name, older.name]), [older.name, newer.name])
		preview = build_preview("Customer", [("Customer", newer.name), ("Customer", older.name)])
		self.assertEqual(preview["survivor"], older.name)
		frappe.set_user(REP_B)
		dispute = disputes.file("Customer", older.name, "mine first", "Customer", newer.name)
		frappe.set_user("Administrator")
		self.cleanup.append(("Dedup Dispute", dispute))
		self.assertEqual(frappe.db.get_value("Dedup Dispute", dispute, "suggested"), "Keep Owner")
		# earliest activity: the newer record was followed up first
		self.set_policies(
			[{"ref_doctype": "Customer", "protection_days": 90, "first_entry_policy": "Earliest activity"}]
		)
		frappe.get_doc(
			{
				"doctype": "Comment",
				"comment_type": "Comment",
				"reference_doctype": "Customer",
				"reference_name": newer.name,
				"content": "first call",
			}
		).insert(ignore_permissions=True)
		self.assertEqual(first_entry_order("Customer", [older.name, newer.name]), [newer.name, older.name])
		self.assertEqual(
			disputes.suggestion(frappe.get_doc("Dedup Dispute", dispute)), "Transfer to Claimant"
		)
		result = api.decide_dispute(dispute, "Merge")
		self.assertEqual(result["merge"]["survivor"], newer.name)
		self.set_policies(
			[{"ref_doctype": "Customer", "protection_days": 90, "first_entry_policy": "Manager decides"}]
		)
		self.assertEqual(first_entry_order("Customer", [older.name, newer.name]), [older.name, newer.name])


class TestScopeOfReviewers(OwnershipTestCase):
	def employee(self, user: str, name: str) -> str:
		company = frappe.db.get_value("Company", {}, "name")
		emp = frappe.get_doc(
			{
				"doctype": "Employee",
				"first_name": name,
				"company": company,
				"status": "Active",
				"gender": "Male" if frappe.db.exists("Gender", "Male") else frappe.db.get_value("Gender", {}),
				"date_of_birth": "1990-01-01",
				"date_of_joining": "2020-01-01",
				"user_id": user,
			}
		).insert(ignore_permissions=True)
		self.cleanup.insert(0, ("Employee", emp.name))
		return emp.name

	def sales_person(self, name: str, employee: str | None, parent: str | None, group: int = 0) -> str:
		sp = frappe.get_doc(
			{
				"doctype": "Sales Person",
				"sales_person_name": f"{name} {self.sfx}",
				"parent_sales_person": parent or frappe.db.get_value("Sales Person", {"is_group": 1}),
				"is_group": group,
				"employee": employee,
			}
		).insert(ignore_permissions=True)
		self.cleanup.insert(0, ("Sales Person", sp.name))
		return sp.name

	def test_a_sales_manager_above_the_owner_decides_one_outside_does_not(self):
		boss = f"dedup.boss.{self.sfx.lower()}@example.com"
		ensure_user(boss, "Boss", ["Sales User", "Sales Manager"])
		self.cleanup.insert(0, ("User", boss))
		team = self.sales_person("华东团队", self.employee(boss, "Boss"), None, group=1)
		self.sales_person("Rep A", self.employee(OWNER_A, "RepA"), team)
		existing = self.customer(f"子丑{self.sfx}贸易有限公司", account_manager=OWNER_A)
		frappe.set_user(REP_B)
		dispute = disputes.file("Customer", existing.name, "visited them first")
		frappe.set_user("Administrator")
		self.cleanup.append(("Dedup Dispute", dispute))
		self.assertIn(boss, disputes.reviewers("Customer", OWNER_A))
		self.assertTrue(frappe.db.exists("Notification Log", {"for_user": boss, "document_name": dispute}))
		frappe.set_user(MANAGER)  # a Sales Manager outside the owner's team
		with self.assertRaises(frappe.PermissionError):
			api.decide_dispute(dispute, "Keep Owner")
		frappe.set_user(boss)
		self.assertEqual(api.decide_dispute(dispute, "Keep Owner")["status"], "Decided")
		frappe.set_user("Administrator")
		self.assertEqual(frappe.db.get_value("Dedup Dispute", dispute, "decided_by"), boss)

	def test_the_daily_job_is_a_scheduler_event(self):
		self.assertIn("crm_dedup.ownership.pool.run_daily", frappe.get_hooks("scheduler_events")["daily"])
