"""Shared core of the Frappe layer: compiled rule configuration, records, owners, the MariaDB key index and
save guard, duplicate lookup, display and masking, the collision log, roles, rate limits, duplicate-set storage.

Capability packages (checks, scans, merge, collision_query, rules) import from here and from crm_dedup.engine,
never from each other. Nothing here imports a capability package.
"""
