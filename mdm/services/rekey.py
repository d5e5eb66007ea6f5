"""Re-key: recompute the stored blocking keys of live records after the key rules change.

Candidates are found only through stored keys (``match_key``), never by scanning. When
``matching/blocking.py`` changes — the date-of-birth-only key became date + postcode and
date + initial, for instance — records stored before the change keep their old keys, so a new
record cannot find them through the new keys until each is re-resolved. ``mdm rekey``
recomputes every live record's keys from its stored canonical fields exactly as a resolve does
(``prepare`` then ``blocking_keys``: a stored record and a newcomer with the same values get the
same keys even if normalization changed too) and replaces the keys of the records whose set
differs. It changes nothing else: goldens, decisions and match status stay as they are
(``mdm rematch`` reports what re-deciding would change).

It runs beside live traffic. Each chunk is one transaction that locks its records in id order
with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL: a record a worker holds at that moment is
skipped rather than waited for (waiting could deadlock with a merge that moves members while
holding key locks), retried after the pass, and reported as ``busy`` if it is still held. A
record re-resolved meanwhile gets its keys from the resolve itself, with the current rules.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, insert
from sqlalchemy import select as sa_select

from mdm.db import UnitOfWork
from mdm.engines import FUZZY_DOMAINS, match_engine
from mdm.errors import InvalidInput
from mdm.models import RESOLVED_STATUSES, MatchKey, SourceRecord
from mdm.settings import Settings

CHUNK = 2_000
_SR = SourceRecord.__table__.c  # type: ignore[attr-defined]
_MK = MatchKey.__table__  # type: ignore[attr-defined]
#: live, resolved records: the ones with stored keys (pending records get theirs when resolved)
_KEYED = and_(_SR.deleted.is_(False), _SR.match_status.in_(RESOLVED_STATUSES))


@dataclass
class RekeyReport:
    domain: str
    dry_run: bool
    checked: int = 0
    rekeyed: int = 0
    keys_added: Counter[str] = field(default_factory=Counter)
    keys_removed: Counter[str] = field(default_factory=Counter)
    busy: list[int] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "dry_run": self.dry_run,
            "records_checked": self.checked,
            "records_rekeyed": self.rekeyed,
            "keys_added": sum(self.keys_added.values()),
            "keys_removed": sum(self.keys_removed.values()),
            "added_by_family": dict(sorted(self.keys_added.items())),
            "removed_by_family": dict(sorted(self.keys_removed.items())),
            "busy": len(self.busy),
            "busy_record_ids": self.busy[:20],
        }


def _family(key: str) -> str:
    return key.split(":", 1)[0]


def _keyed_ids(uow: UnitOfWork, where: ColumnElement[bool], limit: int | None = None) -> list[int]:
    query = sa_select(_SR.id).where(_KEYED, where).order_by(_SR.id).limit(limit)
    return list(uow.session.execute(query).scalars())


def _lock(uow: UnitOfWork, ids: list[int]) -> list[tuple[int, dict[str, Any] | None]]:
    """(id, canonical fields) of the records among ``ids`` that are still keyed and not held by anyone else."""
    query = sa_select(_SR.id, _SR.fields).where(_KEYED, _SR.id.in_(ids)).order_by(_SR.id)
    if uow.dialect == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return [(row.id, row.fields) for row in uow.session.execute(query)]


def _stored_keys(uow: UnitOfWork, ids: list[int]) -> dict[int, set[str]]:
    stored: dict[int, set[str]] = {i: set() for i in ids}
    for rid, key in uow.session.execute(sa_select(_MK.c.source_record_id, _MK.c.key).where(_MK.c.source_record_id.in_(ids))):
        stored[rid].add(key)
    return stored


def _rekey_ids(uow: UnitOfWork, domain: str, ids: list[int], report: RekeyReport) -> list[int]:
    """Re-key the records ``ids`` in ``uow``; returns the ids that were busy (locked elsewhere)."""
    engine = match_engine(uow.session, domain)
    locked = _lock(uow, ids)
    held = {rid for rid, _ in locked}
    stored = _stored_keys(uow, list(held))
    changed: dict[int, list[str]] = {}
    for rid, fields in locked:
        report.checked += 1
        wanted = set(engine.blocking_keys(engine.prepare(fields or {})))
        before = stored[rid]
        if wanted == before:
            continue
        changed[rid] = sorted(wanted)
        report.keys_added.update(_family(k) for k in wanted - before)
        report.keys_removed.update(_family(k) for k in before - wanted)
    report.rekeyed += len(changed)
    if changed and not report.dry_run:
        uow.session.execute(delete(_MK).where(_MK.c.source_record_id.in_(list(changed))))
        rows = [{"domain": domain, "key": k, "source_record_id": rid} for rid, keys in changed.items() for k in keys]
        if rows:
            uow.session.execute(insert(_MK), rows)
    # ids that vanished (deleted, or re-resolved into pending) between the two reads are not busy
    missing = [i for i in ids if i not in held]
    return _keyed_ids(uow, _SR.id.in_(missing)) if missing else []


def rekey(settings: Settings, domain: str, *, dry_run: bool = False, chunk: int = CHUNK) -> RekeyReport:
    """Bring every live ``domain`` record's stored keys in line with the current key rules.

    ``dry_run``: count what would change, write nothing (each chunk is rolled back).
    """
    if domain not in FUZZY_DOMAINS:
        raise InvalidInput(
            f"{domain} records have no blocking keys to recompute",
            details={"domain": domain, "rekey_domains": list(FUZZY_DOMAINS)}, code="not_matchable",
        )
    report = RekeyReport(domain, dry_run)
    busy: list[int] = []
    after = 0
    while True:
        with UnitOfWork(settings) as uow:
            ids = _keyed_ids(uow, and_(_SR.domain == domain, _SR.id > after), chunk)
            if not ids:
                break
            busy += _rekey_ids(uow, domain, ids, report)
            if not dry_run:
                uow.commit()
        after = ids[-1]
    for start in range(0, len(busy), chunk):  # one retry: a worker holds a record for milliseconds
        with UnitOfWork(settings) as uow:
            report.busy += _rekey_ids(uow, domain, busy[start:start + chunk], report)
            if not dry_run:
                uow.commit()
    return report
