"""Rules as data: load, validate and fingerprint the per-domain rules files.

One YAML (or JSON) file per domain lives in ``survivorship/rules/``; a
deployment can replace any of them by putting ``<domain>.yaml`` in the directory
named by ``MDM_RULES_DIR``. Files are validated with marshmallow when loaded, so
a bad file fails at startup (or in ``mdm rules check``), never at merge time.
See docs/survivorship.md for the format.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from .errors import OverrideError, RulesError, format_problem
from .fieldtypes import ORDERABLE, TYPES, UNIONABLE, coerce
from .ruletypes import ALIASES, RULE_TYPES

RULES_DIR_ENV = "MDM_RULES_DIR"
PACKAGED_RULES_DIR = Path(__file__).parent / "rules"
_EXTENSIONS = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class RuleSpec:
    """One step of a field's rule chain: a rule type name and its parameters."""

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.name,
            **{k: list(v) if isinstance(v, tuple) else v for k, v in self.params.items()},
        }


DEFAULT_RULES = (RuleSpec("most_recent"),)


@dataclass(frozen=True)
class FieldRules:
    """How one golden field is survived: its type, owners and rule chain."""

    name: str
    type: str = "any"
    rules: tuple[RuleSpec, ...] = DEFAULT_RULES
    owners: tuple[str, ...] = ()
    enum: tuple[Any, ...] | None = None
    properties: tuple[str, ...] | None = None
    description: str | None = None
    declared: bool = True

    @cached_property
    def union(self) -> bool:
        """Whether all distinct values are also kept in ``<name>_all`` (asked once per field of
        every golden built, so computed once; the instance is frozen)."""
        return any(r.name == "union" for r in self.rules)

    def is_owner(self, source: str) -> bool:
        """An owned field accepts values only from its owners (no owners: everyone)."""
        return not self.owners or source in self.owners

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"type": self.type, "rules": [r.to_json() for r in self.rules]}
        if self.owners:
            doc["owner"] = list(self.owners)
        if self.enum is not None:
            doc["enum"] = list(self.enum)
        if self.properties is not None:
            doc["properties"] = list(self.properties)
        return doc


@dataclass(frozen=True)
class RuleSet:
    """The validated rules of one domain.

    Immutable, so one instance can be shared by every engine and worker thread.
    """

    domain: str
    fields: Mapping[str, FieldRules]
    default: FieldRules = field(default_factory=lambda: FieldRules("*", declared=False))
    version: str | None = None
    source_path: str | None = None

    def field_rules(self, name: str) -> FieldRules:
        """The rules for ``name``; undeclared fields get the default (most recent) so nothing is lost."""
        declared = self.fields.get(name)
        if declared is not None:
            return declared
        return FieldRules(name=name, type=self.default.type, rules=self.default.rules, declared=False)

    def validate_override(self, field_name: str, value: Any) -> Any:
        """Check a steward override against the field's declared type; return the canonical value.

        Raises ``OverrideError`` (the API answers 422) for a field the rules do
        not declare or a value of the wrong type. Overriding is allowed on every
        declared field, owned ones included: the steward is the escape hatch.
        """
        spec = self.fields.get(field_name)
        if spec is None:
            raise OverrideError(
                field_name, f"unknown field for domain {self.domain!r}; known fields: {sorted(self.fields)}"
            )
        try:
            return coerce(spec.type, value, enum=spec.enum, properties=spec.properties)
        except ValueError as exc:
            raise OverrideError(field_name, f"{exc} (declared type: {spec.type})") from None

    def to_json(self) -> dict[str, Any]:
        """The semantic content of the rules (no descriptions, no version label)."""
        return {
            "domain": self.domain,
            "default": {"type": self.default.type, "rules": [r.to_json() for r in self.default.rules]},
            "fields": {name: self.fields[name].to_json() for name in sorted(self.fields)},
        }

    @cached_property
    def fingerprint(self) -> str:
        """A stable hash of what the rules *do*, recorded with each golden version.

        Computed from ``to_json()`` with sorted keys, so it ignores comments,
        key order, descriptions, the version label and the file's location:
        equal fingerprints mean equal survivorship.
        """
        canonical = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"), default=str)
        return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- schema


class RuleEntry(fields.Field):
    """A rule chain entry: ``most_recent``, ``{source_priority: [erp, salesforce]}``
    or ``{rule: source_priority, sources: [erp, salesforce]}``."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> RuleSpec:
        if isinstance(value, str):
            name, params = value, {}
        elif isinstance(value, Mapping) and "rule" in value:
            name, params = value["rule"], {k: v for k, v in value.items() if k != "rule"}
        elif isinstance(value, Mapping) and len(value) == 1:
            ((name, arg),) = value.items()
            params = dict(arg) if isinstance(arg, Mapping) else {"sources": arg}
        else:
            raise ValidationError(
                "a rule is a name (most_recent), {rule: NAME, ...params} or {NAME: [sources]}"
            )
        if not isinstance(name, str):
            raise ValidationError(f"rule name must be a string, got {name!r}")
        name = ALIASES.get(name, name)
        rule_type = RULE_TYPES.get(name)
        if rule_type is None:
            raise ValidationError(f"unknown rule {name!r}; known rules: {sorted(RULE_TYPES)}")
        if rule_type.params_schema is None:
            if params:
                raise ValidationError(f"rule {name!r} takes no parameters, got {sorted(params)}")
            return RuleSpec(name)
        try:
            loaded = rule_type.params_schema(unknown=RAISE).load(params)
        except ValidationError as exc:
            raise ValidationError(f"rule {name!r}: {'; '.join(flatten_messages(exc.messages))}") from None
        return RuleSpec(name, {k: tuple(v) if isinstance(v, list) else v for k, v in loaded.items()})


class OwnerField(fields.Field):
    """``owner: erp`` or ``owner: [erp, sap]``, loaded as a tuple of source names."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> tuple[str, ...]:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not items or not all(isinstance(s, str) and s for s in items):
            raise ValidationError("owner must be a source name or a non-empty list of source names")
        return tuple(items)


class FieldSchema(Schema):
    type = fields.String(load_default="any", validate=validate.OneOf(TYPES))
    rules = fields.List(RuleEntry(), required=True, validate=validate.Length(min=1))
    owner = OwnerField(load_default=())
    enum = fields.List(fields.Raw(), load_default=None, validate=validate.Length(min=1))
    properties = fields.List(fields.String(), load_default=None, validate=validate.Length(min=1))
    description = fields.String(load_default=None)

    @validates_schema
    def check_consistency(self, data: dict[str, Any], **kwargs: Any) -> None:
        type_ = data["type"]
        names = [r.name for r in data["rules"]]
        for name in ("highest", "lowest"):
            if name in names and type_ not in ORDERABLE:
                raise ValidationError(
                    f"rule {name!r} needs an orderable type ({', '.join(sorted(ORDERABLE))}), not {type_!r}",
                    "rules",
                )
        if names.count("union") > 1:
            raise ValidationError("rule 'union' is listed more than once", "rules")
        if "union" in names and type_ not in UNIONABLE:
            raise ValidationError(f"rule 'union' cannot be used on type {type_!r}", "rules")
        if data["properties"] is not None and type_ != "object":
            raise ValidationError("'properties' is only allowed with type 'object'", "properties")
        for item in data["enum"] or ():
            try:
                coerce(type_, item)
            except ValueError as exc:
                raise ValidationError(
                    f"enum value {item!r} does not match type {type_!r}: {exc}", "enum"
                ) from None


class DefaultSchema(Schema):
    type = fields.String(load_default="any", validate=validate.OneOf(sorted(UNIONABLE - {"list"})))
    rules = fields.List(RuleEntry(), required=True, validate=validate.Length(min=1))

    @validates_schema
    def check_rules(self, data: dict[str, Any], **kwargs: Any) -> None:
        bad = [r.name for r in data["rules"] if r.name in ("highest", "lowest", "union")]
        if bad:
            raise ValidationError(f"rule(s) {bad} cannot be the default for undeclared fields", "rules")


class RulesFileSchema(Schema):
    domain = fields.String(required=True, validate=validate.Length(min=1))
    version = fields.Raw(load_default=None)
    description = fields.String(load_default=None)
    default = fields.Raw(load_default=None)
    fields_ = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1)),
        values=fields.Raw(),
        required=True,
        data_key="fields",
    )


def flatten_messages(messages: Any, prefix: str = "") -> list[str]:
    """Turn marshmallow's nested error dict into ``path: message`` lines."""
    if isinstance(messages, Mapping):
        out: list[str] = []
        for key, sub in messages.items():
            if key == "_schema":
                path = prefix
            elif isinstance(key, int):
                path = f"{prefix}[{key}]"
            else:
                path = f"{prefix}.{key}" if prefix else str(key)
            out.extend(flatten_messages(sub, path))
        return out
    if isinstance(messages, list | tuple):
        return [line for m in messages for line in flatten_messages(m, prefix)]
    return [f"{prefix}: {messages}" if prefix else str(messages)]


# --------------------------------------------------------------------------- parsing


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys (PyYAML silently keeps the last one)."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _read_document(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        return json.loads(text)
    return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - SafeLoader subclass


Problem = tuple[str | None, str]
"""(field or None, problem text): kept structured so RulesError can name the field."""


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """``not valid YAML at line L, column C: problem`` (PyYAML's own text names a dummy stream)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or " ".join(str(exc).split())
    if mark is None:
        return f"not valid YAML: {problem}"
    return f"not valid YAML at line {mark.line + 1}, column {mark.column + 1}: {problem}"


def parse_rules(
    doc: Any, file: str = "<rules>", domain: str | None = None
) -> tuple[RuleSet | None, list[Problem]]:
    """Validate a parsed rules document; return the RuleSet (or None) and every problem found."""
    problems: list[Problem] = []
    if not isinstance(doc, Mapping):
        return None, [(None, "the file must be a mapping with 'domain' and 'fields'")]
    try:
        top = RulesFileSchema(unknown=RAISE).load(doc)
    except ValidationError as exc:
        return None, [(None, line) for line in flatten_messages(exc.messages)]
    if domain is not None and top["domain"] != domain:
        problems.append((None, f"domain is {top['domain']!r}, expected {domain!r}"))

    default = FieldRules("*", declared=False)
    if top["default"] is not None:
        try:
            loaded = DefaultSchema(unknown=RAISE).load(top["default"])
            default = FieldRules("*", type=loaded["type"], rules=tuple(loaded["rules"]), declared=False)
        except ValidationError as exc:
            problems += [(None, f"default.{line}") for line in flatten_messages(exc.messages)]

    declared: dict[str, FieldRules] = {}
    for name, spec in top["fields_"].items():
        if not isinstance(spec, Mapping):
            problems.append((name, "must be a mapping with at least 'rules'"))
            continue
        try:
            loaded = FieldSchema(unknown=RAISE).load(spec)
        except ValidationError as exc:
            problems += [(name, line) for line in flatten_messages(exc.messages)]
            continue
        declared[name] = FieldRules(
            name=name,
            type=loaded["type"],
            rules=tuple(loaded["rules"]),
            owners=loaded["owner"],
            enum=tuple(loaded["enum"]) if loaded["enum"] is not None else None,
            properties=tuple(loaded["properties"]) if loaded["properties"] is not None else None,
            description=loaded["description"],
        )
    for name, spec in declared.items():
        if spec.union and f"{name}_all" in top["fields_"]:
            problems.append((f"{name}_all", f"clashes with the union list generated for {name!r}"))
    if problems:
        return None, problems
    version = top["version"]
    return (
        RuleSet(
            domain=top["domain"],
            fields=declared,
            default=default,
            version=None if version is None else str(version),
            source_path=file,
        ),
        [],
    )


def load_rules_file(path: str | os.PathLike[str], domain: str | None = None) -> RuleSet:
    """Load and validate one rules file; raise ``RulesError`` listing every problem."""
    file = str(path)
    try:
        doc = _read_document(Path(path))
    except FileNotFoundError:
        raise RulesError(file, None, "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesError(file, None, f"cannot read: {exc}") from None
    except yaml.YAMLError as exc:
        raise RulesError(file, None, _yaml_problem(exc)) from None
    except json.JSONDecodeError as exc:
        raise RulesError(file, None, f"not valid JSON: {exc}") from None
    rules, problems = parse_rules(doc, file, domain)
    if rules is None:
        field_name, problem = problems[0]
        raise RulesError(file, field_name, problem, [format_problem(file, f, p) for f, p in problems])
    return rules


def check_rules_file(path: str | os.PathLike[str]) -> list[str]:
    """Problems in a rules file, one line each (empty list: the file is valid).

    Backs ``mdm rules check FILE``. The domain is taken from the file itself.
    """
    try:
        load_rules_file(path)
    except RulesError as exc:
        return list(exc.problems)
    return []


def _find_in_dir(directory: Path, domain: str) -> Path | None:
    for ext in _EXTENSIONS:
        candidate = directory / f"{domain}{ext}"
        if candidate.is_file():
            return candidate
    return None


def resolve_rules_path(domain: str, path: str | os.PathLike[str] | None = None) -> Path:
    """Which file ``load_rules`` reads: explicit path, else ``MDM_RULES_DIR``, else the packaged file.

    An explicit file path is used as is. A rules directory (explicit ``path`` or
    ``MDM_RULES_DIR``) may override only some domains; the others fall back to the
    packaged defaults. An explicit file that does not exist, or a rules directory
    that is not a directory, is an error (a typo must not silently mean "defaults").
    """
    directory: str | None = None
    if path is not None:
        given = Path(path)
        if not given.is_dir():
            return given
        directory = str(given)
    else:
        directory = os.environ.get(RULES_DIR_ENV) or None
        if directory is not None and not Path(directory).is_dir():
            raise RulesError(directory, None, f"{RULES_DIR_ENV} is not a directory")
    if directory is not None:
        found = _find_in_dir(Path(directory), domain)
        if found is not None:
            return found
    found = _find_in_dir(PACKAGED_RULES_DIR, domain)
    if found is None:
        raise RulesError(str(PACKAGED_RULES_DIR / f"{domain}.yaml"), None, f"no rules for domain {domain!r}")
    return found


_CACHE: dict[tuple[str, str, int, int], RuleSet] = {}


def load_rules(domain: str, path: str | os.PathLike[str] | None = None) -> RuleSet:
    """Load the validated rules of ``domain`` (see ``resolve_rules_path`` for where from).

    Cached by file path, size and modification time, so workers can call it per
    job cheaply and still pick up an edited file.
    """
    resolved = resolve_rules_path(domain, path)
    try:
        stat = resolved.stat()
    except OSError:
        raise RulesError(str(resolved), None, "file not found") from None
    key = (domain, str(resolved), stat.st_mtime_ns, stat.st_size)
    cached = _CACHE.get(key)
    if cached is None:
        cached = load_rules_file(resolved, domain)
        _CACHE[key] = cached
    return cached
