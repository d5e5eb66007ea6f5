"""Fit a model from stored records: u from random pairs, m by EM, tf tables, steward labels.

Pure: the caller (`mdm model train`) loads the records and labels and saves the
returned model JSON.  Follows Splink's recipe:

1. u: level frequencies among random pairs (almost all non-matches).  Levels
   seen fewer than `MIN_U_COUNT` times keep the base model's u — a sample of a
   few hundred thousand pairs cannot estimate a one-in-a-million agreement.
2. m and the match rate: EM (Fellegi–Sunter mixture, conditional independence)
   over the blocked candidate pairs, with u fixed as in Splink; steward
   labels enter the EM as pairs with a known class.  The base model's m acts
   as a prior of `M_PSEUDO_PAIRS` matches so rare levels keep some mass.
3. prior: expected matches among candidate pairs / all pairs.
4. tf tables: relative frequency of values more common than the exact level's
   u (only ever weakens evidence from common values).
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np

from .blocking import blocking_keys
from .defaults import default_model
from .engine import MatchEngine, records_frame
from .model import MatchModel
from .types import PreparedRecord

MIN_U_COUNT = 5
M_PSEUDO_PAIRS = 20.0
MAX_TF_VALUES = 5000
LABEL_WEIGHT = 5.0


def _bump_version(domain: str, version: str) -> str:
    m = re.search(r"(\d+)$", version or "")
    return f"{domain}-{int(m.group(1)) + 1 if m else 2}"


def _random_pairs(n: int, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    i = rng.integers(0, n, size=count)
    j = rng.integers(0, n - 1, size=count)
    j = np.where(j >= i, j + 1, j)  # i != j
    return i, j


def _candidate_pairs(records: Sequence[PreparedRecord], max_block: int, max_pairs: int,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    blocks: dict[str, list[int]] = defaultdict(list)
    for idx, r in enumerate(records):
        for k in blocking_keys(r):
            blocks[k].append(idx)
    pairs: set[tuple[int, int]] = set()
    for members in blocks.values():
        if len(members) < 2 or len(members) > max_block:
            continue
        for a_pos, a in enumerate(members):
            for b in members[a_pos + 1 :]:
                pairs.add((a, b) if a < b else (b, a))
    arr = np.array(sorted(pairs), dtype=np.int64).reshape(-1, 2)
    if len(arr) > max_pairs:
        arr = arr[rng.choice(len(arr), size=max_pairs, replace=False)]
    return arr[:, 0], arr[:, 1]


def _level_counts(levels: np.ndarray, weights: np.ndarray, n_levels: int) -> np.ndarray:
    return np.bincount(levels, weights=weights, minlength=n_levels)[:n_levels]


def _estimate_u(model: MatchModel, levels: np.ndarray) -> dict[str, int]:
    """u from random-pair level frequencies, corrected for the matches among random pairs.

    In a small base with many duplicates a random pair is a match often enough
    (FEBRL3: 1 in 2,000) to inflate the u of exact identifiers; subtracting
    prior·m removes that.  Levels seen fewer than MIN_U_COUNT times keep their u.
    """
    used = {}
    for ci, comp in enumerate(model.comparisons):
        col = levels[:, ci]
        non_null = [k for k, lv in enumerate(comp.levels) if not lv.is_null]
        total = int(np.isin(col, non_null).sum())
        used[comp.name] = total
        if total == 0:
            continue
        counts = np.bincount(col, minlength=len(comp.levels))
        floor = 1.0 / (10.0 * total)
        fixed = 0.0
        estimated: dict[int, float] = {}
        for k in non_null:
            lv = comp.levels[k]
            if counts[k] >= MIN_U_COUNT:
                f = counts[k] / total
                estimated[k] = max((f - model.prior * (lv.m or 0.0)) / (1.0 - model.prior), floor)
            else:
                fixed += lv.u or 0.0
        scale = (1.0 - fixed) / max(sum(estimated.values()), 1e-12)
        for k, u in estimated.items():
            comp.levels[k].u = max(u * scale, 1e-9)
    return used


def _em(model: MatchModel, levels: np.ndarray, fixed: np.ndarray, iterations: int = 60) -> tuple[float, int]:
    """Two-class EM over candidate pairs (m, u-among-candidates and match rate all free).

    Only m and the match rate are kept: u among *blocked* pairs is inflated by
    the blocking itself, so scoring uses u from random pairs.  Labelled pairs
    (fixed = 1 or 0) keep their class and count LABEL_WEIGHT times.
    """
    comps = model.comparisons
    n = len(levels)
    if n == 0:
        return 0.0, 0
    is_null = [np.array([lv.is_null for lv in c.levels]) for c in comps]
    prior_m = [np.array([0.0 if lv.is_null else (lv.m or 0.0) for lv in c.levels]) for c in comps]
    log_m = [np.where(is_null[ci], 0.0, np.log(np.maximum(prior_m[ci], 1e-9))) for ci in range(len(comps))]
    # Start u from the base model (random-pair u), not from level frequencies among the
    # candidates: those are mostly matches, and starting there lets the non-match class
    # swallow whole match levels (e.g. swapped names).
    log_u = [np.where(is_null[ci], 0.0, np.log(np.maximum([lv.u or 1e-9 for lv in c.levels], 1e-9)))
             for ci, c in enumerate(comps)]
    lam = 0.5
    weights = np.where(np.isnan(fixed), 1.0, LABEL_WEIGHT)
    it = 0
    for it in range(1, iterations + 1):  # noqa: B007 — `it` is reported
        ll_m = np.full(n, math.log(lam))
        ll_u = np.full(n, math.log(1 - lam))
        for ci in range(len(comps)):
            ll_m += log_m[ci][levels[:, ci]]
            ll_u += log_u[ci][levels[:, ci]]
        post = 1.0 / (1.0 + np.exp(np.clip(ll_u - ll_m, -700, 700)))
        post = np.where(np.isnan(fixed), post, fixed)
        new_lam = float(np.clip(np.average(post, weights=weights), 1e-6, 1 - 1e-6))
        for ci, comp in enumerate(comps):
            k = len(comp.levels)
            cm = _level_counts(levels[:, ci], post * weights, k)
            cu = _level_counts(levels[:, ci], (1.0 - post) * weights, k)
            cm[is_null[ci]] = 0.0
            cu[is_null[ci]] = 0.0
            m = (cm + M_PSEUDO_PAIRS * prior_m[ci]) / (cm.sum() + M_PSEUDO_PAIRS)
            u = (cu + 1.0) / (cu.sum() + k)
            log_m[ci] = np.where(is_null[ci], 0.0, np.log(np.maximum(m, 1e-9)))
            log_u[ci] = np.where(is_null[ci], 0.0, np.log(np.maximum(u, 1e-9)))
        converged = abs(new_lam - lam) < 1e-7
        lam = new_lam
        if converged:
            break
    for ci, comp in enumerate(comps):
        for k, lv in enumerate(comp.levels):
            if not lv.is_null:
                lv.m = float(math.exp(log_m[ci][k]))
    return lam, it


def _tf_tables(model: MatchModel, records: Sequence[PreparedRecord]) -> dict[str, dict[str, float]]:
    tables: dict[str, dict[str, float]] = {}
    for comp in model.comparisons:
        for lv in comp.levels:
            if not lv.tf_column or lv.tf_column in tables:
                continue
            values = [r.values.get(lv.tf_column) for r in records]
            present = [str(v) for v in values if v is not None]
            if not present:
                continue
            n = len(present)
            # with a floor (tf_min), values between the floor and u must be listed too, or they
            # would count as rare; without one, only values more common than u are kept
            u = model.tf_min.get(lv.tf_column, lv.u or 0.0)
            common = {v: c / n for v, c in Counter(present).most_common(MAX_TF_VALUES) if c >= 2 and c / n > u}
            if common:
                tables[lv.tf_column] = common
    return tables


def train(
    domain: str,
    records: list[PreparedRecord],
    labels: list[tuple[PreparedRecord, PreparedRecord, bool]] | None = None,
    base: MatchModel | None = None,
    *,
    seed: int = 0,
    u_pairs: int = 200_000,
    max_em_pairs: int = 500_000,
) -> MatchModel:
    """A new model version fitted to `records` (and steward `labels`), starting from `base`."""
    labels = list(labels or [])
    base = base or default_model(domain)
    if base.domain != domain:
        raise ValueError(f"base model is for {base.domain!r}, not {domain!r}")
    model = base.copy()
    model.tf = {}
    engine = MatchEngine(domain, model=model)
    rng = np.random.default_rng(seed)
    records = [r for r in records if r.usable]
    n = len(records)
    meta: dict[str, object] = {"trained_from": base.version, "records": n, "labels": len(labels), "seed": seed}
    frame = records_frame(records) if n else None
    ci = cj = np.zeros(0, dtype=np.int64)
    if n >= 2:
        ci, cj = _candidate_pairs(records, model.max_block_size, max_em_pairs, rng)
    parts = []
    fixed_parts = []
    if len(ci) and frame is not None:
        parts.append(engine.level_matrix(frame.iloc[ci].reset_index(drop=True),
                                         frame.iloc[cj].reset_index(drop=True)))
        fixed_parts.append(np.full(len(ci), np.nan))
    if labels:
        parts.append(engine.level_matrix(records_frame([a for a, _, _ in labels]),
                                         records_frame([b for _, b, _ in labels])))
        fixed_parts.append(np.array([1.0 if same else 0.0 for _, _, same in labels]))
    if parts:
        levels = np.vstack(parts).astype(np.int64)
        fixed = np.concatenate(fixed_parts)
        lam, iterations = _em(model, levels, fixed)
        meta.update({"em_pairs": int(len(ci)), "em_iterations": iterations, "em_match_rate": lam})
        if n >= 2 and len(ci):
            model.prior = float(min(max(lam * len(ci) / (n * (n - 1) / 2), 1e-8), 0.5))
    if n >= 2 and frame is not None:
        i, j = _random_pairs(n, min(u_pairs, n * (n - 1)), rng)
        levels = engine.level_matrix(frame.iloc[i].reset_index(drop=True), frame.iloc[j].reset_index(drop=True))
        meta["u_pairs"] = len(i)
        meta["u_non_null_pairs"] = _estimate_u(model, levels)
    model.tf = _tf_tables(model, records)
    model.version = _bump_version(domain, base.version)
    model.metadata = meta
    return model
