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

import pytest

from matching import MatchEngine, MatchModel
from matching.comparisons import AllLevel, Comparison, ElseLevel, ExactLevel, Level, NullLevel
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
