"""Shipped default models: comparisons with hand-set m/u from general knowledge.

Why hand-set: the hub must make sensible decisions before any training.  The
u values approximate how often two *different* parties agree at each level in a
large, diverse customer base (not fitted to any benchmark); m values how often
two copies of the *same* party do, given how CRM and ERP copies drift (typos,
abbreviations, moves, missing fields).  `matching.training.train` refines both.
"""

from __future__ import annotations

from . import name_frequencies as names
from .comparisons import (
    AllLevel,
    AnyLevel,
    Comparison,
    CrossLevel,
    DateCloseLevel,
    DistanceLevel,
    ElseLevel,
    ExactLevel,
    NicknameLevel,
    NotLevel,
    NullLevel,
    PrefixLevel,
    SimilarityLevel,
    SuffixLevel,
)
from .guards import Guard
from .model import MatchModel

CUSTOMER_VERSION = "default-customer-2"
"""default-customer-2: shipped census name frequency tables (term-frequency adjustment without training)."""


def _null(*cols: str, mode: str = "any") -> NullLevel:
    return NullLevel(label="null", cols=list(cols), mode=mode)


def _else(m: float, u: float) -> ElseLevel:
    return ElseLevel(label="else", m=m, u=u)


def customer_comparisons() -> list[Comparison]:
    """Comparisons for customers (organizations and people)."""
    return [
        Comparison(
            "kind",
            [_null("kind"), ExactLevel(label="exact", col="kind", m=0.99, u=0.6), _else(0.01, 0.4)],
            description="organization vs person",
        ),
        Comparison(
            "name",
            [
                _null("name"),
                ExactLevel(label="exact", col="name", m=0.60, u=2e-5, tf_column="name"),
                SimilarityLevel(label="close", col="name", metric="jaro_winkler", threshold=0.95, m=0.15, u=2e-4),
                SimilarityLevel(label="token_set", col="name", metric="token_set", threshold=0.92, m=0.10, u=1e-3),
                SimilarityLevel(label="far", col="name", metric="jaro_winkler", threshold=0.85, m=0.07, u=0.01),
                _else(0.08, 0.989),
            ],
            description="organization name, legal form removed",
        ),
        Comparison(
            "first_name",
            [
                _null("first_name"),
                ExactLevel(label="exact", col="first_name", m=0.80, u=0.01, tf_column="first_name"),
                SimilarityLevel(label="close", col="first_name", metric="jaro_winkler", threshold=0.92,
                                m=0.07, u=0.004),  # typo
                SimilarityLevel(label="swapped", col="first_name", other="last_name", metric="jaro_winkler",
                                threshold=0.88, m=0.02, u=1e-3),
                NicknameLevel(label="nickname", col="first_name", m=0.02, u=0.002),
                PrefixLevel(label="initial", col="first_name", m=0.02, u=0.02),
                SimilarityLevel(label="far", col="first_name", metric="jaro_winkler", threshold=0.80,
                                m=0.02, u=0.03),
                _else(0.05, 0.934),
            ],
            display=["first_name"],
        ),
        Comparison(
            "last_name",
            [
                _null("last_name"),
                ExactLevel(label="exact", col="last_name", m=0.82, u=0.002, tf_column="last_name"),
                SimilarityLevel(label="close", col="last_name", metric="jaro_winkler", threshold=0.92,
                                m=0.07, u=0.002),
                SimilarityLevel(label="swapped", col="last_name", other="first_name", metric="jaro_winkler",
                                threshold=0.88, m=0.02, u=1e-3),
                AnyLevel(label="cross", levels=[CrossLevel(col="last_name", other="first_name"),
                                                CrossLevel(col="first_name", other="last_name")],
                         m=0.01, u=5e-4),
                SimilarityLevel(label="far", col="last_name", metric="jaro_winkler", threshold=0.80,
                                m=0.03, u=0.02),
                _else(0.05, 0.976),
            ],
            display=["last_name"],
        ),
        Comparison(
            "birth_date",
            [
                _null("birth_date"),
                ExactLevel(label="exact", col="birth_date", m=0.88, u=5e-5),
                DateCloseLevel(label="close", col="birth_date", m=0.05, u=5e-3),
                DistanceLevel(label="far", col="birth_date", metric="damerau_levenshtein", max_distance=2,
                              m=0.02, u=0.03),
                _else(0.05, 0.965),
            ],
            description="exact; swapped day/month, one component or one typo; two typos; else",
        ),
        Comparison(
            "national_id",
            [
                _null("national_id"),
                ExactLevel(label="exact", col="national_id", m=0.9, u=1e-6),
                DistanceLevel(label="close", col="national_id", max_distance=1, m=0.05, u=1e-4),
                _else(0.05, 0.9999),
            ],
        ),
        Comparison(
            "tax_id",
            [
                _null("tax_id"),
                ExactLevel(label="exact", col="tax_id", m=0.9, u=1e-6),
                DistanceLevel(label="close", col="tax_id", max_distance=1, m=0.06, u=1e-4),
                _else(0.04, 0.9999),
            ],
        ),
        Comparison(
            "email",
            [
                _null("email"),
                ExactLevel(label="exact", col="email", m=0.65, u=1e-5, tf_column="email"),
                SimilarityLevel(label="close", col="email", metric="jaro_winkler", threshold=0.95, m=0.08, u=1e-4),
                _else(0.27, 0.9999),
            ],
        ),
        Comparison(
            "phone",
            [
                _null("phone"),
                ExactLevel(label="exact", col="phone", m=0.65, u=1e-5, tf_column="phone"),
                AnyLevel(label="close", levels=[SuffixLevel(col="phone", n=7), DistanceLevel(col="phone", max_distance=1)],
                         m=0.07, u=2e-4),
                _else(0.28, 0.9998),
            ],
            description="E.164; close = same local number or one typo",
        ),
        Comparison(
            "website",
            [_null("website"), ExactLevel(label="exact", col="website", m=0.7, u=1e-5, tf_column="website"),
             _else(0.3, 0.99999)],
        ),
        Comparison(
            "address",
            [
                _null("street", "postal_code", "city", mode="all"),
                AllLevel(
                    label="same_premise",
                    levels=[
                        ExactLevel(col="house_number"),
                        SimilarityLevel(col="street", metric="jaro_winkler", threshold=0.88, compact=True),
                        AnyLevel(levels=[ExactLevel(col="postal_code"),
                                         SimilarityLevel(col="city", metric="jaro_winkler", threshold=0.9)]),
                        NotLevel(levels=[AllLevel(levels=[_present_unit(), _different_unit()])]),
                    ],
                    m=0.60, u=2e-5,
                ),
                AllLevel(
                    label="same_building_other_unit",
                    levels=[
                        ExactLevel(col="house_number"),
                        SimilarityLevel(col="street", metric="jaro_winkler", threshold=0.88, compact=True),
                        AnyLevel(levels=[ExactLevel(col="postal_code"),
                                         SimilarityLevel(col="city", metric="jaro_winkler", threshold=0.9)]),
                    ],
                    m=0.04, u=2e-5,
                ),
                AllLevel(
                    label="same_street",
                    levels=[
                        SimilarityLevel(col="street", metric="jaro_winkler", threshold=0.88, compact=True),
                        AnyLevel(levels=[ExactLevel(col="postal_code"),
                                         SimilarityLevel(col="city", metric="jaro_winkler", threshold=0.9)]),
                    ],
                    m=0.10, u=1e-3,
                ),
                AllLevel(
                    label="same_locality",
                    levels=[AnyLevel(levels=[ExactLevel(col="postal_code"),
                                             SimilarityLevel(col="city", metric="jaro_winkler", threshold=0.92)])],
                    m=0.11, u=0.01,
                ),
                _else(0.15, 0.988),
            ],
            display=["house_number", "street", "unit", "city", "postal_code"],
            description="by components: premise (number, street, locality, unit), street, locality",
        ),
    ]


def _present_unit() -> AllLevel:
    """Both sides have a unit."""
    return AllLevel(levels=[NotLevel(levels=[NullLevel(cols=["unit"])])])


def _different_unit() -> NotLevel:
    return NotLevel(levels=[ExactLevel(col="unit")])


def product_comparisons() -> list[Comparison]:
    """Comparisons for products: GTIN exact, part number within brand, fuzzy name."""
    return [
        Comparison(
            "gtin",
            [_null("gtin"), ExactLevel(label="exact", col="gtin", m=0.9, u=1e-7), _else(0.1, 1.0 - 1e-7)],
            description="GTIN-14 after check-digit validation and zero padding",
        ),
        Comparison(
            "part_number",
            [
                _null("mpn"),
                AllLevel(label="exact_same_brand", levels=[ExactLevel(col="mpn"), ExactLevel(col="brand")],
                         m=0.6, u=1e-7),
                AllLevel(label="exact_brand_unknown", levels=[ExactLevel(col="mpn"),
                                                              AnyLevel(levels=[NullLevel(cols=["brand"])])],
                         m=0.15, u=1e-5),
                AllLevel(label="close_same_brand", levels=[DistanceLevel(col="mpn", max_distance=1),
                                                           ExactLevel(col="brand")], m=0.08, u=1e-4),
                ExactLevel(label="exact_other_brand", col="mpn", m=0.02, u=1e-4),
                _else(0.15, 0.9997),
            ],
            display=["mpn", "brand"],
            description="manufacturer part number, meaningful within a brand",
        ),
        Comparison(
            "sku",
            [_null("sku"), ExactLevel(label="exact", col="sku", m=0.5, u=1e-6, tf_column="sku"),
             DistanceLevel(label="close", col="sku", max_distance=1, m=0.05, u=1e-4),
             _else(0.45, 0.9999)],
            description="seller SKU: often shared between ERP and CRM, not always",
        ),
        Comparison(
            "brand",
            [_null("brand"), ExactLevel(label="exact", col="brand", m=0.9, u=0.02, tf_column="brand"),
             SimilarityLevel(label="close", col="brand", metric="jaro_winkler", threshold=0.9, m=0.06, u=0.005),
             _else(0.04, 0.975)],
        ),
        Comparison(
            "name",
            [
                _null("name"),
                ExactLevel(label="exact", col="name", m=0.5, u=1e-5, tf_column="name"),
                SimilarityLevel(label="close", col="name", metric="token_set", threshold=0.95, m=0.25, u=2e-4),
                SimilarityLevel(label="similar", col="name", metric="token_sort", threshold=0.85, m=0.13, u=3e-3),
                SimilarityLevel(label="far", col="name", metric="token_set", threshold=0.7, m=0.07, u=0.05),
                _else(0.05, 0.947),
            ],
        ),
        Comparison(
            "uom",
            [_null("uom"), ExactLevel(label="exact", col="uom", m=0.9, u=0.5), _else(0.1, 0.5)],
            description="unit of measure: a case of 12 is not the each",
        ),
    ]


def customer_guards() -> list[Guard]:
    """Patterns where summing independent evidence would link different parties."""
    return [
        Guard("kind_differs", 0.3, when={"kind": ["else"]},
              reason="an organization and a person are not linked automatically"),
        Guard("org_name_differs", 0.3, when={"name": ["else"]}, unless={"tax_id": ["exact"]},
              reason="organizations whose names do not resemble each other (same building, shared "
                     "switchboard) are different parties unless the tax id agrees"),
        Guard("org_not_located", 0.5, when={"name": ["exact", "close", "token_set", "far"]},
              unless={"address": ["same_premise"], "phone": ["exact", "close"], "tax_id": ["exact", "close"]},
              reason="name, web site and e-mail are shared by a chain's branches: an organization is "
                     "linked automatically only when an address, phone or tax id agrees too"),
        Guard("person_not_identified", 0.5, when={"last_name": ["exact", "close", "swapped", "cross", "far"]},
              unless={"birth_date": ["exact", "close"], "national_id": ["exact", "close"],
                      "email": ["exact"], "phone": ["exact"], "address": ["same_premise", "same_street"],
                      "tax_id": ["exact"]},
              reason="two people with similar names are linked automatically only when a birth date, id, "
                     "contact or street address agrees too"),
    ]


def product_guards() -> list[Guard]:
    """Variants (size, colour, pack) share names and brands but never a GTIN."""
    return [
        Guard("gtin_differs", 0.3, when={"gtin": ["else"]},
              reason="different GTINs are different trade items (variants, pack sizes)"),
        Guard("part_number_differs", 0.3, when={"part_number": ["else", "exact_other_brand"]},
              unless={"gtin": ["exact"]},
              reason="different manufacturer part numbers are different products unless the GTIN agrees"),
        Guard("product_not_identified", 0.5, when={"name": ["exact", "close", "similar", "far"]},
              unless={"gtin": ["exact"], "sku": ["exact"],
                      "part_number": ["exact_same_brand", "exact_brand_unknown", "close_same_brand"]},
              reason="a product is linked automatically only when a code (GTIN, SKU, part number) agrees"),
    ]


def default_model(domain: str) -> MatchModel:
    """The model the hub uses before `mdm model train` has run."""
    if domain == "customer":
        return MatchModel(domain="customer", version=CUSTOMER_VERSION, comparisons=customer_comparisons(),
                          prior=1e-4, thresholds={"upper": 0.95, "lower": 0.5}, guards=customer_guards(),
                          tf={"first_name": dict(names.FIRST_NAMES), "last_name": dict(names.LAST_NAMES)},
                          tf_min={"first_name": names.FIRST_NAME_FLOOR, "last_name": names.LAST_NAME_FLOOR},
                          metadata={"tf_source": names.SOURCE})
    if domain == "product":
        return MatchModel(domain="product", version="default-product-1", comparisons=product_comparisons(),
                          prior=1e-4, thresholds={"upper": 0.95, "lower": 0.5}, guards=product_guards())
    raise ValueError(f"unknown matching domain {domain!r} (expected 'customer' or 'product')")
