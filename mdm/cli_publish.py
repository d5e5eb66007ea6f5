"""``mdm publish …``: subscriptions, delivery status, replay, and the publish sweep."""

from __future__ import annotations

import json
from datetime import datetime
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


def _admin() -> Any:
    from mdm.services.apikeys import Principal

    return Principal(0, "cli", "admin", None)


def _echo(doc: Any) -> None:
    click.echo(json.dumps(doc, indent=2, default=str))


def _parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise click.BadParameter(f"not an ISO-8601 time: {value!r}") from exc
    if moment.tzinfo is None:
        raise click.BadParameter(f"give a time zone (e.g. Z): {value!r}")
    return moment


@click.group("publish")
def publish() -> None:
    """Publishing approved masters: subscriptions, deliveries, replay, sweep."""


@publish.command("subscribe")
@click.option("--url", required=True)
@click.option("--secret", default="generate", show_default=True, help="whsec_… or 'generate'")
@click.option("--name", default=None)
@click.option("--domain", "domains", multiple=True, help="repeat; default: all domains")
@click.option("--event-type", "event_types", multiple=True, help="repeat; default: all types")
@click.option("--start", type=click.Choice(["now", "beginning"]), default="now", show_default=True)
def subscribe(url: str, secret: str, name: str | None, domains: tuple[str, ...], event_types: tuple[str, ...], start: str) -> None:
    """Create a webhook subscription (prints it, with the secret when generated)."""
    from mdm.publishing.config import PublishSettings
    from mdm.publishing.subscriptions import create_subscription, subscription_json

    data: dict[str, Any] = {"url": url, "secret": secret, "start": start}
    if name:
        data["name"] = name
    if domains:
        data["domains"] = list(domains)
    if event_types:
        data["event_types"] = list(event_types)
    with UnitOfWork(_settings()) as uow:
        try:
            sub, generated = create_subscription(uow, data, _admin(), PublishSettings.from_env())
        except DomainError as exc:
            raise click.UsageError(f"{exc.message} {json.dumps(exc.details, default=str)}") from exc
        uow.commit()
        doc = subscription_json(uow, sub)
    if generated:
        doc["secret"] = generated
    _echo(doc)


@publish.command("subscriptions")
def subscriptions() -> None:
    """List subscriptions with delivery counts per state."""
    from mdm.publishing.subscriptions import list_subscriptions, subscription_json

    with UnitOfWork(_settings()) as uow:
        _echo([subscription_json(uow, s) for s in list_subscriptions(uow)])


@publish.command("status")
@click.argument("event_id")
def status(event_id: str) -> None:
    """Delivery status of one event for every subscription."""
    from mdm.publishing.deliveries import delivery_json, list_deliveries

    with UnitOfWork(_settings()) as uow:
        _echo([delivery_json(d) for d in list_deliveries(uow, event_id=event_id, limit=1000)])


@publish.command("deliveries")
@click.argument("subscription_id")
@click.option("--status", "state", default=None, help="pending, delivered, held, dead, rejected, steward")
@click.option("--limit", default=100, show_default=True)
def deliveries_cmd(subscription_id: str, state: str | None, limit: int) -> None:
    """Deliveries of one subscription (dead letters: --status dead)."""
    from mdm.publishing.deliveries import delivery_json, list_deliveries

    with UnitOfWork(_settings()) as uow:
        try:
            rows = list_deliveries(uow, subscription_ids=[subscription_id], status=state, limit=limit)
        except DomainError as exc:
            raise click.UsageError(exc.message) from exc
        _echo([delivery_json(d) for d in rows])


@publish.command("replay")
@click.argument("subscription_id")
@click.option("--event", "event_id", default=None, help="one event id")
@click.option("--from", "start", default=None, help="ISO-8601 start of a time range (inclusive)")
@click.option("--to", "end", default=None, help="ISO-8601 end of a time range (exclusive)")
@click.option("--after", default=None, help="a feed cursor: everything after it")
def replay_cmd(subscription_id: str, event_id: str | None, start: str | None, end: str | None, after: str | None) -> None:
    """Send events to a subscription again (same event ids), in version order per golden."""
    from mdm.publishing.deliveries import replay
    from mdm.publishing.feed import decode_cursor
    from mdm.publishing.subscriptions import get_subscription
    from mdm.publishing.trigger import request_drain

    chosen = [x for x in (event_id, after) if x] + (["range"] if start or end else [])
    if len(chosen) != 1:
        raise click.UsageError("give exactly one of --event, --from/--to, --after")
    with UnitOfWork(_settings()) as uow:
        try:
            sub = get_subscription(uow, subscription_id, lock=True)
            result = replay(
                uow, sub, event_id=event_id, start=_parse_time(start), end=_parse_time(end),
                after=decode_cursor(after) if after else None,
            )
        except DomainError as exc:
            raise click.UsageError(exc.message) from exc
        uow.commit()
    request_drain(subscription_id, force=True)
    _echo(result.__dict__)


@publish.command("sweep")
@click.option("--loop", is_flag=True, help="keep sweeping every MDM_PUBLISH_SWEEP_INTERVAL_SECONDS")
@click.option("--older-than", default=None, type=float, help="seconds a delivery must be due (default MDM_PUBLISH_SWEEP_AFTER_SECONDS)")
def sweep(loop: bool, older_than: float | None) -> None:
    """Fan out missed events and re-nudge deliveries whose jobs were lost."""
    from mdm.publishing.sweep import sweep_forever, sweep_publishing

    settings = _settings()
    if loop:
        sweep_forever(settings)
        return
    _echo(sweep_publishing(settings, older_than_seconds=older_than))


@publish.command("dispatch")
def dispatch_cmd() -> None:
    """Fan out now and nudge drains (inline without Redis)."""
    from mdm.publishing.jobs import dispatch

    _settings()
    _echo(dispatch())
