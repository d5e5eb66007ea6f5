"""The scoring model: comparisons with m/u, term frequencies, prior and thresholds.

One JSON document with a version, like Splink's settings, so that the model a
decision was made with can be stored, diffed and reloaded exactly.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass, field
from typing import Any

from .comparisons import Comparison
from .guards import Guard

FORMAT = "mdm-matching-model/1"


@dataclass
class MatchModel:
    """Fellegi–Sunter model for one domain.

    prior: probability that two random records match (Splink's
    probability_two_random_records_match); it enters every weight as
    log2(prior / (1 - prior)).
    thresholds: "upper" (link at or above) and "lower" (review at or above)
    probabilities.
    tf: column → {normalized value: relative frequency}.  An exact agreement on
    a value found in the table weighs log2(m / f) instead of log2(m / u), so a
    match on "smith" weighs less than on "zielinski".
    tf_min: column → floor frequency (Splink's tf_minimum_u_value).  Without a
    floor for a column, only values found in its table are adjusted (a trained
    table lists the values more frequent than u, so it only weakens common
    values).  With a floor, a value absent from the table counts as having the
    floor frequency, and listed values are raised to it: rare values gain at most
    log2(u / floor) bits.  The shipped customer model uses census name tables
    with floors (see matching.name_frequencies).
    """

    domain: str
    version: str
    comparisons: list[Comparison]
    prior: float = 1e-5
    thresholds: dict[str, float] = field(default_factory=lambda: {"upper": 0.95, "lower": 0.5})
    tf: dict[str, dict[str, float]] = field(default_factory=dict)
    tf_min: dict[str, float] = field(default_factory=dict)
    max_block_size: int = 200
    max_members_compared: int = 50
    guards: list[Guard] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def prior_weight(self) -> float:
        p = min(max(self.prior, 1e-12), 1 - 1e-12)
        return math.log2(p / (1 - p))

    def tf_frequency(self, column: str, value: Any) -> float | None:
        """Frequency used to adjust an exact agreement on `value`, or None (no adjustment)."""
        if value is None:
            return None
        table = self.tf.get(column)
        floor = self.tf_min.get(column)
        if not table and floor is None:
            return None
        key = str(value)
        f = table.get(key) if table else None
        if f is None and table:
            f = table.get("".join(ch for ch in key if ch.isalnum()))
        if floor is None:
            return f
        return floor if f is None else max(f, floor)

    def comparison(self, name: str) -> Comparison:
        for c in self.comparisons:
            if c.name == name:
                return c
        raise KeyError(name)

    def copy(self) -> MatchModel:
        return copy.deepcopy(self)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "domain": self.domain,
            "version": self.version,
            "prior": self.prior,
            "thresholds": dict(self.thresholds),
            "max_block_size": self.max_block_size,
            "max_members_compared": self.max_members_compared,
            "comparisons": [c.to_json() for c in self.comparisons],
            "guards": [g.to_json() for g in self.guards],
            "tf": {k: dict(v) for k, v in self.tf.items()},
            "tf_min": dict(self.tf_min),
            "metadata": dict(self.metadata),
        }

    @classmethod
    def from_json(cls, doc: Any) -> MatchModel:
        d = json.loads(doc) if isinstance(doc, str | bytes) else doc
        if d.get("format", FORMAT) != FORMAT:
            raise ValueError(f"unsupported model format {d.get('format')!r}")
        thresholds = dict(d.get("thresholds", {}))
        if not 0 <= thresholds.get("lower", 0.5) <= thresholds.get("upper", 0.95) <= 1:
            raise ValueError("thresholds must satisfy 0 <= lower <= upper <= 1")
        return cls(
            domain=d["domain"],
            version=str(d["version"]),
            comparisons=[Comparison.from_json(c) for c in d["comparisons"]],
            prior=float(d.get("prior", 1e-5)),
            thresholds={"upper": float(thresholds.get("upper", 0.95)), "lower": float(thresholds.get("lower", 0.5))},
            tf={k: {str(vk): float(vv) for vk, vv in v.items()} for k, v in d.get("tf", {}).items()},
            tf_min={k: float(v) for k, v in d.get("tf_min", {}).items()},
            max_block_size=int(d.get("max_block_size", 200)),
            max_members_compared=int(d.get("max_members_compared", 50)),
            guards=[Guard.from_json(g) for g in d.get("guards", [])],
            metadata=dict(d.get("metadata", {})),
        )
