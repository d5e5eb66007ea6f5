"""Set-wise candidate pairs, vectorized scoring and one clustering pass (no database here).

Why a *sequential* pass over precomputed weights rather than union-find: the real-time path
decides each record against the goldens that exist when it arrives (``MatchEngine.decide``:
median member weight per candidate golden, link at the upper threshold, review band, bridging
merges). Union-find over pairs above the threshold would chain A≈B≈C into one cluster even when
A and C are far apart, which ``decide`` deliberately refuses. So the expensive parts — blocking,
pair generation and pair scoring — are done column-wise over the whole file, and the cheap
part — replaying ``decide``'s rule in file order over the pair weights — is a Python loop of
look-ups, run in this process while the pool scores the pairs of later records. Member pairs
that share no blocking key (``decide`` compares a record with *every* member of a candidate
golden) are scored on demand with the kernel's scorer for the incoming record and cached
(1.57 M of them at 1,000,000 records, against 13.1 M key-sharing pairs).

Oversized blocks are emulated exactly: on the real-time path a record skips a key when more than
``MAX_BLOCK_SIZE`` stored records already carry it, so in file order only the first
``MAX_BLOCK_SIZE + 1`` records of a key's group use it. Pairs are generated inside that prefix.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import numpy as np
import pandas as pd

from matching import MatchEngine, PreparedRecord
from matching.columns import RecordColumns
from matching.engine import (
    EXPLAINED_CANDIDATES,
    first_max_index,
    median,
    member_identity,
    probability_from_weight,
    weight_from_probability,
)
from mdm.bulk.parallel import forked_pool, state
from mdm.services.resolve import (  # the real-time path's limits, replayed
    MAX_BLOCK_SIZE,
    MAX_MEMBERS_PER_GOLDEN,
)

#: Pairs scored per ``score_indexed`` call: bounds the memory of the gathered columns.
SCORE_CHUNK = 100_000
#: Scoring tasks per pool process before a fresh fork replaces it: none. The write phase renews
#: its children (mdm.bulk.load) because they build millions of rows; a scoring child only reads
#: the record columns, while the parent replays. Renewing every 10 tasks made both sides copy the
#: shared pages again after each fork: at 1,000,000 records 180.1 → 168.0 s for the cluster phase,
#: pool CPU 168.8 → 151.5 s (system 28.4 → 7.3 s), largest child's peak RSS 8.85 → 7.59 GB.
TASKS_PER_CHILD: int | None = None


@dataclass
class BlockStats:
    """What blocking did: how many keys, how many oversized (and the largest), how many pairs."""

    keys: int = 0
    oversized: dict[str, int] = field(default_factory=dict)
    #: record index -> keys it skipped (more than MAX_BLOCK_SIZE earlier records carried them)
    skipped: dict[int, list[str]] = field(default_factory=dict)
    largest_blocks: list[tuple[str, int]] = field(default_factory=list)
    pairs: int = 0


def key_codes(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``pd.factorize`` of the blocking-key entries: each entry's code (in order of first
    appearance) and the distinct keys.

    Why not factorize the strings: at 1,000,000 records that is 14,500,000 entries and 8,200,000
    distinct keys, 15–17 s in a hash table of Python strings. Their 64-bit ``hash`` values are
    factorized instead (3 s; forked pool workers share the hash seed, and the keys are hashed
    here anyway), and the result is verified: every entry of a key that more than one entry
    carries must equal its key's first entry. A collision (two keys, one hash) fails that check
    and the strings are factorized after all, so the codes are always exact.
    """
    hashes = np.fromiter((hash(k) for k in flat.tolist()), dtype=np.int64, count=len(flat))
    codes, distinct = pd.factorize(hashes)
    # codes number keys in order of appearance: a key first appears where the running maximum rises
    running = np.maximum.accumulate(codes)
    first = np.flatnonzero(np.concatenate(([True], running[1:] > running[:-1])))
    shared = np.flatnonzero(np.bincount(codes)[codes] > 1)
    if bool((flat[shared] == flat[first[codes[shared]]]).all()):
        return codes, flat[first]
    codes, uniques = pd.factorize(flat)
    return codes, np.asarray(uniques, dtype=object)


def candidate_pairs(keys: Sequence[Sequence[str]], max_block: int = MAX_BLOCK_SIZE) -> tuple[np.ndarray, np.ndarray, BlockStats]:
    """Distinct (earlier, later) record-index pairs sharing a usable blocking key, set-wise.

    ``keys[i]`` are record i's blocking keys; records are in file (= resolve) order.
    """
    stats = BlockStats()
    lens = np.fromiter((len(k) for k in keys), dtype=np.int64, count=len(keys))
    if lens.sum() == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64), stats
    n = len(keys)
    rec = np.repeat(np.arange(n, dtype=np.int64), lens)
    codes, uniques = key_codes(np.fromiter((k for ks in keys for k in ks), dtype=object, count=int(lens.sum())))
    sizes = np.bincount(codes)
    stats.keys = len(uniques)
    big = np.flatnonzero(sizes > max_block + 1)
    stats.oversized = {str(uniques[i]): int(sizes[i]) for i in big}
    top = np.argsort(sizes)[::-1][:5]
    stats.largest_blocks = [(str(uniques[i]), int(sizes[i])) for i in top]
    # entries grouped by key, file order inside a key (rec is ascending and the sort is stable);
    # pos: the entry's position in its key's group
    order = np.argsort(codes, kind="stable")
    key_of, rec_of = codes[order], rec[order]
    starts = np.cumsum(sizes) - sizes
    pos = np.arange(len(order), dtype=np.int64) - starts[key_of]
    over = np.zeros(len(order), dtype=bool)
    over[order] = pos > max_block  # back in file order, as the real-time path meets them
    for r, k in zip(rec[over].tolist(), codes[over].tolist(), strict=True):
        stats.skipped.setdefault(r, []).append(str(uniques[k]))
    # each usable entry pairs with every earlier entry of its group: p pairs for position p, made
    # with repeat/arange instead of a self-join of the key table (which built both orders)
    later = np.flatnonzero(pos <= max_block)
    count = pos[later]
    total = int(count.sum())
    back = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(count) - count, count)
    earlier = rec_of[np.repeat(starts[key_of[later]], count) + back]
    pairs = np.sort(earlier * n + np.repeat(rec_of[later], count))
    if len(pairs):  # distinct pairs; np.unique hashes first and was 23 s at 1,000,000 records
        pairs = pairs[np.concatenate(([True], pairs[1:] != pairs[:-1]))]
    left, right = np.divmod(pairs, n)
    stats.pairs = len(pairs)
    return left, right, stats


@contextmanager
def scored_chunks(engine: MatchEngine, columns: RecordColumns | None, left: np.ndarray, right: np.ndarray,
                  workers: int = 1) -> Iterator[Iterator[np.ndarray]]:
    """Weights of the pairs of record indices (``MatchEngine.score_indexed``), as an iterator of
    consecutive chunks scored on a process pool. ``columns`` may be None only when there are no pairs.

    ``left`` is the *incoming* (later) record of ``decide``'s ``score(prepared, member)``: term
    frequency adjustments use the incoming record's value, so the order matters. Every chunk is
    handed to the pool at once: the pool scores ahead while the caller consumes (the replay), and
    the caller blocks only on a chunk not scored yet. A pending result is one chunk of floats
    (0.8 MB), so even all of them at 1,000,000 records (131 chunks) stay small.
    """
    bounds = [(lo, min(lo + SCORE_CHUNK, len(left))) for lo in range(0, len(left), SCORE_CHUNK)]
    with forked_pool(workers if len(bounds) > 1 else 1, tasks_per_child=TASKS_PER_CHILD,
                     engine=engine, columns=columns, left=left, right=right) as pool_map:
        yield pool_map(_score_chunk, bounds, window=len(bounds))


def _score_chunk(bounds: tuple[int, int]) -> np.ndarray:
    """Pool task: one chunk of pairs (the record columns and pair arrays are inherited at fork)."""
    shared = state()
    lo, hi = bounds
    return shared["engine"].score_indexed(shared["columns"], shared["left"][lo:hi], shared["right"][lo:hi])


@dataclass
class RecordDecision:
    """The replayed decision of one record (what resolve_one would have stored)."""

    action: str  # link | review | new | deleted
    cluster: int | None
    probability: float | None
    best_member: int | None = None
    review_cluster: int | None = None
    ranked: list[tuple[int, float]] = field(default_factory=list)
    members_compared: int = 0
    warnings: list[str] = field(default_factory=list)


@dataclass
class Clustering:
    """Clusters (lists of record indices in id order, by cluster id) and per-record decisions."""

    decisions: list[RecordDecision]
    clusters: dict[int, list[int]]
    in_review: set[int]
    merged_away: dict[int, int]
    stats: BlockStats
    on_demand_scores: int = 0
    #: seconds per part: candidate pairs, record columns, scoring and replay (overlapped), the
    #: replay's waits for weights
    timings: dict[str, float] = field(default_factory=dict)


class _StreamedWeights:
    """The pair weights, in pair order, filled chunk by chunk as the scoring pool returns them."""

    def __init__(self, size: int, chunks: Iterator[np.ndarray]) -> None:
        self.values = np.empty(size, dtype=float)
        self.ready = 0
        self.waited = 0.0  # seconds the replay spent waiting for a chunk
        self._chunks = chunks

    def upto(self, hi: int) -> None:
        """Make sure the weights of pairs ``[0, hi)`` are in ``values``."""
        while self.ready < hi:
            mark = time.perf_counter()
            chunk = next(self._chunks)
            self.waited += time.perf_counter() - mark
            self.values[self.ready:self.ready + len(chunk)] = chunk
            self.ready += len(chunk)


class _PairWeights:
    """The vectorized pair weights grouped by their later record (CSR arrays), plus on-demand
    scalar scores cached.

    Why not one dict keyed by pair: at 1,000,000 records there are 13,000,000 pairs; a dict of
    them (and a dict of each record's earlier partners) held gigabytes of Python objects and was
    built one pair at a time. Here each record's earlier partners and their weights are one slice
    of two arrays, read once when the replay reaches the record. The pairs are scored in that
    order, so the replay of record i needs only the chunks up to its last pair: it runs while
    the pool still scores the later ones.
    """

    def __init__(self, engine: MatchEngine, prepared: Sequence[PreparedRecord], incoming: np.ndarray,
                 partners: np.ndarray, weights: _StreamedWeights) -> None:
        """``incoming`` (ascending) and ``partners``: the pairs, ordered by later record, then earlier."""
        self.engine, self.prepared = engine, prepared
        n = len(prepared)
        self.partners = partners
        self.weights = weights
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(incoming, minlength=n), out=offsets[1:])
        self.offsets: list[int] = offsets.tolist()
        self.extra: dict[tuple[int, int], float] = {}
        self._scoring: tuple[int, Callable[[Mapping[str, Any]], float]] | None = None

    def earlier(self, i: int) -> dict[int, float]:
        """Record i's earlier partners (sharing a usable key) with the weight of (i, partner)."""
        lo, hi = self.offsets[i], self.offsets[i + 1]
        self.weights.upto(hi)
        return dict(zip(self.partners[lo:hi].tolist(), self.weights.values[lo:hi].tolist(), strict=True))

    def __call__(self, incoming: int, member: int) -> float:
        """Weight of ``score(prepared[incoming], prepared[member])`` (incoming is the later record)."""
        lo, hi = self.offsets[incoming], self.offsets[incoming + 1]
        at = lo + int(np.searchsorted(self.partners[lo:hi], member))
        if at < hi and self.partners[at] == member:
            self.weights.upto(hi)
            return float(self.weights.values[at])
        return self.scored(incoming, member)

    def scored(self, incoming: int, member: int) -> float:
        """A pair that shares no key, scored on demand (once), with the kernel's scorer for the
        incoming record: the replay asks for several members of one record in a row, and the
        scorer skips the comparisons that record alone makes null (bit-for-bit ``weight``)."""
        w = self.extra.get((incoming, member))
        if w is None:
            if self._scoring is None or self._scoring[0] != incoming:
                self._scoring = (incoming, self.engine.kernel.scorer(self.prepared[incoming].values))
            w = self.extra[(incoming, member)] = self._scoring[1](self.prepared[member].values)
        return w


def cluster_records(
    engine: MatchEngine,
    prepared: Sequence[PreparedRecord],
    keys: Sequence[Sequence[str]],
    deleted: Sequence[bool] | None = None,
    workers: int = 1,
) -> Clustering:
    """Replay the real-time decisions in file order over vectorized pair weights.

    The replay runs while the pool scores: pairs are scored in the order the replay reads them
    (by later record), so at 1,000,000 records the serial replay no longer waits for all 13
    million pairs first. ``timings``: ``pairs``, ``columns`` (the record columns), ``score_replay``
    (the two overlapped) and ``score_wait`` (the part of it the replay spent waiting for weights).
    """
    n = len(prepared)
    deleted = deleted or [False] * n
    live_keys = [[] if deleted[i] else list(keys[i]) for i in range(n)]
    timings: dict[str, float] = {}
    mark = time.perf_counter()
    left, right, stats = candidate_pairs(live_keys, min(MAX_BLOCK_SIZE, engine.max_block_size))
    order = np.argsort(right, kind="stable")  # pairs come sorted by (left, right): partners stay ascending
    incoming, partners = right[order], left[order]
    del left, right, order
    timings["pairs"] = time.perf_counter() - mark
    mark = time.perf_counter()
    columns = engine.record_columns(prepared) if len(incoming) else None
    timings["columns"] = time.perf_counter() - mark
    mark = time.perf_counter()
    with scored_chunks(engine, columns, incoming, partners, workers) as chunks:
        streamed = _StreamedWeights(len(incoming), chunks)
        weight = _PairWeights(engine, prepared, incoming, partners, streamed)
        del incoming
        decisions, clusters, in_review, merged_away = _replay(engine, prepared, deleted, weight)
    timings["score_replay"] = time.perf_counter() - mark
    timings["score_wait"] = streamed.waited
    return Clustering(decisions, clusters, in_review, merged_away, stats, len(weight.extra), timings)


_weight_of = itemgetter(1)


def _replay(engine: MatchEngine, prepared: Sequence[PreparedRecord], deleted: Sequence[bool],
            weight: _PairWeights) -> tuple[list[RecordDecision], dict[int, list[int]], set[int], dict[int, int]]:
    """``decide``'s rule for every record in file order: decisions, clusters, clusters in review, merges."""
    n = len(prepared)
    upper, lower = engine.model.thresholds["upper"], engine.model.thresholds["lower"]
    upper_w = weight_from_probability(upper)
    cap = engine.model.max_members_compared
    cluster_of: list[int | None] = [None] * n
    clusters: dict[int, list[int]] = {}
    in_review: set[int] = set()
    merged_away: dict[int, int] = {}
    decisions: list[RecordDecision] = []
    distinct_key: dict[int, str] = {}

    def dkey(i: int) -> str:
        k = distinct_key.get(i)
        if k is None:
            k = distinct_key[i] = member_identity(prepared[i])
        return k

    def members_for(c: int) -> list[int]:
        # resolve.candidate_members: the newest MAX_MEMBERS_PER_GOLDEN members, id descending
        return clusters[c][::-1][:MAX_MEMBERS_PER_GOLDEN]

    samples: dict[int, tuple[int, list[int]]] = {}

    def sample_of(c: int) -> list[int]:
        """The members decide compares for cluster c: the newest, one per distinct identity, capped.
        Kept per cluster while its size is unchanged (clusters only grow, ids are never reused)."""
        kept = samples.get(c)
        if kept is not None and kept[0] == len(clusters[c]):
            return kept[1]
        seen: dict[str, int] = {}
        for m in members_for(c):
            seen.setdefault(dkey(m), m)
        sample = list(seen.values())[:cap]
        samples[c] = (len(clusters[c]), sample)
        return sample

    def golden_weight(i: int, c: int, known: dict[int, float]) -> tuple[float, int, int]:
        """decide's median member weight of record i against cluster c: (weight, best member, compared).
        ``known``: i's weights with its key-sharing partners; other members are scored on demand."""
        sample = sample_of(c)
        ws = [known[m] if m in known else weight.scored(i, m) for m in sample]
        if not ws:
            return -math.inf, -1, 0
        return median(ws), sample[first_max_index(ws)], len(ws)

    def pair_median(group_a: list[int], group_b: list[int]) -> float:
        ws = [weight(max(a, b), min(a, b)) for a in group_a[:20] for b in group_b[:20]]
        return median(ws) if ws else -math.inf

    def new_cluster(i: int) -> int:
        clusters[i] = [i]
        cluster_of[i] = i
        return i

    for i in range(n):
        if deleted[i]:
            decisions.append(RecordDecision("deleted", None, None))
            continue
        if not prepared[i].usable:
            decisions.append(RecordDecision("new", new_cluster(i), 0.0))
            continue
        known = weight.earlier(i)
        reached = set(map(cluster_of.__getitem__, known))  # at 1,000,000 records: ~13 partners a record
        reached.discard(None)
        ranked: list[tuple[int, float, int, int]] = []
        for c in sorted(reached):  # type: ignore[type-var]
            members = clusters[c]
            if len(members) == 1 and cap >= 1:  # most goldens: one member, nothing to tell apart
                best, compared = members[0], 1
                w = known[best] if best in known else weight.scored(i, best)
            else:
                w, best, compared = golden_weight(i, c, known)
            if w != -math.inf:
                ranked.append((c, w, best, compared))
        ranked.sort(key=_weight_of, reverse=True)
        if not ranked:
            decisions.append(RecordDecision("new", new_cluster(i), 0.0))
            continue
        top, top_w, best_member, compared = ranked[0]
        p = probability_from_weight(top_w)
        summary = [(c, probability_from_weight(w)) for c, w, _, _ in ranked[:EXPLAINED_CANDIDATES]]
        if p >= upper:
            target = top
            merged_members = [i, *members_for(top)]
            mergeable: list[int] = []
            for c, w, _, _ in ranked[1:]:
                if w < upper_w:
                    break
                other = members_for(c)
                if pair_median(other, merged_members) >= upper_w:
                    mergeable.append(c)
                    merged_members.extend(other)
            warnings = []
            if mergeable:
                warnings.append(f"record bridges {len(mergeable)} golden record(s) into its target")
            clusters[target].append(i)
            cluster_of[i] = target
            # bridging.merge_bridged: never merge into or out of a golden in review; the
            # survivor is the oldest golden (lifecycle.merge), here the lowest cluster id
            accepted = [c for c in mergeable if c not in in_review] if target not in in_review else []
            if accepted:
                survivor = min([target, *accepted])
                for c in [target, *accepted]:
                    if c == survivor:
                        continue
                    for m in clusters.pop(c):
                        cluster_of[m] = survivor
                        clusters[survivor].append(m)
                    merged_away[c] = survivor
                clusters[survivor].sort()
                target = survivor
            decisions.append(RecordDecision("link", target, p, best_member, None, summary, compared, warnings))
        elif p >= lower:
            c_new = new_cluster(i)
            in_review.add(c_new)
            in_review.add(top)  # an open review item proposes it: bridging leaves it alone
            decisions.append(RecordDecision("review", c_new, p, best_member, top, summary, compared))
        else:
            decisions.append(RecordDecision("new", new_cluster(i), p, best_member, None, summary, compared))
    return decisions, clusters, in_review, merged_away


def resolved_cluster(clustering: Clustering, c: int | None) -> int | None:
    """Follow merges: the cluster a (possibly merged-away) cluster id ended in."""
    while c is not None and c in clustering.merged_away:
        c = clustering.merged_away[c]
    return c


def explain(engine: MatchEngine, decision: RecordDecision, golden_ids: dict[int, str], prepared: Sequence[PreparedRecord],
            i: int, with_comparisons: bool) -> dict[str, Any]:
    """The record's frozen explanation, shaped like the real-time one (comparisons on demand)."""
    doc: dict[str, Any] = {
        "model_version": engine.model.version,
        "thresholds": dict(engine.model.thresholds),
        "aggregate": "median_member_weight",
        "probability": decision.probability,
        "members_compared": decision.members_compared,
        "action": decision.action,
        "bulk": True,
        "candidates": [{"golden_id": golden_ids.get(c), "probability": p} for c, p in decision.ranked],
    }
    if with_comparisons and decision.best_member is not None:
        score = engine.score(prepared[i], prepared[decision.best_member])
        doc["comparisons"] = [c.to_json() for c in score.comparisons]
        doc["guards"] = score.guards
    return doc
