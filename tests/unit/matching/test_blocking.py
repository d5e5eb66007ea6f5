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
    k = keys({"kind": "organization", "name": "Acme Tools Corp", "phone": "217-555-0100", "tax_id": "12-3456789",
              "website": "https://acme.com", "email": "info@acme.com",
              "address": {"line1": "1 Main St", "city": "Springfield", "postal_code": "62701", "country": "US"}})
    prefixes = {x.split(":", 1)[0] for x in k}
    assert {"phone", "tax", "web", "email", "o_name", "o_pfx_pc", "o_sx_pc", "o_w2_city", "addr"} <= prefixes


def test_no_key_is_a_name_prefix_or_name_code_with_only_a_city() -> None:
    """The service skips keys shared by > 200 records: "comp" + Springfield or S530 + Chicago would be."""
    org = keys({"kind": "organization", "name": "Company of Springfield", "address": {"city": "Springfield"}})
    assert not any(k.endswith("|springfield") and not k.startswith("o_w2_city:") for k in org)
    assert "o_w2_city:companyof|springfield" in org
    person = keys({"kind": "person", "first_name": "John", "last_name": "Smith", "birth_date": "1970-01-02",
                   "address": {"city": "Chicago", "postal_code": "60601"}})
    assert not any(k.endswith("|chicago") for k in person)
    # every person key combines two discriminating parts (or is an identifier): a birth date
    # alone holds ~40 people at a million records, and its pairs grow with the square
    assert all("|" in k or k.startswith(("nid:", "email:", "phone:", "tax:")) for k in person)
    assert "p_dob_pc:1970-01-02|60601" in person


def test_same_birth_date_with_both_name_codes_changed_meets_through_an_initial_or_postcode() -> None:
    """What the date-only key used to catch: other soundex codes for both names, same date."""
    a = keys({"kind": "person", "first_name": "Katherine", "last_name": "Zielinski", "birth_date": "1970-02-03"})
    b = keys({"kind": "person", "first_name": "Cathy", "last_name": "Zmielinski", "birth_date": "1970-02-03"})
    swapped = keys({"kind": "person", "first_name": "Zelinsky", "last_name": "Kate", "birth_date": "1970-02-03"})
    moved = keys({"kind": "person", "first_name": "Rina", "last_name": "Wells", "birth_date": "1970-02-03",
                  "address": {"postal_code": "2600", "country": "AU"}})
    same_pc = keys({"kind": "person", "first_name": "Katrina", "last_name": "Oswell", "birth_date": "1970-02-03",
                    "address": {"postal_code": "2600", "country": "AU"}})
    assert a & b == {"p_dob_i:1970-02-03|z"}
    assert a & swapped >= {"p_dob_i:1970-02-03|k", "p_dob_i:1970-02-03|z"}
    assert moved & same_pc == {"p_dob_pc:1970-02-03|2600"}
    stranger = keys({"kind": "person", "first_name": "Bob", "last_name": "Hope", "birth_date": "1970-02-03"})
    assert not a & stranger  # the same date alone is no longer a block


def test_heavily_corrupted_person_copies_still_meet() -> None:
    """Other surname and birth year (marriage, typo): the given name + day/month or postcode keys remain."""
    a = keys({"kind": "person", "first_name": "Emma", "last_name": "Louca", "birth_date": "1959-03-08",
              "address": {"line1": "92 Cherry Pl", "postal_code": "3377", "city": "Berwick", "country": "AU"}})
    b = keys({"kind": "person", "first_name": "Emma", "last_name": "Hughes", "birth_date": "1958-03-08"})
    c = keys({"kind": "person", "first_name": "Emmk", "last_name": "Louca", "birth_date": "1999-01-01",
              "address": {"postal_code": "3377", "country": "AU"}})
    assert a & b and a & c


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
