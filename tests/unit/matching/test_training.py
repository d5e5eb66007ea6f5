"""train(): u from random pairs, m by EM, tf tables, labels, version bump — on a small synthetic set."""

from __future__ import annotations

import json
import random

import pytest

from matching import MatchEngine, MatchModel
from matching.training import train

ENGINE = MatchEngine("customer")
FIRST = ["anna", "ben", "carla", "dev", "emma", "farid", "gus", "hana", "ivan", "jo", "kai", "lena"]
LAST = ["smith"] * 8 + ["zielinski", "okafor", "nguyen", "moreau", "patel", "garcia", "kowalski", "ito"]


def _typo(s: str, rng: random.Random) -> str:
    i = rng.randrange(len(s))
    return s[:i] + s[i + 1 :] if len(s) > 3 else s


@pytest.fixture(scope="module")
def data() -> list:
    rng = random.Random(1)
    records = []
    for _ in range(250):
        f, last = rng.choice(FIRST), rng.choice(LAST)
        dob = f"19{rng.randint(30, 99)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        base = {"kind": "person", "first_name": f, "last_name": last, "birth_date": dob,
                "address": {"line1": f"{rng.randint(1, 99)} Main St", "postal_code": f"{rng.randint(10000, 10100)}"}}
        records.append(ENGINE.prepare(base))
        if rng.random() < 0.5:
            dup = {**base, "first_name": _typo(f, rng) if rng.random() < 0.3 else f}
            records.append(ENGINE.prepare(dup))
    return records


@pytest.fixture(scope="module")
def trained(data: list) -> MatchModel:
    return train("customer", data, seed=3, u_pairs=20_000)


def test_train_bumps_version_and_round_trips(trained: MatchModel) -> None:
    assert trained.version == "customer-3"
    assert trained.metadata["trained_from"] == "default-customer-2"
    again = MatchModel.from_json(json.dumps(trained.to_json()))
    assert again.to_json() == trained.to_json()
    assert train("customer", [], base=trained).version == "customer-4"


def test_probabilities_are_valid_and_data_driven(trained: MatchModel) -> None:
    for comp in trained.comparisons:
        for lv in comp.levels:
            if not lv.is_null:
                assert 0.0 < lv.m <= 1.0 and 0.0 < lv.u <= 1.0, (comp.name, lv.label)
    first_exact = trained.comparison("first_name").levels[1]
    assert first_exact.u > 0.03  # 12 first names: ~1/12 of random pairs agree, far above the default 0.01
    assert first_exact.m > first_exact.u
    assert 0 < trained.prior < 0.05


def test_tf_table_holds_common_values(trained: MatchModel) -> None:
    assert "smith" in trained.tf["last_name"]
    assert "ito" not in trained.tf.get("last_name", {}) or trained.tf["last_name"]["ito"] < trained.tf["last_name"]["smith"]


def test_labels_move_m(data: list) -> None:
    a = ENGINE.prepare({"kind": "person", "first_name": "Anna", "last_name": "Smith", "birth_date": "1950-01-01"})
    b = ENGINE.prepare({"kind": "person", "first_name": "Anna", "last_name": "Smith", "birth_date": "1999-12-31"})
    plain = train("customer", data, seed=3, u_pairs=20_000)
    labelled = train("customer", data, labels=[(a, b, True)] * 30, seed=3, u_pairs=20_000)
    else_level = lambda m: m.comparison("birth_date").levels[-1].m  # noqa: E731
    assert else_level(labelled) > else_level(plain)


def test_domain_mismatch_rejected() -> None:
    with pytest.raises(ValueError):
        train("product", [], base=ENGINE.model)
