"""Candidate pairs from key hashes (engine.blocks) against a plain reference: buckets by dict, every pair of a
small bucket, each member of a large one with its next ``window`` in sort-key order."""

from __future__ import annotations

from collections import defaultdict
from itertools import combinations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_dedup.engine.blocks import rule_pairs


def _reference(hashes, records, count, cap, window, sort_key):
	buckets = defaultdict(set)
	for h, r in zip(hashes, records, strict=True):
		buckets[h].add(r)
	codes, loose, oversized = set(), set(), 0
	for members in buckets.values():
		if len(members) <= cap:
			codes |= {a * count + b for a, b in combinations(sorted(members), 2)}
			continue
		oversized += 1
		order = sorted(members, key=lambda i: (sort_key(i), i))
		loose |= set(order)
		for x, a in enumerate(order):
			for b in order[x + 1 : x + 1 + window]:
				codes.add(min(a, b) * count + max(a, b))
	return sorted(codes), loose, oversized, len(buckets)


@given(
	st.lists(st.tuples(st.integers(0, 5), st.integers(0, 29)), max_size=120),
	st.integers(2, 6),
	st.integers(0, 4),
	st.booleans(),
)
@settings(max_examples=200, deadline=None)
def test_rule_pairs_is_the_reference(keys, cap, window, in_record_order):
	count = 30
	if (
		in_record_order
	):  # as a scan's keys come (the stable sort by hash alone), or shuffled (both keys sorted)
		keys = sorted(keys, key=lambda k: k[1])
	hashes = np.array([h * 7919 - 20 for h, _ in keys], dtype=np.int64)
	records = np.array([r for _, r in keys], dtype=np.int32)

	def sort_key(i):
		return (i * 7) % 11

	loose = defaultdict(int)
	codes, oversized, distinct = rule_pairs(hashes, records, count, cap, window, sort_key, 4, loose)
	want_codes, want_loose, want_oversized, want_distinct = _reference(
		hashes.tolist(), records.tolist(), count, cap, window, sort_key
	)
	assert codes.tolist() == want_codes
	assert {i for i, bits in loose.items() if bits} == want_loose
	assert (oversized, distinct) == (want_oversized, want_distinct)
