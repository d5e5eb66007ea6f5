"""Customer account numbers: the ERP's when it sends one, otherwise the hub assigns one.

The ERP governs account numbers; a number it sends (survived into the golden's
``account_number`` field, ERP-only by the rules) becomes the golden's number unless another
golden already holds it (then the conflict is reported, nothing is overwritten). A customer
golden without one gets the next number from ``MDM_ACCOUNT_NUMBER_FORMAT`` and a sequence:
never reused (the sequence only moves forward, a retired or merged golden keeps its number),
gap-tolerant, and safe under concurrency without serializing workers.
"""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import insert, select, text, update

from mdm.db import UnitOfWork
from mdm.models import Counter, GoldenRecord

DEFAULT_FORMAT = "C{seq:08d}"
COUNTER = "account_number"


def number_format() -> str:
    return os.environ.get("MDM_ACCOUNT_NUMBER_FORMAT") or DEFAULT_FORMAT


def next_sequence(uow: UnitOfWork) -> int:
    return next_sequences(uow, 1)[0]


def next_sequences(uow: UnitOfWork, n: int) -> list[int]:
    """``n`` new numbers, ascending, in one statement (a resolve group numbers its goldens at once)."""
    if uow.dialect == "postgresql":
        return sorted(int(v) for v in uow.session.execute(
            text("SELECT nextval('account_number_seq') FROM generate_series(1, :n)"), {"n": n}).scalars())
    row = uow.session.execute(
        update(Counter).where(Counter.name == COUNTER).values(value=Counter.value + n).returning(Counter.value)
    ).first()
    if row is None:
        uow.session.execute(insert(Counter).values(name=COUNTER, value=n))
        return list(range(1, n + 1))
    return list(range(int(row[0]) - n + 1, int(row[0]) + 1))


def assign(uow: UnitOfWork, golden: GoldenRecord, erp_number: str | None) -> str | None:
    """Give ``golden`` its account number; returns a warning when the ERP's number is taken."""
    if erp_number and erp_number != golden.account_number:
        holder = uow.session.execute(
            select(GoldenRecord.id).where(GoldenRecord.account_number == erp_number, GoldenRecord.id != golden.id)
        ).first()
        if holder is None:
            golden.account_number = erp_number
            return None
        return f"ERP account number {erp_number!r} is already held by golden {holder[0]}; kept {golden.account_number!r}"
    if golden.account_number is None:
        golden.account_number = number_format().format(seq=next_sequence(uow))
    return None


def with_hub_number(
    fields: dict[str, Any], lineage: dict[str, Any], number: str, erp_number: Any, warning: str | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The golden's fields and lineage when its number is not the ERP's survived value: the
    hub assigned one (no ERP number) or kept its own (the ERP's was held by another golden)."""
    entry: dict[str, Any] = {
        "value": number, "rule": "hub_assigned" if not erp_number else "kept_on_conflict",
        "source": None, "source_id": None, "record_id": None, "updated_at": None,
        "ineligible": (lineage.get("account_number") or {}).get("ineligible", []), "alternatives": [],
    }
    if warning:
        entry["warning"] = warning
    return {**fields, "account_number": number}, {**lineage, "account_number": entry}
