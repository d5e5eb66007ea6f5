"""Countries to ISO 3166-1 alpha-2, so phones and tax ids know their region."""

from __future__ import annotations

from typing import Any

from .text import Cleaned, alnum, fold, to_text

_NAMES: dict[str, str] = {
    "us": "US", "usa": "US", "unitedstates": "US", "unitedstatesofamerica": "US", "america": "US",
    "ca": "CA", "can": "CA", "canada": "CA", "mx": "MX", "mex": "MX", "mexico": "MX",
    "gb": "GB", "uk": "GB", "gbr": "GB", "unitedkingdom": "GB", "greatbritain": "GB", "england": "GB",
    "scotland": "GB", "wales": "GB", "ie": "IE", "irl": "IE", "ireland": "IE",
    "de": "DE", "deu": "DE", "germany": "DE", "deutschland": "DE", "fr": "FR", "fra": "FR", "france": "FR",
    "es": "ES", "esp": "ES", "spain": "ES", "espana": "ES", "it": "IT", "ita": "IT", "italy": "IT",
    "italia": "IT", "nl": "NL", "nld": "NL", "netherlands": "NL", "holland": "NL", "thenetherlands": "NL",
    "be": "BE", "bel": "BE", "belgium": "BE", "at": "AT", "aut": "AT", "austria": "AT",
    "ch": "CH", "che": "CH", "switzerland": "CH", "schweiz": "CH", "se": "SE", "swe": "SE", "sweden": "SE",
    "no": "NO", "nor": "NO", "norway": "NO", "dk": "DK", "dnk": "DK", "denmark": "DK",
    "fi": "FI", "fin": "FI", "finland": "FI", "pl": "PL", "pol": "PL", "poland": "PL",
    "pt": "PT", "prt": "PT", "portugal": "PT", "au": "AU", "aus": "AU", "australia": "AU",
    "nz": "NZ", "nzl": "NZ", "newzealand": "NZ", "jp": "JP", "jpn": "JP", "japan": "JP",
    "cn": "CN", "chn": "CN", "china": "CN", "in": "IN", "ind": "IN", "india": "IN",
    "br": "BR", "bra": "BR", "brazil": "BR", "brasil": "BR", "ar": "AR", "arg": "AR", "argentina": "AR",
    "za": "ZA", "zaf": "ZA", "southafrica": "ZA", "sg": "SG", "sgp": "SG", "singapore": "SG",
    "hk": "HK", "hkg": "HK", "hongkong": "HK", "kr": "KR", "kor": "KR", "southkorea": "KR",
    "korea": "KR", "ru": "RU", "rus": "RU", "russia": "RU", "cz": "CZ", "cze": "CZ", "czechia": "CZ",
    "czechrepublic": "CZ", "gr": "GR", "grc": "GR", "greece": "GR", "il": "IL", "isr": "IL",
    "israel": "IL", "tr": "TR", "tur": "TR", "turkey": "TR", "ae": "AE", "are": "AE",
    "unitedarabemirates": "AE", "uae": "AE", "hu": "HU", "hun": "HU", "hungary": "HU",
    "ro": "RO", "rou": "RO", "romania": "RO", "lu": "LU", "lux": "LU", "luxembourg": "LU",
}


def normalize_country(value: Any) -> Cleaned:
    """ISO alpha-2 country code; unknown names are flagged and not used."""
    raw = to_text(value, max_chars=100)
    if raw.text is None:
        return raw
    key = alnum(raw.text)
    if not key:
        return Cleaned(None, "no letters in country")
    code = _NAMES.get(key)
    if code is None and len(key) == 2 and key.isalpha():
        code = key.upper()  # trust an unknown alpha-2 code; phonenumbers/stdnum validate later
    if code is None:
        return Cleaned(None, f"unknown country {fold(raw.text)[:40]!r}")
    return Cleaned(code, raw.flag)
