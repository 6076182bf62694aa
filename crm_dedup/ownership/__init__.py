"""Ownership after a collision (撞单归属): protection period and public pool, claims, routing of new records to
the existing owner. See docs/ownership.md."""
