"""Comparison levels: order, semantics, and scalar == column-wise evaluation."""

from __future__ import annotations

import pandas as pd
import pytest

from matching import MatchEngine
from matching.comparisons import (
    Comparison,
    DateCloseLevel,
    ElseLevel,
    ExactLevel,
    Level,
    NullLevel,
    SimilarityLevel,
)


def _levels(comp: Comparison, a: dict, b: dict) -> str:
    return comp.levels[comp.level_index(a, b)].label


def test_first_matching_level_wins_and_null_is_first() -> None:
    comp = Comparison("x", [NullLevel(label="null", cols=["x"]), ExactLevel(label="exact", col="x", m=0.9, u=0.01),
                            SimilarityLevel(label="close", col="x", threshold=0.8, m=0.05, u=0.05),
                            ElseLevel(label="else", m=0.05, u=0.94)])
    assert _levels(comp, {"x": "martha"}, {"x": "martha"}) == "exact"
    assert _levels(comp, {"x": "martha"}, {"x": "marhta"}) == "close"
    assert _levels(comp, {"x": "martha"}, {"x": "zoe"}) == "else"
    assert _levels(comp, {"x": None}, {"x": "zoe"}) == "null"


def test_date_close_level() -> None:
    lv = DateCloseLevel(col="d")
    assert lv.test({"d": "1980-03-04"}, {"d": "1980-04-03"})  # day/month swapped
    assert lv.test({"d": "1980-03-04"}, {"d": "1981-03-04"})  # one component
    assert not lv.test({"d": "1980-03-04"}, {"d": "1975-11-20"})


def test_swapped_names_level() -> None:
    engine = MatchEngine("customer")
    a = engine.prepare({"kind": "person", "first_name": "Nikita", "last_name": "McGregor"})
    b = engine.prepare({"kind": "person", "first_name": "McGregor", "last_name": "Nikita"})
    levels = {c.field: c.level for c in engine.score(a, b).comparisons}
    assert levels["first_name"] == levels["last_name"] == "swapped"


def test_level_json_round_trip() -> None:
    engine = MatchEngine("customer")
    for comp in engine.model.comparisons:
        again = Comparison.from_json(comp.to_json())
        assert again.to_json() == comp.to_json()
    with pytest.raises(KeyError):
        Level.from_json({"type": "nope"})


CUSTOMERS = [
    {"kind": "person", "first_name": "John", "last_name": "Smith", "birth_date": "1980-03-04",
     "address": {"line1": "1 Main St", "city": "Springfield", "postal_code": "62701"}, "phone": "217 555 0100"},
    {"kind": "person", "first_name": "Jon", "last_name": "Smyth", "birth_date": "1980-04-03",
     "address": {"line1": "1 Main Street Apt 4", "city": "Springfield", "postal_code": "62701"}},
    {"kind": "person", "first_name": "Smith", "last_name": "John", "national_id": "078-05-1120"},
    {"kind": "organization", "name": "Acme Corp", "phone": "(217) 555-0100", "website": "acme.com",
     "address": {"line1": "1 Main St Suite 5", "city": "Springfield", "postal_code": "62701"}},
    {"kind": "organization", "name": "ACME Corporation", "email": "info@acme.com", "tax_id": "12-3456789",
     "address": {"line1": "1 Main St Suite 7", "city": "Springfield", "postal_code": "62701"}},
    {"kind": "organization", "name": "Acme Tools", "address": {"city": "Shelbyville"}},
    {"kind": "person", "first_name": "Bob", "last_name": "Smith"},
    {"kind": "person", "first_name": "Robert", "last_name": "Smith", "birth_date": "1980-03-04"},
    {},
]


def test_score_frame_equals_pairwise_scores() -> None:
    engine = MatchEngine("customer")
    prepared = [engine.prepare(f) for f in CUSTOMERS]
    pairs = [(i, j) for i in range(len(prepared)) for j in range(len(prepared))]
    left = pd.DataFrame([prepared[i].values for i, _ in pairs])
    right = pd.DataFrame([prepared[j].values for _, j in pairs])
    frame = engine.score_frame(left, right)
    for row, (i, j) in enumerate(pairs):
        s = engine.score(prepared[i], prepared[j])
        assert frame["weight"].iloc[row] == pytest.approx(s.weight), (i, j)
        for comp, fc in zip(engine.model.comparisons, s.comparisons, strict=True):
            assert comp.levels[frame[comp.name].iloc[row]].label == fc.level, (i, j, comp.name)
