"""The compiled pair kernel scores exactly as a plain walk over the model does.

`reference` below is the scoring loop the engine ran before the kernel (every level's `test`
method in order, the weight recomputed from m/u and term frequencies, guards matched on a dict
of labels): the kernel must agree with it bit for bit on the weight and on every label, so that
stored decisions do not move.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pytest

from matching import MatchEngine, MatchModel
from matching.columns import RecordColumns
from matching.comparisons import (
    AllLevel,
    Comparison,
    CrossLevel,
    DateCloseLevel,
    ElseLevel,
    ExactLevel,
    Level,
    NicknameLevel,
    NullLevel,
)
from matching.engine import records_frame
from matching.guards import Guard
from matching.kernel import weight_from_probability

PEOPLE = [
    {"kind": "person", "first_name": "John", "last_name": "Smith", "birth_date": "1980-03-04",
     "address": {"line1": "1 Main St", "city": "Springfield", "postal_code": "62701"}, "phone": "217 555 0100",
     "email": "john.smith@example.com"},
    {"kind": "person", "first_name": "Jon", "last_name": "Smyth", "birth_date": "1980-04-03",
     "address": {"line1": "1 Main Street Apt 4", "city": "Springfield", "postal_code": "62701"}},
    {"kind": "person", "first_name": "Smith", "last_name": "John", "national_id": "078-05-1120"},
    {"kind": "person", "first_name": "J", "last_name": "Smith", "birth_date": "1980-03-05", "national_id": "078-05-1121",
     "address": {"line1": "1 Main St Apt 5", "city": "Springfeld", "postal_code": "62702"}},
    {"kind": "person", "first_name": "Bob", "last_name": "Smith", "phone": "+1 312 555 0100",
     "address": {"line1": "1 M ain St", "city": "Springfield"}},  # a space typo: only compact streets agree
    {"kind": "person", "first_name": "Robert", "last_name": "Smith", "birth_date": "1980-03-04",
     "email": "jon.smith@example.com"},
    {"kind": "person", "first_name": "Zofia", "last_name": "Zielinski", "birth_date": "1966-12-01",
     "address": {"line1": "12 Sturta Venue", "city": "Chicago"}},
    {"kind": "person", "first_name": "Zofia", "last_name": "Zielinska", "birth_date": "1966-01-12",
     "address": {"line1": "12 Sturt Ave", "city": "Chicago", "postal_code": "60601"}},
    {"kind": "organization", "name": "Acme Corp", "phone": "(217) 555-0100", "website": "acme.com",
     "address": {"line1": "1 Main St Suite 5", "city": "Springfield", "postal_code": "62701"}},
    {"kind": "organization", "name": "ACME Corporation", "email": "info@acme.com", "tax_id": "12-3456789",
     "address": {"line1": "1 Main St Suite 7", "city": "Springfield", "postal_code": "62701"}},
    {"kind": "organization", "name": "Acme Tools", "tax_id": "12-3456780", "address": {"city": "Shelbyville"}},
    {"kind": "organization", "name": "Acme Corporation Holdings", "website": "acme.com"},
    {},
]

PRODUCTS = [
    {"gtin": "4006381333931", "name": "Bosch Cordless Drill 18V", "brand": "Bosch", "uom": "EA", "mpn": "GSR18V"},
    {"gtin": "04006381333931", "name": "BOSCH cordless drill, 18 V", "brand": "Robert Bosch GmbH", "sku": "D-18"},
    {"gtin": "4006381333948", "name": "Bosch Cordless Drill 12V", "brand": "Bosch", "mpn": "GSR12V", "sku": "D-12"},
    {"name": "Cordless Drill 18V", "mpn": "GSR18V", "sku": "D-18", "uom": "CS"},
    {"name": "Hammer", "brand": "Stanley", "mpn": "GSR18W"},
]


def reference(engine: MatchEngine, va: dict[str, Any], vb: dict[str, Any]) -> tuple[float, list[str], list[float], list[str]]:
    """The walk the engine did before the kernel (kept here as the specification)."""
    model = engine.model
    weight = model.prior_weight
    labels: list[str] = []
    weights: list[float] = []
    for comp in model.comparisons:
        try:
            li = comp.level_index(va, vb)
            level = comp.levels[li]
            if level.is_null:
                w = 0.0
            else:
                w = level.log2_bayes_factor()
                if level.tf_column and level.u:
                    f = model.tf_frequency(level.tf_column, va.get(level.tf_column))
                    if f is not None:
                        w += math.log2(level.u / max(f, 1e-12))
            label = level.label
        except Exception:  # noqa: BLE001
            w, label = 0.0, "null"
        weight += w
        labels.append(label)
        weights.append(w)
    applied: list[str] = []
    levels = {comp.name: label for comp, label in zip(model.comparisons, labels, strict=True)}
    for guard in model.guards:
        if guard.applies(levels):
            cap = weight_from_probability(guard.max_probability)
            if weight > cap:
                weight = cap
                applied.append(guard.name)
    return weight, labels, weights, applied


def _variants(records: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """The records plus copies with a typo, a dropped field or swapped values."""
    rng = random.Random(seed)
    out = list(records)
    for rec in records:
        for _ in range(3):
            copy = {k: (dict(v) if isinstance(v, dict) else v) for k, v in rec.items()}
            keys = [k for k, v in copy.items() if isinstance(v, str) and len(v) > 2]
            if not keys:
                continue
            k = rng.choice(keys)
            v = copy[k]
            i = rng.randrange(len(v) - 1)
            op = rng.randrange(3)
            if op == 0:
                copy[k] = v[:i] + v[i + 1] + v[i] + v[i + 2:]
            elif op == 1:
                del copy[k]
            else:
                other = rng.choice(keys)
                copy[k], copy[other] = copy[other], copy[k]
            out.append(copy)
    return out


def _all_levels(levels: list[Level]) -> list[Level]:
    out: list[Level] = []
    for lv in levels:
        out.append(lv)
        out.extend(_all_levels(getattr(lv, "levels", [])))
    return out


@pytest.mark.parametrize(("domain", "records"), [("customer", PEOPLE), ("product", PRODUCTS)])
def test_kernel_equals_the_plain_walk_bit_for_bit(domain: str, records: list[dict[str, Any]]) -> None:
    engine = MatchEngine(domain)
    prepared = [engine.prepare(r) for r in _variants(records, seed=3)]
    checked = guarded = 0
    for a, b in itertools.product(prepared, repeat=2):
        weight, labels, weights, applied = reference(engine, a.values, b.values)
        score = engine.score(a, b)
        assert engine.weight(a, b) == weight == score.weight == engine.kernel.scorer(a.values)(b.values)
        assert [c.level for c in score.comparisons] == labels
        assert [c.weight for c in score.comparisons] == weights
        assert score.guards == applied
        checked += 1
        guarded += bool(applied)
    assert checked == len(prepared) ** 2 >= 400 and guarded > 10  # the guards were exercised, not only plain sums


@pytest.mark.parametrize(("domain", "records"), [("customer", PEOPLE), ("product", PRODUCTS)])
def test_every_compiled_level_agrees_with_its_test(domain: str, records: list[dict[str, Any]]) -> None:
    engine = MatchEngine(domain)
    prepared = [engine.prepare(r).values for r in _variants(records, seed=5)]
    for comp in engine.model.comparisons:
        for level in _all_levels(comp.levels):
            compiled = level.compile()
            held = 0
            for a, b in itertools.product(prepared, repeat=2):
                expected = level.test(a, b)
                assert bool(compiled(a, b)) == bool(expected), (comp.name, level, a, b)
                held += bool(expected)
            assert held or isinstance(level, AllLevel | NullLevel), (comp.name, level.label)


@dataclass
class _Broken(Level):
    """A level whose test raises on a value it cannot handle."""

    col: str = ""
    type_name: ClassVar[str] = "broken_for_test"

    def test(self, a: Any, b: Any) -> bool:
        if a.get(self.col) == "boom":
            raise ValueError("cannot compare")
        return False


def test_a_failing_comparison_counts_as_null_and_missing_guard_comparisons_are_ignored() -> None:
    model = MatchModel(
        domain="customer", version="t",
        comparisons=[
            Comparison("x", [NullLevel(label="null", cols=["x"]), _Broken(label="odd", col="x", m=0.5, u=0.1),
                             ExactLevel(label="exact", col="x", m=0.9, u=0.01), ElseLevel(label="else", m=0.1, u=0.9)]),
            Comparison("y", [NullLevel(label="null", cols=["y"]), ExactLevel(label="exact", col="y", m=0.9, u=0.01),
                             ElseLevel(label="else", m=0.1, u=0.9)]),
        ],
        guards=[Guard("x_unknown", 0.2, when={"x": ["null"]}),
                Guard("needs_z", 0.1, when={"z": ["exact"]}),
                Guard("unless_z", 0.3, when={"y": ["exact"]}, unless={"z": ["exact"]})],
    )
    engine = MatchEngine("customer", model=model)
    cases = [({"x": "boom", "y": "a"}, {"x": "boom", "y": "a"}), ({"x": "a", "y": "a"}, {"x": "a", "y": "a"}),
             ({"x": None, "y": "b"}, {"x": "a", "y": "c"})]
    for va, vb in cases:
        a, b = engine.prepare({}), engine.prepare({})
        a.values.update(va)
        b.values.update(vb)
        weight, labels, _, applied = reference(engine, a.values, b.values)
        score = engine.score(a, b)
        assert (score.weight, [c.level for c in score.comparisons], score.guards) == (weight, labels, applied)
    boom = engine.score(*(engine.prepare({}) for _ in range(2)))
    assert boom.weight == model.prior_weight  # nothing prepared: every comparison null


def test_the_kernel_follows_a_replaced_model() -> None:
    engine = MatchEngine("customer")
    a = engine.prepare(PEOPLE[0])
    before = engine.weight(a, a)
    stricter = engine.model.copy()
    stricter.prior = 1e-9
    engine.model = stricter
    assert engine.weight(a, a) == pytest.approx(before + (stricter.prior_weight - MatchEngine("customer").model.prior_weight))


@pytest.mark.parametrize(("domain", "records"), [("customer", PEOPLE), ("product", PRODUCTS)])
def test_indexed_scoring_equals_the_kernel_bit_for_bit(domain: str, records: list[dict[str, Any]]) -> None:
    """Bulk scoring over record indices (record-level presence, codes and text) gives every pair
    the weight and the levels the one-pair kernel gives, and ``score_frame`` (two aligned frames) too."""
    engine = MatchEngine(domain)
    prepared = [engine.prepare(r) for r in _variants(records, seed=3)]
    store = engine.record_columns(prepared)
    pairs = list(itertools.product(range(len(prepared)), repeat=2))
    left = np.array([i for i, _ in pairs])
    right = np.array([j for _, j in pairs])
    computed = (set(store._codes), set(store._texts), set(store._derived))
    weights = engine.score_indexed(store, left, right)
    levels = engine.levels_indexed(store, left, right)
    # record_columns computed all a pool process reads: scoring derived nothing more
    assert (set(store._codes), set(store._texts), set(store._derived)) == computed
    frame = engine.score_frame(records_frame(prepared[i] for i in left), records_frame(prepared[j] for j in right))
    for row, (i, j) in enumerate(pairs):
        score = engine.score(prepared[i], prepared[j])
        assert weights[row] == score.weight == frame["weight"].iloc[row], (i, j)
        assert [comp.levels[li].label for comp, li in zip(engine.model.comparisons, levels[row], strict=True)] == \
            [c.level for c in score.comparisons], (i, j)


@pytest.mark.parametrize(("domain", "records"), [("customer", PEOPLE), ("product", PRODUCTS)])
def test_every_level_on_pair_views_agrees_with_its_test(domain: str, records: list[dict[str, Any]]) -> None:
    """Each level's column test gives the same answers on pair views of one store (codes, gathered
    presence and text, short-circuited sub-levels) as on plain aligned arrays and pair by pair."""
    engine = MatchEngine(domain)
    values = [engine.prepare(r).values for r in _variants(records, seed=5)]
    store = RecordColumns.from_values(values)
    pairs = list(itertools.product(range(len(values)), repeat=2))
    left, right = store.side(np.array([i for i, _ in pairs])), store.side(np.array([j for _, j in pairs]))
    for comp in engine.model.comparisons:
        for level in _all_levels(comp.levels):
            plain_left = {c: left[c] for c in comp.columns()}
            plain_right = {c: right[c] for c in comp.columns()}
            on_views = level.test_columns(left, right, len(pairs))
            on_arrays = level.test_columns(plain_left, plain_right, len(pairs))
            expected = [bool(level.test(values[i], values[j])) for i, j in pairs]
            assert on_views.tolist() == on_arrays.tolist() == expected, (comp.name, level)


def test_record_columns_share_codes_across_columns_and_survive_odd_values() -> None:
    """Codes compare across columns (a surname in the given-name field); missing values are -1;
    unhashable values leave a column without codes and the levels compare the values instead."""
    store = RecordColumns.from_values([
        {"a": "smith", "b": "john", "c": ["x"]},
        {"a": "john", "b": "smith", "c": ["x"]},
        {"a": None, "b": float("nan"), "c": None},
        {"a": "smith j", "b": 7},
    ])
    a, b = store.codes("a"), store.codes("b")
    assert a is not None and b is not None
    assert a[0] == b[1] and a[1] == b[0] and a[2] == -1 and b[2] == -1
    assert store.decode(np.array([a[0], -1])) == ["smith", None]
    assert store.codes("c") is None and store.present("c").tolist() == [True, True, False, False]
    assert store.values("missing").tolist() == [None] * 4
    assert store.texts("a", compact=True).tolist() == ["smith", "john", None, "smithj"]
    assert store.texts("b").tolist() == ["john", "smith", None, "7"]
    rows = [{k: store.values(k)[i] for k in ("a", "b", "c")} for i in range(4)]
    pairs = list(itertools.product(range(4), repeat=2))
    left, right = store.side(np.array([i for i, _ in pairs])), store.side(np.array([j for _, j in pairs]))
    for level in (ExactLevel(col="c"), ExactLevel(col="a"), CrossLevel(col="a", other="b"), CrossLevel(col="b", other="a")):
        expected = [level.test(rows[i], rows[j]) for i, j in pairs]
        assert level.test_columns(left, right, len(pairs)).tolist() == expected, level
        assert any(expected), level


def test_date_and_nickname_levels_on_pair_views_agree_with_their_tests() -> None:
    """The column-wise date and nickname tests (codes of derived parts) on awkward values."""
    dates = ["1980-03-04", "1980-04-03", "1981-03-04", "1980-03-05", "1908-03-04", "1980-3-04", "04/03/1980",
             "1980-03-40", "2001-12-11", "2001-11-12", "", None, 19800304]
    names = ["bob", "robert", "bob smith", "rob", "bobby", "b", "", None, "william", "bill", "liz", "elizabeth"]
    for col, level, values in (("d", DateCloseLevel(col="d"), dates), ("n", NicknameLevel(col="n"), names)):
        store = RecordColumns.from_values([{col: v} for v in values])
        pairs = list(itertools.product(range(len(values)), repeat=2))
        left, right = store.side(np.array([i for i, _ in pairs])), store.side(np.array([j for _, j in pairs]))
        expected = [bool(level.test({col: values[i]}, {col: values[j]})) for i, j in pairs]
        assert level.test_columns(left, right, len(pairs)).tolist() == expected, col
        assert sum(expected) > len(values)  # more than the diagonal holds
