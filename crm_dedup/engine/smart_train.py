"""Training and scanning smart rules (``smart.py``): blocking, u from random pairs, m by EM, labelled pairs.

Training (``train_smart``), without labels, as Splink does:

1. every record prepared once; candidate pairs are the pairs that share a blocking key of the rule (a key
   shared by more than ``cap`` records is compared as a sorted neighbourhood: each record with its next
   ``window`` records), exactly the pairs a scan compares;
2. u per level from ``random_pairs`` pairs drawn at random (nearly all of them are different records);
3. m per level and λ (the share of duplicates among the candidate pairs) by expectation maximisation over
   the candidate pairs with u held fixed. EM runs on the distinct level patterns and their counts, so each
   iteration costs the number of patterns (hundreds), not of pairs: pure Python is enough, numpy would not
   pay for itself here;
4. the prior λ for scoring is the probability that two records drawn at random match (EM's expected
   duplicates among the candidates over all pairs), as in Splink: u comes from random pairs, so the prior
   must too;
5. labelled pairs (``id_a, id_b, label``; 1 duplicate, 0 not) then move the weights: a logistic regression on
   the labelled pairs' levels, starting from the EM weights and pulled back to them by an L2 prior
   (``label_strength``), learns a log2 correction per level (``adjust``); the pairs also count in EM with
   their known answer. The prior is not refitted: labelled pairs are a chosen sample (what people
   reviewed), not a random one;
6. before the labelled pairs, the EM weights are made monotone along each comparison's ladder
   (``make_monotone``): a stronger level never weighs less than a weaker one.

Every step reports progress through ``progress(phase, done, total)``.
"""

from __future__ import annotations

import datetime as _dt
import math
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .errors import InputError
from .match import KEY_VERSION, Match
from .rules import RuleSet
from .scan import ScanResult, _sort_id, scan_records
from .sets import build_sets
from .smart import MIN_PROB, LevelParams, SmartModel, SmartRule, default_model, probability_of

Progress = Callable[[str, int, int], None]
DEFAULT_CAP = 200
DEFAULT_WINDOW = 20
# share of the duplicate pairs EM expects at an equality level taken out of its agreements before u is
# computed (see _frequency_u); measured on the generator's data and FEBRL (benchmarks/README.md)
U_DISCOUNT = 0.9


def _noop(phase: str, done: int, total: int) -> None:
	pass


class Table:
	"""The records of one scan or training run prepared once for a smart rule, each distinct value of a
	comparison stored once: a record is a tuple of value ids (0: blank), and the level of two value ids is
	computed once per distinct pair (many pairs share a city, a state, a common name)."""

	def __init__(
		self, rule: SmartRule, records: list[tuple[Any, Mapping]], progress: Progress = _noop
	) -> None:
		self.rule = rule
		self.ids = [rid for rid, _ in records]
		n_comp = len(rule.comparisons)
		self.values: list[list] = [[()] for _ in range(n_comp)]  # per comparison: id -> prepared values
		lookup: list[dict] = [{} for _ in range(n_comp)]
		rows = []
		n = len(records)
		for k, (_, rec) in enumerate(records):
			row = []
			for c, vals in enumerate(rule.prepare(rec)):
				if not vals:
					row.append(0)
					continue
				vid = lookup[c].get(vals)
				if vid is None:
					vid = lookup[c][vals] = len(self.values[c])
					self.values[c].append(vals)
				row.append(vid)
			rows.append(tuple(row))
			if k % 5000 == 0:
				progress("prepare", k, n)
		progress("prepare", n, n)
		self.rows = rows
		self._levels: list[dict] = [{} for _ in range(n_comp)]
		self._keys: list[dict] = [{} for _ in range(n_comp)]
		self._pairs: dict[tuple, tuple] = {}  # (cap, window) -> candidate pairs and stats

	def __len__(self) -> int:
		return len(self.rows)

	def prepared(self, i: int) -> tuple:
		return tuple(self.values[c][vid] for c, vid in enumerate(self.rows[i]))

	def keys(self, i: int) -> set[str]:
		out: set[str] = set()
		for c, vid in enumerate(self.rows[i]):
			if not vid or not self.rule.comparisons[c].key:
				continue
			got = self._keys[c].get(vid)
			if got is None:
				single = [() for _ in self.rule.comparisons]
				single[c] = self.values[c][vid]
				got = self._keys[c][vid] = frozenset(self.rule.keys(tuple(single)))
			out |= got
		return out

	def pattern(self, i: int, j: int) -> tuple:
		comps = self.rule.comparisons
		out = []
		for c, (va, vb) in enumerate(zip(self.rows[i], self.rows[j], strict=True)):
			if not va or not vb:
				out.append(None)
			elif va == vb:
				out.append(0)
			else:
				key = (va, vb) if va < vb else (vb, va)
				cache = self._levels[c]
				lv = cache.get(key)
				if lv is None:
					lv = cache[key] = comps[c].level(self.values[c][va], self.values[c][vb])
				out.append(lv)
		return tuple(out)


def candidate_pairs(
	table: Table, cap: int = DEFAULT_CAP, window: int = DEFAULT_WINDOW
) -> tuple[list[tuple[int, int]], dict]:
	"""Pairs (i < j) of records that share a blocking key; oversized keys as sorted neighbourhoods."""
	got = table._pairs.get((cap, window))
	if got is not None:
		return got[0], dict(got[1])
	buckets: dict[str, list[int]] = defaultdict(list)
	for i in range(len(table)):
		for k in table.keys(i):
			buckets[k].append(i)
	n = len(table)
	seen: set[int] = set()
	oversized = 0
	for members in buckets.values():
		m = len(members)
		if m < 2:
			continue
		if m <= cap:
			for x in range(m):
				a = members[x]
				for y in range(x + 1, m):
					seen.add(a * n + members[y])
		else:
			oversized += 1
			for x in range(m):
				a = members[x]
				for y in range(x + 1, min(m, x + 1 + window)):
					seen.add(a * n + members[y])
	pairs = sorted(divmod(code, n) for code in seen)
	stats = {"keys": len(buckets), "oversized_keys": oversized, "candidate_pairs": len(pairs)}
	table._pairs[(cap, window)] = (pairs, stats)
	return pairs, dict(stats)


def random_pairs(n: int, count: int, seed: int) -> list[tuple[int, int]]:
	rng = random.Random(seed)
	if n < 2:
		return []
	total = n * (n - 1) // 2
	if total <= count:
		return [(i, j) for i in range(n) for j in range(i + 1, n)]
	out = set()
	while len(out) < count:
		i, j = rng.randrange(n), rng.randrange(n)
		if i != j:
			out.add((min(i, j), max(i, j)))
	return sorted(out)


def level_counts(
	rule: SmartRule, patterns: Iterable[tuple], weights: Iterable[float] | None = None
) -> list[list[float]]:
	counts = [[0.0] * len(c.levels) for c in rule.comparisons]
	ws = weights if weights is not None else iter(lambda: 1.0, None)
	for pat, w in zip(patterns, ws, strict=False):
		for k, lv in enumerate(pat):
			if lv is not None:
				counts[k][lv] += w
	return counts


def _normalise(counts: list[float], prior: float = 0.5) -> list[float]:
	"""Probabilities from counts with additive smoothing, clamped away from 0 and 1."""
	total = sum(counts) + prior * len(counts)
	return [min(max((c + prior) / total, MIN_PROB), 1 - MIN_PROB) for c in counts]


def _frequency_u(
	table: Table, c: int, sampled: list[float], matched: list[float], discount: float = 0.0
) -> list[float]:
	"""u of the equality levels (exact, equal) from how often each value occurs: the pairs of non-blank
	records that agree, Σ n_v (n_v - 1) / 2, less ``discount`` times the duplicate pairs EM expects at that
	level (``matched``), over all pairs of non-blank records. A random sample of 50,000 pairs cannot see
	agreements rarer than 1 in 50,000, and company names, phones and e-mails agree far more rarely; the other
	levels keep their sampled u, scaled to the rest. A record's first value stands for a field group.

	Not all of EM's expected duplicates are taken out: where distinct companies share a name EM counts some
	of them as duplicates too, and taking all out drove u to nothing (precision fell from 0.999 to 0.96 on
	100,000 generated records); taking none out left a shared phone alone below 0.8 (recall 0.963).
	``discount`` 0.9 keeps precision 0.999 and recall 0.976 there, and FEBRL3/4 unchanged or better."""
	comp = table.rule.comparisons[c]
	labels = comp.levels
	counts = Counter(row[c] for row in table.rows if row[c])
	total = sum(counts.values())
	if total < 2:
		return sampled
	by_fold: Counter = Counter()
	by_norm: Counter = Counter()
	for vid, n in counts.items():
		first = table.values[c][vid][0]
		by_fold[first[1]] += n
		by_norm[first[0]] += n
	pairs = total * (total - 1) / 2
	equal = sum(n * (n - 1) / 2 for n in by_norm.values())
	fixed: dict[int, float] = {}
	if labels[0] == "exact":
		exact = sum(n * (n - 1) / 2 for n in by_fold.values())
		fixed = {0: exact, 1: max(equal - exact, 0.0)}
	else:
		fixed = {0: equal}
	floor = 0.5 / pairs  # never seen: half a pair
	fixed = {
		k: min(max(v - discount * min(matched[k], v), floor * pairs) / pairs, 0.5) for k, v in fixed.items()
	}
	fixed = {k: max(v, MIN_PROB) for k, v in fixed.items()}
	rest = [x for k, x in enumerate(sampled) if k not in fixed]
	scale = (1.0 - sum(fixed.values())) / sum(rest)
	return [fixed[k] if k in fixed else x * scale for k, x in enumerate(sampled)]


def em(
	rule: SmartRule,
	pattern_counts: Counter,
	u: list[list[float]],
	m: list[list[float]],
	lam: float,
	fixed: Counter | None = None,
	max_iter: int = 100,
	tol: float = 1e-6,
	progress: Progress = _noop,
) -> tuple[list[list[float]], float, int, bool]:
	"""m and λ by EM over (pattern, count), u fixed. ``fixed``: (pattern, label) -> count of labelled pairs,
	whose responsibility is their label. Returns (m, λ, iterations, converged, expected duplicate pairs per
	comparison and level)."""
	items = list(pattern_counts.items())
	fixed_items = list((fixed or {}).items())
	logu = [[math.log(x) for x in row] for row in u]
	for it in range(1, max_iter + 1):
		logm = [[math.log(x) for x in row] for row in m]
		ll_match, ll_non = math.log(lam), math.log(1 - lam)
		counts = [[0.0] * len(row) for row in m]
		total_w = 0.0
		total_n = 0.0
		for pat, n in items:
			a, b = ll_match, ll_non
			for k, lv in enumerate(pat):
				if lv is not None:
					a += logm[k][lv]
					b += logu[k][lv]
			d = b - a
			w = 1.0 / (1.0 + math.exp(d)) if d < 700 else 0.0
			total_w += w * n
			total_n += n
			for k, lv in enumerate(pat):
				if lv is not None:
					counts[k][lv] += w * n
		for (pat, label), n in fixed_items:
			total_w += label * n
			total_n += n
			if label:
				for k, lv in enumerate(pat):
					if lv is not None:
						counts[k][lv] += n
		new_m = [_normalise(row, 0.01) for row in counts]
		new_lam = min(max(total_w / total_n, MIN_PROB), 1 - MIN_PROB) if total_n else lam
		delta = max(abs(x - y) for r1, r2 in zip(m, new_m, strict=True) for x, y in zip(r1, r2, strict=True))
		delta = max(delta, abs(new_lam - lam))
		m, lam = new_m, new_lam
		progress("em", it, max_iter)
		if delta < tol:
			return m, lam, it, True, counts
	return m, lam, max_iter, False, counts


def fit_labels(
	rule: SmartRule,
	model: SmartModel,
	labelled: list[tuple[tuple, int]],
	strength: float = 1.0,
	iterations: int = 300,
	rate: float = 0.5,
) -> tuple[list[list[float]], float]:
	"""Per-level log2 corrections and a prior correction from labelled (pattern, label) pairs: a logistic
	regression over the level indicators with the model's weights as offset and an L2 prior (``strength``)
	that keeps the corrections small where the labels say little."""
	ln2 = math.log(2)
	base = [[lv.weight - lv.adjust for lv in comp] for comp in model.levels]
	adj = [[0.0] * len(comp) for comp in model.levels]
	adj_prior = 0.0
	n = len(labelled)
	if not n:
		return adj, 0.0
	for _ in range(iterations):
		grad = [[0.0] * len(comp) for comp in model.levels]
		grad_prior = 0.0
		for pat, y in labelled:
			z = model.prior + adj_prior
			for k, lv in enumerate(pat):
				if lv is not None:
					z += base[k][lv] + adj[k][lv]
			p = probability_of(z)
			g = (y - p) * ln2
			grad_prior += g
			for k, lv in enumerate(pat):
				if lv is not None:
					grad[k][lv] += g
		for k, row in enumerate(adj):
			for lv in range(len(row)):
				row[lv] += rate * (grad[k][lv] - strength * row[lv]) / n
		adj_prior += rate * (grad_prior - strength * adj_prior) / n
	return adj, adj_prior


def make_monotone(model: SmartModel) -> int:
	"""Raises a level's weight to that of the next weaker level where EM left it lower; returns how many.

	A comparison's levels are a ladder, strongest first (exact, equal, same pinyin, within N edits, score
	bands), so agreeing more must never weigh less. EM can break that where the data says little: on a
	site whose true duplicates all differ in the legal form, "exact" company names are rare among the
	candidates, their m comes out tiny and "exact" weighed half of "equal". The raise is kept in ``order``,
	so m and u stay what EM and the random pairs gave; it runs before the labelled pairs, whose corrections
	(``adjust``) are people's decisions and are kept as learned. ``else`` (the last level) is left alone."""
	raised = 0
	for comp in model.levels:
		for i in range(len(comp) - 3, -1, -1):  # from the weakest level above "else" up to the strongest
			floor = comp[i + 1].weight
			if comp[i].weight < floor:
				comp[i].order += floor - comp[i].weight
				raised += 1
	return raised


def read_labels(labels: Iterable[tuple[Any, Any, Any]], ids: Mapping[str, int]) -> list[tuple[int, int, int]]:
	"""(index a, index b, 0/1) per labelled pair; unknown ids or labels raise InputError naming the pair."""
	out = []
	for n, (a, b, label) in enumerate(labels, 1):
		a, b = str(a).strip(), str(b).strip()
		for x in (a, b):
			if x not in ids:
				raise InputError(f"labelled pair {n} ({a}, {b}): unknown id {x!r}")
		lab = str(label).strip()
		if lab not in ("0", "1"):
			raise InputError(
				f"labelled pair {n} ({a}, {b}): label must be 1 (duplicate) or 0 (not), got {lab!r}"
			)
		if a == b:
			raise InputError(f"labelled pair {n}: a record paired with itself ({a})")
		out.append((ids[a], ids[b], int(lab)))
	return out


def train_smart(
	rule: SmartRule,
	records: list[tuple[Any, Mapping]],
	labels: Iterable[tuple[Any, Any, Any]] = (),
	progress: Progress | None = None,
	n_random: int = 50_000,
	max_iter: int = 100,
	seed: int = 1,
	label_strength: float = 1.0,
	cap: int = DEFAULT_CAP,
	window: int = DEFAULT_WINDOW,
	table: Table | None = None,
	discount: float = U_DISCOUNT,
) -> SmartModel:
	"""A trained model for ``rule`` from ``records`` [(id, record)] and optional labelled pairs
	[(id_a, id_b, 1|0)]. The rule's current model is not changed; ``rule.model = result`` applies it."""
	progress = progress or _noop
	started = time.monotonic()
	ids = {str(rid): k for k, (rid, _) in enumerate(records)}
	if len(ids) != len(records):
		raise InputError("the records repeat an id")
	lab = read_labels(labels, ids)
	if len(records) < 2:
		raise InputError("training needs at least two records")
	table = table if table is not None else Table(rule, records, progress)
	pairs, block_stats = candidate_pairs(table, cap, window)
	progress("candidates", len(pairs), len(pairs))
	patterns: Counter = Counter()
	pattern = table.pattern
	for k, (i, j) in enumerate(pairs):
		patterns[pattern(i, j)] += 1
		if k % 50_000 == 0:
			progress("compare", k, len(pairs))
	progress("compare", len(pairs), len(pairs))
	rnd = random_pairs(len(table), n_random, seed)
	rnd_patterns = [pattern(i, j) for i, j in rnd]
	progress("random", len(rnd), len(rnd))
	u = [_normalise(row) for row in level_counts(rule, rnd_patterns)]
	start = default_model(rule)
	m0 = [[lv.m for lv in comp] for comp in start.levels]
	labelled = [(pattern(a, b), y) for a, b, y in lab]
	fixed: Counter = Counter(labelled)
	m, lam, iters, converged, matched = em(rule, patterns, u, m0, 0.1, fixed, max_iter, progress=progress)
	# the equality levels' u from value frequencies; then EM again
	u = [_frequency_u(table, c, u[c], matched[c], discount) for c in range(len(rule.comparisons))]
	m, lam, more, converged, _ = em(rule, patterns, u, m, lam, fixed, max_iter, progress=progress)
	iters += more
	levels = [
		[LevelParams(lb, mi, ui) for lb, mi, ui in zip(c.levels, mr, ur, strict=True)]
		for c, mr, ur in zip(rule.comparisons, m, u, strict=True)
	]
	# λ of EM is the share of duplicates among the candidate pairs; a pair is scored, as Splink does, with
	# the probability that two records drawn at random match (the candidates' expected duplicates over all
	# pairs): u comes from random pairs, so the prior must too, or blocking on a field would count twice
	total_pairs = len(table) * (len(table) - 1) // 2
	lam_all = min(max(lam * len(pairs) / total_pairs, MIN_PROB / 100), 0.5) if pairs else MIN_PROB
	model = SmartModel(rule.definition_hash, lam_all, levels, {})
	raised = make_monotone(model)  # before the labels: they are people's word and may say otherwise
	if labelled:
		adj, _ = fit_labels(rule, model, labelled, label_strength)
		for comp, row in zip(model.levels, adj, strict=True):
			for lv, a in zip(comp, row, strict=True):
				lv.adjust = a
	model.trained = {
		"at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
		"records": len(records),
		"candidate_pairs": len(pairs),
		"distinct_patterns": len(patterns),
		"random_pairs": len(rnd),
		"em_iterations": iters,
		"em_converged": converged,
		"levels_raised": raised,
		"labels": {
			"pairs": len(lab),
			"duplicates": sum(y for *_, y in lab),
			"not_duplicates": sum(1 - y for *_, y in lab),
		},
		"lambda_candidates": lam,
		"blocking": block_stats,
		"key_version": KEY_VERSION,
		"seconds": round(time.monotonic() - started, 2),
	}
	return model


def smart_scan(
	rule: SmartRule,
	records: list[tuple[Any, Mapping]],
	progress: Progress | None = None,
	skip_pairs: set | None = None,
	cap: int = DEFAULT_CAP,
	window: int = DEFAULT_WINDOW,
	table: Table | None = None,
) -> tuple[list[tuple[Any, Any, Match]], dict]:
	"""Pairs whose probability reaches one of the rule's thresholds: [(id_a, id_b, SmartMatch)], stats."""
	progress = progress or _noop
	table = table if table is not None else Table(rule, records, progress)
	pairs, stats = candidate_pairs(table, cap, window)
	weights = rule.model.weights()
	memo: dict[tuple, float] = {}
	lowest = rule.min_probability
	out = []
	skip = skip_pairs or set()
	for k, (i, j) in enumerate(pairs):
		ida, idb = records[i][0], records[j][0]
		if skip and ((ida, idb) in skip or (idb, ida) in skip):
			continue
		pat = table.pattern(i, j)
		p = memo.get(pat)
		if p is None:
			p = memo[pat] = probability_of(rule.weight_of(pat, weights))
		if p >= lowest:
			m = rule.explain(pat, table.prepared(i), table.prepared(j), idb, rule.action_for(p))
			out.append((ida, idb, m))
		if k % 50_000 == 0:
			progress("compare", k, len(pairs))
	progress("compare", len(pairs), len(pairs))
	stats["smart_pairs"] = len(out)
	return out, stats


def scan_all(
	rules: RuleSet,
	records: list[tuple[Any, Mapping]],
	progress: Progress | None = None,
	skip_pairs: set | None = None,
	**scan_options: Any,
) -> ScanResult:
	"""``scan_records`` for the condition rules and ``smart_scan`` for each smart rule, in one ScanResult:
	a pair found by several rules keeps the best match (lowest priority number, then highest score), and the
	clusters join all pairs."""
	if rules.rules:
		result = scan_records(rules, records, progress=progress, skip_pairs=skip_pairs, **scan_options)
	else:
		result = ScanResult(stats={"records": len(records)})
	if not rules.smart:
		return result
	best: dict[tuple, tuple] = {(a, b): (a, b, m) for a, b, m in result.pairs}
	for rule in rules.smart:
		found, stats = smart_scan(rule, records, progress, skip_pairs)
		for key, value in stats.items():
			result.stats[f"{rule.name}.{key}"] = value
		for a, b, m in found:
			if _sort_id(a) > _sort_id(b):
				a, b = b, a
			old = best.get((a, b))
			if old is None or m.sort_key() < old[2].sort_key():
				best[(a, b)] = (a, b, m)
	result.pairs = sorted(best.values(), key=lambda t: (_sort_id(t[0]), _sort_id(t[1])))
	# the sets from strong links only, as scan_records builds them (engine.sets)
	result.clusters, result.possible, cut = build_sets(result.pairs, rules.set_threshold)
	result.stats["pairs"] = len(result.pairs)
	result.stats["clusters"] = len(result.clusters)
	result.stats["largest_set"] = max((len(c) for c in result.clusters), default=0)
	result.stats["possible"] = len(result.possible)
	result.stats["split_links"] = cut
	return result
