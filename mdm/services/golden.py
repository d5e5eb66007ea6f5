"""Golden records: recompute from members with survivorship, version, and write the outbox.

Every change to a golden record goes through :func:`recompute`, inside the caller's unit
of work: it locks the golden row, rebuilds the fields from the current members, and only
when something changed writes a new version, its history row and an outbox event — all in
the same transaction, so nothing is published that was not committed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, insert, text, tuple_, update
from sqlalchemy import select as sa_select
from sqlalchemy.orm import aliased, make_transient_to_detached
from sqlmodel import select

from mdm.db import UnitOfWork, as_loaded, mark_written, one_or_many
from mdm.engines import survivorship_engine
from mdm.models import (
    GoldenOverride,
    GoldenRecord,
    GoldenVersion,
    OutboxEvent,
    SourceRecord,
    as_utc,
    new_uuid,
    utcnow,
)
from mdm.publishing.trigger import after_outbox_write
from survivorship import Member, Override, SurvivorshipEngine


@dataclass
class Recomputed:
    golden_id: str
    changed: bool
    version: int
    event_type: str | None


def lock_goldens(uow: UnitOfWork, golden_ids: set[str]) -> dict[str, GoldenRecord]:
    """Lock golden rows in id order (one global order means two jobs never deadlock)."""
    if not golden_ids:
        return {}
    rows = uow.session.exec(
        select(GoldenRecord)
        .where(GoldenRecord.id.in_(sorted(golden_ids)))  # type: ignore[attr-defined]
        .order_by(GoldenRecord.id)
        .with_for_update()
        # as locked: a golden already in the session (an earlier step of the same transaction) is refreshed
        .execution_options(populate_existing=True)
    ).all()
    return {row.id: row for row in rows}


def members_of(uow: UnitOfWork, golden_id: str) -> list[SourceRecord]:
    return list(
        uow.session.exec(
            select(SourceRecord)
            .where(SourceRecord.golden_id == golden_id, SourceRecord.deleted.is_(False))  # type: ignore[union-attr]
            .order_by(SourceRecord.id)
        ).all()
    )


#: The member columns survivorship, versions and payloads read (rows, not ORM objects: the rows
#: are read-only here, and building identity-mapped objects cost more than the query).
_MEMBER_COLUMNS = (
    SourceRecord.id, SourceRecord.source, SourceRecord.source_id, SourceRecord.source_updated_at,
    SourceRecord.fields, SourceRecord.prepared, SourceRecord.match_status,
)


def _members_and_override_flags(uow: UnitOfWork, golden_ids: Sequence[str]) -> dict[str, tuple[list[Any], bool]]:
    """For each golden: the members' columns :func:`recompute` needs (like :func:`members_of`:
    live members by id) and whether it has any steward override — one statement for all of them
    (overrides are rare: they are loaded only when the flag says so). The ORM select autoflushes
    first."""
    if not golden_ids:
        return {}
    has_override = sa_select(GoldenOverride.golden_id).where(GoldenOverride.golden_id == SourceRecord.golden_id).exists()
    rows = uow.session.execute(
        sa_select(*_MEMBER_COLUMNS, SourceRecord.golden_id, has_override.label("has_override"))
        .where(SourceRecord.golden_id.in_(sorted(set(golden_ids))), SourceRecord.deleted.is_(False))  # type: ignore[union-attr]
        .order_by(SourceRecord.id),  # type: ignore[arg-type]
    ).all()
    found: dict[str, tuple[list[Any], bool]] = {gid: ([], False) for gid in golden_ids}
    for row in rows:
        members, flag = found[row.golden_id]
        members.append(row)
        found[row.golden_id] = (members, flag or bool(row.has_override))
    return found


def to_member(record: Any) -> Member:
    flags = (record.prepared or {}).get("flags") or {}
    return Member(
        record_id=str(record.id),
        source=record.source,
        source_id=record.source_id,
        updated_at=as_utc(record.source_updated_at),
        fields=record.fields,
        invalid_fields=frozenset(flags),
    )


def golden_payload(golden: GoldenRecord, members: Sequence[Any]) -> dict[str, Any]:
    """The approved golden record as subscribers and the API see it."""
    return {
        "id": golden.id,
        "domain": golden.domain,
        "version": golden.version,
        "status": golden.status,
        "approval": golden.approval,
        "merged_into": golden.merged_into,
        "account_number": golden.account_number,
        "fields": golden.fields,
        "crossref": [{"source": m.source, "source_id": m.source_id} for m in members],
        "updated_at": golden.updated_at.isoformat() if golden.updated_at else None,
    }


def survivor_of(uow: UnitOfWork, golden_id: str) -> GoldenRecord | None:
    """The golden a (possibly merged-away) id now lives on; ``None`` if it never existed."""
    golden = uow.session.get(GoldenRecord, golden_id)
    seen: set[str] = set()
    while golden is not None and golden.status == "merged" and golden.merged_into and golden.id not in seen:
        seen.add(golden.id)
        golden = uow.session.get(GoldenRecord, golden.merged_into)
    return golden


def survivors_of(uow: UnitOfWork, golden_ids: Iterable[str]) -> dict[str, GoldenRecord | None]:
    """:func:`survivor_of` for many ids at once (the steward queue's page of candidates), by id.

    Each statement loads the goldens still to be seen together with the golden each merged one
    was merged into, so a redirect costs nothing more: merges repoint older redirects to the
    survivor (:func:`mdm.services.lifecycle.merge`), and a chain of several hops, should one
    exist, costs a statement per further two hops for the whole page, never one per id.
    """
    wanted = sorted(set(golden_ids))
    loaded: dict[str, GoldenRecord] = {}
    asked: set[str] = set()

    def load(ids: set[str]) -> None:
        ids -= asked | loaded.keys()
        if not ids:
            return
        into = aliased(GoldenRecord)
        rows = uow.session.execute(
            sa_select(GoldenRecord, into)
            .outerjoin(into, and_(GoldenRecord.status == "merged", into.id == GoldenRecord.merged_into))  # type: ignore[arg-type]
            .where(GoldenRecord.id.in_(sorted(ids)))  # type: ignore[attr-defined]
        ).all()
        asked.update(ids)
        for golden, target in rows:
            loaded[golden.id] = golden
            if golden.status == "merged" and golden.merged_into:
                asked.add(golden.merged_into)  # the join said whether it exists
            if target is not None:
                loaded[target.id] = target

    load(set(wanted))
    walks: dict[str, tuple[GoldenRecord | None, set[str]]] = {g: (loaded.get(g), set()) for g in wanted}
    while True:
        # the same steps as survivor_of, for every id still on a merged golden
        moving = [g for g, (golden, seen) in walks.items()
                  if golden is not None and golden.status == "merged" and golden.merged_into and golden.id not in seen]
        if not moving:
            return {g: golden for g, (golden, _seen) in walks.items()}
        load({walks[g][0].merged_into for g in moving})  # type: ignore[union-attr,misc]
        for g in moving:
            golden, seen = walks[g]
            assert golden is not None and golden.merged_into
            seen.add(golden.id)
            walks[g] = (loaded.get(golden.merged_into), seen)


#: Columns a golden change writes (everything but ``id``, ``domain`` and ``created_at``).
_GOLDEN_MUTABLE = ("status", "merged_into", "approval", "fields", "lineage", "version", "account_number", "rules_hash", "updated_at")
_GOLDEN_ALL = ("id", "domain", "created_at", *_GOLDEN_MUTABLE)


def new_golden(uow: UnitOfWork, domain: str) -> GoldenRecord:
    """Insert an empty golden (version 0) and return it as a persistent, clean ORM object."""
    golden = blank_golden(domain)
    insert_goldens(uow, [golden])
    return golden


def blank_golden(domain: str) -> GoldenRecord:
    """An empty golden (version 0) with its id, not stored yet (see :func:`insert_goldens`).

    Built as SQLAlchemy builds a loaded row (:func:`mdm.db.as_loaded`), every column given: a
    stream of new customers makes a golden for most records, and SQLModel's constructor ran each
    value through pydantic and SQLAlchemy's change tracking (2 % of a resolve worker's samples).
    """
    now = utcnow()
    return as_loaded(GoldenRecord, {"id": new_uuid(), "domain": domain, "status": "active", "merged_into": None,
                                    "approval": "approved", "fields": {}, "lineage": {}, "version": 0,
                                    "account_number": None, "rules_hash": None, "created_at": now, "updated_at": now})


def insert_goldens(uow: UnitOfWork, goldens: Sequence[GoldenRecord]) -> None:
    """Store new goldens with one Core INSERT (executemany) instead of an ORM flush: every column
    is set in Python, so the objects are attached as already persistent (nothing to expire,
    nothing to reload)."""
    if goldens:
        uow.session.execute(insert(GoldenRecord.__table__), one_or_many([{c: getattr(g, c) for c in _GOLDEN_ALL} for g in goldens]))
    for golden in goldens:
        make_transient_to_detached(golden)
        uow.session.add(golden)


def recompute(
    uow: UnitOfWork,
    golden: GoldenRecord,
    cause: dict[str, Any],
    *,
    event_type: str | None = None,
    correlation_id: str | None = None,
) -> Recomputed:
    """Rebuild ``golden`` from its members; version it, with history and outbox, if it changed.

    The caller must hold the golden's row lock (:func:`lock_goldens` or a fresh insert).
    A golden left without members is retired (its id is never reused).
    """
    return recompute_many(uow, [golden], {golden.id: cause}, event_type=event_type, correlation_id=correlation_id)[golden.id]


def recompute_many(
    uow: UnitOfWork,
    goldens: Sequence[GoldenRecord],
    causes: dict[str, dict[str, Any]],
    *,
    event_type: str | None = None,
    correlation_id: str | None = None,
    created_members: dict[str, list[SourceRecord]] | None = None,
) -> dict[str, Recomputed]:
    """:func:`recompute` for several goldens (all locked by the caller) with set-wise reads and
    writes: one statement for every golden's members, one for the hub account numbers they need,
    one (executemany) for their versions — instead of three or four per golden. Goldens are
    handled in id order, the order the one-by-one callers use.

    ``created_members``: goldens the caller inserted in this transaction, with every record it
    attached to them (written, so current): nothing else can hold them, so their members are not
    read back (most goldens of a stream of new customers are such, with one member)."""
    ordered = sorted(goldens, key=lambda g: g.id)
    created = created_members or {}
    found = _members_and_override_flags(uow, [g.id for g in ordered if g.id not in created])
    found.update({gid: (sorted(records, key=lambda r: r.id or 0), False) for gid, records in created.items()})
    numbers = _hub_numbers(uow, [g for g in ordered if _needs_hub_number(g, *found[g.id])])
    # the rules once per call, not per golden (each look-up checks the rules file on disk)
    rules = {domain: survivorship_engine(domain, uow.settings.rules_dir) for domain in {g.domain for g in ordered}}
    states = [(g, _rebuilt(uow, g, *found[g.id], numbers, rules[g.domain])) for g in ordered]
    # the stored member list is read only when nothing else already tells a change
    stored = _latest_members_many(uow, [g for g, state in states if not state.changed])
    results: dict[str, Recomputed] = {}
    versions: list[tuple[GoldenRecord, list[Any], dict[str, Any], str]] = []
    for golden, state in states:
        if not state.changed and state.member_refs == stored.get(golden.id):
            results[golden.id] = Recomputed(golden.id, False, golden.version, None)
            continue
        kind = event_type or ("created" if golden.version == 0 else
                              "retired" if state.status == "retired" and golden.status != "retired" else "updated")
        # recorded as the committed state right away (write_versions writes exactly these values):
        # assigning through SQLModel's __setattr__ and then marking them written cost twice
        mark_written(golden, {"fields": state.fields, "lineage": state.lineage, "status": state.status,
                              "approval": state.approval, "rules_hash": state.rules_hash})
        versions.append((golden, state.members, causes[golden.id], kind))
    write_versions(uow, versions, correlation_id)
    for golden, _members, _cause, kind in versions:
        results[golden.id] = Recomputed(golden.id, True, golden.version, kind)
    return results


@dataclass
class _Rebuilt:
    """A golden rebuilt from its members, before anything is written."""

    changed: bool  # already told by fields, lineage, status or approval (else: compare members)
    fields: dict[str, Any]
    lineage: dict[str, Any]
    status: str
    approval: str
    rules_hash: str
    members: list[Any]
    member_refs: list[dict[str, Any]]


def _rebuilt(uow: UnitOfWork, golden: GoldenRecord, members: list[Any], has_overrides: bool,
             numbers: dict[str, str], rules: tuple[SurvivorshipEngine, str]) -> _Rebuilt:
    """The golden's new fields, lineage, status and approval from ``members`` under ``rules``
    (engine, fingerprint), and whether that alone tells a change (if not, the caller compares
    the stored member list)."""
    member_refs = [{"record_id": m.id, "source": m.source, "source_id": m.source_id} for m in members]
    engine, rules_hash = rules
    if members:
        overrides = {
            o.field: Override(field=o.field, value=o.value, pinned_by=o.pinned_by, pinned_at=o.pinned_at)
            for o in uow.session.exec(select(GoldenOverride).where(GoldenOverride.golden_id == golden.id)).all()
        } if has_overrides else {}
        result = engine.build([to_member(m) for m in members], overrides).to_json()
        fields, lineage = result["fields"], result["lineage"]
        status = golden.status if golden.status == "merged" else "active"
    else:
        fields, lineage = golden.fields, golden.lineage
        status = "retired" if golden.status != "merged" else "merged"
    if golden.domain == "customer" and members:
        if golden.id in numbers:
            golden.account_number = numbers[golden.id]
        fields, lineage = _with_account_number(uow, golden, fields, lineage)
    approval = "pending_review" if any(m.match_status == "review" for m in members) else (
        golden.approval if golden.approval == "pending_onboarding" else "approved"
    )
    changed = (
        golden.version == 0
        or fields != golden.fields
        or lineage != golden.lineage
        or status != golden.status
        or approval != golden.approval
    )
    return _Rebuilt(changed, fields, lineage, status, approval, rules_hash, members, member_refs)


def _needs_hub_number(golden: GoldenRecord, members: list[Any], has_overrides: bool) -> bool:
    """A customer golden with members, no number yet, no override and no ERP number among its
    members' fields: :func:`account_numbers.assign` would draw one (drawn here for all at once).
    Otherwise assign decides as before (an ERP number may be held by another golden)."""
    if golden.domain != "customer" or not members or golden.account_number is not None or has_overrides:
        return False
    return not any((m.fields or {}).get("account_number") not in (None, "") for m in members)


def _hub_numbers(uow: UnitOfWork, goldens: list[GoldenRecord]) -> dict[str, str]:
    from mdm.services.account_numbers import next_sequences, number_format

    if not goldens:
        return {}
    fmt = number_format()
    return {g.id: fmt.format(seq=n) for g, n in zip(goldens, next_sequences(uow, len(goldens)), strict=True)}


_GR, _GV, _OE = GoldenRecord.__table__.c, GoldenVersion.__table__.c, OutboxEvent.__table__.c  # type: ignore[attr-defined]

#: PostgreSQL: the golden row, its history row and its outbox event in ONE statement (constant
#: text, so psycopg prepares it). JSON values go through the columns' own types.
_PG_WRITE_VERSION = text("""
WITH g AS (
    UPDATE golden_record SET status = :status, merged_into = :merged_into, approval = :approval,
           fields = :fields, lineage = :lineage, version = :version, account_number = :account_number,
           rules_hash = :rules_hash, updated_at = :updated_at
     WHERE id = :golden_id),
v AS (
    INSERT INTO golden_version (golden_id, version, status, fields, lineage, members, cause, correlation_id, created_at)
    VALUES (:golden_id, :version, :status, :fields, :lineage, :members, :cause, :correlation_id, :updated_at))
INSERT INTO outbox_event (event_id, golden_id, domain, golden_version, type, payload, correlation_id, created_at)
VALUES (:event_id, :golden_id, :domain, :version, :type, :payload, :correlation_id, :updated_at)
""").bindparams(
    bindparam("status", type_=_GR.status.type), bindparam("merged_into", type_=_GR.merged_into.type),
    bindparam("approval", type_=_GR.approval.type), bindparam("fields", type_=_GR.fields.type),
    bindparam("lineage", type_=_GR.lineage.type), bindparam("version", type_=_GR.version.type),
    bindparam("account_number", type_=_GR.account_number.type), bindparam("rules_hash", type_=_GR.rules_hash.type),
    bindparam("updated_at", type_=_GR.updated_at.type), bindparam("golden_id", type_=_GR.id.type),
    bindparam("members", type_=_GV.members.type), bindparam("cause", type_=_GV.cause.type),
    bindparam("correlation_id", type_=_GV.correlation_id.type), bindparam("event_id", type_=_OE.event_id.type),
    bindparam("domain", type_=_OE.domain.type), bindparam("type", type_=_OE.type.type),
    bindparam("payload", type_=_OE.payload.type),
)
#: elsewhere (SQLite): the same three writes as three Core statements
_UPDATE_GOLDEN = update(GoldenRecord.__table__).where(_GR.id == bindparam("golden_id"))


def write_version(
    uow: UnitOfWork,
    golden: GoldenRecord,
    members: Sequence[Any],
    cause: dict[str, Any],
    event_type: str,
    correlation_id: str | None,
) -> None:
    """Bump ``golden``'s version and write its history row and outbox event (see :func:`write_versions`)."""
    write_versions(uow, [(golden, members, cause, event_type)], correlation_id)


def write_versions(
    uow: UnitOfWork,
    changes: Sequence[tuple[GoldenRecord, Sequence[Any], dict[str, Any], str]],
    correlation_id: str | None,
) -> None:
    """For each (golden, members, cause, event type): bump the version and write the history row
    and outbox event, in the caller's transaction — the one place a golden change becomes
    visible to history and subscribers. One executemany for all of them.

    Each golden's current attribute values (set by the caller, possibly not flushed yet) are
    written with Core statements, then recorded on the object as its committed state, so the
    ORM has nothing left to flush for it. ``members`` are records or rows (id, source, source_id).
    """
    if not changes:
        return
    params = []
    for golden, members, cause, event_type in changes:
        values = {c: getattr(golden, c) for c in _GOLDEN_MUTABLE}
        values["version"], values["updated_at"] = golden.version + 1, utcnow()
        # the object's committed state now (the payload below reads it); the statement writes it
        # below, in this transaction — which a failure rolls back with the session
        mark_written(golden, values)
        member_refs = [{"record_id": m.id, "source": m.source, "source_id": m.source_id} for m in members]
        params.append({
            **values, "golden_id": golden.id, "members": member_refs, "cause": cause,
            "correlation_id": correlation_id, "event_id": new_uuid(), "domain": golden.domain,
            "type": event_type, "payload": golden_payload(golden, members),
        })
    # no autoflush: the goldens' unflushed changes are in ``params``; flushing them first
    # would be one more UPDATE each
    with uow.session.no_autoflush:
        if uow.dialect == "postgresql":
            uow.session.execute(_PG_WRITE_VERSION, one_or_many(params))
        else:
            uow.session.execute(_UPDATE_GOLDEN, [{c: p[c] for c in (*_GOLDEN_MUTABLE, "golden_id")} for p in params])
            uow.session.execute(insert(GoldenVersion.__table__), [{
                "golden_id": p["golden_id"], "version": p["version"], "status": p["status"], "fields": p["fields"],
                "lineage": p["lineage"], "members": p["members"], "cause": p["cause"],
                "correlation_id": correlation_id, "created_at": p["updated_at"],
            } for p in params])
            uow.session.execute(insert(OutboxEvent.__table__), [{
                "event_id": p["event_id"], "golden_id": p["golden_id"], "domain": p["domain"],
                "golden_version": p["version"], "type": p["type"], "payload": p["payload"],
                "correlation_id": correlation_id, "created_at": p["updated_at"],
            } for p in params])
    after_outbox_write(uow)  # publishing: nudge delivery once this transaction commits


def _with_account_number(
    uow: UnitOfWork, golden: GoldenRecord, fields: dict[str, Any], lineage: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The golden's account number is the ERP's, or one the hub assigned (see account_numbers)."""
    from mdm.services.account_numbers import assign, with_hub_number

    erp_number = fields.get("account_number")
    warning = assign(uow, golden, str(erp_number) if erp_number not in (None, "") else None)
    if golden.account_number != erp_number:
        return with_hub_number(fields, lineage, golden.account_number or "", erp_number, warning)
    return fields, lineage


def _latest_members_many(uow: UnitOfWork, goldens: Sequence[GoldenRecord]) -> dict[str, Any]:
    """The member list stored with each golden's current version (one statement for all)."""
    wanted = [(g.id, g.version) for g in goldens if g.version != 0]
    if not wanted:
        return {}
    ids = sorted({gid for gid, _ in wanted})
    rows = uow.session.execute(
        sa_select(GoldenVersion.golden_id, GoldenVersion.version, GoldenVersion.members).where(
            GoldenVersion.golden_id.in_(ids)  # type: ignore[attr-defined]
        ).where(tuple_(GoldenVersion.golden_id, GoldenVersion.version).in_(wanted))
    ).all()
    return {gid: members for gid, version, members in rows}
