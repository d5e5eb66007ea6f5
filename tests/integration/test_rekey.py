"""``mdm rekey``: a hub keyed by older blocking rules is brought in line, beside live traffic.

The scenario is the upgrade that replaced the date-of-birth-only key (``p_dob``) with
date + postcode and date + initial: records stored before it still carry ``p_dob`` keys, and a
new record that shares only a date + initial with one of them does not find it until the
stored keys are recomputed.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from click.testing import CliRunner
from sqlalchemy import create_engine, text

from matching import MatchEngine
from mdm.cli import main
from mdm.services.rekey import rekey
from tests.conftest import Hub, keys_by_record, worker_env

PEOPLE = [
    {"kind": "person", "first_name": "Katherine", "last_name": "Zielinski", "birth_date": "1970-02-03"},
    {"kind": "person", "first_name": "Oscar", "last_name": "Pratt", "birth_date": "1981-11-30",
     "address": {"line1": "4 Kent St", "city": "Deakin", "postal_code": "2600", "country": "AU"}},
    {"kind": "person", "first_name": "Mia", "last_name": "Nguyen", "birth_date": "1990-07-14", "email": "mia@example.org"},
    {"kind": "organization", "name": "Acme Corporation", "website": "acme.com"},
]
# shares only "p_dob_i:1970-02-03|z" with Katherine Zielinski (both soundex codes differ)
NEWCOMER = {"kind": "person", "first_name": "Cathy", "last_name": "Zmielinski", "birth_date": "1970-02-03"}


def expected_keys(hub: Hub) -> dict[int, set[str]]:
    """What the current rules give for each stored record's fields."""
    engine_ = MatchEngine("customer")
    engine = create_engine(hub.settings.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT id, fields FROM source_record WHERE domain = 'customer' AND NOT deleted")).all()
    finally:
        engine.dispose()
    return {rid: set(engine_.blocking_keys(engine_.prepare(f if isinstance(f, dict) else json.loads(f)))) for rid, f in rows}


def make_keys_stale(hub: Hub) -> int:
    """Put the hub back to the old rules: ``p_dob:<date>`` instead of the date + postcode/initial keys."""
    engine = create_engine(hub.settings.database_url)
    try:
        with engine.begin() as conn:
            rows = conn.execute(text("SELECT source_record_id, domain, key FROM match_key WHERE key LIKE 'p_dob_%'")).all()
            old = {(rid, dom, "p_dob:" + key.split(":", 1)[1].split("|", 1)[0]) for rid, dom, key in rows}
            conn.execute(text("DELETE FROM match_key WHERE key LIKE 'p_dob_%'"))
            for rid, dom, key in sorted(old):
                conn.execute(text("INSERT INTO match_key (domain, key, source_record_id) VALUES (:d, :k, :r)"),
                             {"d": dom, "k": key, "r": rid})
            return len(old)
    finally:
        engine.dispose()


def ranked_goldens(hub: Hub, fields: dict[str, Any]) -> list[str]:
    body = hub.client.post("/api/v1/match/customer", json={"fields": fields}, headers=hub.headers("salesforce")).get_json()
    return [c["golden_id"] for c in body["candidates"]]


def cli(hub: Hub, *args: str) -> Any:
    return CliRunner().invoke(main, list(args), env=worker_env(hub.settings), catch_exceptions=False)


def test_rekey_recomputes_stale_keys_and_restores_candidates(any_hub: Hub) -> None:
    for i, fields in enumerate(PEOPLE):
        assert any_hub.put("erp", "customer", f"C-{i}", fields).status_code in (200, 201, 202)
    any_hub.wait_resolved()
    fresh = keys_by_record(any_hub)
    assert fresh == expected_keys(any_hub), "resolving stored the current rules' keys"
    katherine_golden = any_hub.get("/sources/erp/customer/records/C-0").get_json()["golden_id"]
    assert katherine_golden in ranked_goldens(any_hub, NEWCOMER)

    assert make_keys_stale(any_hub) == 3  # three people have a birth date
    stale = keys_by_record(any_hub)
    assert katherine_golden not in ranked_goldens(any_hub, NEWCOMER), "the old keys do not reach her"

    preview = cli(any_hub, "rekey", "--domain", "customer", "--dry-run")
    assert preview.exit_code == 0, preview.output
    summary = json.loads(preview.output.splitlines()[-1])["summary"]
    assert summary["dry_run"] is True and summary["records_checked"] == 4 and summary["records_rekeyed"] == 3
    assert summary["removed_by_family"] == {"p_dob": 3}
    assert summary["added_by_family"] == {"p_dob_i": 6, "p_dob_pc": 1}  # two initials each; one has a postcode
    assert keys_by_record(any_hub) == stale, "a dry run writes nothing"

    done = cli(any_hub, "rekey", "--domain", "customer")
    assert done.exit_code == 0, done.output
    assert json.loads(done.output.splitlines()[-1])["summary"]["records_rekeyed"] == 3
    assert keys_by_record(any_hub) == fresh
    assert katherine_golden in ranked_goldens(any_hub, NEWCOMER)

    again = json.loads(cli(any_hub, "rekey", "--domain", "customer").output.splitlines()[-1])["summary"]
    assert again["records_rekeyed"] == 0 and again["keys_added"] == again["keys_removed"] == 0

    bad = cli(any_hub, "rekey", "--domain", "price")
    assert bad.exit_code == 2 and "price" in bad.output


def test_rekey_skips_a_record_a_worker_holds_and_does_not_wait(pg_hub: Hub) -> None:
    """PostgreSQL: a record locked by another transaction is reported busy, the rest are re-keyed."""
    for i, fields in enumerate(PEOPLE):
        pg_hub.put("erp", "customer", f"C-{i}", fields)
    pg_hub.wait_resolved()
    fresh = keys_by_record(pg_hub)
    make_keys_stale(pg_hub)
    engine = create_engine(pg_hub.settings.database_url)
    conn = engine.connect()
    try:
        trans = conn.begin()
        held = conn.execute(text("SELECT id FROM source_record WHERE source_id = 'C-1' FOR UPDATE")).scalar_one()
        result: dict[str, Any] = {}
        thread = threading.Thread(target=lambda: result.update(report=rekey(pg_hub.settings, "customer", chunk=2)))
        thread.start()
        thread.join(timeout=30)
        assert not thread.is_alive(), "rekey waited for the locked record"
        report = result["report"]
        assert report.busy == [held] and report.rekeyed == 2
        after = keys_by_record(pg_hub)
        assert {rid: ks for rid, ks in after.items() if rid != held} == {rid: ks for rid, ks in fresh.items() if rid != held}
        assert any(k.startswith("p_dob:") for k in after[held]), "the held record was left alone"
        trans.rollback()
    finally:
        conn.close()
        engine.dispose()
    assert rekey(pg_hub.settings, "customer").rekeyed == 1
    assert keys_by_record(pg_hub) == fresh


def test_rekey_on_an_empty_hub_reports_nothing(hub: Hub) -> None:
    report = rekey(hub.settings, "customer")
    assert report.summary()["records_checked"] == 0 and not report.busy
