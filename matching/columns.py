"""Many records' prepared values, column by column, and pairs of them as index arrays.

Why: a bulk load scores millions of candidate pairs drawn from far fewer records (13 pairs per
record at 1,000,000 FEBRL-like people). Scoring aligned *pair* frames examined Python objects
once per pair and per level: missing-value tests (``x != None`` on an object array is a Python
comparison per element), string conversion for rapidfuzz, equality of two object arrays. Here
each record's value is cleaned (missing → ``None``), tested for presence, given an integer code
and converted to text **once**; one side of n pairs is then an index array into these columns,
and a level gathers booleans and integers instead of re-examining objects pair by pair.

:class:`PairSide` is a ``Mapping[str, np.ndarray]`` of the gathered values, so every level's
column test still accepts it; the levels that know it use its presence, codes and text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd


class RecordColumns:
    """Record-level columns: values, presence, codes and text, each computed once per record.

    Codes come from **one dictionary shared by all columns**, so equal values have equal codes
    across columns too (a surname typed into the given-name field). Values that cannot be hashed
    (lists) leave their column without codes; levels then compare the values themselves.
    """

    def __init__(self, frame: pd.DataFrame) -> None:
        self.n = len(frame)
        self._frame = frame
        self._values: dict[str, np.ndarray] = {}
        self._present: dict[str, np.ndarray] = {}
        self._codes: dict[str, np.ndarray | None] = {}
        self._texts: dict[tuple[str, bool], np.ndarray] = {}
        self._derived: dict[tuple[str, Callable[[str], Any]], np.ndarray] = {}
        self._dictionary: dict[Any, int] = {}
        self._decoded: list[Any] = []

    @classmethod
    def from_values(cls, rows: Iterable[Mapping[str, Any]]) -> RecordColumns:
        """From each record's prepared values (``PreparedRecord.values``)."""
        return cls(pd.DataFrame(list(rows)))

    @property
    def columns(self) -> list[str]:
        return [str(c) for c in self._frame.columns]

    def values(self, col: str) -> np.ndarray:
        """The column as an object array, ``None`` where missing (NaN/NaT/NA included); a column no
        record has is all ``None``."""
        arr = self._values.get(col)
        if arr is None:
            if col in self._frame.columns:
                raw = self._frame[col].to_numpy(dtype=object)
                arr = np.where(pd.isna(raw), None, raw)
            else:
                arr = np.full(self.n, None, dtype=object)
            self._values[col] = arr
        return arr

    def present(self, col: str) -> np.ndarray:
        mask = self._present.get(col)
        if mask is None:
            mask = self._present[col] = self.values(col) != None  # noqa: E711 - element-wise
        return mask

    def codes(self, col: str) -> np.ndarray | None:
        """Integer code of each value (-1 where missing), or ``None`` when a value is unhashable.

        The column is factorized by pandas first, so the shared dictionary is consulted once per
        distinct value, not once per record (equality as in a dict: hash and ``==``)."""
        if col not in self._codes:
            try:
                local, distinct = pd.factorize(self.values(col))
            except TypeError:
                self._codes[col] = None
            else:
                lookup, decoded = self._dictionary, self._decoded
                mapping = np.empty(len(distinct) + 1, dtype=np.int64)
                mapping[-1] = -1  # pandas' code for a missing value
                for j, v in enumerate(distinct.tolist()):
                    code = lookup.get(v)
                    if code is None:
                        code = lookup[v] = len(decoded)
                        decoded.append(v)
                    mapping[j] = code
                self._codes[col] = mapping[local]
        return self._codes[col]

    def derived_codes(self, col: str, fn: Callable[[str], Any]) -> np.ndarray:
        """Code of ``fn(str(value))`` per record (-1 where missing or where ``fn`` gives None),
        ``fn`` applied once per distinct value; cached per (column, function), so ``fn`` must be
        a module-level or static function."""
        arr = self._derived.get((col, fn))
        if arr is None:
            local, distinct = pd.factorize(self.texts(col))
            lookup, decoded = self._dictionary, self._decoded
            mapping = np.full(len(distinct) + 1, -1, dtype=np.int64)
            for j, text in enumerate(distinct.tolist()):
                v = fn(text)
                if v is not None:
                    code = lookup.get(v)
                    if code is None:
                        code = lookup[v] = len(decoded)
                        decoded.append(v)
                    mapping[j] = code
            arr = self._derived[(col, fn)] = mapping[local]
        return arr

    def decode(self, codes: np.ndarray) -> list[Any]:
        """The values behind codes from :meth:`codes` (``None`` for -1, missing)."""
        decoded = self._decoded
        return [None if c < 0 else decoded[c] for c in codes.tolist()]

    def texts(self, col: str, compact: bool = False) -> np.ndarray:
        """``str(value)`` per record (spaces removed when ``compact``), ``None`` where missing."""
        arr = self._texts.get((col, compact))
        if arr is None:
            values = self.values(col).tolist()
            if compact:
                converted = [None if v is None else str(v).replace(" ", "") for v in values]
            else:
                converted = [v if type(v) is str or v is None else str(v) for v in values]
            arr = np.empty(self.n, dtype=object)
            arr[:] = converted
            self._texts[(col, compact)] = arr
        return arr

    def warm(self, columns: Iterable[str]) -> RecordColumns:
        """Compute values, presence, codes and text of ``columns`` now (before forking workers that
        would otherwise each compute them again)."""
        for col in columns:
            self.present(col)
            self.codes(col)
            self.texts(col)
        return self

    def side(self, idx: np.ndarray) -> PairSide:
        """One side of aligned pairs: pair i is record ``idx[i]``."""
        return PairSide(self, np.asarray(idx, dtype=np.int64))


class PairSide(Mapping[str, np.ndarray]):
    """One side of n aligned pairs, as the ``Columns`` mapping the levels take (values gathered
    on demand), plus gathered presence, codes and text."""

    def __init__(self, store: RecordColumns, idx: np.ndarray) -> None:
        self.store, self.idx = store, idx
        self._gathered: dict[str, np.ndarray] = {}

    def __getitem__(self, col: str) -> np.ndarray:
        arr = self._gathered.get(col)
        if arr is None:
            arr = self._gathered[col] = self.store.values(col)[self.idx]
        return arr

    def __iter__(self) -> Iterator[str]:
        return iter(self.store.columns)

    def __len__(self) -> int:
        return len(self.store.columns)

    def __contains__(self, col: object) -> bool:
        return isinstance(col, str)  # every column exists (all None when no record has it)

    def take(self, positions: np.ndarray) -> PairSide:
        """The pairs at ``positions`` of this side."""
        return PairSide(self.store, self.idx[positions])

    def present(self, col: str) -> np.ndarray:
        return self.store.present(col)[self.idx]

    def codes(self, col: str) -> np.ndarray | None:
        codes = self.store.codes(col)
        return None if codes is None else codes[self.idx]

    def texts(self, col: str, compact: bool = False) -> np.ndarray:
        return self.store.texts(col, compact)[self.idx]

    def derived_codes(self, col: str, fn: Callable[[str], Any]) -> np.ndarray:
        return self.store.derived_codes(col, fn)[self.idx]


def same_store(*sides: Mapping[str, np.ndarray]) -> bool:
    """All sides are :class:`PairSide` views of one :class:`RecordColumns` (codes comparable)."""
    first = sides[0]
    return isinstance(first, PairSide) and all(isinstance(s, PairSide) and s.store is first.store for s in sides)


def take(cols: Mapping[str, np.ndarray], positions: np.ndarray, names: Sequence[str] | None = None) -> Mapping[str, np.ndarray]:
    """The rows at ``positions`` of a ``Columns`` mapping (``names``: only those columns of a plain dict)."""
    if isinstance(cols, PairSide):
        return cols.take(positions)
    keys = cols.keys() if names is None else [c for c in names if c in cols]
    return {c: cols[c][positions] for c in keys}


__all__ = ["PairSide", "RecordColumns", "same_store", "take"]
