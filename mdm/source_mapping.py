"""Map a source system's payload to canonical fields, driven by mapping files (data, not code).

One YAML file per source kind and object lives in ``mdm/mappings/<kind>/``; more can be
added in a directory named by ``MDM_MAPPINGS_DIR``. A payload may use the source's native
names (``BillingPostalCode``) or canonical ones (``address.postal_code``); both work, and
fields neither mapping nor canonical schema knows are kept under their own names.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from mdm.errors import InvalidInput

BUILTIN_DIR = Path(__file__).parent / "mappings"
DOMAINS = ("customer", "product", "price")
#: The mapping families a registered source system can use.
SOURCE_KINDS = ("salesforce", "erp", "generic")


@dataclass(frozen=True)
class FieldRule:
    target: str
    transform: str | None = None


@dataclass(frozen=True)
class Mapping:
    """How one source object (e.g. Salesforce ``Contact``) maps to one canonical domain."""

    source_kind: str
    domain: str
    object: str
    priority: int
    detect: dict[str, Any]
    constants: dict[str, Any]
    fields: dict[str, FieldRule]
    ignore: frozenset[str] = field(default_factory=frozenset)
    path: str = ""

    def applies_to(self, payload: dict[str, Any]) -> bool:
        """Whether ``detect`` accepts this payload (used when the object type is not given)."""
        for name, expected in (self.detect.get("equals") or {}).items():
            if payload.get(name) != expected:
                return False
        any_present = self.detect.get("any_present")
        if any_present and not any(payload.get(n) not in (None, "") for n in any_present):
            return False
        return all(payload.get(n) in (None, "") for n in self.detect.get("none_present") or [])


def _parse(path: Path) -> Mapping:
    doc = yaml.safe_load(path.read_text()) or {}
    try:
        rules = {}
        for name, spec in (doc.get("fields") or {}).items():
            if isinstance(spec, str):
                rules[name] = FieldRule(spec)
            else:
                rules[name] = FieldRule(spec["to"], spec.get("transform"))
                if rules[name].transform not in TRANSFORMS:
                    raise ValueError(f"unknown transform {rules[name].transform!r} for {name}")
        mapping = Mapping(
            source_kind=doc["source_kind"],
            domain=doc["domain"],
            object=doc["object"],
            priority=int(doc.get("priority", 10)),
            detect=doc.get("detect") or {},
            constants=doc.get("constants") or {},
            fields=rules,
            ignore=frozenset(doc.get("ignore") or []),
            path=str(path),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: invalid mapping file: {exc}") from exc
    if mapping.domain not in DOMAINS:
        raise ValueError(f"{path}: unknown domain {mapping.domain!r}")
    return mapping


@cache
def _load_all(extra_dir: str | None) -> tuple[Mapping, ...]:
    dirs = [BUILTIN_DIR] + ([Path(extra_dir)] if extra_dir else [])
    found: dict[tuple[str, str, str], Mapping] = {}
    for base in dirs:
        for path in sorted(base.glob("*/*.y*ml")):
            mapping = _parse(path)
            # a file in MDM_MAPPINGS_DIR replaces the built-in one for the same object
            found[(mapping.source_kind, mapping.domain, mapping.object.lower())] = mapping
    return tuple(found.values())


def mappings_for(source_kind: str, domain: str) -> list[Mapping]:
    extra = os.environ.get("MDM_MAPPINGS_DIR") or None
    found = [m for m in _load_all(extra) if m.source_kind == source_kind and m.domain == domain]
    return sorted(found, key=lambda m: m.priority)


def select_mapping(source_kind: str, domain: str, payload: dict[str, Any], object_hint: str | None) -> Mapping:
    """Pick the mapping: the object named by the caller (or Salesforce's ``attributes.type``),
    else the highest-priority mapping whose ``detect`` accepts the payload."""
    candidates = mappings_for(source_kind, domain) or mappings_for("generic", domain)
    attributes = payload.get("attributes")
    if not object_hint and isinstance(attributes, dict) and isinstance(attributes.get("type"), str):
        object_hint = attributes["type"]
        if object_hint == "Account" and payload.get("IsPersonAccount") is True:
            object_hint = "PersonAccount"
    if object_hint:
        for mapping in candidates:
            if mapping.object.lower() == str(object_hint).lower():
                return mapping
        known = ", ".join(m.object for m in candidates)
        raise InvalidInput(
            f"unknown object {object_hint!r} for a {source_kind} {domain}",
            details={"object": object_hint, "known_objects": known},
        )
    for mapping in candidates:
        if mapping.applies_to(payload):
            return mapping
    return candidates[-1]


def apply_mapping(mapping: Mapping, payload: dict[str, Any]) -> dict[str, Any]:
    """Return canonical fields for ``payload``. Native names are renamed, canonical names pass
    through, unknown names are kept; a native value wins over a canonical one for the same field."""
    canonical: dict[str, Any] = {}
    native: dict[str, Any] = {}
    for name, value in payload.items():
        if name in mapping.ignore:
            continue
        rule = mapping.fields.get(name)
        if rule is None:
            _merge(canonical, name, value)
            continue
        transformed = TRANSFORMS[rule.transform](value) if rule.transform else value
        _merge(native, rule.target, transformed)
    for name, value in native.items():
        if isinstance(value, dict) and isinstance(canonical.get(name), dict):
            canonical[name] = {**canonical[name], **value}
        else:
            canonical[name] = value
    for name, value in mapping.constants.items():
        canonical.setdefault(name, value)
    return canonical


def _merge(target: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``a.b`` paths; a dict value (a transform that yields address parts) is merged in."""
    head, _, rest = dotted.partition(".")
    if rest:
        sub = target.setdefault(head, {})
        if not isinstance(sub, dict):
            raise InvalidInput(f"field {head!r} must be an object", details={"field": head})
        if value is not None or rest not in sub:
            sub[rest] = value
    elif isinstance(value, dict) and isinstance(target.get(head), dict):
        target[head].update(value)
    else:
        target[head] = value


# --- transforms: small, named, and referenced by name from the mapping files -------------


def _street_lines(value: Any) -> Any:
    """Salesforce keeps a multi-line street in one field; the first line is ``line1``."""
    if not isinstance(value, str):
        return {"line1": value}
    lines = [part.strip() for part in value.replace("\r", "\n").split("\n") if part.strip()]
    result: dict[str, Any] = {"line1": lines[0] if lines else None}
    if len(lines) > 1:
        result["line2"] = ", ".join(lines[1:])
    return result


_SF_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def salesforce_id18(value: Any) -> Any:
    """15- and 18-character Salesforce ids name the same record; always store the 18-character form.

    The 3-character suffix encodes, per 5-character chunk, which letters are upper case.
    """
    if not isinstance(value, str) or len(value) != 15 or not value.isalnum():
        return value
    suffix = ""
    for start in (0, 5, 10):
        chunk = value[start : start + 5]
        bits = sum(1 << i for i, ch in enumerate(chunk) if "A" <= ch <= "Z")
        suffix += _SF_SUFFIX_ALPHABET[bits]
    return value + suffix


def normalize_source_id(source_kind: str, source_id: str) -> str:
    """One record, one id: Salesforce's 15- and 18-character ids are stored as 18."""
    return salesforce_id18(source_id) if source_kind == "salesforce" else source_id


def _decimal_string(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    try:
        return format(Decimal(str(value)).normalize(), "f") if isinstance(value, (int, float, str)) else value
    except InvalidOperation:
        return value  # left for the canonical validator to reject with a clear message


TRANSFORMS = {
    None: lambda v: v,
    "street_lines": _street_lines,
    "salesforce_id": salesforce_id18,
    "decimal_string": _decimal_string,
}
