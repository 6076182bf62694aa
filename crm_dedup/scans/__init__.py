"""Batch duplicate scans (批量查重), their review and the "重复 / Duplicate" indicators.

- ``start``: starting a scan (Dedup Scan Start button, a rule's Scan button, the scheduler) and its plan;
- ``queue``: job ids, the one enqueue site, which scans are still in flight;
- ``jobs``: the background jobs (one-job scan, key jobs + compare job of a chunked scan), progress, summary;
- ``load``: bulk loading of the records a scan compares;
- ``review``: "not a duplicate", reopen, refresh, and the sets a completed merge closes;
- ``indicators``: the list-view pills and the form headline of records in an open set.

Duplicate Set storage and "not a duplicate" pairs live in ``crm_dedup.core.sets`` / ``crm_dedup.core.pairs``
(the save-time checks use them too). See docs/scans.md.
"""
