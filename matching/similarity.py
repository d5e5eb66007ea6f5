"""String similarity, scalar and column-wise, on one set of rapidfuzz scorers.

Every comparison level calls these, either for one pair (real-time decide) or
for two aligned columns (bulk scoring with `rapidfuzz.process.cpdist`), so both
paths give identical answers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from rapidfuzz import fuzz, process
from rapidfuzz.distance import DamerauLevenshtein, JaroWinkler, Levenshtein


def _token_set(a: str, b: str, **_: object) -> float:
    return fuzz.token_set_ratio(a, b) / 100.0


def _token_sort(a: str, b: str, **_: object) -> float:
    return fuzz.token_sort_ratio(a, b) / 100.0


def _ratio(a: str, b: str, **_: object) -> float:
    return fuzz.ratio(a, b) / 100.0


SIMILARITIES: dict[str, Callable[..., float]] = {
    "jaro_winkler": JaroWinkler.normalized_similarity,
    "token_set": _token_set,
    "token_sort": _token_sort,
    "ratio": _ratio,
}
DISTANCES: dict[str, Callable[..., int]] = {
    "levenshtein": Levenshtein.distance,
    "damerau_levenshtein": DamerauLevenshtein.distance,
}
_CDIST_SCORERS: dict[str, tuple[Callable[..., float], float]] = {
    "jaro_winkler": (JaroWinkler.normalized_similarity, 1.0),
    "token_set": (fuzz.token_set_ratio, 100.0),
    "token_sort": (fuzz.token_sort_ratio, 100.0),
    "ratio": (fuzz.ratio, 100.0),
}


def similarity(metric: str, a: str, b: str) -> float:
    """Similarity in [0, 1]."""
    return float(SIMILARITIES[metric](a, b))


def distance(metric: str, a: str, b: str) -> int:
    """Edit distance (number of edits)."""
    return int(DISTANCES[metric](a, b))


def similarity_columns(metric: str, left: Sequence[str], right: Sequence[str]) -> np.ndarray:
    """Element-wise similarity of two equally long string sequences (no Python loop per pair)."""
    if len(left) == 0:
        return np.zeros(0, dtype=float)
    scorer, scale = _CDIST_SCORERS[metric]
    out = process.cpdist(list(left), list(right), scorer=scorer, workers=1)
    return np.asarray(out, dtype=float) / scale


def distance_columns(metric: str, left: Sequence[str], right: Sequence[str]) -> np.ndarray:
    """Element-wise edit distance of two equally long string sequences."""
    if len(left) == 0:
        return np.zeros(0, dtype=int)
    scorer = DISTANCES[metric]
    return np.asarray(process.cpdist(list(left), list(right), scorer=scorer, workers=1), dtype=int)
