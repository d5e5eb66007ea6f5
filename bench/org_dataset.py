"""A generated, labelled organization data set: CRM and ERP copies of companies, with hard negatives.

Copies differ the way Salesforce and ERP records of one company differ: legal
form variants, abbreviations, `&`/`and`, case, typos, street suffix and unit
spellings, phone formats, missing fields, a different direct-dial number.
Hard negatives: different businesses in the same building (other suite, some
sharing the switchboard number), branches of one chain (same name and web site,
other address and phone), and near-name neighbours in the same city.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

CITIES = [
    ("Springfield", "IL", "627", "217"), ("Chicago", "IL", "606", "312"), ("Peoria", "IL", "616", "309"),
    ("Columbus", "OH", "432", "614"), ("Cleveland", "OH", "441", "216"), ("Austin", "TX", "787", "512"),
    ("Dallas", "TX", "752", "214"), ("Denver", "CO", "802", "303"), ("Seattle", "WA", "981", "206"),
    ("Portland", "OR", "972", "503"), ("Atlanta", "GA", "303", "404"), ("Boston", "MA", "021", "617"),
    ("Phoenix", "AZ", "850", "602"), ("Madison", "WI", "537", "608"), ("Raleigh", "NC", "276", "919"),
]
STREETS = ["Main", "Oak", "Maple", "Cedar", "Elm", "Washington", "Lake", "Hill", "Park", "Pine", "Lincoln",
           "Jackson", "Church", "Market", "Broad", "Mill", "Water", "Spring", "River", "Ridge", "Sunset",
           "Franklin", "Highland", "Meadow", "Forest", "Prospect", "Adams", "Madison", "Union", "Center"]
SUFFIXES = [("Street", "St"), ("Avenue", "Ave"), ("Road", "Rd"), ("Boulevard", "Blvd"), ("Drive", "Dr"),
            ("Lane", "Ln"), ("Court", "Ct"), ("Parkway", "Pkwy"), ("Place", "Pl")]
DIRECTIONS = [("North", "N"), ("South", "S"), ("East", "E"), ("West", "W")]
SURNAMES = ["Anderson", "Baker", "Carter", "Dawson", "Ellis", "Fischer", "Garcia", "Hughes", "Iverson",
            "Jensen", "Keller", "Larsen", "Morgan", "Nolan", "Ortiz", "Patel", "Quinn", "Reyes", "Sullivan",
            "Turner", "Underwood", "Vaughn", "Walsh", "Young", "Zimmerman", "Brennan", "Castillo", "Duffy",
            "Foster", "Grant", "Hayes", "Kowalski", "Lindqvist", "Moreau", "Novak", "Okafor", "Petrov"]
ADJECTIVES = ["Blue", "Golden", "Summit", "Pioneer", "Liberty", "Evergreen", "Silver", "Northern", "Prairie",
              "Granite", "Coastal", "Redwood", "Bright", "Eagle", "Harbor", "Keystone", "Frontier", "Crown",
              "Atlas", "Beacon", "Cardinal", "Horizon", "Iron", "Lakeside", "Metro", "Apex", "Vertex", "Nova"]
NOUNS = ["Ridge", "Star", "River", "Oak", "Stone", "Bridge", "Field", "Peak", "Valley", "Rock", "Point",
         "Gate", "Bay", "Wolf", "Pine", "Arrow", "Anchor", "Crest", "Forge", "Harvest"]
INDUSTRIES = [("Manufacturing", "Mfg"), ("International", "Intl"), ("Services", "Svcs"),
              ("Technologies", "Tech"), ("Associates", "Assoc"), ("Distribution", "Dist"),
              ("Brothers", "Bros"), ("Management", "Mgmt"), ("Logistics", None), ("Foods", None),
              ("Construction", None), ("Consulting", None), ("Supply", None), ("Electric", None),
              ("Plumbing", None), ("Dental", None), ("Bakery", None), ("Hardware", None), ("Coffee", None),
              ("Auto Parts", None), ("Insurance", None), ("Realty", None), ("Pharmacy", None)]
LEGAL = [["Inc", "Inc.", "Incorporated", ""], ["Corp", "Corp.", "Corporation", ""], ["LLC", "L.L.C.", ""],
         ["Ltd", "Limited", ""], ["Co", "Co.", "Company", ""], [""]]
EIN_PREFIXES = ["12", "20", "27", "36", "45", "46", "47", "81", "82", "84", "85", "86", "87", "88", "91"]


@dataclass
class Company:
    entity: str
    base_name: str  # without legal form
    legal: list[str]
    industry_abbrev: tuple[str, str | None]
    number: int
    direction: tuple[str, str] | None
    street: str
    suffix: tuple[str, str]
    unit: str | None
    city: tuple[str, str, str, str]
    zip_code: str
    phone: str
    website: str | None
    ein: str | None
    email: str | None


def _typo(rng: random.Random, s: str) -> str:
    if len(s) < 4:
        return s
    i = rng.randrange(1, len(s) - 1)
    op = rng.choice(["swap", "drop", "replace", "double"])
    if op == "swap":
        return s[:i] + s[i + 1] + s[i] + s[i + 2 :]
    if op == "drop":
        return s[:i] + s[i + 1 :]
    if op == "double":
        return s[:i] + s[i] + s[i:]
    return s[:i] + rng.choice("abcdefghijklmnopqrstuvwxyz") + s[i + 1 :]


def _phone(rng: random.Random, area: str) -> str:
    return f"{area}{rng.randint(201, 989)}{rng.randint(0, 9999):04d}"


def _new_company(rng: random.Random, entity: str, used_names: set[str]) -> Company:
    while True:
        industry = rng.choice(INDUSTRIES)
        pattern = rng.random()
        if pattern < 0.35:
            base = f"{rng.choice(SURNAMES)} {industry[0]}"
        elif pattern < 0.7:
            base = f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} {industry[0]}"
        elif pattern < 0.85:
            base = f"{rng.choice(SURNAMES)} & {rng.choice(SURNAMES)} {industry[0]}"
        else:
            base = f"{rng.choice(ADJECTIVES)}{rng.choice(NOUNS).lower()} {industry[0]}"
        if base not in used_names:
            used_names.add(base)
            break
    city = rng.choice(CITIES)
    domain = "".join(ch for ch in base.lower().replace("&", "and") if ch.isalnum())[:20] + rng.choice(
        [".com", ".com", ".net", ".us", ".co"])
    return Company(
        entity=entity, base_name=base, legal=rng.choice(LEGAL), industry_abbrev=industry,
        number=rng.randint(1, 9999), direction=rng.choice(DIRECTIONS) if rng.random() < 0.2 else None,
        street=rng.choice(STREETS), suffix=rng.choice(SUFFIXES),
        unit=f"{rng.randint(1, 40) * 10}" if rng.random() < 0.3 else None, city=city,
        zip_code=city[2] + f"{rng.randint(0, 99):02d}", phone=_phone(rng, city[3]),
        website=domain if rng.random() < 0.7 else None,
        ein=rng.choice(EIN_PREFIXES) + f"{rng.randint(0, 9999999):07d}" if rng.random() < 0.7 else None,
        email=f"info@{domain}" if rng.random() < 0.3 else None,
    )


def _render(rng: random.Random, c: Company, source: str, *, clean: bool) -> dict[str, Any]:
    """One source system's copy of a company."""
    name = c.base_name
    full, abbrev = c.industry_abbrev
    if not clean:
        if abbrev and rng.random() < 0.3:
            name = name.replace(full, abbrev + rng.choice(["", "."]))
        if "&" in name and rng.random() < 0.5:
            name = name.replace("&", "and")
        if rng.random() < 0.1:
            name = "The " + name
        if rng.random() < 0.12:
            name = _typo(rng, name)
        r = rng.random()
        if r < 0.15:
            name = name.upper()
        elif r < 0.22:
            name = name.lower()
    legal = rng.choice(c.legal) if not clean else c.legal[0]
    if legal:
        name = f"{name}{rng.choice([' ', ', '])}{legal}"
    street_suffix = c.suffix[0] if clean or rng.random() < 0.5 else c.suffix[1] + rng.choice(["", "."])
    direction = ""
    if c.direction:
        direction = (c.direction[0] if clean or rng.random() < 0.5 else c.direction[1]) + " "
    street_name = c.street if clean or rng.random() > 0.08 else _typo(rng, c.street)
    line1 = f"{c.number} {direction}{street_name} {street_suffix}"
    line2 = None
    if c.unit:
        unit = f"Suite {c.unit}" if clean else rng.choice([f"Suite {c.unit}", f"Ste {c.unit}", f"#{c.unit}",
                                                           f"Ste. {c.unit}", f"Unit {c.unit}"])
        if not clean and rng.random() < 0.4:
            line1 = f"{line1} {unit}"
        elif clean or rng.random() < 0.85:
            line2 = unit
    zip_code = c.zip_code if clean or rng.random() < 0.8 else f"{c.zip_code}-{rng.randint(1000, 9999)}"
    address: dict[str, Any] | None = {"line1": line1, "line2": line2, "city": c.city[0],
                                      "region": c.city[1], "postal_code": zip_code, "country": "US"}
    if not clean:
        r = rng.random()
        if r < 0.08:
            address = None
        elif r < 0.12 and address:
            address["line1"] = None  # only a city
        elif r < 0.2 and address:
            address["country"] = None
            if rng.random() < 0.5:
                address["region"] = {"IL": "Illinois", "OH": "Ohio", "TX": "Texas"}.get(c.city[1], c.city[1])
    p = c.phone
    formats = [f"({p[:3]}) {p[3:6]}-{p[6:]}", f"{p[:3]}.{p[3:6]}.{p[6:]}", f"+1 {p[:3]} {p[3:6]} {p[6:]}",
               f"{p[:3]}-{p[3:6]}-{p[6:]}", p, f"1{p}"]
    phone: str | None = formats[0] if clean else rng.choice(formats)
    if not clean:
        r = rng.random()
        if r < 0.2:
            phone = None
        elif r < 0.28:
            phone = _phone(rng, c.city[3])  # a direct line instead of the switchboard
        elif r < 0.33:
            phone = f"{phone} ext. {rng.randint(100, 999)}"
    website = c.website
    if website and not clean:
        if rng.random() < 0.4:
            website = None
        else:
            website = rng.choice([website, f"www.{website}", f"https://www.{website}/", f"http://{website}"])
    ein = c.ein
    if ein:
        if source == "crm" and rng.random() < 0.7:
            ein = None
        elif not clean and rng.random() < 0.5:
            ein = f"{ein[:2]}-{ein[2:]}"
    email = c.email if clean or rng.random() < 0.6 else None
    return {"kind": "organization", "name": name, "address": address, "phone": phone, "website": website,
            "tax_id": ein, "email": email}


def generate(n_companies: int = 1500, seed: int = 7) -> list[tuple[str, str, dict[str, Any]]]:
    """[(record_id, entity_id, fields)] in arrival order (sources interleaved)."""
    rng = random.Random(seed)
    used: set[str] = set()
    companies: list[Company] = []
    for i in range(n_companies):
        c = _new_company(rng, f"e{i}", used)
        companies.append(c)
    extra: list[Company] = []
    for c in companies:
        r = rng.random()
        if r < 0.12:  # another business in the same building, other suite; a third share the switchboard
            other = _new_company(rng, f"e{len(companies) + len(extra)}", used)
            other.number, other.direction, other.street, other.suffix = c.number, c.direction, c.street, c.suffix
            other.city, other.zip_code = c.city, c.zip_code
            other.unit = f"{rng.randint(41, 90) * 10}"
            if rng.random() < 0.35:
                other.phone = c.phone
            extra.append(other)
        elif r < 0.18:  # branches of one chain: same name and web site, other address and phone
            for _ in range(rng.randint(1, 3)):
                branch = _new_company(rng, f"e{len(companies) + len(extra)}", used)
                branch.base_name, branch.legal, branch.industry_abbrev = c.base_name, c.legal, c.industry_abbrev
                branch.website, branch.email, branch.ein = c.website, c.email, None
                if rng.random() < 0.5:
                    branch.city = c.city
                    branch.zip_code = c.city[2] + f"{rng.randint(0, 99):02d}"
                    branch.phone = _phone(rng, c.city[3])
                extra.append(branch)
        elif r < 0.24:  # a near-name neighbour in the same city
            other = _new_company(rng, f"e{len(companies) + len(extra)}", used)
            first = c.base_name.split(" ")[0]
            other.base_name = f"{first} {rng.choice(INDUSTRIES)[0]}"
            if other.base_name == c.base_name:
                continue
            other.city, other.zip_code = c.city, c.zip_code
            extra.append(other)
    companies.extend(extra)
    records: list[tuple[str, str, dict[str, Any]]] = []
    for c in companies:
        sources = ["erp", "crm"] if rng.random() < 0.75 else rng.choice([["erp"], ["crm"], ["erp", "crm", "crm"]])
        for k, source in enumerate(sources):
            clean = k == 0 and rng.random() < 0.5
            records.append((f"{source}-{c.entity}-{k}", c.entity, _render(rng, c, source, clean=clean)))
    rng.shuffle(records)
    return records
