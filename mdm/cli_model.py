"""``mdm model …`` (train, list, activate, deactivate), ``mdm rematch`` and ``mdm rekey``."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from mdm import runtime
from mdm.db import UnitOfWork
from mdm.errors import DomainError
from mdm.settings import Settings

MODEL_DOMAINS = ("customer", "product")


def _settings() -> Settings:
    settings = Settings.from_env()
    runtime.configure(settings)
    return settings


def _echo(doc: Any) -> None:
    click.echo(json.dumps(doc, default=str))


@click.group("model")
def model() -> None:
    """Matching models: train from stored records and steward labels, list, activate."""


@model.command("train")
@click.option("--domain", required=True, type=click.Choice(MODEL_DOMAINS))
@click.option("--sample", default=20_000, show_default=True, type=click.IntRange(2, 1_000_000),
              help="records sampled (uniformly, bounded memory) from the stored ones")
@click.option("--activate", "activate_it", is_flag=True, help="make the new version the active one")
@click.option("--seed", default=0, show_default=True, type=int)
def train_cmd(domain: str, sample: int, activate_it: bool, seed: int) -> None:
    """Fit a new model version (u from random pairs, m by EM, labels) and save it."""
    from mdm.services.modeling import train_model

    with UnitOfWork(_settings()) as uow:
        try:
            result = train_model(uow, domain, sample=sample, activate_it=activate_it, seed=seed)
        except DomainError as exc:
            raise click.ClickException(exc.message) from exc
        uow.commit()
    _echo({"version": result.version, "domain": domain, "active": result.active, "records": result.records,
           "labels": result.labels, "label_pairs": result.pairs, "metadata": result.metadata})


@model.command("list")
@click.option("--domain", default=None, type=click.Choice(MODEL_DOMAINS))
def list_cmd(domain: str | None) -> None:
    """Saved model versions (one JSON line each); without an active one a domain uses the shipped default."""
    from matching import MatchEngine
    from mdm.services.modeling import list_models

    with UnitOfWork(_settings()) as uow:
        rows = list_models(uow, domain)
    for row in rows:
        _echo(row)
    for name in [domain] if domain else MODEL_DOMAINS:
        if not any(r["active"] for r in rows if r["domain"] == name):
            _echo({"version": MatchEngine(name).model.version, "domain": name, "active": True, "shipped_default": True})


@model.command("activate")
@click.argument("version")
def activate_cmd(version: str) -> None:
    """Make VERSION the active model of its domain (workers switch within 30 s)."""
    from mdm.services.modeling import activate

    with UnitOfWork(_settings()) as uow:
        try:
            row = activate(uow, version)
        except DomainError as exc:
            raise click.ClickException(exc.message) from exc
        uow.commit()
    _echo({"version": row.version, "domain": row.domain, "active": True})


@model.command("deactivate")
@click.option("--domain", required=True, type=click.Choice(MODEL_DOMAINS))
def deactivate_cmd(domain: str) -> None:
    """Go back to the shipped default model for DOMAIN."""
    from mdm.services.modeling import deactivate

    with UnitOfWork(_settings()) as uow:
        deactivate(uow, domain)
        uow.commit()
    _echo({"domain": domain, "active": "shipped default"})


@click.command("rematch")
@click.option("--domain", required=True, type=click.Choice(["customer", "product", "price"]))
@click.option("--limit", default=None, type=click.IntRange(1), help="check at most N records (in id order)")
@click.option("--version", default=None, help="score with this saved model instead of the active one")
def rematch(domain: str, limit: int | None, version: str | None) -> None:
    """Report (JSON lines, then a summary line) what re-deciding every live record would change. Writes nothing."""
    from mdm.services.rematch import rematch as run

    try:
        report = run(_settings(), domain, limit=limit, version=version, emit=_echo)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    _echo({"summary": report.summary()})
    sys.stdout.flush()


@click.command("rekey")
@click.option("--domain", required=True, type=click.Choice(MODEL_DOMAINS))
@click.option("--dry-run", is_flag=True, help="count what would change, write nothing")
def rekey(domain: str, dry_run: bool) -> None:
    """Recompute stored blocking keys after an upgrade that changed the key rules (safe beside live traffic).

    Prints one JSON summary line; exits 1 if records stayed locked by workers (run it again).
    """
    from mdm.services.rekey import rekey as run

    try:
        report = run(_settings(), domain, dry_run=dry_run)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    _echo({"summary": report.summary()})
    if report.busy:
        sys.exit(1)
