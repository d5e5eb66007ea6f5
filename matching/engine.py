"""MatchEngine: prepare → blocking keys → score → decide (the public entry point)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .blocking import BlockReport, blocking_keys, cap_blocks
from .columns import RecordColumns
from .defaults import default_model
from .kernel import PairKernel, weight_from_probability
from .model import MatchModel
from .prepare import NO_USABLE_FIELD, PREPARERS
from .types import Candidate, Decision, FieldComparison, PairScore, PreparedRecord

AGGREGATE = "median_member_weight"


def median(values: list[float]) -> float:
    """``float(np.median(values))`` for the short lists of member weights, without numpy's
    per-call overhead (~15 µs: 1.3 ms of a real-time resolve at 700,000 goldens). Same
    arithmetic: the middle value, or the two middle values' mean computed as (a + b) / 2."""
    ordered = sorted(values)
    mid = len(ordered) // 2
    return float(ordered[mid]) if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def first_max_index(values: list[float]) -> int:
    """Index of the first maximum, as ``np.argmax`` picks it (the best member of a golden)."""
    return max(range(len(values)), key=values.__getitem__)


def member_identity(member: PreparedRecord) -> str:
    """Members with equal prepared values are compared once: this is what "equal" means."""
    return repr(sorted(member.values.items(), key=lambda kv: kv[0]))


def records_frame(records: Iterable[PreparedRecord]) -> pd.DataFrame:
    """Prepared records as a DataFrame of their values (one row per record), for bulk scoring."""
    return pd.DataFrame([r.values for r in records])


def probability_from_weight(weight: float) -> float:
    """2^w / (1 + 2^w), safely."""
    if weight > 60:
        return 1.0
    if weight < -60:
        return 0.0
    odds = 2.0**weight
    return odds / (1.0 + odds)


#: Candidates whose full explanation :meth:`MatchEngine.decide` builds (resolve stores 5, the probe
#: API shows up to 50 and asks for as many as it shows)
EXPLAINED_CANDIDATES = 5


@dataclass(frozen=True)
class _Compiled:
    """What the engine derives from its model object once: the pair kernel, and each
    comparison's name with the function giving the value(s) an explanation shows."""

    model: MatchModel
    kernel: PairKernel
    shown: tuple[tuple[str, Callable[[Mapping[str, Any]], Any]], ...]


@dataclass
class _GoldenWeights:
    """A record scored against one golden's members: the aggregate and what it came from."""

    weight: float
    weights: list[float]
    sample: list[PreparedRecord]


class MatchEngine:
    """Entity-resolution engine for one domain ("customer" or "product").

    Pure: plain data in, plain data out; holds only the model.
    """

    def __init__(self, domain: str, model: MatchModel | None = None) -> None:
        if domain not in PREPARERS:
            raise ValueError(f"unknown matching domain {domain!r} (expected 'customer' or 'product')")
        self.domain = domain
        self.model = model or default_model(domain)
        if self.model.domain != domain:
            raise ValueError(f"model is for domain {self.model.domain!r}, not {domain!r}")
        self._compiled: _Compiled | None = None

    # -- preparation and blocking -------------------------------------------
    @property
    def max_block_size(self) -> int:
        """Blocks larger than this should not be compared (see `cap_blocks`)."""
        return self.model.max_block_size

    def prepare(self, fields: Mapping[str, Any]) -> PreparedRecord:
        """Normalize canonical fields; invalid values are flagged, never raised."""
        try:
            return PREPARERS[self.domain](fields)
        except Exception as exc:  # noqa: BLE001 — last line of defence: a bad record must not crash a job
            return PreparedRecord(self.domain, {}, {"fields": f"could not normalize: {type(exc).__name__}"},
                                  [NO_USABLE_FIELD])

    def blocking_keys(self, prepared: PreparedRecord) -> list[str]:
        """Index keys under which this record is stored and its candidates are looked up."""
        return blocking_keys(prepared)

    def cap_blocks(self, blocks: Mapping[str, Iterable[Any]]) -> BlockReport:
        """Apply `max_block_size` to {key: candidate ids} looked up from the index."""
        return cap_blocks(blocks, self.max_block_size)

    # -- scoring --------------------------------------------------------------
    def _compiled_model(self) -> _Compiled:
        """The model compiled for scoring and explaining pairs (built on first use, per model object)."""
        compiled = self._compiled
        if compiled is None or compiled.model is not self.model:
            compiled = self._compiled = _Compiled(
                self.model, PairKernel(self.model),
                tuple((comp.name, comp.compile_shown()) for comp in self.model.comparisons))
        return compiled

    @property
    def kernel(self) -> PairKernel:
        """The model compiled for scoring one pair at a time."""
        return self._compiled_model().kernel

    def weight(self, a: PreparedRecord, b: PreparedRecord) -> float:
        """``score(a, b).weight`` without building the explanation (the values each comparison
        shows): deciding needs only the weights of all members and the explanation of the best."""
        return self.kernel.weight(a.values, b.values)

    def score(self, a: PreparedRecord, b: PreparedRecord) -> PairScore:
        """Fellegi–Sunter score of a pair with its comparison vector."""
        va, vb = a.values, b.values
        compiled = self._compiled_model()
        kernel = compiled.kernel
        detail = kernel.detail(va, vb)
        rows = [
            FieldComparison(name, kernel.label(ci, li), w, shown(va), shown(vb))
            for ci, ((name, shown), li, w) in enumerate(zip(compiled.shown, detail.levels, detail.weights, strict=True))
        ]
        return PairScore(detail.weight, probability_from_weight(detail.weight), rows, self.model.version,
                         detail.guards)

    def record_columns(self, records: Iterable[PreparedRecord]) -> RecordColumns:
        """Prepared records as record-level columns for :meth:`score_indexed`, with the model's
        columns computed now (a forked scoring pool then inherits them instead of recomputing)."""
        store = RecordColumns.from_values(r.values for r in records).warm(self._model_columns())
        for comp in self.model.comparisons:
            for level in comp.levels:
                level.warm(store)
        return store

    def _model_columns(self) -> list[str]:
        return sorted({c for comp in self.model.comparisons for c in comp.columns()})

    @staticmethod
    def _paired(left: pd.DataFrame, right: pd.DataFrame) -> tuple[RecordColumns, np.ndarray, np.ndarray]:
        """Two aligned frames as one store of 2n records: pair i is (i, n + i)."""
        n = len(left)
        if len(right) != n:
            raise ValueError("left and right must have the same number of rows")
        store = RecordColumns(pd.concat([left, right], ignore_index=True))
        return store, np.arange(n, dtype=np.int64), np.arange(n, 2 * n, dtype=np.int64)

    def level_matrix(self, left: pd.DataFrame, right: pd.DataFrame) -> np.ndarray:
        """Level index of every comparison for aligned pairs: shape (pairs, comparisons)."""
        return self.levels_indexed(*self._paired(left, right))

    def levels_indexed(self, store: RecordColumns, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        """Level index of every comparison for the pairs (``store`` record ``left[i]``, record
        ``right[i]``): shape (pairs, comparisons)."""
        n = len(left)
        if len(right) != n:
            raise ValueError("left and right must have the same number of pairs")
        if not self.model.comparisons:
            return np.zeros((n, 0), dtype=np.int16)
        la, ra = store.side(left), store.side(right)
        return np.column_stack([comp.level_indices(la, ra, n) for comp in self.model.comparisons])

    def _label_mask(self, name: str, levels: Mapping[str, np.ndarray], labels: list[str], n: int) -> np.ndarray:
        try:
            comp = self.model.comparison(name)
        except KeyError:
            return np.zeros(n, dtype=bool)
        wanted = [i for i, lv in enumerate(comp.levels) if lv.label in labels]
        return np.isin(levels[name], wanted)

    def score_frame(self, left: pd.DataFrame, right: pd.DataFrame) -> pd.DataFrame:
        """Score aligned pairs (row i of `left` with row i of `right`) column-wise.

        `left`/`right` hold prepared values (`records_frame(prepared_records)`).
        Returns one column of level indices per comparison, "weight" and
        "probability" — the same numbers `score` gives pair by pair, without a
        Python loop per pair for the common levels.
        """
        result = self._score_indexed(*self._paired(left, right))
        return pd.DataFrame(result, index=left.index)

    def score_indexed(self, store: RecordColumns, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        """Weights of the pairs (``store`` record ``left[i]`` as the incoming record, ``right[i]``
        as the member): what :meth:`weight` gives pair by pair, column-wise over record indices."""
        return self._score_indexed(store, left, right)["weight"]

    def _score_indexed(self, store: RecordColumns, left: np.ndarray, right: np.ndarray) -> dict[str, Any]:
        n = len(left)
        levels = self.levels_indexed(store, left, right)
        result: dict[str, Any] = {}
        total = np.full(n, self.model.prior_weight, dtype=float)
        for ci, comp in enumerate(self.model.comparisons):
            idx = levels[:, ci]
            result[comp.name] = idx
            weights = np.array([0.0 if lv.is_null else lv.log2_bayes_factor() for lv in comp.levels])
            w = weights[idx]
            for li, lv in enumerate(comp.levels):
                if lv.tf_column and lv.u:
                    hit = np.flatnonzero(idx == li)
                    if hit.size:
                        w[hit] += self._tf_adjustments(store, left[hit], lv.tf_column, lv.u)
            total += w
        for guard in self.model.guards:
            hit = np.ones(n, dtype=bool)
            for name, labels in guard.when.items():
                hit &= self._label_mask(name, result, labels, n)
            for name, labels in guard.unless.items():
                hit &= ~self._label_mask(name, result, labels, n)
            total = np.where(hit, np.minimum(total, weight_from_probability(guard.max_probability)), total)
        result["weight"] = total
        result["probability"] = 1.0 / (1.0 + np.exp2(-np.clip(total, -60, 60)))
        return result

    def _tf_adjustments(self, store: RecordColumns, records: np.ndarray, column: str, u: float) -> np.ndarray:
        """Term-frequency adjustment of a level for the incoming records' values, looked up once
        per distinct value (a level's pairs share few values: one surname, many pairs)."""
        codes = store.codes(column)
        if codes is None:
            values, inverse = store.values(column)[records].tolist(), None
        else:
            distinct, inverse = np.unique(codes[records], return_inverse=True)
            values = store.decode(distinct)
        freqs = [self.model.tf_frequency(column, x) for x in values]
        adjust = np.array([0.0 if f is None else math.log2(u / max(f, 1e-12)) for f in freqs])
        return adjust if inverse is None else adjust[inverse]

    # -- deciding -------------------------------------------------------------
    def _thresholds(self) -> dict[str, float]:
        return dict(self.model.thresholds)

    def score_golden(self, prepared: PreparedRecord, members: list[PreparedRecord]) -> tuple[float, dict[str, Any]]:
        """Aggregate score of a record against a golden's members.

        The golden's weight is the mean of the member weights, so a record must
        resemble the cluster as a whole: with A≈B and B≈C but C far from A,
        C against {A, B} averages a strong and a strongly negative weight and
        does not reach the link threshold (a chain of pairwise links would).
        Identical members are scored once; at most `max_members_compared`
        distinct members are compared.
        """
        scored = self._golden_weights(prepared, members, self.kernel.scorer(prepared.values))
        if scored is None:
            return -math.inf, {}
        return scored.weight, self._golden_explanation(prepared, scored)

    def _golden_weights(self, prepared: PreparedRecord, members: list[PreparedRecord],
                        weight: Callable[[Mapping[str, Any]], float]) -> _GoldenWeights | None:
        """The member weights behind :meth:`score_golden` (no explanation: the costly part)."""
        if len(members) > 1:
            distinct: dict[str, PreparedRecord] = {}
            for m in members:
                distinct.setdefault(member_identity(m), m)
            sample = list(distinct.values())[: self.model.max_members_compared]
        else:  # nothing to tell apart (most goldens have one member): no identity to build
            sample = members[: self.model.max_members_compared]
        weights = [weight(m.values) for m in sample]
        if not weights:
            return None
        return _GoldenWeights(median(weights), weights, sample)

    def _golden_summary(self, scored: _GoldenWeights) -> dict[str, Any]:
        return {
            "model_version": self.model.version,
            "aggregate": AGGREGATE,
            "weight": round(scored.weight, 4),
            "probability": probability_from_weight(scored.weight),
            "members_compared": len(scored.weights),
            "member_weights": [round(w, 4) for w in scored.weights],
            "best_member": first_max_index(scored.weights),
        }

    def _golden_explanation(self, prepared: PreparedRecord, scored: _GoldenWeights) -> dict[str, Any]:
        summary = self._golden_summary(scored)
        best_score = self.score(prepared, scored.sample[summary["best_member"]])
        return {**summary, "guards": best_score.guards, "comparisons": [c.to_json() for c in best_score.comparisons]}

    def decide(
        self,
        prepared: PreparedRecord,
        candidates: Mapping[Any, list[PreparedRecord]],
        excluded: frozenset[Any] | set[Any] = frozenset(),
        explain: int = EXPLAINED_CANDIDATES,
    ) -> Decision:
        """link / review / new for an incoming record against candidate golden records.

        Every candidate is ranked by weight; only the best ``explain`` get the full explanation
        (the compared fields of their best member), the others a summary without comparisons:
        building explanations cost more than the weights when a record has dozens of candidates,
        and only the best few are stored or shown.
        """
        thresholds = self._thresholds()
        warnings = list(prepared.warnings)
        base = {"model_version": self.model.version, "thresholds": thresholds}
        if not prepared.usable:
            return Decision("new", None, 0.0, {**base, "reason": NO_USABLE_FIELD}, [], warnings)
        ranked: list[Candidate] = []
        scored: dict[Any, _GoldenWeights] = {}
        skipped = 0
        weight = self.kernel.scorer(prepared.values)
        for golden_id, members in candidates.items():
            if golden_id in excluded:
                skipped += 1
                continue
            try:
                found = self._golden_weights(prepared, list(members or []), weight)
            except Exception as exc:  # noqa: BLE001 — one bad member must not fail the decision
                warnings.append(f"could not score golden {golden_id!r}: {type(exc).__name__}")
                continue
            if found is None or found.weight == -math.inf:
                continue
            scored[golden_id] = found
            ranked.append(Candidate(golden_id, probability_from_weight(found.weight), found.weight, {}))
        ranked.sort(key=lambda c: c.weight, reverse=True)
        ranked = self._explain(prepared, ranked, scored, explain, warnings)
        if skipped:
            warnings.append(f"{skipped} candidate golden record(s) excluded by steward decisions")
        if not ranked:
            return Decision("new", None, 0.0, {**base, "reason": "no candidates"}, [], warnings)
        best = ranked[0]
        if best.probability >= thresholds["upper"]:
            action = "link"
        elif best.probability >= thresholds["lower"]:
            action = "review"
        else:
            action = "new"
        merge_with: list[Any] = []
        if action == "link":
            merge_with = self._merge_candidates(prepared, candidates, ranked)
            if merge_with:
                explanation_merge = [c.golden_id for c in ranked if c.golden_id in merge_with]
                warnings.append(f"record bridges golden records {explanation_merge!r} into {best.golden_id!r}")
        elif len(ranked) > 1 and ranked[1].probability >= thresholds["upper"]:
            warnings.append(f"several golden records above the link threshold: {ranked[0].golden_id!r}, "
                            f"{ranked[1].golden_id!r} (possible duplicate goldens)")
        explanation = {**base, **best.explanation, "action": action}
        if merge_with:
            explanation["merge_with"] = merge_with
        if action == "new":
            return Decision("new", None, best.probability, explanation, ranked, warnings)
        return Decision(action, best.golden_id, best.probability, explanation, ranked, warnings, merge_with)

    def _explain(self, prepared: PreparedRecord, ranked: list[Candidate], scored: dict[Any, _GoldenWeights],
                 explain: int, warnings: list[str]) -> list[Candidate]:
        """Fill in the explanations, in rank order (a candidate whose explanation fails is
        dropped with a warning, as a failed score always was, and the next one moves up)."""
        kept: list[Candidate] = []
        for candidate in ranked:
            found = scored[candidate.golden_id]
            if len(kept) < explain:
                try:
                    candidate.explanation = {**self._golden_explanation(prepared, found), "golden_id": candidate.golden_id}
                except Exception as exc:  # noqa: BLE001 — as in scoring: one bad member must not fail the decision
                    warnings.append(f"could not score golden {candidate.golden_id!r}: {type(exc).__name__}")
                    continue
            else:
                candidate.explanation = {**self._golden_summary(found), "golden_id": candidate.golden_id}
            kept.append(candidate)
        return kept

    def cluster_weight(self, left: list[PreparedRecord], right: list[PreparedRecord], cap: int = 20) -> float:
        """Mean pair weight between two clusters (at most `cap` members of each are compared).

        The same "resemble the cluster as a whole" rule as `score_golden`, applied
        to merging two golden records.
        """
        weight = self.kernel.weight
        weights = [weight(a.values, b.values) for a in left[:cap] for b in right[:cap]]
        return median(weights) if weights else -math.inf

    def _merge_candidates(
        self, prepared: PreparedRecord, candidates: Mapping[Any, list[PreparedRecord]], ranked: list[Candidate]
    ) -> list[Any]:
        """Goldens that also link to the record and form one cluster with the best golden plus the record."""
        upper_w = weight_from_probability(self.model.thresholds["upper"])
        best = ranked[0]
        merged = [prepared, *list(candidates[best.golden_id])]
        out = []
        for c in ranked[1:]:
            if c.weight < upper_w:
                break
            other = list(candidates[c.golden_id])
            if self.cluster_weight(other, merged) >= upper_w:
                out.append(c.golden_id)
                merged.extend(other)
        return out
