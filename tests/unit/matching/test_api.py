"""The public contract of `matching` (docs/interfaces.md) that mdm/ integrates against."""

from __future__ import annotations

import json

import pytest

from matching import Candidate, Decision, FieldComparison, MatchEngine, MatchModel, PairScore, PreparedRecord

ACME = {"kind": "organization", "name": "Acme Corp.",
        "address": {"line1": "1 Main St", "city": "Springfield", "region": "IL", "postal_code": "62701"}}
ACME2 = {"kind": "organization", "name": "ACME Corporation",
         "address": {"line1": "1 Main Street", "city": "Springfield", "region": "IL", "postal_code": "62701"}}
GLOBEX = {"kind": "organization", "name": "Globex Inc",
          "address": {"line1": "9 Elm Ave", "city": "Shelbyville", "region": "IL", "postal_code": "62565"}}


@pytest.fixture(scope="module")
def engine() -> MatchEngine:
    return MatchEngine("customer")


def test_contract_example_links_and_separates(engine: MatchEngine) -> None:
    a, b, c = engine.prepare(ACME), engine.prepare(ACME2), engine.prepare(GLOBEX)
    assert set(engine.blocking_keys(a)) & set(engine.blocking_keys(b))
    linked = engine.decide(b, {"g1": [a]})
    assert linked.action == "link" and linked.golden_id == "g1"
    assert linked.probability >= engine.model.thresholds["upper"]
    fresh = engine.decide(c, {"g1": [a]})
    assert fresh.action == "new" and fresh.golden_id is None
    assert fresh.ranked and fresh.ranked[0].golden_id == "g1"


def test_types_and_explanation(engine: MatchEngine) -> None:
    a, b = engine.prepare(ACME), engine.prepare(ACME2)
    s = engine.score(a, b)
    assert isinstance(s, PairScore) and 0.0 <= s.probability <= 1.0
    assert all(isinstance(c, FieldComparison) for c in s.comparisons)
    name_row = next(c for c in s.comparisons if c.field == "name")
    assert (name_row.level, name_row.left, name_row.right) == ("exact", "acme", "acme")
    d = engine.decide(b, {"g1": [a]})
    assert isinstance(d, Decision) and isinstance(d.ranked[0], Candidate)
    assert d.explanation["model_version"] == engine.model.version
    assert d.explanation["thresholds"] == engine.model.thresholds
    assert {"field", "level", "weight", "left", "right"} <= set(d.explanation["comparisons"][0])
    json.dumps(d.to_json())
    json.dumps(s.to_json())


def test_prepared_record_round_trip(engine: MatchEngine) -> None:
    p = engine.prepare({**ACME, "phone": "not a phone", "email": "x"})
    doc = json.loads(json.dumps(p.to_json()))
    q = PreparedRecord.from_json(doc)
    assert q == p
    assert "email" in p.flags and "phone" in p.flags


def test_model_round_trip_gives_same_scores(engine: MatchEngine) -> None:
    doc = json.dumps(engine.model.to_json())
    model = MatchModel.from_json(doc)
    assert model.version == "default-customer-2"
    other = MatchEngine("customer", model=model)
    a, b = engine.prepare(ACME), engine.prepare(ACME2)
    assert other.score(a, b).weight == pytest.approx(engine.score(a, b).weight)
    assert model.to_json() == engine.model.to_json()


def test_excluded_golden_is_never_linked(engine: MatchEngine) -> None:
    a, b = engine.prepare(ACME), engine.prepare(ACME2)
    d = engine.decide(b, {"g1": [a]}, excluded=frozenset({"g1"}))
    assert d.action == "new" and d.golden_id is None
    assert any("excluded" in w for w in d.warnings)


def test_record_without_usable_field_is_new_with_warning(engine: MatchEngine) -> None:
    p = engine.prepare({"kind": "organization", "name": "  ", "phone": None})
    assert "no usable matching field" in p.warnings
    assert engine.blocking_keys(p) == []
    d = engine.decide(p, {"g1": [engine.prepare(ACME)]})
    assert d.action == "new" and "no usable matching field" in d.warnings


def test_unknown_domain_is_rejected() -> None:
    with pytest.raises(ValueError):
        MatchEngine("price")
