"""The ``mdm`` command: serve, worker, db upgrade, apikey create, load, sweep."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from mdm import runtime
from mdm.db import UnitOfWork
from mdm.errors import DomainError
from mdm.settings import Settings


def _settings() -> Settings:
    settings = Settings.from_env()
    runtime.configure(settings)
    return settings


@click.group()
def main() -> None:
    """MDM hub: golden customer, product and price records between Salesforce and the ERP."""


# --- database ------------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Database schema (Alembic)."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (SQLite or PostgreSQL, from MDM_DATABASE_URL)."""
    from mdm.migrate import upgrade

    settings = _settings()
    upgrade(settings.database_url, revision)
    click.echo(f"database at {revision}: {_redact(settings.database_url)}")


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


# --- API keys -------------------------------------------------------------------------------


@main.group()
def apikey() -> None:
    """API keys (stored hashed; the key is printed once)."""


@apikey.command("create")
@click.option("--name", required=True)
@click.option("--role", required=True, type=click.Choice(["source", "steward", "subscriber", "admin"]))
@click.option("--source", default=None, help="the source system a 'source' key may write for")
def apikey_create(name: str, role: str, source: str | None) -> None:
    """Create a key and print it once."""
    from mdm.services.apikeys import create_key

    with UnitOfWork(_settings()) as uow:
        try:
            _, clear = create_key(uow, name, role, source)
        except DomainError as exc:
            raise click.UsageError(exc.message) from exc
        uow.commit()
    click.echo(clear)


# --- serving --------------------------------------------------------------------------------


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=lambda: int(os.environ.get("MDM_WEB_WORKERS", "2")), type=int, help="gunicorn processes")
def serve(host: str, port: int, workers: int) -> None:
    """Run the HTTP API under gunicorn."""
    from gunicorn.app.base import BaseApplication

    settings = _settings()
    if settings.jobs_inline and workers > 1 and settings.is_sqlite:
        workers = 1  # inline jobs on SQLite: one writer process keeps the file lock uncontended

    class HubApplication(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("timeout", settings.web_timeout)
            self.cfg.set("accesslog", "-")

        def load(self) -> Any:
            from api import create_app

            return create_app(settings=settings)

    HubApplication().run()


@main.command()
@click.option("--queue", "queue_name", default="resolve", show_default=True, type=click.Choice(["resolve", "publish", "maintenance"]))
@click.option("--burst", is_flag=True, help="exit when the queue is empty")
@click.option("--sweep/--no-sweep", default=True, show_default=True, help="run the lost-job sweep beside the worker")
@click.option("--name", default=None)
@click.option("--fork/--no-fork", default=None,
              help="run each job in a forked work-horse (isolation) instead of in the worker process "
                   "(twice the resolve throughput); default: on for the maintenance queue, else MDM_WORKER_FORK (off)")
def worker(queue_name: str, burst: bool, sweep: bool, name: str | None, fork: bool | None) -> None:
    """Run one RQ worker process on one queue (start more processes to scale out)."""
    from mdm.worker import forks_by_default, run_worker

    settings = _settings()
    if settings.jobs_inline:
        raise click.UsageError("MDM_REDIS_URL is not set: without Redis, jobs run inline in the web process")
    run_worker(settings, queue_name, burst=burst, sweep=sweep, name=name,
               fork=forks_by_default(settings, queue_name) if fork is None else fork)


@main.command("sweep")
@click.option("--older-than", default=None, type=int, help="seconds (default MDM_SWEEP_AFTER_SECONDS)")
@click.option("--loop", is_flag=True, help="keep sweeping every MDM_SWEEP_INTERVAL_SECONDS")
def sweep_cmd(older_than: int | None, loop: bool) -> None:
    """Re-enqueue accepted records whose resolve job was lost."""
    from mdm.worker import sweep_forever

    settings = _settings()
    if loop:
        sweep_forever(settings)
        return
    from mdm.services.sweep import close_finished_batches, sweep_lost_records

    result = sweep_lost_records(settings, older_than_seconds=older_than)
    click.echo(json.dumps({**result, "batches_closed": close_finished_batches(settings, older_than_seconds=older_than)}))


# --- loading --------------------------------------------------------------------------------


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--source", required=True)
@click.option("--domain", required=True, type=click.Choice(["customer", "product", "price"]))
@click.option("--batch-size", default=1000, show_default=True, type=int)
@click.option("--strict", is_flag=True, help="exit non-zero when any row is rejected")
@click.option("--bulk", is_flag=True, help="set-based initial load into an empty domain, one transaction "
              "(falls back to the normal path when the domain already holds records)")
def load(file: Path, source: str, domain: str, batch_size: int, strict: bool, bulk: bool) -> None:
    """Load a CSV or JSON-lines FILE of source records (progress bar; bad rows to a reject file)."""
    from tqdm import tqdm

    from mdm.loader import load_file

    settings = _settings()
    if bulk:
        from mdm.bulk import NotEmpty, bulk_load

        try:
            with tqdm(unit="rec", desc=f"bulk loading {file.name}", disable=None) as bar:
                bulk_report = bulk_load(settings, file, source, domain, progress=bar)
        except NotEmpty as exc:
            click.echo(f"--bulk not used: {exc}; loading through the normal (streaming) path", err=True)
        except DomainError as exc:
            raise click.ClickException(exc.message) from exc
        else:
            click.echo(json.dumps(bulk_report.to_json()))
            if strict and bulk_report.rejected:
                sys.exit(1)
            return
    with tqdm(unit="rec", desc=f"loading {file.name}", disable=None) as bar:
        try:
            report = load_file(settings, file, source, domain, batch_size=batch_size, progress=bar)
        except DomainError as exc:
            raise click.ClickException(exc.message) from exc
    click.echo(
        json.dumps(
            {
                "total": report.total,
                "stored": report.stored,
                "rejected": report.rejected,
                "outcomes": report.outcomes,
                "batches": len(report.batches),
                "reject_file": report.reject_file,
            }
        )
    )
    if strict and report.rejected:
        sys.exit(1)


from mdm.cli_golden import golden_group, rules_group  # noqa: E402
from mdm.cli_publish import publish  # noqa: E402 - subcommand groups are wired in after main exists

main.add_command(publish)
main.add_command(rules_group)
main.add_command(golden_group)
from mdm.cli_model import model, rekey, rematch  # noqa: E402 - mdm model …, mdm rematch (issue 4), mdm rekey

main.add_command(model)
main.add_command(rematch)
main.add_command(rekey)


if __name__ == "__main__":  # pragma: no cover
    main()
