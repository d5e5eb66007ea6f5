"""The in-memory view of a resolve group counts blocks like the database would (no DB needed)."""

from __future__ import annotations

from types import SimpleNamespace

from matching import MatchEngine, PreparedRecord
from mdm.services.resolve import MAX_BLOCK_SIZE
from mdm.services.resolve_group import _Planned, _View

PREPARED = MatchEngine("customer").prepare({"kind": "person", "first_name": "Ada", "last_name": "Lovelace"})


def planned(record_id: int, keys: list[str]) -> _Planned:
    return _Planned(SimpleNamespace(id=record_id), None, PREPARED, keys)  # type: ignore[arg-type]


def view(stored: int) -> _View:
    ids = list(range(1, stored + 1))
    members: dict[str, list[tuple[int, PreparedRecord]]] = {"g-old": [(i, PREPARED) for i in reversed(ids)]}
    return _View({"k": ids, "other": [1]}, dict.fromkeys(ids, "g-old"), members, {})


def test_a_block_the_group_fills_past_the_cap_is_skipped_for_the_records_after() -> None:
    v = view(MAX_BLOCK_SIZE - 1)
    first = planned(1000, ["k"])
    oversized, candidates = v.candidates(first)
    assert oversized == set() and list(candidates) == ["g-old"]
    v.add(first, "g-new")  # the block now holds MAX_BLOCK_SIZE records: still usable
    oversized, candidates = v.candidates(planned(1001, ["k"]))
    assert oversized == set() and list(candidates) == ["g-new", "g-old"]  # golden id order, as the lookup sorts
    v.add(planned(1001, ["k"]), "g-new")  # MAX_BLOCK_SIZE + 1: skipped from now on, as in resolve_one
    oversized, candidates = v.candidates(planned(1002, ["k", "other"]))
    assert oversized == {"k"} and list(candidates) == ["g-old"]  # still found through the other key


def test_members_are_newest_first_capped_and_never_the_record_itself() -> None:
    from mdm.services.resolve import MAX_MEMBERS_PER_GOLDEN

    v = view(MAX_MEMBERS_PER_GOLDEN + 5)
    v.add(planned(500, ["k"]), "g-old")
    _, candidates = v.candidates(planned(3, ["k"]))  # a stored member re-deciding is not its own candidate
    assert len(candidates["g-old"]) == MAX_MEMBERS_PER_GOLDEN
    assert [m for m, _ in v.members["g-old"][:3]] == [500, MAX_MEMBERS_PER_GOLDEN + 5, MAX_MEMBERS_PER_GOLDEN + 4]
