"""A page of the steward queue costs the same statements whatever its size, and says what it said.

``steward.list_items`` read each item's candidate golden (following merges) and counted its
members item by item: a page of 50 sent about 100 statements (50-70 ms). The candidates are now
read for the whole page at once. Counted with ``before_cursor_execute`` on SQLite and PostgreSQL;
the pages are compared, as JSON, with the item-by-item reading they replace (kept below as the
reference) on a mixed queue: two domains, every status, candidates active (with live and deleted
members), shared by several items, merged away (one hop and, built by hand, two), retired, in a
redirect cycle and never existing; records changed since their item opened and deleted.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlalchemy import select as sa_select

from mdm.db import UnitOfWork
from mdm.models import GoldenRecord, ReviewItem, SourceRecord
from mdm.services import golden as golden_service
from mdm.services import steward
from mdm.services.queries import _iso, record_json
from mdm.settings import Settings
from tests.conftest import captured_statements

T0 = datetime(2026, 1, 1, tzinfo=UTC)
#: how a candidate looks, cycled through the items (5 kinds, so a page of 5 holds each of them)
KINDS = ("active", "merged", "chain", "retired", "missing")


def golden(gid: str, domain: str, status: str = "active", merged_into: str | None = None, version: int = 1) -> GoldenRecord:
    return GoldenRecord(id=gid, domain=domain, status=status, merged_into=merged_into, approval="approved",
                        fields={"name": f"name of {gid}", "nested": {"n": version}}, lineage={}, version=version,
                        created_at=T0, updated_at=T0)


def build_queue(settings: Settings, per_domain: int = 60) -> None:
    """``per_domain`` review items in each of customer and product, candidates cycling through KINDS."""
    with UnitOfWork(settings) as uow:
        s = uow.session
        for domain in ("customer", "product"):
            d = domain[0]
            s.add_all([
                golden(f"{d}-survivor", domain, version=7),
                golden(f"{d}-merged", domain, "merged", f"{d}-survivor"),
                # merges repoint older redirects; a chain of two hops is built by hand
                golden(f"{d}-chain1", domain, "merged", f"{d}-chain2"),
                golden(f"{d}-chain2", domain, "merged", f"{d}-survivor"),
                golden(f"{d}-retired", domain, "retired"),
                golden(f"{d}-cycle1", domain, "merged", f"{d}-cycle2"),
                golden(f"{d}-cycle2", domain, "merged", f"{d}-cycle1"),
                golden(f"{d}-dangling", domain, "merged", f"{d}-nowhere"),
            ])
            for k in range(per_domain):
                s.add(golden(f"{d}-active{k}", domain, version=k % 4 + 1))
            s.flush()
            records = []
            for k in range(per_domain):
                # every third record is a member of the survivor, every seventh deleted, every
                # fifth changed since it was resolved
                rec = SourceRecord(source="erp" if k % 2 else "salesforce", domain=domain, source_id=f"{d}{k}",
                                   object_type=domain, raw={"k": k}, fields={"k": k, "name": f"n{k}"},
                                   content_hash=f"h{k}", resolved_hash=f"h{k}" if k % 5 else "old",
                                   source_updated_at=T0 + timedelta(minutes=k), received_at=T0, deleted=k % 7 == 3,
                                   golden_id=f"{d}-survivor" if k % 3 == 0 else f"{d}-active{k}",
                                   match_status="review" if k % 2 else "linked", match_probability=0.7,
                                   match_explanation={"k": k}, model_version="m1", warnings=None)
                records.append(rec)
            s.add_all(records)
            s.flush()
            for k, rec in enumerate(records):
                kind = KINDS[k % len(KINDS)]
                candidate = {"active": f"{d}-active{(k * 7) % 4}", "merged": f"{d}-merged", "chain": f"{d}-chain1",
                             "retired": f"{d}-retired", "missing": f"{d}-gone{k}"}[kind]
                if k % 11 == 10:
                    candidate = f"{d}-cycle1"
                if k % 13 == 12:
                    candidate = f"{d}-dangling"
                if k % 17 == 16:
                    candidate = f"{d}-survivor"
                status = steward.STATUSES[k % 4] if k % 3 else "open"
                s.add(ReviewItem(domain=domain, source_record_id=rec.id, candidate_golden_id=candidate,
                                 probability=0.5 + k / 1000, explanation={"model_version": "m1", "k": k}, status=status,
                                 created_at=T0 + timedelta(seconds=k),
                                 decided_at=None if status == "open" else T0 + timedelta(hours=k),
                                 decided_by=None if status == "open" else "steward:ann",
                                 note=None if k % 4 else f"note {k}"))
        uow.commit()


# --- the item-by-item reading replaced (the reference the pages must equal) ----------------------


def reference_item(uow: UnitOfWork, item: ReviewItem) -> dict[str, Any]:
    record = uow.session.get(SourceRecord, item.source_record_id)
    changed = record is None or record.deleted or record.content_hash != record.resolved_hash
    candidate_golden = golden_service.survivor_of(uow, item.candidate_golden_id)
    if candidate_golden is None:
        candidate: dict[str, Any] = {"golden_id": item.candidate_golden_id, "current_id": None, "status": "missing", "fields": {}}
    else:
        members = uow.session.execute(
            sa_select(func.count()).select_from(SourceRecord)
            .where(SourceRecord.golden_id == candidate_golden.id, SourceRecord.deleted.is_(False))  # type: ignore[attr-defined]
        ).scalar_one()
        candidate = {"golden_id": item.candidate_golden_id, "current_id": candidate_golden.id, "status": candidate_golden.status,
                     "approval": candidate_golden.approval, "version": candidate_golden.version,
                     "fields": candidate_golden.fields, "members": members}
    return {
        "id": item.id, "domain": item.domain, "status": item.status, "probability": item.probability,
        "created_at": _iso(item.created_at), "decided_at": _iso(item.decided_at), "decided_by": item.decided_by,
        "note": item.note, "record_changed": bool(item.status == "open" and changed),
        "record": record_json(record) if record is not None else None, "candidate": candidate,
        "explanation": item.explanation,
    }


def reference_page(settings: Settings, domain: str, status: str, limit: int, after: int | None) -> dict[str, Any]:
    with UnitOfWork(settings) as uow:
        query = sa_select(ReviewItem).where(ReviewItem.domain == domain)
        if status != "all":
            query = query.where(ReviewItem.status == status)
        if after is not None:
            query = query.where(ReviewItem.id > after)  # type: ignore[operator]
        items = list(uow.session.execute(query.order_by(ReviewItem.id).limit(limit + 1)).scalars())  # type: ignore[arg-type]
        more = len(items) > limit
        items = items[:limit]
        return {"domain": domain, "status": status, "items": [reference_item(uow, i) for i in items],
                "next_after": items[-1].id if more and items else None}


def page(settings: Settings, domain: str, status: str, limit: int, after: int | None) -> dict[str, Any]:
    with UnitOfWork(settings) as uow:
        return steward.list_items(uow, domain, status=status, limit=limit, after=after)


def counted(settings: Settings, domain: str, status: str, limit: int) -> int:
    with UnitOfWork(settings) as uow, captured_statements() as seen:
        doc = steward.list_items(uow, domain, status=status, limit=limit)
    assert len(doc["items"]) == limit
    return len(seen)


def test_statements_per_queue_page_do_not_grow_with_its_size(any_inline_settings: Settings) -> None:
    settings = any_inline_settings
    build_queue(settings)
    counts = {limit: counted(settings, "customer", "all", limit) for limit in (5, 50)}
    print("statements per queue page", settings.database_url.split(":")[0], counts)
    # the items, their records, the candidates with the goldens they were merged into and the
    # member counts (4); a redirect chain's further hops could add one: 14 and 124 before
    assert counts[5] == counts[50] <= 5, counts


def test_queue_pages_are_the_item_by_item_ones(any_inline_settings: Settings) -> None:
    settings = any_inline_settings
    build_queue(settings)
    compared = 0
    for domain in ("customer", "product"):
        for status in ("all", *steward.STATUSES):
            for limit in (1, 7, 50, 200):
                after: int | None = None
                while True:
                    got = page(settings, domain, status, limit, after)
                    want = reference_page(settings, domain, status, limit, after)
                    assert json.dumps(got) == json.dumps(want), (domain, status, limit, after)
                    compared += len(got["items"])
                    if got["next_after"] is None:
                        break
                    after = got["next_after"]
    assert compared == 2 * 2 * 60 * 4, compared  # every item, once in "all" and once in its status, per limit
    # and one item alone (GET /review/{domain}/{id}, the answer to a decision)
    with UnitOfWork(settings) as uow:
        ids = list(uow.session.execute(sa_select(ReviewItem.id, ReviewItem.domain)).all())
    for item_id, domain in ids:
        with UnitOfWork(settings) as uow:
            want = reference_item(uow, uow.session.get(ReviewItem, item_id))  # type: ignore[arg-type]
        with UnitOfWork(settings) as uow:
            assert json.dumps(steward.get_item(uow, domain, item_id)) == json.dumps(want), item_id
