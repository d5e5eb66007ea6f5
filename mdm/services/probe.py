"""The match probe: "would the hub match this payload, and to what?" — without storing anything.

Salesforce calls it at data entry for a duplicate check, so it follows the ingest path exactly
(the source's mapping, canonical validation) and the resolve path exactly (prepare, blocking
keys, capped blocks, candidate goldens by index probe, ``decide``) but runs in a transaction
that is always rolled back and takes no locks. What it answers is what a resolve job would
do with the same payload at this moment (a steward's "not a match" labels belong to stored
records, so they do not apply to an anonymous payload).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlmodel import select

from matching import PreparedRecord
from mdm.db import UnitOfWork
from mdm.engines import FUZZY_DOMAINS, match_engine
from mdm.errors import InvalidInput
from mdm.models import GoldenRecord, SourceRecord, SourceSystem
from mdm.services.ingest import Change, canonicalize, check_domain, get_source
from mdm.services.resolve import MAX_BLOCK_SIZE, _oversized_keys, candidate_members

MAX_CANDIDATES = 50


def probe(
    uow: UnitOfWork,
    domain: str,
    fields: dict[str, Any],
    *,
    source: str | None = None,
    object_type: str | None = None,
    limit: int = 10,
) -> dict[str, Any]:
    """Ranked candidate goldens for ``fields`` with probabilities, the decision and explanations."""
    check_domain(domain)
    if domain not in FUZZY_DOMAINS:
        raise InvalidInput(
            f"{domain} records are keyed, not fuzzy-matched; there is nothing to probe",
            details={"domain": domain, "probe_domains": list(FUZZY_DOMAINS)},
            code="not_matchable",
        )
    if not fields:
        raise InvalidInput("fields are required", details={"fields": ["Missing data for required field."]})
    # no source: canonical field names (the generic mapping); a source: its own native names too
    system = get_source(uow, source) if source else SourceSystem(name="probe", kind="generic")
    change = Change("probe", fields, datetime.now(UTC), False, object_type)
    object_name, canonical = canonicalize(system, domain, change)

    engine = match_engine(uow.session, domain)
    prepared = engine.prepare(canonical)
    keys = sorted(set(engine.blocking_keys(prepared)))
    oversized = _oversized_keys(uow, domain, keys)
    usable = [k for k in keys if k not in oversized]
    # a transient stand-in: never added to the session, id -1 matches no stored record
    stand_in = SourceRecord(id=-1, domain=domain)
    candidates = candidate_members(uow, stand_in, usable)
    decision = engine.decide(
        prepared, {gid: [PreparedRecord.from_json(m or {}) for m in ms] for gid, ms in candidates.items()},
        explain=limit,  # every candidate shown is explained in full
    )
    ranked = decision.ranked[:limit]
    goldens = {
        g.id: g
        for g in uow.session.exec(
            select(GoldenRecord).where(GoldenRecord.id.in_([c.golden_id for c in ranked]))  # type: ignore[attr-defined]
        ).all()
    } if ranked else {}
    warnings = list(prepared.warnings) + [w for w in decision.warnings if w not in prepared.warnings]
    warnings += [f"blocking key {k!r} skipped: shared by more than {MAX_BLOCK_SIZE} records" for k in sorted(oversized)]
    return {
        "domain": domain,
        "object": object_name,
        "model_version": engine.model.version,
        "thresholds": dict(engine.model.thresholds),
        "decision": {
            "action": decision.action,
            "golden_id": decision.golden_id,
            "probability": decision.probability,
            "merge_with": list(decision.merge_with),
        },
        "candidates": [
            {
                "golden_id": c.golden_id,
                "probability": c.probability,
                "weight": round(c.weight, 4),
                "golden": _golden_summary(goldens.get(c.golden_id)),
                "explanation": c.explanation,
            }
            for c in ranked
        ],
        "candidates_considered": len(candidates),
        "canonical": canonical,
        "normalized": prepared.values,
        "flags": prepared.flags,
        "warnings": warnings,
    }


def _golden_summary(golden: GoldenRecord | None) -> dict[str, Any] | None:
    if golden is None:
        return None
    return {"status": golden.status, "approval": golden.approval, "version": golden.version,
            "account_number": golden.account_number, "fields": golden.fields}
