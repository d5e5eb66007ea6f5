"""Organization names: legal forms removed for matching, `&`/`and`, punctuation.

The display name is never changed here; survivorship keeps the source spelling.
Only the matching key drops "Inc", "GmbH", "Pty Ltd" etc., because CRM and ERP
copies of one company disagree mostly on those.
"""

from __future__ import annotations

import re
from typing import Any

from .text import Cleaned, fold, is_placeholder, to_text

# Multi-word legal forms first (matched on the token sequence).
LEGAL_FORMS: tuple[tuple[str, ...], ...] = tuple(
    tuple(f.split())
    for f in sorted(
        {
            "pty ltd", "pty limited", "proprietary limited", "pvt ltd", "private limited", "sdn bhd",
            "co ltd", "company limited", "limited liability company", "limited partnership",
            "l l c", "l l p", "l p", "p c", "s a", "s a s", "s a r l", "s r l", "s p a", "b v", "n v",
            "a g", "a s", "a b", "gmbh co kg", "gmbh and co kg", "co kg", "ag co kg", "se co kg",
            "public limited company", "s de r l", "s a de c v", "sa de cv", "ltda",
            "inc", "incorporated", "corp", "corporation", "co", "company", "llc", "llp", "lp", "ltd",
            "limited", "plc", "gmbh", "ag", "kg", "ohg", "ug", "ev", "sa", "sas", "sarl", "srl", "spa",
            "bv", "nv", "oy", "oyj", "ab", "as", "asa", "aps", "kk", "pte", "pty", "pvt", "bhd", "sdn",
            "se", "ooo", "zao", "oao", "pao", "ao", "kft", "zrt", "sro", "spol", "sp", "zoo", "doo", "pc", "pllc", "lllp", "cic",
        },
        key=lambda f: -len(f.split()),
    )
)

# Abbreviations whose spelled-out form appears in the other system.
ABBREVIATIONS: dict[str, str] = {
    "intl": "international", "int": "international", "mfg": "manufacturing", "mfr": "manufacturing",
    "assoc": "associates", "assocs": "associates", "bros": "brothers", "svc": "services",
    "svcs": "services", "serv": "services", "dept": "department", "natl": "national",
    "ntl": "national", "grp": "group", "hldgs": "holdings", "hldg": "holding", "mgmt": "management",
    "mgt": "management", "tech": "technologies", "technology": "technologies", "sys": "systems",
    "ctr": "center", "centre": "center", "univ": "university", "inst": "institute",
    "dist": "distribution", "distr": "distribution", "ent": "enterprises", "ind": "industries",
    "inds": "industries", "labs": "laboratories", "lab": "laboratories", "amer": "american",
    "st": "saint", "mt": "mount", "ft": "fort", "n": "north", "s": "south", "e": "east",
    "w": "west", "assn": "association", "cty": "county", "co-op": "cooperative",
    "coop": "cooperative", "solns": "solutions", "sol": "solutions", "prods": "products",
    "prod": "products", "engg": "engineering", "eng": "engineering", "constr": "construction",
}

_SPLIT = re.compile(r"[^0-9a-z]+")
_DOTTED_INITIALS = re.compile(r"\b(?:[a-z]\.){2,}")


def _tokens(text: str) -> list[str]:
    text = fold(text)
    text = _DOTTED_INITIALS.sub(lambda m: m.group(0).replace(".", ""), text)  # "a.c.m.e." → "acme"
    text = text.replace("&", " and ").replace("+", " and ").replace("'", "")
    return [t for t in _SPLIT.split(text) if t]


def strip_legal_form(words: list[str]) -> tuple[list[str], str | None]:
    """Remove trailing (and leading "the") legal-form tokens; return (words, legal form)."""
    found: list[str] = []
    changed = True
    while changed and len(words) > 1:
        changed = False
        for form in LEGAL_FORMS:
            n = len(form)
            if len(words) > n and tuple(words[-n:]) == form:
                found.insert(0, " ".join(form))
                words = words[:-n]
                changed = True
                break
        if words and words[-1] == "and" and len(words) > 1:  # "smith and co" → "smith"
            words = words[:-1]
            changed = True
    if len(words) > 1 and words[0] == "the":
        words = words[1:]
    return words, (" ".join(found) or None)


def normalize_org_name(value: Any) -> Cleaned:
    """Matching form of an organization name.

    >>> normalize_org_name("The ACME Corp., Inc.")
    ('acme', None)
    >>> normalize_org_name("Smith & Sons Mfg. GmbH")
    ('smith and sons manufacturing', None)
    """
    raw = to_text(value, max_chars=300)
    if raw.text is None:
        return raw
    if is_placeholder(fold(raw.text)) or is_placeholder(" ".join(_tokens(raw.text))):
        return Cleaned(None, "placeholder name")
    words, _legal = strip_legal_form(_tokens(raw.text))
    words = [ABBREVIATIONS.get(w, w) for w in words]
    name = " ".join(words)
    if not name:
        return Cleaned(None, raw.flag or "no letters or digits in name")
    return Cleaned(name, raw.flag)


def legal_form(value: Any) -> str | None:
    """The legal form found in a name ("corp", "gmbh") — for display and for checks."""
    raw = to_text(value, max_chars=300)
    if raw.text is None:
        return None
    return strip_legal_form(_tokens(raw.text))[1]
