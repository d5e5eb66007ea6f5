"""Set-wise candidate pairs, vectorized scoring and one clustering pass (no database here).

Why a *sequential* pass over precomputed weights rather than union-find: the real-time path
decides each record against the goldens that exist when it arrives (``MatchEngine.decide``:
median member weight per candidate golden, link at the upper threshold, review band, bridging
merges). Union-find over pairs above the threshold would chain A≈B≈C into one cluster even when
A and C are far apart, which ``decide`` deliberately refuses. So the expensive parts — blocking,
pair generation and pair scoring — are done column-wise over the whole file, and the cheap
part — replaying ``decide``'s rule in file order over a dict of pair weights — is a Python loop
of dictionary look-ups. Member pairs that share no blocking key (``decide`` compares a record
with *every* member of a candidate golden) are scored on demand with ``MatchEngine.score`` and
cached; they are few.

Oversized blocks are emulated exactly: on the real-time path a record skips a key when more than
``MAX_BLOCK_SIZE`` stored records already carry it, so in file order only the first
``MAX_BLOCK_SIZE + 1`` records of a key's group use it. Pairs are generated inside that prefix.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from matching import MatchEngine, PreparedRecord
from matching.engine import (
    EXPLAINED_CANDIDATES,
    first_max_index,
    median,
    member_identity,
    probability_from_weight,
    records_frame,
    weight_from_probability,
)
from mdm.bulk.parallel import forked_pool, state

#: The real-time path's limits (mdm.services.resolve); kept equal on purpose.
MAX_BLOCK_SIZE = 200
MAX_MEMBERS_PER_GOLDEN = 50
#: Pairs scored per ``score_frame`` call: bounds the memory of the two aligned frames.
SCORE_CHUNK = 100_000
#: Scoring tasks per pool process before it is replaced by a fresh fork (see forked_pool).
TASKS_PER_CHILD = 10


@dataclass
class BlockStats:
    """What blocking did: how many keys, how many oversized (and the largest), how many pairs."""

    keys: int = 0
    oversized: dict[str, int] = field(default_factory=dict)
    #: record index -> keys it skipped (more than MAX_BLOCK_SIZE earlier records carried them)
    skipped: dict[int, list[str]] = field(default_factory=dict)
    largest_blocks: list[tuple[str, int]] = field(default_factory=list)
    pairs: int = 0


def candidate_pairs(keys: Sequence[Sequence[str]], max_block: int = MAX_BLOCK_SIZE) -> tuple[np.ndarray, np.ndarray, BlockStats]:
    """Distinct (earlier, later) record-index pairs sharing a usable blocking key, set-wise.

    ``keys[i]`` are record i's blocking keys; records are in file (= resolve) order.
    """
    stats = BlockStats()
    lens = np.fromiter((len(k) for k in keys), dtype=np.int64, count=len(keys))
    if lens.sum() == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64), stats
    rec = np.repeat(np.arange(len(keys), dtype=np.int64), lens)
    flat = pd.DataFrame({"key": [k for ks in keys for k in ks], "rec": rec})
    codes, uniques = pd.factorize(flat["key"])
    flat["k"] = codes
    sizes = np.bincount(codes)
    stats.keys = len(uniques)
    big = np.flatnonzero(sizes > max_block + 1)
    stats.oversized = {str(uniques[i]): int(sizes[i]) for i in big}
    top = np.argsort(sizes)[::-1][:5]
    stats.largest_blocks = [(str(uniques[i]), int(sizes[i])) for i in top]
    flat = flat[sizes[codes] > 1]
    # position of each record inside its key's group, in file order (rec is already ascending)
    flat = flat.assign(pos=flat.groupby("k", sort=False).cumcount())
    over = flat[flat["pos"] > max_block]
    for r, k in zip(over["rec"].tolist(), over["key"].tolist(), strict=True):
        stats.skipped.setdefault(r, []).append(k)
    flat = flat[flat["pos"] <= max_block]
    merged = flat.merge(flat, on="k", suffixes=("_l", "_r"))
    merged = merged[merged["pos_l"] < merged["pos_r"]]
    pairs = np.unique(merged["rec_l"].to_numpy() * len(keys) + merged["rec_r"].to_numpy())
    left, right = np.divmod(pairs, len(keys))
    stats.pairs = len(pairs)
    return left, right, stats


def score_pairs(engine: MatchEngine, frame: pd.DataFrame, left: np.ndarray, right: np.ndarray, workers: int = 1) -> np.ndarray:
    """Weights of aligned pairs with ``MatchEngine.score_frame``, in bounded chunks on a process pool.

    ``left`` is the *incoming* (later) record of ``decide``'s ``score(prepared, member)``: term
    frequency adjustments use the incoming record's value, so the order matters.
    """
    out = np.empty(len(left), dtype=float)
    bounds = [(lo, min(lo + SCORE_CHUNK, len(left))) for lo in range(0, len(left), SCORE_CHUNK)]
    with forked_pool(workers if len(bounds) > 1 else 1, tasks_per_child=TASKS_PER_CHILD,
                     engine=engine, frame=frame, left=left, right=right) as pool_map:
        for (lo, hi), weights in zip(bounds, pool_map(_score_chunk, bounds), strict=True):
            out[lo:hi] = weights
    return out


def _score_chunk(bounds: tuple[int, int]) -> np.ndarray:
    """Pool task: one chunk of pairs (the frame and pair arrays are inherited at fork)."""
    shared = state()
    lo, hi = bounds
    frame = shared["frame"]
    a = frame.iloc[shared["left"][lo:hi]].reset_index(drop=True)
    b = frame.iloc[shared["right"][lo:hi]].reset_index(drop=True)
    return shared["engine"].score_frame(a, b)["weight"].to_numpy()


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


class _Weights:
    """Pair weights: the vectorized ones, plus on-demand scalar scores cached."""

    def __init__(self, engine: MatchEngine, prepared: Sequence[PreparedRecord], left: np.ndarray, right: np.ndarray,
                 weights: np.ndarray) -> None:
        self.engine, self.prepared = engine, prepared
        n = max(len(prepared), 1)
        self.n = n
        self.table: dict[int, float] = dict(zip((right * n + left).tolist(), weights.tolist(), strict=True))
        self.extra = 0

    def __call__(self, incoming: int, member: int) -> float:
        """Weight of ``score(prepared[incoming], prepared[member])`` (incoming is the later record)."""
        key = incoming * self.n + member
        w = self.table.get(key)
        if w is None:
            w = self.engine.weight(self.prepared[incoming], self.prepared[member])
            self.table[key] = w
            self.extra += 1
        return w


def cluster_records(
    engine: MatchEngine,
    prepared: Sequence[PreparedRecord],
    keys: Sequence[Sequence[str]],
    deleted: Sequence[bool] | None = None,
    workers: int = 1,
) -> Clustering:
    """Replay the real-time decisions in file order over vectorized pair weights."""
    n = len(prepared)
    deleted = deleted or [False] * n
    live_keys = [[] if deleted[i] else list(keys[i]) for i in range(n)]
    left, right, stats = candidate_pairs(live_keys, min(MAX_BLOCK_SIZE, engine.max_block_size))
    frame = records_frame(prepared) if n else pd.DataFrame()
    weights = score_pairs(engine, frame, right, left, workers) if len(left) else np.empty(0)
    weight = _Weights(engine, prepared, left, right, weights)
    earlier: dict[int, list[int]] = {}
    for lo, hi in zip(left.tolist(), right.tolist(), strict=True):
        earlier.setdefault(hi, []).append(lo)

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

    def golden_weight(i: int, c: int) -> tuple[float, int, int]:
        seen: dict[str, int] = {}
        for m in members_for(c):
            seen.setdefault(dkey(m), m)
        sample = list(seen.values())[:cap]
        ws = [weight(i, m) for m in sample]
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
        candidates = sorted({cluster_of[j] for j in earlier.get(i, ()) if cluster_of[j] is not None})  # type: ignore[type-var]
        ranked: list[tuple[int, float, int, int]] = []
        for c in candidates:
            w, best, compared = golden_weight(i, c)
            if w != -math.inf:
                ranked.append((c, w, best, compared))
        ranked.sort(key=lambda r: r[1], reverse=True)
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
    return Clustering(decisions, clusters, in_review, merged_away, stats, weight.extra)


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
