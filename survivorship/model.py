"""Plain data exchanged with callers: members and overrides in, a golden result out.

Everything here is a frozen dataclass with JSON-friendly contents so that ``mdm/``
can build members from database rows and store results without this library
knowing about either.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any


def to_utc(value: dt.datetime | str | None) -> dt.datetime | None:
    """Normalise a timestamp to an aware UTC datetime.

    Sources send both naive and aware timestamps; comparing them raises, so every
    ``updated_at`` is made aware (naive ones are taken as UTC) once, on the way in.
    """
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        value = dt.datetime.fromisoformat(text)
    elif isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    if not isinstance(value, dt.datetime):
        raise TypeError(f"expected a datetime or ISO-8601 string, got {type(value).__name__}")
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


_PLAIN = frozenset({str, int, float, bool, type(None)})


def jsonable(value: Any) -> Any:
    """Convert a value to plain JSON types (datetimes/dates as ISO, Decimals as strings)."""
    if type(value) in _PLAIN:  # nearly every value: one set lookup instead of four isinstance tests
        return value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return value


@dataclass(frozen=True)
class Member:
    """One source record that belongs to the golden record.

    ``fields`` are canonical fields (the address is one nested dict).
    ``invalid_fields`` names fields whose value failed normalisation (from the
    matcher's flags); the ``first_valid`` rule prefers values not listed here.
    A nested flag such as ``address.postal_code`` marks the whole ``address``.
    """

    record_id: Hashable
    source: str
    source_id: str
    updated_at: dt.datetime | None
    fields: Mapping[str, Any]
    invalid_fields: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "updated_at", to_utc(self.updated_at))
        object.__setattr__(self, "invalid_fields", frozenset(self.invalid_fields))

    def is_invalid(self, name: str) -> bool:
        """Whether this member's value for ``name`` failed normalisation."""
        if not self.invalid_fields:  # most members: nothing failed
            return False
        prefix = name + "."
        return any(f == name or f.startswith(prefix) for f in self.invalid_fields)


@dataclass(frozen=True)
class Override:
    """A steward's pinned value: it wins over every member until it is unpinned."""

    field: str
    value: Any
    pinned_by: str | None = None
    pinned_at: dt.datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "pinned_at", to_utc(self.pinned_at))


@dataclass(frozen=True)
class Ineligible:
    """A member value that was not allowed to compete, and why (shown in lineage).

    ``reason`` is a code (``not_owner``, ``empty``) for programs; ``detail`` is
    the sentence for a steward.
    """

    record_id: Hashable
    source: str
    source_id: str
    value: Any
    reason: str
    updated_at: dt.datetime | None = None
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "record_id": jsonable(self.record_id),
            "source": self.source,
            "source_id": self.source_id,
            "value": jsonable(self.value),
            "reason": self.reason,
            "detail": self.detail,
            "updated_at": jsonable(self.updated_at),
        }


@dataclass(frozen=True)
class Contributor:
    """Where one value of a union field came from."""

    value: Any
    record_id: Hashable
    source: str
    source_id: str
    updated_at: dt.datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            "value": jsonable(self.value),
            "record_id": jsonable(self.record_id),
            "source": self.source,
            "source_id": self.source_id,
            "updated_at": jsonable(self.updated_at),
        }


@dataclass(frozen=True)
class LineageEntry:
    """Why a golden field has its value.

    ``source``/``source_id``/``record_id``/``updated_at`` identify the member the
    value came from; they are ``None`` when a steward override decided
    (``rule == "steward_override"``, see ``pinned_by``/``pinned_at``) or when no
    member was eligible (``rule == "no_eligible_value"``, value ``None``).
    ``ineligible`` lists member values that could not compete (not the owning
    source, empty). ``contributors`` is filled for union (``<field>_all``) entries.
    ``alternatives`` lists the eligible values of other members that lost.
    ``shadowed`` (override entries only) is what the rules would choose without
    the pin, so a steward can see what unpinning would give.
    """

    value: Any
    rule: str
    source: str | None = None
    source_id: str | None = None
    record_id: Hashable | None = None
    updated_at: dt.datetime | None = None
    ineligible: tuple[Ineligible, ...] = ()
    pinned_by: str | None = None
    pinned_at: dt.datetime | None = None
    contributors: tuple[Contributor, ...] = ()
    shadowed: LineageEntry | None = None
    #: the other eligible member values the rules weighed and passed over, so lineage names
    #: every source that competed for the field, not only the winner
    alternatives: tuple[Contributor, ...] = ()

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "value": jsonable(self.value),
            "rule": self.rule,
            "source": self.source,
            "source_id": self.source_id,
            "record_id": jsonable(self.record_id),
            "updated_at": jsonable(self.updated_at),
            "ineligible": [i.to_json() for i in self.ineligible],
            "alternatives": [a.to_json() for a in self.alternatives],
        }
        if self.pinned_by is not None or self.pinned_at is not None or self.rule == "steward_override":
            doc["pinned_by"] = self.pinned_by
            doc["pinned_at"] = jsonable(self.pinned_at)
        if self.contributors:
            doc["contributors"] = [c.to_json() for c in self.contributors]
        if self.shadowed is not None:
            doc["shadowed"] = self.shadowed.to_json()
        return doc


@dataclass(frozen=True)
class GoldenResult:
    """The survived golden fields, their lineage, and the rules that built them."""

    fields: dict[str, Any]
    lineage: dict[str, LineageEntry]
    rules_fingerprint: str = ""
    rules_version: str | None = None
    warnings: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        """One JSON document (all values JSON-serialisable, keys sorted for stable diffs)."""
        return {
            "fields": {k: jsonable(self.fields[k]) for k in sorted(self.fields)},
            "lineage": {k: self.lineage[k].to_json() for k in sorted(self.lineage)},
            "rules_fingerprint": self.rules_fingerprint,
            "rules_version": self.rules_version,
            "warnings": list(self.warnings),
        }
