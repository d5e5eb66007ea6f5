"""The survivorship engine: member records in, golden fields with lineage out.

For each field carried by any member (or pinned by a steward):

1. collect candidates: non-empty values from members allowed to set the field
   (owned fields accept only their owners); the others are recorded as
   ineligible, with the reason, in lineage;
2. a steward override, if any, wins outright;
3. otherwise run the field's rule chain: each rule narrows the candidates, the
   first rule that leaves a single distinct value is recorded as the deciding
   rule, later rules still run to pick *which* member is credited, and a final
   tiebreak on member identity (never on list position) makes the choice total.

The address is a single field whose value is a dict, so it is always taken
whole from one member and never mixes parts from two sources.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .candidates import Candidate, distinct_values, is_empty, tiebreak_key, value_key
from .config import FieldRules, RuleSet
from .model import Contributor, GoldenResult, Ineligible, LineageEntry, Member, Override
from .ruletypes import RULE_TYPES, Rule

NO_VALUE = "no_eligible_value"
OVERRIDE = "steward_override"
SINGLE = "single_candidate"
CONSENSUS = "consensus"
TIEBREAK = "tiebreak"
UNION_SUFFIX = "_all"


class SurvivorshipEngine:
    """Builds golden records of one domain with one RuleSet.

    Stateless apart from a cache of compiled rule chains, so one engine can be
    reused for every golden of the domain.
    """

    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules
        self._chains: dict[tuple[bool, str], list[Rule]] = {}

    def build(
        self, members: Iterable[Member], overrides: Mapping[str, Override | Any] | None = None
    ) -> GoldenResult:
        """Survive every field of the given members; overrides (pinned values) win."""
        members = list(members)
        pinned = {name: _as_override(name, ov) for name, ov in (overrides or {}).items()}
        names = {name for m in members for name in m.fields} | set(pinned)
        golden: dict[str, Any] = {}
        lineage: dict[str, LineageEntry] = {}
        warnings = _member_warnings(members)
        for name in sorted(names):
            if name.endswith(UNION_SUFFIX) and self.rules.field_rules(name[: -len(UNION_SUFFIX)]).union:
                # Generated from the base field below; a source's own copy would be overwritten.
                if any(name in m.fields for m in members):
                    warnings.append(
                        f"field {name!r} sent by a source is ignored: it is the union list of "
                        f"{name[: -len(UNION_SUFFIX)]!r}"
                    )
                if name in pinned:
                    warnings.append(
                        f"override of {name!r} is ignored: pin {name[: -len(UNION_SUFFIX)]!r} instead"
                    )
                continue
            spec = self.rules.field_rules(name)
            for out_name, entry in self._survive(spec, members, pinned.get(name)):
                golden[out_name] = entry.value
                lineage[out_name] = entry
        return GoldenResult(
            fields=golden,
            lineage=lineage,
            rules_fingerprint=self.rules.fingerprint,
            rules_version=self.rules.version,
            warnings=tuple(warnings),
        )

    # ------------------------------------------------------------------ per field

    def _chain(self, spec: FieldRules) -> list[Rule]:
        key = (spec.declared, spec.name if spec.declared else "")  # undeclared fields share the default
        chain = self._chains.get(key)
        if chain is None:
            chain = [RULE_TYPES[r.name](r.params, spec.type) for r in spec.rules if r.name != "union"]
            self._chains[key] = chain
        return chain

    def _survive(
        self, spec: FieldRules, members: list[Member], override: Override | None
    ) -> list[tuple[str, LineageEntry]]:
        candidates, ineligible = _collect(spec, members)
        primary: Candidate | None = None
        if candidates:
            primary, rule = choose(candidates, self._chain(spec))
            entry = _entry_for(primary, rule, ineligible, candidates)
        else:
            entry = LineageEntry(value=None, rule=NO_VALUE, ineligible=ineligible)
        if override is not None:
            entry = LineageEntry(
                value=override.value,
                rule=OVERRIDE,
                updated_at=override.pinned_at,
                ineligible=ineligible,
                pinned_by=override.pinned_by,
                pinned_at=override.pinned_at,
                shadowed=entry,
            )
            primary = None
        out = [(spec.name, entry)]
        if spec.union:
            out.append((spec.name + UNION_SUFFIX, _union_entry(candidates, primary, entry)))
        return out


def _member_warnings(members: list[Member]) -> list[str]:
    """Input oddities worth surfacing (they do not stop the build)."""
    seen: set[Any] = set()
    warnings: list[str] = []
    for m in members:
        if m.record_id in seen:
            warnings.append(f"record_id {m.record_id!r} appears more than once among the members")
        seen.add(m.record_id)
    return sorted(set(warnings))


def _as_override(name: str, value: Override | Any) -> Override:
    """Accept bare values as overrides too, so callers with a plain dict are not punished."""
    return value if isinstance(value, Override) else Override(field=name, value=value)


def _collect(spec: FieldRules, members: list[Member]) -> tuple[list[Candidate], tuple[Ineligible, ...]]:
    candidates: list[Candidate] = []
    ineligible: list[Ineligible] = []
    for m in members:
        if spec.name not in m.fields:
            continue
        value = m.fields[spec.name]
        if is_empty(value):
            reason, detail = "empty", "the source sent no value"
        elif not spec.is_owner(m.source):
            reason, detail = "not_owner", f"field is governed by {', '.join(spec.owners)}"
        else:
            valid = not m.is_invalid(spec.name)
            if spec.union and isinstance(value, list | tuple):
                candidates += [Candidate(m, v, valid) for v in value if not is_empty(v)]
            else:
                candidates.append(Candidate(m, value, valid))
            continue
        ineligible.append(Ineligible(m.record_id, m.source, m.source_id, value, reason, m.updated_at, detail))
    ineligible.sort(
        key=lambda i: (
            i.source,
            str(i.source_id),
            str(i.record_id),
            value_key(i.value),
            i.reason,
            str(i.updated_at),
        )
    )
    return candidates, tuple(ineligible)


def choose(candidates: list[Candidate], chain: list[Rule]) -> tuple[Candidate, str]:
    """Run a rule chain; return the winning candidate and the name of the rule that decided.

    The deciding rule is the first one after which a single distinct value is
    left; candidates that agree from the start are a ``consensus`` (or a
    ``single_candidate``). Remaining rules still run, to credit the member the
    chain prefers among those agreeing, and ``tiebreak_key`` settles the rest.
    """
    if len(candidates) == 1:  # most goldens have one member: no order to settle, no rule to run
        return candidates[0], SINGLE
    remaining = sorted(candidates, key=tiebreak_key)
    decided: str | None = None
    if distinct_values(remaining) == 1:
        decided = CONSENSUS
    for rule in chain:
        if len(remaining) == 1:
            break
        remaining = rule.select(remaining)
        if decided is None and distinct_values(remaining) == 1:
            decided = rule.name
    return remaining[0], decided or TIEBREAK


def _entry_for(
    c: Candidate, rule: str, ineligible: tuple[Ineligible, ...], candidates: list[Candidate]
) -> LineageEntry:
    m = c.member
    others = sorted((o for o in candidates if o is not c), key=tiebreak_key)
    alternatives = tuple(
        Contributor(o.value, o.member.record_id, o.member.source, o.member.source_id, o.member.updated_at) for o in others
    )
    return LineageEntry(
        alternatives=alternatives,
        value=c.value,
        rule=rule,
        source=m.source,
        source_id=m.source_id,
        record_id=m.record_id,
        updated_at=m.updated_at,
        ineligible=ineligible,
    )


def union_key(value: Any) -> str:
    """Distinctness for union lists: text compared trimmed and case-insensitively."""
    if isinstance(value, str):
        return value_key(value.strip().casefold())
    return value_key(value)


def _union_entry(candidates: list[Candidate], primary: Candidate | None, base: LineageEntry) -> LineageEntry:
    """``<field>_all``: the primary value first, then every other distinct value in a stable order."""
    by_key: dict[str, Candidate] = {}
    for c in sorted(candidates, key=tiebreak_key):
        by_key.setdefault(union_key(c.value), c)
    if primary is not None:
        by_key[union_key(primary.value)] = primary
    first_key = union_key(base.value) if base.value is not None else None
    ordered = sorted(by_key, key=lambda k: (k != first_key, k))
    values = [base.value] if first_key is not None and first_key not in by_key else []
    values += [base.value if k == first_key else by_key[k].value for k in ordered]
    contributors = tuple(
        Contributor(c.value, c.member.record_id, c.member.source, c.member.source_id, c.member.updated_at)
        for c in (by_key[k] for k in ordered)
    )
    return LineageEntry(
        value=values,
        rule="union" if values else NO_VALUE,
        source=base.source,
        source_id=base.source_id,
        record_id=base.record_id,
        updated_at=base.updated_at,
        ineligible=base.ineligible,
        pinned_by=base.pinned_by,
        pinned_at=base.pinned_at,
        contributors=contributors,
    )
