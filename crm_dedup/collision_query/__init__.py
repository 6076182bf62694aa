"""Collision query (撞单查询): "is this customer already someone's?" asked before any record is created.

The page ``collision-query`` and integrations call the same whitelisted function, :func:`collision_query`,
and get the same answer. Nothing here matches anything: the inputs are laid out from the enabled Dedup
Rules (``layout``) and the answer comes from ``core.lookup.find_duplicates`` (``answer``). This package only
decides what the asking user may see (masking: ``core.display.mask``, the one policy of the app):

- a hit on a record the user may read shows its title (linked), status, last activity and the matched values;
- a hit on a record the user may not read shows only that it exists, who owns it and since when: the title
  and the matched values are masked (``金陵**有限公司``), status and activity are withheld;
- every query counts against ``Dedup Settings.query_rate_limit`` (per user per hour) and is written to
  Dedup Query Log on a side connection, so it is kept even when the request is rolled back or is a GET.
"""
