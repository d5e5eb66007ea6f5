"""Products (GTIN exact, part number within brand, fuzzy name) and keyed prices."""

from __future__ import annotations

from matching import MatchEngine
from matching.prices import find_overlaps, price_key

P = MatchEngine("product")


def test_same_gtin_different_spelling_links() -> None:
    a = P.prepare({"gtin": "4006381333931", "name": "Bosch Cordless Drill 18V", "brand": "Bosch", "uom": "EA"})
    b = P.prepare({"gtin": "04006381333931", "name": "BOSCH cordless drill, 18 V", "brand": "Robert Bosch GmbH",
                   "uom": "each"})
    assert P.decide(b, {"g": [a]}).action == "link"


def test_different_gtin_is_new_even_with_same_name() -> None:
    a = P.prepare({"gtin": "4006381333931", "name": "Cordless Drill 18V", "brand": "Bosch"})
    b = P.prepare({"gtin": "036000291452", "name": "Cordless Drill 18V", "brand": "Bosch"})
    assert P.decide(b, {"g": [a]}).action != "link"


def test_mpn_counts_within_brand() -> None:
    a = P.prepare({"mpn": "GSR-18V", "brand": "Bosch", "name": "Drill driver 18V"})
    same = P.prepare({"mpn": "gsr18v", "brand": "BOSCH", "name": "Bosch GSR 18V drill driver"})
    other = P.prepare({"mpn": "GSR-18V", "brand": "Makita", "name": "Drill driver 18V"})
    levels = {c.field: c.level for c in P.score(a, same).comparisons}
    assert levels["part_number"] == "exact_same_brand"
    assert P.score(a, same).weight > P.score(a, other).weight
    assert P.decide(same, {"g": [a]}).action == "link"


def test_price_key_normalizes() -> None:
    k1 = price_key({"price_list": "Retail ", "currency": "eur", "min_quantity": "1.00", "valid_from": "2024-01-01"},
                   "g1")
    k2 = price_key({"price_list": "retail", "currency": "EUR", "min_quantity": 1, "valid_from": "20240101"}, "g1")
    assert k1 == k2 == ("retail", "g1", "EUR", "1", "2024-01-01")
    assert price_key({"min_quantity": "ten"}, "g")[3] == "invalid"


def test_find_overlaps() -> None:
    k = lambda start: price_key({"price_list": "retail", "currency": "EUR", "valid_from": start}, "g1")  # noqa: E731
    periods = [
        {"id": "p1", "key": k("2024-01-01"), "valid_to": "2024-06-30"},
        {"id": "p2", "key": k("2024-07-01"), "valid_to": "2024-12-31"},  # adjacent, no overlap
        {"id": "p3", "key": k("2024-12-01")},  # open-ended, overlaps p2
        {"id": "p4", "key": price_key({"price_list": "retail", "currency": "USD", "valid_from": "2024-01-01"}, "g1")},
    ]
    conflicts = find_overlaps(periods)
    assert [c["ids"] for c in conflicts] == [["p2", "p3"]]
    assert conflicts[0]["overlap_from"] == "2024-12-01" and conflicts[0]["overlap_to"] == "2024-12-31"
