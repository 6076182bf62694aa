"""Merge duplicate Customers, Contacts and Leads into one record, and undo such a merge.

Frappe's ``rename_doc(merge=True)`` keeps only the target's values, drops the source's child rows, leaves
duplicate link rows behind and deletes the source for good. A merge here (``run.merge``):

1. locks every record, snapshots each of them (``as_dict()`` incl. child rows and the hidden ``_assign`` /
   ``_comments`` / ``_liked_by`` / ``_user_tags`` / ``_seen`` columns);
2. deletes the merged-away records (without their ``on_trash``: a merge is no deletion, so ERPNext's side
   effects such as "Lead back to Interested" or "delete contacts linked only to this customer" never run);
3. saves the survivor with the chosen field values (``survivorship``) and the union of all child rows (same
   phone / e-mail / link once), recording every field and child row that changed, plus the known side
   effects of that save (``save``);
4. points every row that referenced a merged-away record at the survivor (``references``): Link fields in
   all doctypes and child tables incl. custom fields and property setters, every Dynamic Link field
   (Contact/Address links, Comment, Communication + timeline links, ToDo, DocShare, Document Follow, Tag
   Link, Activity Log, ...), and the name-holding Data fields Frappe uses (File, Version, Notification Log,
   Energy Point Log, ...); a relinked row that would duplicate an existing one (a contact linked to both
   customers) is deleted; duplicate open assignments are cancelled; the hidden columns are merged into the
   survivor's;
5. refreshes fetched copies (``customer_name`` on transactions, ``fetch_from`` fields, titles);
6. Lead -> Customer (``lead``): the Lead is kept, marked Converted and linked (``Customer.lead_name``); its
   comments are copied, its communications, open events, contacts and addresses linked, its open tasks
   moved - as ERPNext's own conversion (``erpnext/crm/utils.py``) does;
7. updates the key index and writes a **Dedup Merge Log** (``changelog``) holding the snapshots, the chosen
   values and every change (``set`` with the old value, ``ins`` of a new row, ``del`` with the full row), so
   that ``undo.undo`` can restore the records and point every row back.

Everything runs inside one transaction under a savepoint: any failure rolls every step back. Merges that
touch more than ``BACKGROUND_THRESHOLD`` rows run as a background job (``api.run_merge_job``) and report
progress with ``frappe.publish_progress``. The whitelisted methods are in ``api``; ``preview`` builds the
dialog's side-by-side view.
"""
