"""Tax ids and national ids with python-stdnum: format and check digit per country.

A value that fails its check digit is flagged but still used for matching — the
ERP and CRM copies of one customer often carry the same mistyped number.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from stdnum.exceptions import ValidationError
from stdnum.util import get_cc_module

from .text import Cleaned, alnum, is_placeholder, to_text

_EU_VAT_PREFIXES = frozenset(
    ["AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "EL", "ES", "FI", "FR", "GB", "HR", "HU", "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK", "XI"]
)
_TAX_KINDS = ("vat", "tin", "ein", "abn", "acn", "gst", "bn", "uid", "ust", "cif", "nif", "siren", "kvk")
_PERSON_KINDS = ("ssn", "tfn", "sin", "nino", "idnr", "personalid", "pesel", "bsn", "dni", "nif", "cpf", "id")


@lru_cache(maxsize=512)
def _validators(country: str, kinds: tuple[str, ...]) -> tuple[Any, ...]:
    """stdnum modules for a country; cached, because the lookup imports and probes modules
    and used to cost most of ``prepare``'s time."""
    modules: list[Any] = []
    for kind in kinds:
        try:
            module = get_cc_module(country.lower(), kind)
        except Exception:  # noqa: BLE001 — stdnum raises plain ImportError variants
            module = None
        if module is not None and module not in modules:
            modules.append(module)
    return tuple(modules)


def _normalize_id(value: Any, country: str | None, kinds: tuple[str, ...]) -> Cleaned:
    raw = to_text(value, max_chars=64)
    if raw.text is None:
        return raw
    compact = alnum(raw.text).upper()
    if len(compact) < 4 or is_placeholder(compact.lower()):
        return Cleaned(None, "placeholder or too short identifier")
    cc = country
    if compact[:2] in _EU_VAT_PREFIXES and not compact[:2].isdigit():
        cc = "EU" if cc is None else cc
    if cc is None:
        return Cleaned(compact, raw.flag)
    validators = _validators("eu", ("vat",)) if cc == "EU" else _validators(cc, kinds)
    if not validators:
        return Cleaned(compact, raw.flag)
    for module in validators:
        try:
            return Cleaned(alnum(module.validate(compact)).upper(), raw.flag)
        except ValidationError:
            continue
        except Exception:  # noqa: BLE001 — a stdnum module failing must not crash matching
            continue
    # Strip a leading country prefix so "DE123" and "123" compare equal.
    if compact[:2] == (cc or "")[:2]:
        compact = compact[2:] or compact
    return Cleaned(compact, raw.flag or f"invalid format or check digit for {cc}")


def normalize_tax_id(value: Any, country: str | None = None) -> Cleaned:
    """Compact, validated tax id (EIN, VAT, ABN …) in upper-case alphanumerics."""
    return _normalize_id(value, country, _TAX_KINDS)


def normalize_national_id(value: Any, country: str | None = None) -> Cleaned:
    """Compact, validated personal id (SSN, TFN, NINO …)."""
    return _normalize_id(value, country, _PERSON_KINDS)
