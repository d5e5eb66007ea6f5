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
    tf: column → {normalized value: relative frequency}; only values more
    frequent than the exact level's u are stored, so term frequencies only ever
    weaken evidence from common values ("smith"), never inflate rare ones.
    """

    domain: str
    version: str
    comparisons: list[Comparison]
    prior: float = 1e-5
    thresholds: dict[str, float] = field(default_factory=lambda: {"upper": 0.95, "lower": 0.5})
    tf: dict[str, dict[str, float]] = field(default_factory=dict)
    max_block_size: int = 500
    max_members_compared: int = 50
    guards: list[Guard] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def prior_weight(self) -> float:
        p = min(max(self.prior, 1e-12), 1 - 1e-12)
        return math.log2(p / (1 - p))

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
            max_block_size=int(d.get("max_block_size", 500)),
            max_members_compared=int(d.get("max_members_compared", 50)),
            guards=[Guard.from_json(g) for g in d.get("guards", [])],
            metadata=dict(d.get("metadata", {})),
        )
