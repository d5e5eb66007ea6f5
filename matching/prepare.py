"""Canonical fields → PreparedRecord, per domain.  Never raises on bad input."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .normalize.address import normalize_address
from .normalize.codes import normalize_code, normalize_uom
from .normalize.country import normalize_country
from .normalize.dates import normalize_date
from .normalize.email import normalize_email
from .normalize.gtin import normalize_gtin
from .normalize.identifiers import normalize_national_id, normalize_tax_id
from .normalize.org_name import normalize_org_name
from .normalize.person_name import normalize_name_part, split_full_name
from .normalize.phone import normalize_phone
from .normalize.text import Cleaned, alnum, fold, to_text
from .normalize.website import normalize_website
from .types import PreparedRecord

CUSTOMER_IDENTIFYING = ("name", "first_name", "last_name", "tax_id", "national_id", "email", "phone", "website")
PRODUCT_IDENTIFYING = ("gtin", "mpn", "sku", "name")
NO_USABLE_FIELD = "no usable matching field"

_ORG_KINDS = {"organization", "organisation", "org", "company", "business", "account", "b2b", "corporate"}
_PERSON_KINDS = {"person", "individual", "personaccount", "contact", "consumer", "b2c", "private"}


def _put(values: dict[str, Any], flags: dict[str, str], key: str, cleaned: Cleaned) -> None:
    values[key] = cleaned.text
    if cleaned.flag:
        flags[key] = cleaned.flag


def _kind(fields: Mapping[str, Any], flags: dict[str, str]) -> str | None:
    raw = to_text(fields.get("kind"), max_chars=40)
    if raw.text is not None:
        key = alnum(raw.text)
        if key in _ORG_KINDS:
            return "organization"
        if key in _PERSON_KINDS:
            return "person"
        flags["kind"] = "kind must be 'organization' or 'person'"
    elif raw.flag:
        flags["kind"] = raw.flag
    has_person = any(fields.get(k) not in (None, "") for k in ("first_name", "last_name", "birth_date", "national_id"))
    if has_person:
        return "person"
    if fields.get("name") not in (None, ""):
        return "organization"
    return None


def prepare_customer(fields: Mapping[str, Any]) -> PreparedRecord:
    """Normalize canonical customer fields (see DESIGN.md) for matching."""
    values: dict[str, Any] = {}
    flags: dict[str, str] = {}
    warnings: list[str] = []
    if not isinstance(fields, Mapping):
        return PreparedRecord("customer", {}, {"fields": "fields must be an object"}, [NO_USABLE_FIELD])
    kind = _kind(fields, flags)
    values["kind"] = kind
    address = normalize_address(fields.get("address"))
    flags.update(address.flags)
    country = address.country
    if country is None and fields.get("country") is not None:
        c = normalize_country(fields.get("country"))
        country = c.text
    if kind == "person":
        first = normalize_name_part(fields.get("first_name"))
        last = normalize_name_part(fields.get("last_name"))
        _put(values, flags, "first_name", first)
        _put(values, flags, "last_name", last)
        if first.text is None and last.text is None and fields.get("name") is not None:
            f, last_name, flag = split_full_name(fields.get("name"))
            values["first_name"], values["last_name"] = f, last_name
            if flag:
                flags["name"] = flag
        values["name"] = None
    else:
        _put(values, flags, "name", normalize_org_name(fields.get("name")))
        values["first_name"] = values["last_name"] = None
    _put(values, flags, "birth_date", normalize_date(fields.get("birth_date")))
    _put(values, flags, "tax_id", normalize_tax_id(fields.get("tax_id"), country))
    _put(values, flags, "national_id", normalize_national_id(fields.get("national_id"), country))
    _put(values, flags, "email", normalize_email(fields.get("email")))
    _put(values, flags, "phone", normalize_phone(fields.get("phone"), country))
    _put(values, flags, "website", normalize_website(fields.get("website")))
    values.update(address.as_values())
    if address.country is None and country is not None:
        values["country"] = country
    if not any(values.get(k) for k in CUSTOMER_IDENTIFYING):
        warnings.append(NO_USABLE_FIELD)
    return PreparedRecord("customer", values, flags, warnings)


def _product_name(value: Any) -> Cleaned:
    raw = to_text(value, max_chars=300)
    if raw.text is None:
        return raw
    text = fold(raw.text).replace("&", " and ")
    words = "".join(ch if ch.isalnum() or ch == "." else " " for ch in text).split()
    name = " ".join(w.strip(".") for w in words if w.strip("."))
    return Cleaned(name or None, raw.flag if name else (raw.flag or "no letters or digits in name"))


def prepare_product(fields: Mapping[str, Any]) -> PreparedRecord:
    """Normalize canonical product fields for matching."""
    values: dict[str, Any] = {}
    flags: dict[str, str] = {}
    warnings: list[str] = []
    if not isinstance(fields, Mapping):
        return PreparedRecord("product", {}, {"fields": "fields must be an object"}, [NO_USABLE_FIELD])
    _put(values, flags, "gtin", normalize_gtin(fields.get("gtin")))
    _put(values, flags, "sku", normalize_code(fields.get("sku")))
    _put(values, flags, "mpn", normalize_code(fields.get("mpn")))
    _put(values, flags, "brand", normalize_org_name(fields.get("brand")))
    _put(values, flags, "name", _product_name(fields.get("name")))
    _put(values, flags, "category", _product_name(fields.get("category")))
    _put(values, flags, "uom", normalize_uom(fields.get("uom")))
    if not any(values.get(k) for k in PRODUCT_IDENTIFYING):
        warnings.append(NO_USABLE_FIELD)
    return PreparedRecord("product", values, flags, warnings)


PREPARERS: dict[str, Callable[[Mapping[str, Any]], PreparedRecord]] = {
    "customer": prepare_customer,
    "product": prepare_product,
}
