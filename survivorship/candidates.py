"""Candidates: one member's value for one field, plus what rules need to compare it."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Hashable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from .model import Member, jsonable

_OLDEST = dt.datetime.min.replace(tzinfo=dt.UTC)
#: one encoder, built once: ``json.dumps`` with options builds a new encoder per call, which was
#: a third of ``value_key``'s time in the bulk load's profile (same output, byte for byte)
_ENCODER = json.JSONEncoder(sort_keys=True, ensure_ascii=False, default=str)


def value_key(value: Any) -> str:
    """Canonical text of a value, used for equality (votes, agreement, distinct).

    JSON with sorted keys, so two addresses with the same parts in a different key
    order are the same value.
    """
    return _ENCODER.encode(jsonable(value))


def is_empty(value: Any) -> bool:
    """A value that carries no information: None, blank text, empty list/dict, all-empty dict."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | tuple | set | frozenset):
        return all(is_empty(v) for v in value)
    if isinstance(value, dict):
        return all(is_empty(v) for v in value.values())
    return False


@dataclass(frozen=True)
class Candidate:
    """A member's non-empty value for a field, competing to become the golden value."""

    member: Member
    value: Any
    valid: bool

    @cached_property
    def key(self) -> str:
        """Canonical text of the value (computed once: rules compare it repeatedly)."""
        return value_key(self.value)

    @property
    def updated_at(self) -> dt.datetime:
        return self.member.updated_at or _OLDEST

    @property
    def record_id(self) -> Hashable:
        return self.member.record_id


def tiebreak_key(c: Candidate) -> tuple[float, str, str, str, str]:
    """Total order used when rules leave a tie: newest first, then identity, then value.

    Only member identity and value take part, never the position in the input
    list, so the result never depends on member order.
    """
    return (-c.updated_at.timestamp(), c.member.source, str(c.member.source_id), str(c.record_id), c.key)


def distinct_values(candidates: list[Candidate]) -> int:
    return len({c.key for c in candidates})
