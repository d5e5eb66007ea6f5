"""``mdm rules check`` and ``mdm golden recompute``."""

from __future__ import annotations

import json
import time
import uuid

import click

from mdm import runtime
from mdm.settings import Settings


@click.group("rules")
def rules_group() -> None:
    """Survivorship rules files."""


@rules_group.command("check")
@click.argument("file", type=click.Path(dir_okay=False))
def rules_check(file: str) -> None:
    """Validate a rules FILE; print each problem (file, field, problem) and exit 1 if any."""
    from survivorship.config import check_rules_file

    problems = check_rules_file(file)
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        raise SystemExit(1)
    click.echo(f"{file}: ok")


@click.group("golden")
def golden_group() -> None:
    """Golden records."""


@golden_group.command("recompute")
@click.option("--domain", type=click.Choice(["customer", "product", "price"]), default=None, help="default: all")
@click.option("--wait/--no-wait", default=True, show_default=True, help="with Redis: wait for the jobs, with a progress bar")
def golden_recompute(domain: str | None, wait: bool) -> None:
    """Rebuild every active golden with the rules in force; only changed ones get a new version."""
    from tqdm import tqdm

    from mdm.services.recompute import golden_id_pages, recompute_goldens

    settings = Settings.from_env()
    runtime.configure(settings)
    from mdm.engines import check_all_rules

    check_all_rules(settings.rules_dir)
    correlation = f"recompute:{uuid.uuid4()}"
    totals = {"recomputed": 0, "changed": 0}
    job_ids: list[str] = []
    with tqdm(unit="golden", desc="recompute", disable=None) as bar:
        for page in golden_id_pages(settings, domain):
            if settings.jobs_inline:
                counts = recompute_goldens(settings, page, correlation)
                for key in totals:
                    totals[key] += counts[key]
            else:
                job_ids.append(runtime.queue().enqueue("maintenance", "mdm.jobs.recompute_goldens", page, correlation).job_id)
            bar.update(len(page))
    if job_ids and wait:
        totals = _wait_for(settings, job_ids)
    click.echo(json.dumps({**totals, "jobs": len(job_ids), "correlation_id": correlation}))


def _wait_for(settings: Settings, job_ids: list[str]) -> dict[str, int]:
    from redis import Redis
    from rq.job import Job
    from rq.serializers import JSONSerializer
    from tqdm import tqdm

    redis = Redis.from_url(settings.redis_url or "")
    totals = {"recomputed": 0, "changed": 0, "failed_jobs": 0}
    remaining = set(job_ids)
    with tqdm(total=len(job_ids), unit="job", desc="waiting for workers", disable=None) as bar:
        while remaining:
            for job_id, job in zip(list(remaining), Job.fetch_many(list(remaining), connection=redis, serializer=JSONSerializer), strict=True):
                status = getattr(job.get_status(refresh=False), "value", None) if job else "missing"
                if status in ("finished", "failed", "missing", "stopped", "canceled"):
                    remaining.discard(job_id)
                    bar.update(1)
                    result = job.return_value() if job and status == "finished" else None
                    if isinstance(result, dict):
                        for key in ("recomputed", "changed"):
                            totals[key] += int(result.get(key, 0))
                    else:
                        totals["failed_jobs"] += 1
            time.sleep(0.5)
    return totals
