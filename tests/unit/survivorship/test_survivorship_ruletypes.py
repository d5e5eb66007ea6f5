"""Each rule type on its own: which candidates it keeps."""

from __future__ import annotations

import datetime as dt

import pytest

from survivorship.candidates import Candidate
from survivorship.model import Member
from survivorship.ruletypes import (
    FirstValid,
    Highest,
    Lowest,
    MostComplete,
    MostFrequent,
    MostRecent,
    SourcePriority,
    Union,
    completeness,
)

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def cand(value, source="salesforce", rid=1, days=0, valid=True) -> Candidate:
    member = Member(rid, source, f"{source}-{rid}", T0 + dt.timedelta(days=days), {"f": value})
    return Candidate(member, value, valid)


def values(cands: list[Candidate]) -> list:
    return [c.value for c in cands]


class TestSourcePriority:
    def test_first_listed_source_wins(self):
        rule = SourcePriority({"sources": ("erp", "salesforce")}, "string")
        assert values(rule.select([cand("s", "salesforce"), cand("e", "erp", 2)])) == ["e"]

    def test_unlisted_source_ranks_after_listed(self):
        rule = SourcePriority({"sources": ("erp",)}, "string")
        assert values(rule.select([cand("w", "webshop"), cand("s", "salesforce", 2)])) == ["w", "s"]
        assert values(rule.select([cand("w", "webshop"), cand("e", "erp", 2)])) == ["e"]

    def test_same_source_is_a_tie(self):
        rule = SourcePriority({"sources": ("erp",)}, "string")
        assert values(rule.select([cand("a", "erp", 1), cand("b", "erp", 2)])) == ["a", "b"]


class TestMostRecent:
    def test_newest_updated_at_wins(self):
        assert values(MostRecent({}, "any").select([cand("old", days=1), cand("new", rid=2, days=5)])) == [
            "new"
        ]

    def test_missing_updated_at_counts_as_oldest(self):
        undated = Candidate(Member(3, "erp", "x", None, {"f": "u"}), "u", True)
        assert values(MostRecent({}, "any").select([undated, cand("dated", days=-300)])) == ["dated"]

    def test_equal_timestamps_tie(self):
        assert len(MostRecent({}, "any").select([cand("a"), cand("b", rid=2)])) == 2


class TestMostComplete:
    def test_longest_text_wins(self):
        assert values(MostComplete({}, "string").select([cand("Acme"), cand("Acme Inc", rid=2)])) == [
            "Acme Inc"
        ]

    def test_address_with_most_filled_parts_wins(self):
        short = {"line1": "1 Main St", "city": "Springfield", "postal_code": ""}
        full = {"line1": "1 Main", "city": "Springfield", "postal_code": "12345"}
        assert values(MostComplete({}, "object").select([cand(short), cand(full, rid=2)])) == [full]

    def test_completeness_measure(self):
        assert completeness({"a": "x", "b": " ", "c": None}) == 1
        assert completeness(["a", "", "b"]) == 2
        assert completeness("  ab ") == 2
        assert completeness(7) == 1


class TestMostFrequent:
    def test_majority_value_wins(self):
        cands = [cand("ACME"), cand("Acme", rid=2), cand("Acme", rid=3)]
        assert values(MostFrequent({}, "string").select(cands)) == ["Acme", "Acme"]

    def test_dicts_vote_regardless_of_key_order(self):
        a, b = {"city": "X", "line1": "1"}, {"line1": "1", "city": "X"}
        cands = [cand(a), cand(b, rid=2), cand({"line1": "2"}, rid=3)]
        assert len(MostFrequent({}, "object").select(cands)) == 2

    def test_tie_keeps_all(self):
        assert len(MostFrequent({}, "string").select([cand("a"), cand("b", rid=2)])) == 2


class TestHighestLowest:
    def test_decimal_compared_as_number_not_text(self):
        cands = [cand("9.50"), cand("10.00", rid=2), cand("nonsense", rid=3)]
        assert values(Highest({}, "decimal").select(cands)) == ["10.00"]
        assert values(Lowest({}, "decimal").select(cands)) == ["9.50"]

    def test_dates(self):
        cands = [cand("2024-02-01"), cand("2023-12-31", rid=2)]
        assert values(Highest({}, "date").select(cands)) == ["2024-02-01"]
        assert values(Lowest({}, "date").select(cands)) == ["2023-12-31"]

    def test_datetimes_with_mixed_offsets(self):
        cands = [cand("2024-01-01T12:00:00+02:00"), cand("2024-01-01T11:00:00Z", rid=2)]
        assert values(Highest({}, "datetime").select(cands)) == ["2024-01-01T11:00:00Z"]

    def test_nothing_parses_means_no_decision(self):
        cands = [cand("x"), cand("y", rid=2)]
        assert len(Highest({}, "integer").select(cands)) == 2

    def test_equal_numbers_tie(self):
        assert len(Lowest({}, "decimal").select([cand("1.0"), cand("1.00", rid=2)])) == 2


class TestFirstValid:
    def test_valid_beats_invalid(self):
        cands = [cand("bad", valid=False), cand("good", rid=2)]
        assert values(FirstValid({}, "string").select(cands)) == ["good"]

    @pytest.mark.parametrize("valid", [True, False])
    def test_all_same_validity_is_no_decision(self, valid):
        assert (
            len(FirstValid({}, "string").select([cand("a", valid=valid), cand("b", rid=2, valid=valid)])) == 2
        )


def test_union_marker_never_narrows():
    cands = [cand("a"), cand("b", rid=2)]
    assert Union({}, "email").select(cands) == cands
