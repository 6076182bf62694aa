"""Save-time duplicate checks and key-index maintenance: the ``doc_events`` of every doctype ("*").

Every handler returns at once for doctypes that no enabled rule touches (``bridge.is_active_for``: a dict
lookup in the cached configuration).

validate  ->  insert, edit of a rule field, or a Data Import row  ->  bridge.find_duplicates (locks the
Block-rule keys first)  ->  Block: log + notify (surviving the rollback), raise DedupDuplicateError;
Warn: same with DedupWarning unless the user may and did choose "Save anyway" (``__dedup_override`` sent by
the form, or ``doc.flags.dedup_override`` set by server code); Log only: a log row committed with the save.
on_update / on_trash / after_rename  ->  crm_dedup.key_index.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import frappe
from frappe import _
from frappe.utils import escape_html, get_fullname, get_link_to_form, now_datetime

from crm_dedup import bridge, key_index, sidedb
from crm_dedup.bridge import ACTION_LABELS, DuplicateHit

OVERRIDE_KEY = "__dedup_override"
MAX_LOGGED = 5  # collision log rows per attempt (best matches first)
NOTIFY_EVERY = 600  # seconds: one notification per (owner, record, user) in this window


class DedupDuplicateError(frappe.DuplicateEntryError):
	"""A Block rule matched an existing record; the save is refused."""


class DedupWarning(frappe.ValidationError):
	"""A Warn rule matched an existing record and the user did not (or may not) choose "Save anyway"."""


# ---- doc_events ----------------------------------------------------------------------------------------
def before_validate(doc: Any, method: str | None = None) -> None:
	"""Keeps the form's "Save anyway" request (an unknown key of the posted doc) as a flag."""
	if doc.get(OVERRIDE_KEY) and bridge.is_active_for(doc.doctype):
		doc.flags.dedup_override_requested = True


def before_insert(doc: Any, method: str | None = None) -> None:
	"""Marks every document inserted in this process, so that a refused save can tell the records its own
	hooks created (key_index.forget_refused)."""
	doc.flags.crm_dedup_inserted = True


def validate(doc: Any, method: str | None = None) -> None:
	if _skip(doc) or doc.doctype not in bridge.config()["targets"]:
		return
	comp = bridge.compiled()
	is_import = is_data_import(doc)
	new = doc.is_new()
	event = "import" if is_import else ("insert" if new else "edit")
	if not comp.target_rules(doc.doctype, event):
		return
	if not new:
		before = doc.get_doc_before_save()
		fields = comp.query_fields(doc.doctype, event)
		if before is not None and unchanged(before, doc, fields):
			return  # no rule field changed: not re-checked
	key_index.enter(doc)
	try:
		hits = bridge.find_duplicates(doc, doc.doctype, event=event, lock=True)
		if is_import:
			data_import_handler()(doc, hits)
		else:
			act(doc, hits, event)
		# the keys are written now, under the locks, before any later hook of this save can commit
		key_index.index_doc(doc)
	except (DedupDuplicateError, DedupWarning, key_index.DedupBusyError):
		key_index.leave(doc)
		key_index.forget_refused(doc)
		raise


def on_update(doc: Any, method: str | None = None) -> None:
	if _skip(doc) or not bridge.is_active_for(doc.doctype):
		return
	comp = bridge.compiled()
	before = doc.get_doc_before_save()
	# a new record is always indexed: a controller that calls db_set in on_update (ERPNext Customer
	# creating its primary Contact) loads "doc before save" from the row just inserted, so it looks unchanged
	if (
		not doc.flags.in_insert
		and before is not None
		and unchanged(before, doc, comp.index_fields(doc.doctype))
	):
		return
	key_index.enter(doc)
	key_index.index_doc(doc)


def on_change(doc: Any, method: str | None = None) -> None:
	"""The last event of a save: its key locks are released by the next commit (or rollback)."""
	key_index.leave(doc)


def on_trash(doc: Any, method: str | None = None) -> None:
	if not bridge.is_active_for(doc.doctype):
		return
	key_index.unindex(doc.doctype, doc.name)


def after_rename(
	doc: Any, method: str | None = None, old: str = "", new: str = "", merge: bool = False
) -> None:
	if not bridge.is_active_for(doc.doctype):
		return
	key_index.rename(doc.doctype, old, new or doc.name, merge=bool(merge))


# ---- decisions -----------------------------------------------------------------------------------------
def act(doc: Any, hits: list[DuplicateHit], event: str) -> None:
	"""Block / warn / log for the hits of one save."""
	if not hits:
		return
	blocks = [h for h in hits if h.action == "block"]
	warns = [h for h in hits if h.action == "warn"]
	logs = [h for h in hits if h.action == "log"]
	if blocks:
		record_collisions(doc, blocks, "Blocked", event, survive_rollback=True)
		raise_duplicate(doc, blocks)
	if warns:
		if override_requested(doc) and can_override():
			record_collisions(doc, warns, "Saved Anyway", event, survive_rollback=False)
			record_collisions(doc, logs, "Logged", event, survive_rollback=False, notify=False)
			return
		record_collisions(doc, warns, "Warned", event, survive_rollback=True)
		raise_warning(doc, warns)
	if logs:
		record_collisions(doc, logs, "Logged", event, survive_rollback=False, notify=False)


def override_requested(doc: Any) -> bool:
	return bool(doc.flags.dedup_override or doc.flags.dedup_override_requested or doc.get(OVERRIDE_KEY))


def can_override(user: str | None = None) -> bool:
	"""Whether ``user`` has a role allowed (in Dedup Settings) to save past a Warn rule."""
	user = user or frappe.session.user
	if user == "Administrator":
		return True
	allowed = set(bridge.config()["override_roles"])
	return bool(allowed & set(frappe.get_roles(user)))


def raise_duplicate(doc: Any, hits: list[DuplicateHit]) -> None:
	title, message = describe(doc, hits)
	frappe.throw(message, exc=DedupDuplicateError, title=title)


def raise_warning(doc: Any, hits: list[DuplicateHit]) -> None:
	title, message = describe(doc, hits)
	if can_override():
		message += "<br>" + _("To save it anyway, use Save anyway in the duplicate dialog of the form.")
	else:
		message += "<br>" + _("Ask the owner or a manager if this really is a different record.")
	frappe.throw(message, exc=DedupWarning, title=title)


# ---- messages ------------------------------------------------------------------------------------------
def mask(text: str | None) -> str:
	"""A name shown to someone who may not read the record: 金陵科技有限公司 -> 金陵**有限公司."""
	s = (text or "").strip()
	n = len(s)
	if n <= 1:
		return "*" * max(n, 1)
	if n <= 3:
		return s[0] + "*" * (n - 1)
	if n < 8:
		return s[0] + "*" * (n - 2) + s[-1]
	return s[:2] + "*" * min(n - 6, 6) + s[-4:]


def can_read(doctype: str, name: str, user: str | None = None) -> bool:
	try:
		return bool(frappe.has_permission(doctype, "read", name, user=user))
	except Exception:
		return False


def field_label(doctype: str, path: str) -> str:
	meta = frappe.get_meta(doctype)
	if "." in path:
		table, child_field = path.split(".", 1)
		tdf = meta.get_field(table)
		if tdf:
			child = frappe.get_meta(tdf.options)
			return f"{_(tdf.label or table)} › {_(child.get_label(child_field) or child_field)}"
		return path
	return _(meta.get_label(path) or path)


def hit_view(doctype: str, hit: DuplicateHit, user: str | None = None) -> dict:
	"""What the user saving a ``doctype`` record may see of a hit (names masked unless readable)."""
	readable = can_read(hit.doctype, hit.name, user)
	title = hit.title or hit.name
	label = title if title == hit.name else f"{title} ({hit.name})"
	fields = []
	for h in hit.match.hits:
		fields.append(
			{
				"label": field_label(doctype, h.field_a),
				"value": h.value_a,
				"existing_label": field_label(doctype, h.field_b),
				"existing_value": h.value_b
				if readable or h.match in ("phone", "email", "id_code")
				else mask(h.value_b),
				"match": _(bridge.MATCH_LABELS.get(h.match, h.match)),
				"score": round(h.score, 1),
				"note": h.note,
				"skipped": h.skipped,
			}
		)
	return {
		"doctype": hit.doctype,
		"doctype_label": _(hit.doctype),
		"name": hit.name if readable else None,
		"display": label if readable else mask(title),
		"readable": readable,
		"url": frappe.utils.get_url_to_form(hit.doctype, hit.name) if readable else None,
		"owner": hit.owner,
		"owner_name": get_fullname(hit.owner) if hit.owner else _("nobody"),
		"rule": hit.match.rule,
		"action": hit.action,
		"action_label": _(ACTION_LABELS.get(hit.action, hit.action)),
		"score": round(hit.match.score, 1),
		"fields": fields,
	}


def describe(doc: Any, hits: list[DuplicateHit]) -> tuple[str, str]:
	"""(title, HTML message) naming the best hit: record (link or masked), owner, rule, fields, score."""
	best = hits[0]
	v = hit_view(doc.doctype, best)
	if v["readable"]:
		shown = get_link_to_form(best.doctype, best.name, escape_html(v["display"]))
	else:
		shown = escape_html(v["display"])
	title = _("Duplicate {0}: {1} already exists").format(_(doc.doctype), escape_html(v["display"]))
	lines = [
		_("{0} {1} already exists and belongs to {2}.").format(
			_(best.doctype), f"<b>{shown}</b>", f"<b>{escape_html(v['owner_name'])}</b>"
		),
		_("Rule {0} matched with score {1}.").format(f"<b>{escape_html(v['rule'])}</b>", v["score"]),
	]
	items = "".join(
		"<li>{}</li>".format(
			_("{0} {1} matches {2} {3} ({4}, {5})").format(
				escape_html(f["label"]),
				f"<b>{escape_html(str(f['value']))}</b>",
				escape_html(f["existing_label"]),
				f"<b>{escape_html(str(f['existing_value']))}</b>",
				escape_html(f["match"]),
				f["score"],
			)
		)
		for f in v["fields"]
		if not f["skipped"]
	)
	message = "<br>".join(lines) + f"<ul>{items}</ul>"
	if len(hits) > 1:
		message += _("{0} more existing records match.").format(len(hits) - 1)
	return title, message


# ---- collision log and notifications -----------------------------------------------------------------
def record_collisions(
	doc: Any,
	hits: list[DuplicateHit],
	outcome: str,
	event: str,
	survive_rollback: bool = True,
	notify: bool = True,
	source: str | None = None,
) -> None:
	"""One Dedup Collision Log row per hit (best first, at most MAX_LOGGED) and a notification to each existing
	owner. ``survive_rollback``: written and committed on the side connection at once, so they stay even
	though the save they describe is rolled back; otherwise written in the save's own transaction."""
	if not hits:
		return
	source = source or detect_source(doc)
	user = frappe.session.user
	rows = [_log_row(doc, h, outcome, event, source, user) for h in hits[:MAX_LOGGED]]
	notes = _notifications(doc, hits, outcome, user) if notify else []

	def write() -> None:
		for row in rows:
			frappe.get_doc(row).insert(ignore_permissions=True, ignore_links=True)
		for n in notes:
			frappe.get_doc(n).insert(ignore_permissions=True, ignore_links=True)

	if survive_rollback:
		sidedb.survive_rollback(write, "crm_dedup collision log")
	else:
		write()


def _log_row(doc: Any, h: DuplicateHit, outcome: str, event: str, source: str, user: str) -> dict:
	meta = frappe.get_meta(doc.doctype)
	title_field = meta.get_title_field()
	matched = "; ".join(
		f"{ch.field_a}={ch.value_a} ~ {h.doctype}.{ch.field_b}={ch.value_b} ({ch.match} {ch.score:.0f})"
		for ch in h.match.hits
		if not ch.skipped
	)
	return {
		"doctype": "Dedup Collision Log",
		"attempted_by": user,
		"attempted_at": now_datetime(),
		"outcome": outcome,
		"source": source,
		"event": {"insert": "Insert", "edit": "Edit", "import": "Import"}.get(event, "Insert"),
		"rule": h.match.rule,
		"action": ACTION_LABELS.get(h.action, "Block"),
		"score": round(h.match.score, 1),
		"ref_doctype": doc.doctype,
		# a form's unsaved document has a temporary name (new-customer-1): not a record anyone can open
		"ref_name": None if str(doc.name or "").startswith("new-") else doc.name,
		"ref_title": str(doc.get(title_field) or doc.name or "")[:140],
		"existing_doctype": h.doctype,
		"existing_name": h.name,
		"existing_title": str(h.title or h.name)[:140],
		"existing_owner": h.owner,
		"matched_fields": matched,
		"explanation": json.dumps(
			{"match": h.match.to_dict(), "explain": h.match.explain}, ensure_ascii=False, indent=1
		),
	}


def _notifications(doc: Any, hits: list[DuplicateHit], outcome: str, user: str) -> list[dict]:
	if not bridge.config().get("notify_owner", True):
		return []
	out = []
	seen = set()
	for h in hits[:MAX_LOGGED]:
		owner = h.owner
		if not owner or owner == user or owner in ("Guest",) or (owner, h.doctype, h.name) in seen:
			continue
		seen.add((owner, h.doctype, h.name))
		key = f"crm_dedup:notified:{owner}:{h.doctype}:{h.name}:{user}:{outcome}"
		if frappe.cache.get_value(key, expires=True):
			continue
		frappe.cache.set_value(key, 1, expires_in_sec=NOTIFY_EVERY)
		subject = {
			"Blocked": _("{0} was blocked from saving a duplicate of your {1} {2} (rule {3})"),
			"Warned": _("{0} was warned about a duplicate of your {1} {2} (rule {3})"),
			"Saved Anyway": _("{0} saved a likely duplicate of your {1} {2} anyway (rule {3})"),
		}.get(outcome, _("{0} touched a duplicate of your {1} {2} (rule {3})"))
		out.append(
			{
				"doctype": "Notification Log",
				"for_user": owner,
				"from_user": user,
				"type": "Alert",
				"document_type": h.doctype,
				"document_name": h.name,
				"subject": subject.format(
					escape_html(get_fullname(user)),
					_(h.doctype),
					f"<b>{escape_html(h.title or h.name)}</b>",
					escape_html(h.match.rule),
				),
				"email_content": escape_html(h.match.explain),
			}
		)
	return out


def detect_source(doc: Any) -> str:
	if is_data_import(doc):
		return "Data Import"
	request = getattr(frappe.local, "request", None)
	if request is not None:
		path = getattr(request, "path", "") or ""
		if path.endswith(("frappe.desk.form.save.savedocs", "crm_dedup.api.check_duplicates")):
			return "Desk"
		return "API"
	if getattr(frappe.local, "job", None) or getattr(frappe.flags, "in_background_job", False):
		return "Background Job"
	return "Script"


# ---- helpers -------------------------------------------------------------------------------------------
def is_data_import(doc: Any) -> bool:
	ref = doc.flags.updater_reference
	return isinstance(ref, dict) and ref.get("doctype") == "Data Import"


def data_import_handler() -> Callable[[Any, list[DuplicateHit]], Any]:
	"""crm_dedup.data_import.on_import_row (looked up at call time: data_import imports this module)."""
	return frappe.get_attr("crm_dedup.data_import.on_import_row")


def _skip(doc: Any) -> bool:
	return bool(
		doc.flags.ignore_dedup
		or frappe.flags.ignore_dedup
		or frappe.flags.in_install
		or frappe.flags.in_migrate
		or frappe.flags.in_uninstall
	)


def _norm(v: Any) -> Any:
	if isinstance(v, list | tuple):
		return tuple(str(x) for x in v if x not in (None, ""))
	return "" if v in (None, "") else str(v)


def unchanged(before: Any, doc: Any, fields: list[str]) -> bool:
	"""Whether none of ``fields`` (paths, child paths included) changed between two versions of a doc."""
	return all(_norm(bridge.path_value(before, f)) == _norm(bridge.path_value(doc, f)) for f in fields)
