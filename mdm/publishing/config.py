"""Publishing settings, read from ``MDM_PUBLISH_*`` variables at the moment of use.

They live apart from :class:`mdm.settings.Settings` so publishing can be tuned (and tests can
shrink a 24-hour retry schedule to a second) without touching the core settings. Every value
has a production default; nothing here is required on a laptop.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

#: The Standard Webhooks example schedule: the delay *before* each attempt, in seconds
#: (immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h). After the last
#: attempt fails the delivery is dead-lettered, roughly 2.8 days after the first.
STANDARD_SCHEDULE: tuple[float, ...] = (0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)


def _floats(raw: str | None, default: tuple[float, ...]) -> tuple[float, ...]:
    if not raw:
        return default
    values = tuple(float(part) for part in raw.split(",") if part.strip())
    if not values or any(v < 0 for v in values):
        raise ValueError(f"MDM_PUBLISH_RETRY_SCHEDULE must be non-negative seconds, got {raw!r}")
    return values


def _num(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw not in (None, "") else default


def _list(name: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in (os.environ.get(name) or "").split(",") if p.strip())


@dataclass(frozen=True)
class PublishSettings:
    """Tuning for delivery; see ``docs/publishing.md`` for what each one trades off."""

    retry_schedule: tuple[float, ...] = STANDARD_SCHEDULE
    #: +/- this fraction of each delay, so a recovering subscriber is not hit by a thundering herd
    retry_jitter: float = 0.2
    #: a receiver's Retry-After is honoured up to this long
    max_retry_after_seconds: float = 86400.0
    timeout_seconds: float = 10.0
    connect_timeout_seconds: float = 5.0
    #: a claimed delivery is owned this long; a worker SIGKILLed mid-send loses it after this
    lease_seconds: float = 120.0
    #: parallel HTTP requests of one drain job (distinct golden records only)
    concurrency: int = 8
    #: deliveries claimed per round of a drain job (webhooks); Salesforce uses 200 (one collection)
    claim_size: int = 64
    #: a drain job stops after this long and enqueues a successor (keeps RQ jobs short)
    drain_budget_seconds: float = 60.0
    #: a drain with nothing to send waits this long for more before it ends
    linger_seconds: float = 1.0
    sweep_interval_seconds: float = 5.0
    #: a due delivery untouched this long means its job was lost: the sweep enqueues again
    sweep_after_seconds: float = 30.0
    #: hosts / CIDRs a subscription URL may point at although they are private (SSRF allow-list)
    allowed_hosts: tuple[str, ...] = field(default_factory=tuple)
    #: how long a rotated-out webhook secret still signs (consumers switch over meanwhile)
    secret_grace_seconds: float = 86400.0
    #: RQ debounce: a queued dispatch/drain job suppresses identical triggers this long
    trigger_ttl_seconds: int = 30
    #: Salesforce loop prevention: changes last modified by these users are the hub's own echo
    salesforce_integration_user_ids: tuple[str, ...] = field(default_factory=tuple)
    #: sent as ``Sforce-Call-Options: client=<name>``; CDC reports it in ``changeOrigin``
    salesforce_client_name: str = "mdm-hub"

    @classmethod
    def from_env(cls) -> PublishSettings:
        env = os.environ
        return cls(
            retry_schedule=_floats(env.get("MDM_PUBLISH_RETRY_SCHEDULE"), STANDARD_SCHEDULE),
            retry_jitter=_num("MDM_PUBLISH_RETRY_JITTER", 0.2),
            max_retry_after_seconds=_num("MDM_PUBLISH_MAX_RETRY_AFTER_SECONDS", 86400.0),
            timeout_seconds=_num("MDM_PUBLISH_TIMEOUT_SECONDS", 10.0),
            connect_timeout_seconds=_num("MDM_PUBLISH_CONNECT_TIMEOUT_SECONDS", 5.0),
            lease_seconds=_num("MDM_PUBLISH_LEASE_SECONDS", 120.0),
            concurrency=max(1, int(_num("MDM_PUBLISH_CONCURRENCY", 8))),
            claim_size=max(1, int(_num("MDM_PUBLISH_CLAIM_SIZE", 64))),
            drain_budget_seconds=_num("MDM_PUBLISH_DRAIN_BUDGET_SECONDS", 60.0),
            linger_seconds=_num("MDM_PUBLISH_LINGER_SECONDS", 1.0),
            sweep_interval_seconds=_num("MDM_PUBLISH_SWEEP_INTERVAL_SECONDS", 5.0),
            sweep_after_seconds=_num("MDM_PUBLISH_SWEEP_AFTER_SECONDS", 30.0),
            allowed_hosts=_list("MDM_PUBLISH_ALLOWED_HOSTS"),
            secret_grace_seconds=_num("MDM_PUBLISH_SECRET_GRACE_SECONDS", 86400.0),
            trigger_ttl_seconds=max(1, int(_num("MDM_PUBLISH_TRIGGER_TTL_SECONDS", 30))),
            salesforce_integration_user_ids=_list("MDM_SALESFORCE_INTEGRATION_USER_IDS"),
            salesforce_client_name=env.get("MDM_SALESFORCE_CLIENT_NAME") or "mdm-hub",
        )

    @property
    def max_attempts(self) -> int:
        return len(self.retry_schedule)
