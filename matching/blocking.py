"""Blocking keys: the index entries through which candidates are found.

The service stores every record's keys in an indexed (key, golden_id) table, so
the candidates for an incoming record are one index lookup per key, never a
scan.  Several keys per record keep recall high (a typo in the surname is caught
by the given name + birth-date keys, a move by the name key, …).  Keys are "name:value"
strings of at most 200 characters.

Over-large blocks (a key shared by thousands of records, e.g. a chain's name or
a switchboard phone) are capped and reported with `cap_blocks`, never compared
all-to-all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import jellyfish

from .normalize.website import FREE_MAIL_DOMAINS
from .types import PreparedRecord

MAX_KEY_CHARS = 200
T = TypeVar("T")


def make_key(name: str, *parts: Any) -> str | None:
    """ "name:part1|part2"; None when any part is empty; hashed when too long."""
    if any(p is None or p == "" for p in parts):
        return None
    value = "|".join(str(p) for p in parts)
    key = f"{name}:{value}"
    if len(key) > MAX_KEY_CHARS:
        key = f"{name}:#{hashlib.sha1(value.encode()).hexdigest()}"
    return key


def soundex(text: str | None) -> str | None:
    """Soundex of the first word (letters only)."""
    if not text:
        return None
    word = "".join(ch for ch in text.split(" ", 1)[0] if ch.isalpha())
    return jellyfish.soundex(word) if word else None


def _compact(text: str | None) -> str:
    return "".join(ch for ch in text if ch.isalnum()) if text else ""


def name_prefix(text: str | None, n: int = 4) -> str | None:
    """First n letters/digits of a name, spaces ignored ("acme corp" → "acme")."""
    c = _compact(text)
    return c[:n] if len(c) >= min(n, 2) else None


def _initial(text: str | None) -> str | None:
    c = _compact(text)
    return c[0] if c else None


def customer_keys(p: PreparedRecord) -> list[str | None]:
    """Keys for customers.  Each must stay selective in a base of a million records.

    The service skips (and reports) any key shared by more than 200 records, so a key
    that is merely *usually* small is not good enough: "soundex(surname) + city" or
    "name prefix + city" put every Smith in Chicago, every "Comp…" in Springfield,
    into one block.  Every key below therefore combines at least two discriminating
    parts (an identifier alone, or a name code with a date, a postcode, or another
    name code and a date part).  Several keys per record let a copy whose surname,
    given name, birth year or postcode is corrupted still meet its original through
    another key.
    """
    v = p.values
    keys: list[str | None] = [
        make_key("tax", v.get("tax_id")),
        make_key("nid", v.get("national_id")),
        make_key("email", v.get("email")),
        make_key("phone", v.get("phone")),
    ]
    website = v.get("website")
    if website and website not in FREE_MAIL_DOMAINS:
        keys.append(make_key("web", website))
    postal, city = v.get("postal_code"), v.get("city")
    if v.get("kind") == "person" or v.get("first_name") or v.get("last_name"):
        first, last, dob = v.get("first_name"), v.get("last_name"), v.get("birth_date")
        sl, sf = soundex(last), soundex(first)
        year = dob[:4] if dob and len(dob) >= 4 else None
        day = dob[5:10] if dob and len(dob) == 10 else None
        pair = sorted([sf, sl]) if sf and sl else [None, None]  # order-free: survives swapped names
        names = sorted([_compact(first), _compact(last)]) if first and last else [None, None]
        keys += [
            make_key("p_dob_pc", dob, postal),                # birth date within a postcode: both names corrupted
            make_key("p_names", *names),                      # full names, order-free ("john|smith": ~160)
            make_key("p_ln_by", _compact(last), year),        # full surname + birth year ("smith|1970": ~125)
            make_key("p_names_by", *pair, year),              # name codes + birth year
            make_key("p_names_pc", *pair, postal),            # name codes + postcode
            make_key("p_ln_day", sl, day),                    # surname + birth day/month: year typo, other given name
            make_key("p_fn_day", sf, day),                    # given name + birth day/month: other surname (marriage)
            make_key("p_ln_pc", sl, postal),
            make_key("p_fn_pc", sf, postal),
            make_key("p_ln_fi_by", sl, _initial(first), year),
            make_key("p_fn_li_by", sf, _initial(last), year),
        ]
        # birth date + one initial, order-free (two keys, one family): both name codes changed
        # but one initial kept, or names swapped.  The date alone was a key once; it put ~40
        # people per date into a block at a million records, and its pairs grow with the square
        # (docs/benchmarks-speed.md, run 6)
        keys += [make_key("p_dob_i", dob, i) for i in sorted({_initial(first), _initial(last)} - {None})]
    name = v.get("name")
    if name:
        words = name.split(" ")
        keys += [
            make_key("o_name", name),                         # a chain's name is capped and reported
            make_key("o_pfx_pc", name_prefix(name), postal),  # prefix within a postcode, never within a city
            make_key("o_sx_pc", soundex(words[0]), postal),   # a typo in the first letters
            make_key("o_w2_city", _compact(" ".join(words[:2])) if len(words) >= 2 else None, city),
        ]
    if v.get("house_number") and v.get("street"):
        street_word = max(v["street"].split(" "), key=len)
        keys.append(make_key("addr", v["house_number"], street_word[:6], postal or city))
    return keys


def product_keys(p: PreparedRecord) -> list[str | None]:
    v = p.values
    name = v.get("name")
    return [
        make_key("gtin", v.get("gtin")),
        make_key("mpn", v.get("mpn")),
        make_key("sku", v.get("sku")),
        make_key("brand_name", v.get("brand"), name_prefix(name, 5)),
        make_key("name", " ".join(name.split(" ")[:3]) if name else None),
    ]


KEY_FUNCTIONS: dict[str, Callable[[PreparedRecord], list[str | None]]] = {
    "customer": customer_keys,
    "product": product_keys,
}


def blocking_keys(p: PreparedRecord) -> list[str]:
    """Distinct non-empty keys of a prepared record ([] when it has no usable field)."""
    if not p.usable:
        return []
    seen: dict[str, None] = {}
    for k in KEY_FUNCTIONS[p.domain](p):
        if k:
            seen.setdefault(k, None)
    return list(seen)


@dataclass
class BlockReport:
    """Result of capping candidate blocks: what was kept and which keys were too large."""

    kept: dict[str, list[Any]] = field(default_factory=dict)
    oversized: dict[str, int] = field(default_factory=dict)

    @property
    def candidates(self) -> list[Any]:
        """Distinct candidates over all kept blocks, in first-seen order."""
        seen: dict[Any, None] = {}
        for members in self.kept.values():
            for m in members:
                seen.setdefault(m, None)
        return list(seen)


def cap_blocks(blocks: Mapping[str, Iterable[T]], max_block_size: int) -> BlockReport:
    """Drop blocks larger than `max_block_size` and report them.

    A record whose every key is oversized gets no candidates (it becomes a new
    golden record, and the oversized keys are reported for a steward or a
    better key) — comparing it with thousands of records would be both slow
    and, for keys that common, not evidence of anything.
    """
    report = BlockReport()
    for key, members in blocks.items():
        items = list(members)
        if len(items) > max_block_size:
            report.oversized[key] = len(items)
        else:
            report.kept[key] = items
    return report
