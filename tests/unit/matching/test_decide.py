"""Scoring and deciding: term frequencies, cluster consistency, guards, golden merges."""

from __future__ import annotations

import math

from matching import MatchEngine, MatchModel
from matching.engine import probability_from_weight

ENGINE = MatchEngine("customer")


def person(first: str, last: str, dob: str | None = None, **extra: object) -> dict:
    return {"kind": "person", "first_name": first, "last_name": last, "birth_date": dob, **extra}


def test_tf_adjustment_makes_common_values_weaker() -> None:
    model = MatchModel.from_json(ENGINE.model.to_json())
    model.tf = {"last_name": {"smith": 0.01}}
    engine = MatchEngine("customer", model=model)
    smith = engine.score(engine.prepare(person("Ann", "Smith", "1970-01-01")),
                         engine.prepare(person("Ann", "Smith", "1970-01-01")))
    rare = engine.score(engine.prepare(person("Ann", "Zielinski", "1970-01-01")),
                        engine.prepare(person("Ann", "Zielinski", "1970-01-01")))
    assert smith.weight < rare.weight
    row = next(c for c in smith.comparisons if c.field == "last_name")
    assert row.weight < ENGINE.model.comparison("last_name").levels[1].log2_bayes_factor()


def test_shipped_name_tables_weigh_common_names_less_and_cap_rare_ones() -> None:
    """Default model: census name frequencies, no training; a rare or misspelt name gains at most
    log2(u / floor) bits, a common one loses."""
    def last_name_weight(name: str) -> float:
        s = ENGINE.score(ENGINE.prepare(person("Ann", name)), ENGINE.prepare(person("Ann", name)))
        return next(c.weight for c in s.comparisons if c.field == "last_name")

    level = ENGINE.model.comparison("last_name").levels[1]
    base = level.log2_bayes_factor()
    floor = ENGINE.model.tf_min["last_name"]
    assert last_name_weight("Smith") < base < last_name_weight("Zielinski")
    assert abs(last_name_weight("Zielinski") - (base + math.log2(level.u / floor))) < 1e-9
    assert last_name_weight("Zielinski") == last_name_weight("Zielinsky")  # unknown values share the floor
    assert "smith" in ENGINE.model.to_json()["tf"]["last_name"]
    assert MatchModel.from_json(ENGINE.model.to_json()).tf_min == ENGINE.model.tf_min


def test_score_frame_applies_the_same_tf_floors_as_score() -> None:
    from matching.engine import records_frame

    pairs = [(person("Ann", "Smith", "1970-01-01"), person("Ann", "Smith", "1970-01-01")),
             (person("Keelin", "Szepessy", "1970-01-01"), person("Keelin", "Szepessy", "1970-01-01"))]
    left = records_frame([ENGINE.prepare(a) for a, _ in pairs])
    right = records_frame([ENGINE.prepare(b) for _, b in pairs])
    frame = ENGINE.score_frame(left, right)
    for i, (a, b) in enumerate(pairs):
        assert abs(frame["weight"].iloc[i] - ENGINE.score(ENGINE.prepare(a), ENGINE.prepare(b)).weight) < 1e-9


def test_cluster_consistency_no_chaining() -> None:
    """A≈B and B≈C must not pull C (far from A) into {A, B}."""
    a = ENGINE.prepare(person("John", "Smith", "1980-01-01", address={"line1": "1 Main St", "city": "X",
                                                                     "postal_code": "11111"}))
    b = ENGINE.prepare(person("John", "Smith", "1980-01-01", national_id="123456789"))
    c = ENGINE.prepare(person("Jonathan", "Smithers", "1955-07-30", national_id="123456789",
                              address={"line1": "9 Oak Ave", "city": "Y", "postal_code": "99999"}))
    assert ENGINE.decide(b, {"g": [a]}).action == "link"
    assert ENGINE.score(c, b).probability >= ENGINE.model.thresholds["upper"]
    assert ENGINE.score(c, a).probability < ENGINE.model.thresholds["lower"]
    d = ENGINE.decide(c, {"g": [a, b]})
    assert d.action != "link"
    assert d.explanation["aggregate"] == "median_member_weight"
    assert len(d.explanation["member_weights"]) == 2


def test_decision_probability_is_against_golden_not_best_pair() -> None:
    a = ENGINE.prepare(person("Ann", "Lee", "1990-05-05", phone="+1 217 555 0100"))
    far = ENGINE.prepare(person("Zed", "Quux", "1930-01-01"))
    d = ENGINE.decide(a, {"g": [a, a, far]})
    assert d.probability == probability_from_weight(d.ranked[0].weight)


def test_guard_blocks_same_building_shared_phone() -> None:
    addr = {"line1": "500 Market St", "city": "Springfield", "postal_code": "62701"}
    a = ENGINE.prepare({"kind": "organization", "name": "Ironridge Insurance", "phone": "217 555 0100",
                        "address": {**addr, "line2": "Suite 100"}})
    b = ENGINE.prepare({"kind": "organization", "name": "Sullivan Logistics LLC", "phone": "(217) 555-0100",
                        "address": {**addr, "line2": "Suite 740"}})
    s = ENGINE.score(a, b)
    assert "org_name_differs" in s.guards
    assert ENGINE.decide(b, {"g": [a]}).action == "new"


def test_guard_sends_chain_branches_to_review_at_most() -> None:
    a = ENGINE.prepare({"kind": "organization", "name": "Blue Gate Hardware Inc", "website": "bluegate.com",
                        "phone": "303 775 5220", "address": {"line1": "7365 Forest Ln", "city": "Denver",
                                                             "postal_code": "80257"}})
    b = ENGINE.prepare({"kind": "organization", "name": "Blue Gate Hardware", "website": "www.bluegate.com",
                        "phone": "303 212 4411", "address": {"line1": "12 River Rd", "city": "Denver",
                                                             "postal_code": "80203"}})
    d = ENGINE.decide(b, {"g": [a]})
    assert d.action in ("review", "new")
    assert "org_not_located" in d.explanation["guards"]


def test_kind_mismatch_never_links() -> None:
    a = ENGINE.prepare({"kind": "organization", "name": "John Smith", "phone": "217 555 0100"})
    b = ENGINE.prepare(person("John", "Smith", phone="217 555 0100"))
    assert ENGINE.decide(b, {"g": [a]}).action == "new"


def test_bridging_record_proposes_merge() -> None:
    base = {"kind": "person", "national_id": "5134549", "address": {"line1": "1 Sherwood Ct", "city": "Frankston",
                                                                   "postal_code": "3892"}}
    d1 = ENGINE.prepare({**base, "first_name": "Nikita", "last_name": "McGregor", "birth_date": "1925-01-27"})
    d2 = ENGINE.prepare({**base, "first_name": "Nikita", "last_name": "McGregor", "birth_date": "1925-01-27",
                         "national_id": None})
    rec = ENGINE.prepare({**base, "first_name": "Nikita", "last_name": "McGregor", "birth_date": "1925-01-27"})
    d = ENGINE.decide(rec, {"g1": [d1], "g2": [d2]})
    assert d.action == "link" and d.golden_id == "g1" and d.merge_with == ["g2"]
    assert d.to_json()["merge_with"] == ["g2"]


def test_ranked_best_first_and_review_band() -> None:
    model = MatchModel.from_json({**ENGINE.model.to_json(), "thresholds": {"upper": 0.999999, "lower": 0.01}})
    engine = MatchEngine("customer", model=model)
    a = engine.prepare(person("Ann", "Lee", "1990-05-05"))
    b = engine.prepare(person("Ann", "Lee", "1990-05-06"))
    c = engine.prepare(person("Bob", "Jones", "1950-01-01"))
    d = engine.decide(b, {"far": [c], "near": [a]})
    assert [x.golden_id for x in d.ranked][0] == "near"
    assert d.action == "review" and d.golden_id == "near"


def test_only_the_best_candidates_are_explained_in_full_and_ranking_is_unchanged() -> None:
    incoming = ENGINE.prepare(person("Katherine", "Lindqvist", "1984-06-02", email="k.lindqvist@example.com"))
    variants = ["Katherine", "Katharine", "Kathrine", "Catherine", "Kate", "Karin", "Kathy", "Katrin"]
    candidates = {f"g{i}": [ENGINE.prepare(person(first, "Lindqvist", "1984-06-02"))] for i, first in enumerate(variants)}
    full = {gid: ENGINE.score_golden(incoming, members) for gid, members in candidates.items()}

    decision = ENGINE.decide(incoming, candidates, explain=3)
    assert len(decision.ranked) == len(candidates)
    assert [c.golden_id for c in decision.ranked] == sorted(full, key=lambda g: full[g][0], reverse=True)
    for position, candidate in enumerate(decision.ranked):
        weight, explanation = full[candidate.golden_id]
        assert candidate.weight == weight
        if position < 3:
            assert candidate.explanation == {**explanation, "golden_id": candidate.golden_id}
        else:  # the summary: everything but the compared fields
            assert "comparisons" not in candidate.explanation
            assert candidate.explanation == {k: v for k, v in explanation.items() if k not in ("comparisons", "guards")} | {
                "golden_id": candidate.golden_id}
    # the decision's own explanation is the best candidate's, in full
    assert decision.explanation["comparisons"] == full[decision.ranked[0].golden_id][1]["comparisons"]
