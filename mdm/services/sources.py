"""Source systems: registered before they may send changes (an unknown source is a 404)."""

from __future__ import annotations

import re

from sqlmodel import select

from mdm.db import UnitOfWork
from mdm.errors import Conflict, InvalidInput
from mdm.models import SourceSystem
from mdm.source_mapping import SOURCE_KINDS

NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")


def list_sources(uow: UnitOfWork) -> list[SourceSystem]:
    return list(uow.session.exec(select(SourceSystem).order_by(SourceSystem.name)).all())


def register_source(uow: UnitOfWork, name: str, kind: str, description: str = "") -> SourceSystem:
    if not NAME_RE.match(name or ""):
        raise InvalidInput("source name must be lower-case letters, digits, '-' or '_'", details={"name": name})
    if kind not in SOURCE_KINDS:
        raise InvalidInput(f"unknown source kind {kind!r}", details={"kind": kind, "known": list(SOURCE_KINDS)})
    if uow.session.get(SourceSystem, name) is not None:
        raise Conflict(f"source {name!r} already exists", details={"name": name})
    system = SourceSystem(name=name, kind=kind, description=description)
    uow.session.add(system)
    uow.session.flush()
    return system
