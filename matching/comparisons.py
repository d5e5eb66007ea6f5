"""Splink-style comparisons: ordered levels, the first level that holds wins.

A comparison (for example "last_name") is a list of levels: a null level first
(a value is missing, weight 0), then exact, close and far levels, and an
"else" level last.  Each non-null level carries the Fellegi–Sunter m and u
probabilities, which live in the model JSON with the level's definition, so one
document describes the whole model as in Splink's settings.

Every level has a scalar test (one pair, used by real-time decide) and a
column-wise test over aligned numpy object arrays (used by bulk scoring); tests
in tests/unit/matching check that both give the same level.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from .columns import PairSide, RecordColumns, same_store, take
from .normalize.person_name import NICKNAME_TO_CANONICAL
from .similarity import DISTANCES, SIMILARITIES, distance, distance_columns, similarity, similarity_columns

Values = Mapping[str, Any]
Columns = Mapping[str, np.ndarray]
PairTest = Callable[[Values, Values], bool]
"""A level's `test` compiled to a closure (`Level.compile`)."""

_LEVEL_TYPES: dict[str, type[Level]] = {}


def _present(arr: np.ndarray) -> np.ndarray:
    """Non-missing entries. Columns come from ``MatchEngine._arrays``, which already turned every
    NaN/NaT/NA into ``None``, so an identity test suffices (``pd.isna`` on object arrays was a
    quarter of the bulk load's scoring time)."""
    return arr != None  # noqa: E711 - element-wise comparison on an object array, not a truth test


def _present_in(cols: Columns, col: str) -> np.ndarray:
    """Presence of ``col`` on one side of the pairs (gathered per record for a :class:`PairSide`)."""
    return cols.present(col) if isinstance(cols, PairSide) else _present(cols[col])


def _texts(cols: Columns, col: str, positions: np.ndarray, compact: bool = False) -> list[str]:
    """``str`` of the (present) values at ``positions`` (spaces removed when ``compact``), for rapidfuzz."""
    if isinstance(cols, PairSide):
        return cols.store.texts(col, compact)[cols.idx[positions]].tolist()
    values = cols[col][positions].tolist()
    if compact:
        return [str(v).replace(" ", "") for v in values]
    return [v if type(v) is str else str(v) for v in values]


def _equal(left: Columns, right: Columns, col: str, other: str, n: int) -> np.ndarray:
    """``left[col] == right[other]``, both present: integer codes when both sides share a store."""
    if same_store(left, right):
        lc, rc = left.codes(col), right.codes(other)  # type: ignore[attr-defined]
        if lc is not None and rc is not None:
            return (lc >= 0) & (lc == rc)
    x, y = left[col], right[other]
    return _present(x) & _present(y) & (x == y)


@dataclass
class Level:
    """One comparison level.  Subclasses define `test` and `test_columns`."""

    label: str = ""
    m: float | None = None
    u: float | None = None
    tf_column: str | None = None
    type_name: ClassVar[str] = "level"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "type_name" in cls.__dict__:  # an abstract helper base names no type of its own
            _LEVEL_TYPES[cls.type_name] = cls

    # -- evaluation ---------------------------------------------------------
    def test(self, a: Values, b: Values) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def test_columns(self, left: Columns, right: Columns, n: int) -> np.ndarray:
        """Column-wise test; the fallback loops, subclasses vectorize."""
        keys = self.columns()
        out = np.zeros(n, dtype=bool)
        for i in range(n):
            a = {k: left[k][i] for k in keys}
            b = {k: right[k][i] for k in keys}
            out[i] = self.test(a, b)
        return out

    def columns(self) -> list[str]:
        return []

    def warm(self, store: RecordColumns) -> None:
        """Compute the record-level columns this level's column test reads beyond values,
        presence, codes and text (which :meth:`RecordColumns.warm` covers): done once in the
        process that forks the scoring pool, instead of once per pool process."""

    def compile(self) -> PairTest:
        """`test` as a closure with the level's settings bound, for scoring one pair at a time.

        Real-time decide tests several levels of a dozen comparisons for every candidate
        member: the method calls, attribute look-ups and helper lists of `test` were most of a
        pair's cost. Subclasses return an equivalent closure (tests/unit/matching compare both
        on every level of the shipped models); a level without one keeps its `test`.
        """
        return self.test

    # -- scoring ------------------------------------------------------------
    @property
    def is_null(self) -> bool:
        return False

    def log2_bayes_factor(self) -> float:
        if self.m is None or self.u is None:
            return 0.0
        return math.log2(max(self.m, 1e-12) / max(self.u, 1e-12))

    # -- serialization ------------------------------------------------------
    def params(self) -> dict[str, Any]:
        return {}

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"type": self.type_name, "label": self.label, **self.params()}
        if not self.is_null:
            doc["m"] = self.m
            doc["u"] = self.u
        if self.tf_column:
            doc["tf_column"] = self.tf_column
        return doc

    @staticmethod
    def from_json(doc: Mapping[str, Any]) -> Level:
        doc = dict(doc)
        cls = _LEVEL_TYPES[doc.pop("type")]
        if "levels" in doc:
            doc["levels"] = [Level.from_json(d) for d in doc["levels"]]
        return cls(**doc)


@dataclass
class NullLevel(Level):
    """A needed value is missing on either side: no evidence either way (weight 0).

    mode "any": null when any column is missing; "all": only when all are missing.
    """

    cols: list[str] = field(default_factory=list)
    mode: str = "any"
    type_name: ClassVar[str] = "null"

    @property
    def is_null(self) -> bool:
        return True

    def columns(self) -> list[str]:
        return list(self.cols)

    def params(self) -> dict[str, Any]:
        return {"cols": self.cols, "mode": self.mode}

    def missing(self, v: Values) -> bool:
        """One side's values alone make the level hold (mode "any": any of its columns missing
        there; "all": all of them)."""
        flags = [v.get(c) is None for c in self.cols]
        return any(flags) if self.mode == "any" else all(flags)

    def test(self, a: Values, b: Values) -> bool:
        return self.missing(a) or self.missing(b)

    def compile(self) -> PairTest:
        cols = tuple(self.cols)
        if len(cols) == 1:
            (col,) = cols
            return lambda a, b: a.get(col) is None or b.get(col) is None
        if self.mode == "any":
            return lambda a, b: (any(a.get(c) is None for c in cols)
                                 or any(b.get(c) is None for c in cols))
        return lambda a, b: all(a.get(c) is None for c in cols) or all(b.get(c) is None for c in cols)

    def test_columns(self, left: Columns, right: Columns, n: int) -> np.ndarray:
        def missing(cols: Columns) -> np.ndarray:
            stacked = np.vstack([~_present_in(cols, c) for c in self.cols]) if self.cols else np.ones((1, n), bool)
            return stacked.any(axis=0) if self.mode == "any" else stacked.all(axis=0)

        return missing(left) | missing(right)


@dataclass
class ElseLevel(Level):
    """Everything not caught by an earlier level."""

    type_name: ClassVar[str] = "else"

    def test(self, a: Values, b: Values) -> bool:
        return True

    def compile(self) -> PairTest:
        return lambda a, b: True

    def test_columns(self, left: Columns, right: Columns, n: int) -> np.ndarray:
        return np.ones(n, dtype=bool)


@dataclass
class ExactLevel(Level):
    """Equal normalized values (optionally term-frequency adjusted by the model)."""

    col: str = ""
    type_name: ClassVar[str] = "exact"

    def columns(self) -> list[str]:
        return [self.col]

    def params(self) -> dict[str, Any]:
        return {"col": self.col}

    def test(self, a: Values, b: Values) -> bool:
        x, y = a.get(self.col), b.get(self.col)
        return x is not None and x == y

    def compile(self) -> PairTest:
        col = self.col

        def exact(a: Values, b: Values) -> bool:
            x = a.get(col)
            return x is not None and x == b.get(col)

        return exact

    def test_columns(self, left: Columns, right: Columns, n: int) -> np.ndarray:
        return _equal(left, right, self.col, self.col, n)


@dataclass
class SimilarityLevel(Level):
    """rapidfuzz similarity (jaro_winkler, token_set, token_sort, ratio) at or above a cut-off."""

    col: str = ""
    metric: str = "jaro_winkler"
    threshold: float = 0.9
    compact: bool = False
    """Compare with spaces removed: "sturta venue" vs "sturt ave" are one typo apart."""
    other: str | None = None
    """Cross-column: compare a[col] with b[other] AND a[other] with b[col] (swapped fields)."""
    type_name: ClassVar[str] = "similarity"

    def columns(self) -> list[str]:
        return [self.col] + ([self.other] if self.other else [])

    def params(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"col": self.col, "metric": self.metric, "threshold": self.threshold}
        if self.compact:
            doc["compact"] = True
        if self.other:
            doc["other"] = self.other
        return doc

    def _prep(self, v: Any) -> str:
        return str(v).replace(" ", "") if self.compact else str(v)

    def warm(self, store: RecordColumns) -> None:
        for col in self.columns():
            store.texts(col, self.compact)

    def _one(self, x: Any, y: Any) -> bool:
        if x is None or y is None:
            return False
        return similarity(self.metric, self._prep(x), self._prep(y)) >= self.threshold - 1e-12

    def test(self, a: Values, b: Values) -> bool:
        if self.other:
            return self._one(a.get(self.col), b.get(self.other)) and self._one(a.get(self.other), b.get(self.col))
        return self._one(a.get(self.col), b.get(self.col))

    def compile(self) -> PairTest:
        scorer, cut, compact, col, other = SIMILARITIES[self.metric], self.threshold - 1e-12, self.compact, self.col, self.other

        def one(x: Any, y: Any) -> bool:
            if x is None or y is None:
                return False
            if compact:
                return scorer(str(x).replace(" ", ""), str(y).replace(" ", "")) >= cut
            return scorer(x if type(x) is str else str(x), y if type(y) is str else str(y)) >= cut

        if other:
            return lambda a, b: one(a.get(col), b.get(other)) and one(a.get(other), b.get(col))
        return lambda a, b: one(a.get(col), b.get(col))

    def _columns(self, left: Columns, right: Columns, col: str, other: str, n: int,
                 among: np.ndarray | None = None) -> np.ndarray:
        """``left[col]`` vs ``right[other]`` for the pairs at ``among`` (all when None)."""
        out = np.zeros(n, dtype=bool)
        present = _present_in(left, col) & _present_in(right, other)
        if among is not None:
            wanted = np.zeros(n, dtype=bool)
            wanted[among] = True
            present &= wanted
        idx = np.flatnonzero(present)
        if idx.size:
            sims = similarity_columns(self.metric, _texts(left, col, idx, self.compact), _texts(right, other, idx, self.compact))
            out[idx] = sims >= self.threshold - 1e-12
        return out

    def test_columns(self, left: Columns, right: Columns, n: int) -> np.ndarray:
        if self.other:
            first = self._columns(left, right, self.col, self.other, n)
            return self._columns(left, right, self.other, self.col, n, np.flatnonzero(first)) & first
        return self._columns(left, right, self.col, self.col, n)


@dataclass
class DistanceLevel(Level):
    """Edit distance (levenshtein, damerau_levenshtein) at most `max_distance`."""

    col: str = ""
    metric: str = "damerau_levenshtein"
    max_distance: int = 1
    type_name: ClassVar[str] = "distance"

    def columns(self) -> list[str]:
        return [self.col]

    def params(self) -> dict[str, Any]:
        return {"col": self.col, "metric": self.metric, "max_distance": self.max_distance}

    def test(self, a: Values, b: Values) -> bool:
        x, y = a.get(self.col), b.get(self.col)
        if x is None or y is None:
            return False
        return distance(self.metric, str(x), str(y)) <= self.max_distance

    def compile(self) -> PairTest:
        measure, col, most = DISTANCES[self.metric], self.col, self.max_distance

        def close(a: Values, b: Values) -> bool:
            x, y = a.get(col), b.get(col)
            return x is not None and y is not None and measure(str(x), str(y)) <= most

        return close

    def test_columns(self, left: Columns, right: Columns, n: int) -> np.ndarray:
        out = np.zeros(n, dtype=bool)
        idx = np.flatnonzero(_present_in(left, self.col) & _present_in(right, self.col))
        if idx.size:
            d = distance_columns(self.metric, _texts(left, self.col, idx), _texts(right, self.col, idx))
            out[idx] = d <= self.max_distance
        return out


@dataclass
class CrossLevel(Level):
    """a[col] equals b[other] (one direction): a surname typed into the given-name field."""

    col: str = ""
    other: str = ""
    type_name: ClassVar[str] = "cross"

    def columns(self) -> list[str]:
        return [self.col, self.other]

    def params(self) -> dict[str, Any]:
        return {"col": self.col, "other": self.other}

    def test(self, a: Values, b: Values) -> bool:
        x, y = a.get(self.col), b.get(self.other)
        return x is not None and x == y

    def compile(self) -> PairTest:
        col, other = self.col, self.other

        def cross(a: Values, b: Values) -> bool:
            x = a.get(col)
            return x is not None and x == b.get(other)

        return cross

    def test_columns(self, left: Columns, right: Columns, n: int) -> np.ndarray:
        return _equal(left, right, self.col, self.other, n)


@dataclass
class OneColumnLevel(Level):
    """A level decided by a scalar test on one column's two values, both present.

    Subclasses define ``_pair(x, y)`` only: the single-pair test and the column-wise one (a loop
    over the present pairs, without the two dicts per pair the generic fallback builds — that
    fallback was a third of bulk scoring) are derived from it, so they cannot disagree.
    """

    col: str = ""

    def columns(self) -> list[str]:
        return [self.col]

    def params(self) -> dict[str, Any]:
        return {"col": self.col}

    def _pair(self, x: Any, y: Any) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def test(self, a: Values, b: Values) -> bool:
        x, y = a.get(self.col), b.get(self.col)
        return x is not None and y is not None and self._pair(x, y)

    def compile(self) -> PairTest:
        col, pair = self.col, self._pair

        def one_column(a: Values, b: Values) -> bool:
            x, y = a.get(col), b.get(col)
            return x is not None and y is not None and pair(x, y)

        return one_column

    def test_columns(self, left: Columns, right: Columns, n: int) -> np.ndarray:
        out = np.zeros(n, dtype=bool)
        idx = np.flatnonzero(_present_in(left, self.col) & _present_in(right, self.col))
        if idx.size:
            x, y = left[self.col][idx].tolist(), right[self.col][idx].tolist()
            out[idx] = [self._pair(a, b) for a, b in zip(x, y, strict=True)]
        return out


@dataclass
class NicknameLevel(OneColumnLevel):
    """Given names that share a canonical form ("bob" ~ "robert")."""

    type_name: ClassVar[str] = "nickname"

    @staticmethod
    def _canon(v: str) -> str:
        first = v.split(" ", 1)[0]
        return NICKNAME_TO_CANONICAL.get(first, first)

    def _pair(self, x: Any, y: Any) -> bool:
        return self._canon(str(x)) == self._canon(str(y))

    def warm(self, store: RecordColumns) -> None:
        store.derived_codes(self.col, NicknameLevel._canon)

    def test_columns(self, left: Columns, right: Columns, n: int) -> np.ndarray:
        if not same_store(left, right):
            return super().test_columns(left, right, n)
        # the canonical name once per distinct value, then integer equality
        lc = left.derived_codes(self.col, NicknameLevel._canon)  # type: ignore[attr-defined]
        rc = right.derived_codes(self.col, NicknameLevel._canon)  # type: ignore[attr-defined]
        return (lc >= 0) & (lc == rc)


@dataclass
class PrefixLevel(OneColumnLevel):
    """One value is a word-prefix/initial of the other ("j" ~ "john", "jo ann" ~ "jo")."""

    min_chars: int = 1
    type_name: ClassVar[str] = "prefix"

    def params(self) -> dict[str, Any]:
        return {"col": self.col, "min_chars": self.min_chars}

    def _pair(self, x: Any, y: Any) -> bool:
        x, y = str(x), str(y)
        short, long_ = (x, y) if len(x) <= len(y) else (y, x)
        return len(short) >= self.min_chars and long_.startswith(short)


@dataclass
class SuffixLevel(OneColumnLevel):
    """Same last `n` characters (local part of a phone number without its area code)."""

    n: int = 7
    type_name: ClassVar[str] = "suffix"

    def params(self) -> dict[str, Any]:
        return {"col": self.col, "n": self.n}

    def _pair(self, x: Any, y: Any) -> bool:
        x, y = str(x), str(y)
        return len(x) >= self.n and len(y) >= self.n and x[-self.n :] == y[-self.n :]


@dataclass
class DateCloseLevel(OneColumnLevel):
    """ISO dates that differ by a swapped day/month, one component, or one typo."""

    type_name: ClassVar[str] = "date_close"

    @staticmethod
    def _pair(x: Any, y: Any) -> bool:
        x, y = str(x), str(y)
        if len(x) != 10 or len(y) != 10:
            return False
        ya, ma, da = x[:4], x[5:7], x[8:10]
        yb, mb, db = y[:4], y[5:7], y[8:10]
        if ya == yb and ma == db and da == mb:
            return True
        if (ya == yb) + (ma == mb) + (da == db) >= 2:
            return True
        return distance("damerau_levenshtein", x, y) <= 1

    def warm(self, store: RecordColumns) -> None:
        for fn in (_iso_year, _iso_month, _iso_day):
            store.derived_codes(self.col, fn)

    def test_columns(self, left: Columns, right: Columns, n: int) -> np.ndarray:
        if not same_store(left, right):
            return super().test_columns(left, right, n)
        # `_pair` column-wise: year, month and day codes per distinct date, the typo test last
        parts = [(left.derived_codes(self.col, fn), right.derived_codes(self.col, fn))  # type: ignore[attr-defined]
                 for fn in (_iso_year, _iso_month, _iso_day)]
        (ya, yb), (ma, mb), (da, db) = parts
        valid = (ya >= 0) & (yb >= 0)
        same_y, same_m, same_d = ya == yb, ma == mb, da == db
        out = valid & ((same_y & (ma == db) & (da == mb))
                       | (same_y.astype(np.int8) + same_m + same_d >= 2))
        rest = np.flatnonzero(valid & ~out)
        if rest.size:
            d = distance_columns("damerau_levenshtein", _texts(left, self.col, rest), _texts(right, self.col, rest))
            out[rest] = d <= 1
        return out


def _iso_year(text: str) -> str | None:
    """Year of a 10-character ISO date (None otherwise: DateCloseLevel never holds for it)."""
    return text[:4] if len(text) == 10 else None


def _iso_month(text: str) -> str | None:
    return text[5:7] if len(text) == 10 else None


def _iso_day(text: str) -> str | None:
    return text[8:10] if len(text) == 10 else None


@dataclass
class AllLevel(Level):
    """All sub-levels hold (multi-column levels such as "same house number and street")."""

    levels: list[Level] = field(default_factory=list)
    type_name: ClassVar[str] = "all"

    def columns(self) -> list[str]:
        return sorted({c for lv in self.levels for c in lv.columns()})

    def warm(self, store: RecordColumns) -> None:
        for lv in self.levels:
            lv.warm(store)

    def params(self) -> dict[str, Any]:
        return {"levels": [lv.to_json() | {"m": None, "u": None} for lv in self.levels]}

    def test(self, a: Values, b: Values) -> bool:
        return all(lv.test(a, b) for lv in self.levels)

    def compile(self) -> PairTest:
        tests = tuple(lv.compile() for lv in self.levels)

        def every(a: Values, b: Values) -> bool:
            for test in tests:  # noqa: SIM110 — cheaper than a generator per pair
                if not test(a, b):
                    return False
            return True

        return every

    def test_columns(self, left: Columns, right: Columns, n: int) -> np.ndarray:
        # on pair views each sub-level sees only the pairs every earlier one held for (most pairs
        # fail the first: another house number); a plain dict would copy all its columns instead
        out = np.ones(n, dtype=bool)
        for lv in self.levels:
            live = np.flatnonzero(out) if isinstance(left, PairSide) else None
            if live is None or live.size == n:
                out &= lv.test_columns(left, right, n)
            elif live.size == 0:
                break
            else:
                out[live] = lv.test_columns(take(left, live), take(right, live), live.size)
        return out


@dataclass
class AnyLevel(AllLevel):
    """At least one sub-level holds."""

    type_name: ClassVar[str] = "any"

    def test(self, a: Values, b: Values) -> bool:
        return any(lv.test(a, b) for lv in self.levels)

    def compile(self) -> PairTest:
        tests = tuple(lv.compile() for lv in self.levels)

        def some(a: Values, b: Values) -> bool:
            for test in tests:  # noqa: SIM110 — cheaper than a generator per pair
                if test(a, b):
                    return True
            return False

        return some

    def test_columns(self, left: Columns, right: Columns, n: int) -> np.ndarray:
        out = np.zeros(n, dtype=bool)
        for lv in self.levels:
            open_ = np.flatnonzero(~out) if isinstance(left, PairSide) else None
            if open_ is None or open_.size == n:
                out |= lv.test_columns(left, right, n)
            elif open_.size == 0:
                break
            else:
                out[open_] = lv.test_columns(take(left, open_), take(right, open_), open_.size)
        return out


@dataclass
class NotLevel(AllLevel):
    """None of the sub-levels holds (e.g. "units differ")."""

    type_name: ClassVar[str] = "not"

    def test(self, a: Values, b: Values) -> bool:
        return not any(lv.test(a, b) for lv in self.levels)

    def compile(self) -> PairTest:
        some = AnyLevel(levels=self.levels).compile()
        return lambda a, b: not some(a, b)

    def test_columns(self, left: Columns, right: Columns, n: int) -> np.ndarray:
        return ~AnyLevel(levels=self.levels).test_columns(left, right, n)


@dataclass
class Comparison:
    """A named, ordered list of levels plus the columns shown in explanations."""

    name: str
    levels: list[Level]
    display: list[str] = field(default_factory=list)
    description: str = ""
    #: (identity of the levels and display, columns): ``columns()`` runs for every scored pair
    #: (explanations show each comparison's values), and rebuilding the set each time was ~8 % of
    #: a real-time resolve at 700,000 goldens; the key notices levels or display being replaced
    _columns_memo: tuple[tuple[Any, ...], list[str]] | None = field(default=None, init=False, repr=False, compare=False)

    def columns(self) -> list[str]:
        key = (*map(id, self.levels), *self.display)
        memo = self._columns_memo
        if memo is None or memo[0] != key:
            memo = self._columns_memo = (key, sorted({c for lv in self.levels for c in lv.columns()} | set(self.display)))
        return memo[1]

    def level_index(self, a: Values, b: Values) -> int:
        """Index of the first level that holds for the pair."""
        for i, lv in enumerate(self.levels):
            if lv.test(a, b):
                return i
        return len(self.levels) - 1

    def level_indices(self, left: Columns, right: Columns, n: int) -> np.ndarray:
        """Column-wise `level_index` for n aligned pairs."""
        # each level is tested only on the pairs no earlier level took (many pairs stop at the
        # first levels: exact or missing): 18.7 → 14.5 s for the bulk load's 325,000 pairs
        out = np.full(n, len(self.levels) - 1, dtype=np.int16)
        todo = np.arange(n)
        needed = self.columns()
        for i, lv in enumerate(self.levels):
            if todo.size == 0:
                break
            if todo.size == n:
                sub_left, sub_right = left, right
            else:
                sub_left, sub_right = take(left, todo, needed), take(right, todo, needed)
            hit = lv.test_columns(sub_left, sub_right, todo.size)
            out[todo[hit]] = i
            todo = todo[~hit]
        return out

    def compile_shown(self) -> Callable[[Values], Any]:
        """The normalized value(s) an explanation displays for one side, as a function with the
        displayed columns worked out once (explanations show every comparison of a record's
        best candidates, twice per pair)."""
        cols = tuple(self.display or self.columns())
        if len(cols) == 1:
            (col,) = cols
            return lambda v: v.get(col)

        def joined(v: Values) -> Any:
            parts = [str(v.get(c)) for c in cols if v.get(c) is not None]
            return " | ".join(parts) if parts else None

        return joined

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "display": self.display,
            "levels": [lv.to_json() for lv in self.levels],
        }

    @staticmethod
    def from_json(doc: Mapping[str, Any]) -> Comparison:
        return Comparison(
            name=doc["name"],
            levels=[Level.from_json(d) for d in doc["levels"]],
            display=list(doc.get("display", [])),
            description=doc.get("description", ""),
        )
