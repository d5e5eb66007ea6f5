"""Blocking keys: shared by corrupted copies, distinct, bounded; oversized blocks are capped and reported."""

from __future__ import annotations

from matching import MatchEngine, cap_blocks
from matching.blocking import make_key

ENGINE = MatchEngine("customer")


def keys(fields: dict) -> set[str]:
    return set(ENGINE.blocking_keys(ENGINE.prepare(fields)))


def test_person_copies_share_a_key_despite_typos() -> None:
    a = keys({"kind": "person", "first_name": "Katherine", "last_name": "Zielinski", "birth_date": "1970-02-03"})
    b = keys({"kind": "person", "first_name": "Kathrine", "last_name": "Zielinsky", "birth_date": "1970-03-02"})
    c = keys({"kind": "person", "first_name": "Zielinski", "last_name": "Katherine", "birth_date": "1971-02-03"})
    assert a & b and a & c


def test_org_keys_include_identifiers_and_name_location() -> None:
    k = keys({"kind": "organization", "name": "Acme Corp", "phone": "217-555-0100", "tax_id": "12-3456789",
              "website": "https://acme.com", "email": "info@acme.com",
              "address": {"line1": "1 Main St", "city": "Springfield", "postal_code": "62701", "country": "US"}})
    prefixes = {x.split(":", 1)[0] for x in k}
    assert {"phone", "tax", "web", "email", "o_name", "o_pfx_pc", "o_pfx_city", "addr"} <= prefixes


def test_free_mail_domain_is_not_a_key() -> None:
    assert not any(x.startswith("web:") for x in keys({"kind": "organization", "name": "X", "website": "gmail.com"}))


def test_keys_are_bounded_and_empty_for_unusable_records() -> None:
    assert keys({}) == set()
    long_key = make_key("o_name", "x" * 500)
    assert long_key is not None and len(long_key) <= 200
    assert make_key("a", None) is None


def test_cap_blocks_reports_oversized() -> None:
    report = cap_blocks({"phone:+1": range(1000), "o_name:acme": ["g1", "g2"], "addr:x": ["g2", "g3"]}, 500)
    assert report.oversized == {"phone:+1": 1000}
    assert report.candidates == ["g1", "g2", "g3"]
    assert ENGINE.max_block_size == ENGINE.model.max_block_size


def test_product_keys() -> None:
    engine = MatchEngine("product")
    a = set(engine.blocking_keys(engine.prepare({"gtin": "4006381333931", "mpn": "AB-100", "brand": "Bosch",
                                                 "name": "Cordless Drill 18V"})))
    b = set(engine.blocking_keys(engine.prepare({"gtin": "04006381333931", "name": "Drill"})))
    assert "gtin:04006381333931" in a & b
