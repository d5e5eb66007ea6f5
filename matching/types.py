"""Plain data passed between `matching` and its callers (JSON-serialisable)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


def _loads(doc: Any) -> dict[str, Any]:
    return json.loads(doc) if isinstance(doc, str | bytes) else dict(doc)


@dataclass
class PreparedRecord:
    """A record's normalized matching values, with flags for invalid input.

    `values` is flat (address components are top-level keys such as
    "postal_code") so that a batch of prepared records is directly a DataFrame.
    """

    domain: str
    values: dict[str, Any]
    flags: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"domain": self.domain, "values": dict(self.values), "flags": dict(self.flags),
                "warnings": list(self.warnings)}

    @classmethod
    def from_json(cls, doc: Any) -> PreparedRecord:
        d = _loads(doc)
        return cls(domain=d["domain"], values=dict(d.get("values", {})), flags=dict(d.get("flags", {})),
                   warnings=list(d.get("warnings", [])))

    @property
    def usable(self) -> bool:
        """False when no identifying field survived normalization."""
        return "no usable matching field" not in self.warnings


@dataclass
class FieldComparison:
    """One row of a comparison vector: which level a comparison reached and its weight."""

    field: str
    level: str
    weight: float
    left: Any
    right: Any

    def to_json(self) -> dict[str, Any]:
        return {"field": self.field, "level": self.level, "weight": round(self.weight, 4),
                "left": self.left, "right": self.right}


@dataclass
class PairScore:
    """Fellegi–Sunter score of one pair: `weight` is the summed log2 Bayes factors, prior included."""

    weight: float
    probability: float
    comparisons: list[FieldComparison]
    model_version: str = ""
    guards: list[str] = field(default_factory=list)
    """Names of the guards that capped this score (see matching.guards)."""

    def to_json(self) -> dict[str, Any]:
        return {"weight": round(self.weight, 4), "probability": self.probability,
                "model_version": self.model_version, "guards": list(self.guards),
                "comparisons": [c.to_json() for c in self.comparisons]}


@dataclass
class Candidate:
    """A golden record considered for an incoming record, with its aggregated score."""

    golden_id: Any
    probability: float
    weight: float
    explanation: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"golden_id": self.golden_id, "probability": self.probability,
                "weight": round(self.weight, 4), "explanation": self.explanation}


@dataclass
class Decision:
    """What to do with an incoming record: "link", "review" or "new"."""

    action: str
    golden_id: Any
    probability: float
    explanation: dict[str, Any]
    ranked: list[Candidate] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    merge_with: list[Any] = field(default_factory=list)
    """Other golden ids that, together with this record, score as one cluster with `golden_id`
    (this record bridges two goldens created before it arrived): the service should merge them
    into `golden_id` (or queue the merge for review).  Empty unless action is "link"."""

    def to_json(self) -> dict[str, Any]:
        return {"action": self.action, "golden_id": self.golden_id, "probability": self.probability,
                "explanation": self.explanation, "ranked": [c.to_json() for c in self.ranked],
                "warnings": list(self.warnings), "merge_with": list(self.merge_with)}
