"""The rule types. Each rule narrows a list of candidates to the best ones.

Contract of ``select``: given a non-empty list, return a non-empty sub-list
(keeping the input order). Returning the whole list means "this rule cannot
decide"; the engine then asks the next rule in the chain. Rules are pure
functions of the *set* of candidates, which is what makes the result
independent of member order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from marshmallow import Schema, fields, validate

from .candidates import Candidate
from .fieldtypes import order_key


class Rule:
    """Base class: a named rule with validated parameters."""

    name: ClassVar[str]
    params_schema: ClassVar[type[Schema] | None] = None

    def __init__(self, params: Mapping[str, Any], field_type: str) -> None:
        self.params = dict(params)
        self.field_type = field_type

    def select(self, candidates: list[Candidate]) -> list[Candidate]:  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def _best(candidates: list[Candidate], score: Callable[[Candidate], Any]) -> list[Candidate]:
        """Keep the candidates with the highest score (``None`` scores never win)."""
        scored = [(score(c), c) for c in candidates]
        usable = [s for s, _ in scored if s is not None]
        if not usable:
            return candidates
        top = max(usable)
        return [c for s, c in scored if s is not None and s == top]


class _SourcesSchema(Schema):
    sources = fields.List(
        fields.String(validate=validate.Length(min=1)), required=True, validate=validate.Length(min=1)
    )


class SourcePriority(Rule):
    """Prefer the source listed first; sources not listed rank after all listed ones."""

    name = "source_priority"
    params_schema = _SourcesSchema

    def select(self, candidates: list[Candidate]) -> list[Candidate]:
        order: Sequence[str] = self.params["sources"]
        rank = {s: i for i, s in enumerate(order)}
        return self._best(candidates, lambda c: -rank.get(c.member.source, len(order)))


class MostRecent(Rule):
    """Prefer the value whose source record was changed last (the source's own ``updated_at``)."""

    name = "most_recent"

    def select(self, candidates: list[Candidate]) -> list[Candidate]:
        return self._best(candidates, lambda c: c.updated_at)


def completeness(value: Any) -> int:
    """How much a value says: non-blank parts of a dict/list, characters of text."""
    if isinstance(value, dict):
        return sum(completeness(v) > 0 for v in value.values())
    if isinstance(value, list | tuple):
        return sum(completeness(v) > 0 for v in value)
    if isinstance(value, str):
        return len(value.strip())
    return 0 if value is None else 1


class MostComplete(Rule):
    """Prefer the most complete value: most filled parts (address) or longest text."""

    name = "most_complete"

    def select(self, candidates: list[Candidate]) -> list[Candidate]:
        return self._best(candidates, lambda c: completeness(c.value))


class MostFrequent(Rule):
    """Vote: prefer the value most members agree on (a tie leaves all tied values)."""

    name = "most_frequent"

    def select(self, candidates: list[Candidate]) -> list[Candidate]:
        votes = Counter(c.key for c in candidates)
        return self._best(candidates, lambda c: votes[c.key])


class Highest(Rule):
    """Prefer the highest number or latest date (by the field's declared type)."""

    name = "highest"

    def select(self, candidates: list[Candidate]) -> list[Candidate]:
        return self._best(candidates, lambda c: order_key(self.field_type, c.value))


class _Negated:
    """Wraps an orderable key so that ``max`` picks the lowest."""

    __slots__ = ("key",)

    def __init__(self, key: Any) -> None:
        self.key = key

    def __lt__(self, other: _Negated) -> bool:
        return other.key < self.key

    def __gt__(self, other: _Negated) -> bool:
        return self.key < other.key

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Negated) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)


class Lowest(Rule):
    """Prefer the lowest number or earliest date (by the field's declared type)."""

    name = "lowest"

    def select(self, candidates: list[Candidate]) -> list[Candidate]:
        def score(c: Candidate) -> _Negated | None:
            key = order_key(self.field_type, c.value)
            return None if key is None else _Negated(key)

        return self._best(candidates, score)


class FirstValid(Rule):
    """Prefer values that passed normalisation (not in ``Member.invalid_fields``)."""

    name = "first_valid"

    def select(self, candidates: list[Candidate]) -> list[Candidate]:
        return self._best(candidates, lambda c: 1 if c.valid else 0)


class Union(Rule):
    """Marker: keep every distinct value in ``<field>_all``.

    It does not narrow candidates (the rest of the chain picks the primary value
    kept in ``<field>``); the engine builds the list.
    """

    name = "union"

    def select(self, candidates: list[Candidate]) -> list[Candidate]:
        return candidates


RULE_TYPES: dict[str, type[Rule]] = {
    cls.name: cls
    for cls in (SourcePriority, MostRecent, MostComplete, MostFrequent, Highest, Lowest, FirstValid, Union)
}
#: Accepted alternative spellings, normalised to the canonical name on load.
ALIASES = {
    "longest": "most_complete",
    "vote": "most_frequent",
    "latest": "most_recent",
    "valid": "first_valid",
}
