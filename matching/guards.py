"""Guards: caps on a pair's probability when key evidence is missing or contradicts.

Fellegi–Sunter assumes fields are independent given the match status; for
organizations they are not.  Branches of a chain share name, web site and
e-mail; businesses in one building share the address and often the
switchboard number.  Summing those agreements links them.  A guard caps the
probability (hence the decision) when a pattern of levels holds, e.g. "an
organization whose name disagrees is not linked automatically unless the tax id
agrees".  Guards live in the model JSON and are reported in explanations.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Guard:
    """Cap the probability at `max_probability` when every `when` condition holds and no `unless` does.

    Conditions map a comparison name to the level labels that satisfy it.
    """

    name: str
    max_probability: float
    when: dict[str, list[str]] = field(default_factory=dict)
    unless: dict[str, list[str]] = field(default_factory=dict)
    reason: str = ""

    def applies(self, levels: Mapping[str, str]) -> bool:
        """levels: comparison name → level label reached by the pair."""
        if not all(levels.get(c) in labels for c, labels in self.when.items()):
            return False
        return not any(levels.get(c) in labels for c, labels in self.unless.items())

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "max_probability": self.max_probability, "when": self.when,
                "unless": self.unless, "reason": self.reason}

    @staticmethod
    def from_json(doc: Mapping[str, Any]) -> Guard:
        return Guard(name=doc["name"], max_probability=float(doc["max_probability"]),
                     when={k: list(v) for k, v in doc.get("when", {}).items()},
                     unless={k: list(v) for k, v in doc.get("unless", {}).items()},
                     reason=doc.get("reason", ""))
