"""A model compiled for scoring one pair at a time (real-time decide, the bulk load's replay).

`MatchEngine.score` used to walk the model for every pair: each comparison's levels as method
calls, each level's log2 Bayes factor recomputed, guards matched on a dict of labels built per
pair. A real-time resolve into a hub of 1,000,000 goldens scores ~40 member pairs, and that walk
was most of its Python time. The kernel does the same arithmetic in the same order (weights are
bit-for-bit those of the walk; tests/unit/matching/test_kernel.py compares them) with everything
that depends only on the model worked out once:

- each level's test as a closure (`Level.compile`); a comparison's last level is never tested,
  since a pair that reaches it takes it whether or not it holds;
- each level's weight (0 for null levels), and for term-frequency levels the column and u;
- guards as sets of level indices per comparison.

A level whose test or weight raises counts as missing ("null", weight 0), as before.
The kernel belongs to one model object: a model changed in place after its engine compiled it is
not seen (nothing does that; training builds a new engine for the model it returns).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from .comparisons import NullLevel, PairTest
from .model import MatchModel

Values = Mapping[str, Any]

#: Level index reported for a comparison whose test or weight raised (label "null", weight 0).
FAILED = -1

_TF_CACHE_LIMIT = 100_000


def weight_from_probability(p: float) -> float:
    """The match weight (log2 odds) of a probability, clamped away from 0 and 1."""
    p = min(max(p, 1e-15), 1 - 1e-15)
    return math.log2(p / (1 - p))


@dataclass(frozen=True)
class _CompiledComparison:
    tests: tuple[PairTest, ...]
    """Tests of every level but the last, in order."""
    weights: tuple[float, ...]
    """log2 Bayes factor of each level (0 for null levels), before term-frequency adjustment."""
    tf: tuple[tuple[str, float] | None, ...]
    """(column, u) of levels adjusted by the term frequency of the incoming record's value."""
    labels: tuple[str, ...]
    null_side: Callable[[Values], bool] | None
    """When the first level is a null level: does one side alone make it hold?"""


@dataclass(frozen=True)
class _CompiledGuard:
    name: str
    cap: float
    when: tuple[tuple[int, frozenset[int]], ...]
    unless: tuple[tuple[int, frozenset[int]], ...]


@dataclass(frozen=True)
class PairDetail:
    """Everything `MatchEngine.score` shows for a pair."""

    weight: float
    levels: list[int]
    weights: list[float]
    guards: list[str]


class PairKernel:
    """Fellegi–Sunter weight of one pair of prepared values, with the model compiled."""

    def __init__(self, model: MatchModel) -> None:
        self.prior_weight = model.prior_weight
        self._comparisons = tuple(_compile_comparison(comp) for comp in model.comparisons)
        self._indexed = tuple(enumerate(self._comparisons))
        self._guards = tuple(g for g in (_compile_guard(model, guard) for guard in model.guards) if g is not None)
        self._tf_frequency = model.tf_frequency
        self._tf_cache: dict[tuple[str, Any], float | None] = {}

    def label(self, comparison: int, level: int) -> str:
        return "null" if level == FAILED else self._comparisons[comparison].labels[level]

    def _tf(self, column: str, value: Any) -> float | None:
        key = (column, value)
        try:
            return self._tf_cache[key]
        except KeyError:
            pass
        except TypeError:  # an unhashable value: not cached
            return self._tf_frequency(column, value)
        if len(self._tf_cache) >= _TF_CACHE_LIMIT:
            self._tf_cache.clear()
        f = self._tf_cache[key] = self._tf_frequency(column, value)
        return f

    def _level(self, comp: _CompiledComparison, a: Values, b: Values) -> tuple[int, float]:
        """(level index, weight) of one comparison; FAILED and 0.0 when it raises."""
        try:
            li = len(comp.tests)
            for i, test in enumerate(comp.tests):
                if test(a, b):
                    li = i
                    break
            w = comp.weights[li]
            tf = comp.tf[li]
            if tf is not None:
                f = self._tf(tf[0], a.get(tf[0]))
                if f is not None:
                    w += math.log2(tf[1] / max(f, 1e-12))
            return li, w
        except Exception:  # noqa: BLE001 — defensive: treat an uncomparable value as missing
            return FAILED, 0.0

    def _capped(self, weight: float, levels: list[int], applied: list[str] | None) -> float:
        for guard in self._guards:
            if weight <= guard.cap:
                continue
            if not all(levels[ci] in hit for ci, hit in guard.when):
                continue
            if any(levels[ci] in hit for ci, hit in guard.unless):
                continue
            weight = guard.cap
            if applied is not None:
                applied.append(guard.name)
        return weight

    def _weigh(self, live: tuple[tuple[int, _CompiledComparison], ...], a: Values, b: Values) -> float:
        """Sum the weights of the `live` comparisons (the others are null: weight 0, level 0)."""
        total = self.prior_weight
        levels = [0] * len(self._comparisons) if self._guards else None
        for ci, comp in live:
            li, w = self._level(comp, a, b)
            total += w
            if levels is not None:
                levels[ci] = li
        return total if levels is None else self._capped(total, levels, None)

    def weight(self, a: Values, b: Values) -> float:
        """The pair's weight after guards (nothing else is built)."""
        return self._weigh(self._indexed, a, b)

    def scorer(self, a: Values) -> Callable[[Values], float]:
        """``weight(a, ·)`` for one record against many: comparisons whose first level is a null
        level that `a` alone satisfies (a person has no organization name or tax id) are null
        for every other side and are not walked (adding their 0.0 changed no sum)."""
        live = tuple((ci, comp) for ci, comp in self._indexed if not (comp.null_side is not None and comp.null_side(a)))
        return partial(self._weigh, live, a)

    def detail(self, a: Values, b: Values) -> PairDetail:
        """Weight, each comparison's level and weight, and the guards that capped the weight."""
        total = self.prior_weight
        levels: list[int] = []
        weights: list[float] = []
        for comp in self._comparisons:
            li, w = self._level(comp, a, b)
            total += w
            levels.append(li)
            weights.append(w)
        applied: list[str] = []
        if self._guards:
            total = self._capped(total, levels, applied)
        return PairDetail(total, levels, weights, applied)


def _compile_comparison(comp: Any) -> _CompiledComparison:
    levels = comp.levels
    return _CompiledComparison(
        tests=tuple(lv.compile() for lv in levels[:-1]),
        weights=tuple(0.0 if lv.is_null else lv.log2_bayes_factor() for lv in levels),
        tf=tuple((lv.tf_column, lv.u) if (not lv.is_null and lv.tf_column and lv.u) else None for lv in levels),
        labels=tuple(lv.label for lv in levels),
        null_side=levels[0].missing if levels and isinstance(levels[0], NullLevel) else None,
    )


def _compile_guard(model: MatchModel, guard: Any) -> _CompiledGuard | None:
    """Conditions as (comparison index, level indices that satisfy it); `Guard.applies` looks a
    comparison up by name in a dict of labels, so a name given twice means its last comparison,
    and a condition on a comparison the model lacks never holds (a guard with such a `when`
    never applies)."""
    index = {comp.name: ci for ci, comp in enumerate(model.comparisons)}

    def condition(name: str, labels: list[str]) -> tuple[int, frozenset[int]] | None:
        ci = index.get(name)
        if ci is None:
            return None
        hit = {li for li, lv in enumerate(model.comparisons[ci].levels) if lv.label in labels}
        if "null" in labels:
            hit.add(FAILED)
        return ci, frozenset(hit)

    when = [condition(name, labels) for name, labels in guard.when.items()]
    if any(c is None for c in when):
        return None
    unless = [c for c in (condition(name, labels) for name, labels in guard.unless.items()) if c is not None]
    return _CompiledGuard(guard.name, weight_from_probability(guard.max_probability),
                          tuple(c for c in when if c is not None), tuple(unless))
