"""prepare/score/decide never raise, whatever JSON arrives."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matching import MatchEngine

CUSTOMER_FIELDS = ["kind", "name", "first_name", "last_name", "birth_date", "tax_id", "national_id", "email",
                   "phone", "website", "address"]
PRODUCT_FIELDS = ["sku", "gtin", "mpn", "name", "brand", "category", "uom", "description"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=50),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=6,
)
ENGINES = {"customer": MatchEngine("customer"), "product": MatchEngine("product")}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fields=st.fixed_dictionaries({}, optional={f: json_values for f in CUSTOMER_FIELDS}),
       address=st.dictionaries(st.sampled_from(["line1", "line2", "city", "region", "postal_code", "country"]),
                               json_values, max_size=6))
def test_customer_never_raises(fields: dict, address: dict) -> None:
    engine = ENGINES["customer"]
    fields = {**fields, "address": address} if "address" not in fields else fields
    p = engine.prepare(fields)
    json.dumps(p.to_json())
    keys = engine.blocking_keys(p)
    assert all(len(k) <= 200 for k in keys) and len(set(keys)) == len(keys)
    ref = engine.prepare({"name": "Acme", "phone": "+1 217 555 0100"})
    engine.score(p, ref)
    engine.decide(p, {"g": [ref, p]})


@settings(max_examples=40, deadline=None)
@given(fields=st.fixed_dictionaries({}, optional={f: json_values for f in PRODUCT_FIELDS}))
def test_product_never_raises(fields: dict) -> None:
    engine = ENGINES["product"]
    p = engine.prepare(fields)
    json.dumps(p.to_json())
    engine.blocking_keys(p)
    engine.decide(p, {"g": [engine.prepare({"name": "Widget", "gtin": "4006381333931"})]})


ABSURD = [
    "x" * 10_000,
    "😀🏢🎉" * 100,
    "Acme\x00\x07\x1b[31m Corp\u200b\ufeff",
    "ООО «Ромашка»",
    "株式会社トヨタ",
    "شركة أرامكو",
    "\n\t\r",
    "",
]


@pytest.mark.parametrize("value", ABSURD)
@pytest.mark.parametrize("field", ["name", "first_name", "last_name", "email", "phone", "website", "tax_id",
                                   "birth_date", "national_id"])
def test_absurd_strings_are_normalized_or_flagged(field: str, value: str) -> None:
    engine = ENGINES["customer"]
    p = engine.prepare({"kind": "person" if field in ("first_name", "last_name") else "organization",
                        field: value, "address": {"line1": value, "city": value, "postal_code": value}})
    for v in p.values.values():
        assert v is None or (isinstance(v, str) and len(v) <= 1000 and v.isprintable())
    json.dumps(p.to_json())
    engine.decide(p, {"g": [p]})


def test_ten_kilobyte_name_is_flagged_as_truncated() -> None:
    p = MatchEngine("customer").prepare({"kind": "organization", "name": "acme " * 2000})
    assert "truncated" in p.flags["name"]
    assert p.values["name"]


def test_non_latin_names_are_transliterated() -> None:
    p = MatchEngine("customer").prepare({"kind": "organization", "name": "ООО «Ромашка»"})
    assert p.values["name"] and p.values["name"].isascii()
