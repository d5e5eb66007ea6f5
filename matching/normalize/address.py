"""Postal addresses: usaddress for US addresses, a token fallback for the rest.

The output is split into components (house number, street, unit, city, region,
postal code, country) because addresses are compared by components: a different
suite in the same building is a different party more often than a typo is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import usaddress

from .country import normalize_country
from .text import fold, is_placeholder, to_text

STREET_SUFFIXES: dict[str, str] = {
    "alley": "aly", "allee": "aly", "ally": "aly", "annex": "anx", "arcade": "arc", "avenue": "ave",
    "av": "ave", "aven": "ave", "avenu": "ave", "avn": "ave", "avnue": "ave", "bayou": "byu",
    "beach": "bch", "bend": "bnd", "bluff": "blf", "bottom": "btm", "boulevard": "blvd", "boul": "blvd",
    "boulv": "blvd", "branch": "br", "bridge": "brg", "brook": "brk", "bypass": "byp", "camp": "cp",
    "canyon": "cyn", "cape": "cpe", "causeway": "cswy", "center": "ctr", "centre": "ctr", "cen": "ctr",
    "circle": "cir", "circ": "cir", "circuit": "cct", "cliff": "clf", "close": "cl", "club": "clb",
    "common": "cmn", "corner": "cor", "course": "crse", "court": "ct", "crt": "ct", "cove": "cv",
    "creek": "crk", "crescent": "cres", "cresent": "cres", "crest": "crst", "crossing": "xing",
    "drive": "dr", "driv": "dr", "drv": "dr", "esplanade": "esp", "estate": "est", "estates": "ests",
    "expressway": "expy", "extension": "ext", "falls": "fls", "ferry": "fry", "field": "fld",
    "fields": "flds", "flat": "flt", "ford": "frd", "forest": "frst", "fork": "frk", "fort": "ft",
    "freeway": "fwy", "garden": "gdn", "gardens": "gdns", "gateway": "gtwy", "glen": "gln",
    "green": "grn", "grove": "grv", "harbor": "hbr", "harbour": "hbr", "haven": "hvn",
    "heights": "hts", "highway": "hwy", "hiway": "hwy", "hill": "hl", "hills": "hls", "hollow": "holw",
    "island": "is", "junction": "jct", "key": "ky", "knoll": "knl", "lake": "lk", "lakes": "lks",
    "landing": "lndg", "lane": "ln", "loop": "loop", "mall": "mall", "manor": "mnr", "meadow": "mdw",
    "meadows": "mdws", "mews": "mews", "mill": "ml", "motorway": "mwy", "mount": "mt", "mountain": "mtn",
    "orchard": "orch", "parade": "pde", "park": "park", "parkway": "pkwy", "pkway": "pkwy",
    "parkwy": "pkwy", "pass": "pass", "path": "path", "pike": "pike", "pines": "pnes", "place": "pl",
    "plaza": "plz", "point": "pt", "port": "prt", "prairie": "pr", "promenade": "prom", "ranch": "rnch",
    "ridge": "rdg", "river": "riv", "road": "rd", "route": "rte", "row": "row", "run": "run",
    "shore": "shr", "shores": "shrs", "spring": "spg", "springs": "spgs", "square": "sq", "sqr": "sq",
    "station": "sta", "str": "st", "strt": "st", "street": "st", "stream": "strm", "summit": "smt",
    "terrace": "ter", "terr": "ter", "trace": "trce", "track": "trak", "trail": "trl", "turnpike": "tpke",
    "union": "un", "valley": "vly", "view": "vw", "village": "vlg", "ville": "vl", "vista": "vis",
    "walk": "walk", "way": "way", "wharf": "whrf", "wynd": "wynd", "strasse": "str", "straße": "str",
}
# Values are themselves canonical.
for _v in list(STREET_SUFFIXES.values()):
    STREET_SUFFIXES.setdefault(_v, _v)

DIRECTIONALS: dict[str, str] = {
    "north": "n", "south": "s", "east": "e", "west": "w", "northeast": "ne", "northwest": "nw",
    "southeast": "se", "southwest": "sw", "n": "n", "s": "s", "e": "e", "w": "w", "ne": "ne",
    "nw": "nw", "se": "se", "sw": "sw",
}
UNIT_DESIGNATORS = frozenset(
    ["apt", "apartment", "unit", "ste", "suite", "fl", "floor", "rm", "room", "bldg", "building", "dept", "lot", "trlr", "space", "spc", "ph", "penthouse", "office", "ofc", "flat", "level", "lvl", "shop", "tower", "#", "no"]
)

US_STATES: dict[str, str] = {
    "alabama": "AL", "alaska": "AK", "arizona": "AZ", "arkansas": "AR", "california": "CA",
    "colorado": "CO", "connecticut": "CT", "delaware": "DE", "florida": "FL", "georgia": "GA",
    "hawaii": "HI", "idaho": "ID", "illinois": "IL", "indiana": "IN", "iowa": "IA", "kansas": "KS",
    "kentucky": "KY", "louisiana": "LA", "maine": "ME", "maryland": "MD", "massachusetts": "MA",
    "michigan": "MI", "minnesota": "MN", "mississippi": "MS", "missouri": "MO", "montana": "MT",
    "nebraska": "NE", "nevada": "NV", "newhampshire": "NH", "newjersey": "NJ", "newmexico": "NM",
    "newyork": "NY", "northcarolina": "NC", "northdakota": "ND", "ohio": "OH", "oklahoma": "OK",
    "oregon": "OR", "pennsylvania": "PA", "rhodeisland": "RI", "southcarolina": "SC",
    "southdakota": "SD", "tennessee": "TN", "texas": "TX", "utah": "UT", "vermont": "VT",
    "virginia": "VA", "washington": "WA", "westvirginia": "WV", "wisconsin": "WI", "wyoming": "WY",
    "districtofcolumbia": "DC", "puertorico": "PR",
}
_US_CODES = frozenset(US_STATES.values())

CITY_WORDS = {"st": "saint", "ste": "sainte", "ft": "fort", "mt": "mount", "pt": "point", "n": "north",
              "s": "south", "e": "east", "w": "west"}

_TOKEN = re.compile(r"[a-z0-9]+")
_HOUSE = re.compile(r"^\d+[a-z]?$|^\d+-\d+$")
_US_ZIP = re.compile(r"^(\d{5})(?:-?\d{4})?$")


@dataclass
class NormalizedAddress:
    """Address components used for matching (all optional)."""

    house_number: str | None = None
    street: str | None = None
    unit: str | None = None
    building: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None
    flags: dict[str, str] = field(default_factory=dict)

    def as_values(self) -> dict[str, str | None]:
        return {
            "house_number": self.house_number,
            "street": self.street,
            "unit": self.unit,
            "building": self.building,
            "city": self.city,
            "region": self.region,
            "postal_code": self.postal_code,
            "country": self.country,
        }


def _std_street_tokens(words: list[str]) -> list[str]:
    out = []
    for i, w in enumerate(words):
        if i == len(words) - 1 or (i == len(words) - 2 and words[-1] in DIRECTIONALS):
            out.append(STREET_SUFFIXES.get(w, w))
        elif i == 0 and w in DIRECTIONALS and len(words) > 1:
            out.append(DIRECTIONALS[w])
        else:
            out.append(w)
    if len(out) > 1 and out[-1] in DIRECTIONALS:
        out[-1] = DIRECTIONALS[out[-1]]
    return out


def _std_unit(words: list[str]) -> str | None:
    ident = [w for w in words if w not in UNIT_DESIGNATORS]
    return " ".join(ident) or None


def normalize_postal_code(value: Any, country: str | None) -> tuple[str | None, str | None]:
    raw = to_text(value, max_chars=20)
    if raw.text is None:
        return None, raw.flag
    code = "".join(_TOKEN.findall(fold(raw.text))).upper()
    if not code or is_placeholder(code.lower()):
        return None, "placeholder postal code"
    if country in (None, "US"):
        m = _US_ZIP.match(code)
        if m:
            return m.group(1), raw.flag
        if country == "US" and code.isdigit() and len(code) == 4:  # Excel ate the leading zero
            return code.zfill(5), raw.flag
    return code, raw.flag


def normalize_region(value: Any) -> str | None:
    raw = to_text(value, max_chars=60)
    if raw.text is None:
        return None
    key = "".join(_TOKEN.findall(fold(raw.text)))
    if not key:
        return None
    return US_STATES.get(key, key.upper())


def normalize_city(value: Any) -> tuple[str | None, str | None]:
    raw = to_text(value, max_chars=100)
    if raw.text is None:
        return None, raw.flag
    words = [CITY_WORDS.get(w, w) for w in _TOKEN.findall(fold(raw.text))]
    city = " ".join(words)
    if not city or is_placeholder(city):
        return None, "placeholder city"
    return city, raw.flag


def _parse_us(line: str) -> dict[str, str] | None:
    try:
        tagged, _kind = usaddress.tag(line)
    except usaddress.RepeatedLabelError:
        return None
    except Exception:  # noqa: BLE001 — the CRF parser must never crash a job
        return None
    return dict(tagged)


def _street_from_us(parts: dict[str, str]) -> tuple[str | None, str | None, str | None]:
    number = parts.get("AddressNumber")
    name_parts = []
    for label in ("StreetNamePreDirectional", "StreetNamePreType", "StreetName", "StreetNamePostType",
                  "StreetNamePostDirectional"):
        if label in parts:
            words = _TOKEN.findall(fold(parts[label]))
            if label.endswith("Directional"):
                words = [DIRECTIONALS.get(w, w) for w in words]
            elif label.endswith("Type"):
                words = [STREET_SUFFIXES.get(w, w) for w in words]
            name_parts.extend(words)
    if "USPSBoxID" in parts:
        name_parts = ["po", "box", *(_TOKEN.findall(fold(parts["USPSBoxID"])))]
    unit_words = []
    for label in ("OccupancyType", "OccupancyIdentifier", "SubaddressType", "SubaddressIdentifier"):
        if label in parts:
            unit_words.extend(_TOKEN.findall(fold(parts[label])))
    house = "".join(_TOKEN.findall(fold(number))) if number else None
    return house or None, " ".join(name_parts) or None, _std_unit(unit_words)


def _street_from_tokens(line: str) -> tuple[str | None, str | None, str | None]:
    """Country-neutral fallback: "[unit/]number street words [unit designator id]"."""
    text = fold(line)
    unit = None
    m = re.match(r"^\s*(\d+[a-z]?)\s*/\s*(\d+[a-z]?)\b(.*)$", text)  # AU/NZ "5/15 smith st"
    if m:
        unit, text = m.group(1), f"{m.group(2)} {m.group(3)}"
    text = text.replace("#", " # ")
    words = _TOKEN.findall(text) if "#" not in text else re.findall(r"[a-z0-9]+|#", text)
    house = None
    street_words: list[str] = []
    unit_words: list[str] = []
    i = 0
    while i < len(words):
        w = words[i]
        if w in UNIT_DESIGNATORS and i + 1 < len(words) and (street_words or house):
            unit_words.extend(words[i + 1 : i + 2])
            i += 2
            continue
        if house is None and not street_words and _HOUSE.match(w):
            house = w
        elif house is not None and street_words and _HOUSE.match(w) and i == len(words) - 1:
            unit_words.append(w)
        elif house is None and street_words and _HOUSE.match(w) and i == len(words) - 1:
            house = w  # European "Hauptstrasse 5"
        else:
            street_words.append(w)
        i += 1
    if unit is None and unit_words:
        unit = _std_unit(unit_words)
    street = " ".join(_std_street_tokens(street_words)) or None
    return house, street, unit


def _has_suffix(text: str | None) -> bool:
    return bool(text) and text.rsplit(" ", 1)[-1] in STREET_SUFFIXES and " " in text


def _swap_street_and_building(out: NormalizedAddress) -> None:
    """line1 holds a building name and line2 the street: swap them back.

    CRM forms put "Acme Tower" in line 1 and "Main Street" in line 2 about as
    often as the other way round; components compare only when they are in the
    same slot.
    """
    if out.building and not _has_suffix(out.street) and _has_suffix(out.building):
        words = out.building.split(" ")
        words[-1] = STREET_SUFFIXES[words[-1]]
        out.street, out.building = " ".join(words), out.street


def normalize_address(value: Any, country_hint: str | None = None) -> NormalizedAddress:
    """Components of a canonical address dict ({line1, line2, city, region, postal_code, country}).

    A string is accepted as a one-line street address.  Never raises.
    """
    out = NormalizedAddress()
    if value is None:
        return out
    if isinstance(value, str):
        value = {"line1": value}
    if not isinstance(value, dict):
        out.flags["address"] = f"address must be an object, got {type(value).__name__}"
        return out
    country = normalize_country(value.get("country"))
    if country.flag:
        out.flags["address.country"] = country.flag
    out.country = country.text or country_hint
    out.region = normalize_region(value.get("region"))
    out.postal_code, flag = normalize_postal_code(value.get("postal_code"), out.country)
    if flag:
        out.flags["address.postal_code"] = flag
    out.city, flag = normalize_city(value.get("city"))
    if flag:
        out.flags["address.city"] = flag
    line1 = to_text(value.get("line1"), max_chars=300)
    line2 = to_text(value.get("line2"), max_chars=300)
    for name, cleaned in (("line1", line1), ("line2", line2)):
        if cleaned.flag:
            out.flags[f"address.{name}"] = cleaned.flag
    is_us = out.country == "US" or (
        out.country is None and (out.region in _US_CODES) and bool(out.postal_code and _US_ZIP.match(out.postal_code))
    )
    if line1.text:
        parsed = _parse_us(line1.text) if is_us else None
        if parsed and ("StreetName" in parsed or "USPSBoxID" in parsed):
            out.house_number, out.street, out.unit = _street_from_us(parsed)
        else:
            out.house_number, out.street, out.unit = _street_from_tokens(line1.text)
    if line2.text:
        _h, rest, unit2 = _street_from_tokens(line2.text)
        words = _TOKEN.findall(fold(line2.text))
        if words and words[0] in UNIT_DESIGNATORS or (words and "#" in line2.text):
            out.unit = out.unit or _std_unit(words)
        elif words and len(words) == 1 and _HOUSE.match(words[0]):
            out.unit = out.unit or words[0]
        else:
            out.building = " ".join(words) or None
            if unit2 and not out.unit:
                out.unit = unit2
        del rest
    _swap_street_and_building(out)
    if out.street and is_placeholder(out.street):
        out.street = None
    return out
