"""Rebuild golden records after a rules change: only those whose result changed get a version.

``mdm golden recompute`` pages through golden ids (keyset pagination, bounded memory) and
runs one job per page on the ``maintenance`` queue — or inline without Redis. Each golden is
recomputed in its own transaction under its row lock, so recomputing alongside live
traffic is safe, and running a page twice changes nothing the second time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from sqlmodel import select

from mdm.db import UnitOfWork
from mdm.engines import survivorship_engine
from mdm.models import GoldenRecord
from mdm.services import golden as golden_service
from mdm.settings import Settings

PAGE_SIZE = 500


def golden_id_pages(settings: Settings, domain: str | None, page_size: int = PAGE_SIZE) -> Iterator[list[str]]:
    after = ""
    while True:
        with UnitOfWork(settings) as uow:
            query = select(GoldenRecord.id).where(GoldenRecord.status == "active", GoldenRecord.id > after)
            if domain:
                query = query.where(GoldenRecord.domain == domain)
            ids = list(uow.session.exec(query.order_by(GoldenRecord.id).limit(page_size)).all())
        if not ids:
            return
        yield ids
        after = ids[-1]


def recompute_goldens(settings: Settings, golden_ids: Sequence[str], correlation_id: str | None = None) -> dict[str, int]:
    counts = {"recomputed": 0, "changed": 0}
    for golden_id in golden_ids:
        with UnitOfWork(settings) as uow:
            locked = golden_service.lock_goldens(uow, {golden_id})
            golden = locked.get(golden_id)
            if golden is None or golden.status != "active":
                continue
            _, fingerprint = survivorship_engine(golden.domain, settings.rules_dir)
            cause = {"type": "rule_change", "rules": fingerprint}
            result = golden_service.recompute(uow, golden, cause, correlation_id=correlation_id)
            uow.commit()
        counts["recomputed"] += 1
        counts["changed"] += int(result.changed)
    return counts
