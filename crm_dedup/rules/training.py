# Copyright (c) 2025, crm_dedup contributors
# License: MIT. See license.txt
"""Training a smart rule (智能匹配) in the site: one background job (queue ``long``) reads the target DocType's
records, the labelled pairs the app already holds — "not a duplicate" decisions (0), dispute decisions (Not a
Duplicate 0; Merge or Transfer to Claimant 1) — and runs ``engine.train_smart``; the model is stored with the
rule (versioned by the engine: format, a hash of the comparisons, training metadata). Progress is published to
the rule's form.
"""

from __future__ import annotations

import json
import time

import frappe
from frappe import _
from frappe.translate import get_user_lang

from crm_dedup.core.config import clear_cache, compiled, engine_fields, engine_options, rule_doc_to_dict
from crm_dedup.core.records import load_records
from crm_dedup.engine import RuleSet, train_smart

BATCH = 5000


def enqueue_training(rule: str) -> None:
	frappe.enqueue(
		"crm_dedup.rules.training.train",
		queue="long",
		timeout=3600,
		job_id=f"crm_dedup:train:{rule}",
		deduplicate=True,
		enqueue_after_commit=True,
		rule=rule,
	)


def labelled_pairs(doctype: str) -> list[tuple[str, str, int]]:
	out = [
		(r.name_a, r.name_b, 0)
		for r in frappe.get_all(
			"Dedup Not Duplicate",
			{"doctype_a": doctype, "doctype_b": doctype},
			["name_a", "name_b"],
		)
	]
	if frappe.db.table_exists("Dedup Dispute"):
		for r in frappe.get_all(
			"Dedup Dispute",
			{
				"status": "Decided",
				"existing_doctype": doctype,
				"ref_doctype": doctype,
				"ref_name": ["is", "set"],
			},
			["existing_name", "ref_name", "decision"],
		):
			if r.decision == "Not a Duplicate":
				out.append((r.existing_name, r.ref_name, 0))
			elif r.decision in ("Merge", "Transfer to Claimant"):
				out.append((r.existing_name, r.ref_name, 1))
	return out


def train(rule: str) -> dict:
	"""Trains ``rule`` (a Dedup Rule of kind Smart) and stores its model; returns a summary."""
	doc = frappe.get_doc("Dedup Rule", rule)
	if doc.kind != "Smart":
		frappe.throw(_("Only a rule of kind Smart can be trained"), title=_("Not a smart rule"))
	started = time.monotonic()
	spec = rule_doc_to_dict(doc)
	spec.pop("model", None)
	cfg = compiled().cfg
	smart = RuleSet.from_dict({"options": engine_options(cfg), "rules": [spec]}, load_models=False).smart[0]

	# the job runs in the worker: progress in the language of the user who started it
	frappe.local.lang = get_user_lang(frappe.session.user)
	phases = {
		"load": _("Loading records"),
		"prepare": _("Preparing values"),
		"candidates": _("Finding candidate pairs"),
		"random": _("Sampling random pairs"),
		"compare": _("Comparing pairs"),
		"em": _("Learning weights (EM iterations)"),
	}

	def progress(phase: str, done: int, total: int) -> None:
		frappe.publish_progress(
			min(99, 100 * done / total) if total else 0,
			title=_("Training {0}").format(rule),
			doctype="Dedup Rule",
			docname=rule,
			description=_("{0}: {1} of {2}").format(phases.get(phase, phase), done, total),
		)

	paths = engine_fields(spec)
	records: list[tuple[str, dict]] = []
	names = frappe.get_all(doc.target_doctype, pluck="name", order_by="name asc")
	for start in range(0, len(names), BATCH):
		batch = names[start : start + BATCH]
		loaded = load_records(doc.target_doctype, batch, paths)
		records += [(n, loaded[n]) for n in batch if n in loaded]
		progress("load", start + len(batch), len(names))
	present = {n for n, _r in records}
	labels = [p for p in labelled_pairs(doc.target_doctype) if p[0] in present and p[1] in present]
	model = train_smart(smart, records, labels=labels, progress=progress)
	data = model.to_dict(smart)
	info = _("Trained on {0} records and {1} labelled pairs in {2} s").format(
		len(records), len(labels), round(time.monotonic() - started, 1)
	)
	doc.db_set({"model": json.dumps(data, ensure_ascii=False), "model_info": info}, update_modified=False)
	clear_cache()
	frappe.db.commit()
	frappe.publish_progress(100, title=_("Training {0}").format(rule), doctype="Dedup Rule", docname=rule)
	return {"records": len(records), "labels": len(labels), "model": data}
