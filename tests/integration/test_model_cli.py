"""``mdm model train | list | activate | deactivate`` and ``mdm rematch`` against a populated hub."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from click.testing import CliRunner
from sqlalchemy import create_engine, text

from matching import MatchEngine
from mdm.cli import main
from mdm.db import UnitOfWork
from mdm.engines import reset_caches
from mdm.models import MatchModelRow
from mdm.services import modeling
from tests.conftest import DATA_TABLES, Hub, worker_env

ACME = {"kind": "organization", "name": "Acme Corporation", "website": "acme.com", "phone": "+1 217 555 0100",
        "address": {"line1": "1 Main Street", "city": "Springfield", "region": "IL", "postal_code": "62701"}}
ACME_THIN = {"kind": "organization", "name": "Acme Corp", "website": "https://www.acme.com"}
STREETS = ["Main Street", "Oak Avenue", "Elm Road", "Pine Lane", "Cedar Court", "Maple Drive"]
NAMES = ["Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Stark", "Wayne", "Wonka", "Tyrell", "Cyberdyne",
         "Soylent", "Gringotts", "Monarch", "Duff", "Krusty", "Nakatomi"]


def cli(hub: Hub, *args: str) -> Any:
    """Run ``mdm …`` in-process against the hub's database (the real command, minus interpreter start-up)."""
    result = CliRunner().invoke(main, list(args), env=worker_env(hub.settings), catch_exceptions=False)
    return result


def json_lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def populate(hub: Hub) -> None:
    """Companies from two systems, with duplicates, plus one steward label of each kind."""
    erp, sf = [], []
    for i, name in enumerate(NAMES):
        fields = {"kind": "organization", "name": f"{name} Inc", "phone": f"+1 312 555 {1000 + i:04d}",
                  "address": {"line1": f"{10 + i} {STREETS[i % len(STREETS)]}", "city": "Chicago", "region": "IL",
                              "postal_code": f"606{i:02d}"}}
        erp.append({"source_id": f"E-{i}", "fields": fields, "updated_at": "2026-01-01T00:00:00Z"})
        if i % 2 == 0:
            sf.append({"source_id": f"S-{i}", "fields": {**fields, "name": f"{name.upper()} INC.", "phone": f"(312) 555-{1000 + i:04d}"},
                       "updated_at": "2026-01-01T00:00:00Z"})
    headers = hub.headers("erp")
    assert hub.client.post("/api/v1/sources/erp/customer/batches", json={"records": erp}, headers=headers).status_code == 202
    hub.put("erp", "customer", "C-ACME", ACME)
    hub.wait_resolved()
    for item in sf:
        item["source_id"] = "001A000001" + item["source_id"].replace("-", "x").ljust(5, "0")
    # the generic kind keeps canonical names; salesforce would map them too
    assert hub.client.post("/api/v1/sources/salesforce/customer/batches", json={"records": sf}, headers=hub.headers("salesforce")).status_code == 202
    hub.put("salesforce", "customer", "001A000001thnAAA", ACME_THIN)
    hub.put("salesforce", "customer", "001A000001thnBBB", {**ACME_THIN, "name": "Acme Corporation"})
    hub.wait_resolved()
    items = hub.get("/review/customer", role="steward").get_json()["items"]
    assert len(items) == 2, items
    steward = hub.headers("steward")
    assert hub.client.post(f"/api/v1/review/customer/{items[0]['id']}/approve", headers=steward).status_code == 200
    assert hub.client.post(f"/api/v1/review/customer/{items[1]['id']}/reject", headers=steward).status_code == 200


def counts(hub: Hub) -> dict[str, int]:
    engine = create_engine(hub.settings.database_url)
    try:
        with engine.connect() as conn:
            return {t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in DATA_TABLES}
    finally:
        engine.dispose()


def test_train_list_activate(any_hub: Hub) -> None:
    default = MatchEngine("customer").model.version
    listed = json_lines(cli(any_hub, "model", "list", "--domain", "customer").output)
    assert listed == [{"version": default, "domain": "customer", "active": True, "shipped_default": True}]
    empty = cli(any_hub, "model", "train", "--domain", "customer")
    assert empty.exit_code != 0 and "nothing to train on" in empty.output
    populate(any_hub)
    first = cli(any_hub, "model", "train", "--domain", "customer", "--sample", "25")
    assert first.exit_code == 0, first.output
    trained = json_lines(first.output)[-1]
    assert trained["active"] is False and trained["records"] == 25, "a bounded sample"
    assert trained["labels"] == 2 and trained["label_pairs"] >= 2, "both steward labels feed the training"
    assert trained["metadata"]["records_seen"] > 25
    second = json_lines(cli(any_hub, "model", "train", "--domain", "customer", "--activate").output)[-1]
    assert second["version"] != trained["version"] and second["active"] is True, "versions are unique"
    rows = json_lines(cli(any_hub, "model", "list").output)
    assert [r["version"] for r in rows if r["domain"] == "customer" and r["active"]] == [second["version"]]
    activated = cli(any_hub, "model", "activate", trained["version"])
    assert activated.exit_code == 0, activated.output
    with UnitOfWork(any_hub.settings) as uow:
        active = uow.session.execute(text("SELECT version FROM match_model WHERE active")).scalars().all()
    assert active == [trained["version"]], "one active model per domain"
    unknown = cli(any_hub, "model", "activate", "customer-999")
    assert unknown.exit_code != 0 and "no model version" in unknown.output
    assert cli(any_hub, "model", "deactivate", "--domain", "customer").exit_code == 0
    assert json_lines(cli(any_hub, "model", "list", "--domain", "customer").output)[-1]["shipped_default"] is True
    reset_caches()


def test_rematch_reports_without_writing(any_hub: Hub) -> None:
    populate(any_hub)
    any_hub.put("salesforce", "customer", "001A000001thnCCC", {**ACME_THIN, "name": "Acme Corp."})
    any_hub.wait_resolved()
    before = counts(any_hub)
    same = cli(any_hub, "rematch", "--domain", "customer")
    assert same.exit_code == 0, same.output
    summary = json_lines(same.output)[-1]["summary"]
    assert summary["records_checked"] == before["source_record"] and summary["steward_confirmed"] == 1
    # the same model and data: nothing would merge, move or split (review-band drift may show)
    assert (summary["records_that_would_move"], summary["golden_merges"], summary["goldens_that_would_lose_members"]) == (0, 0, 0)
    # a looser model: the thin Acme copy still in review would now link to Acme's golden
    with UnitOfWork(any_hub.settings) as uow:
        doc = modeling.current_model(uow, "customer").to_json()
        doc.update(version="customer-loose-test", thresholds={"upper": 0.45, "lower": 0.2})
        uow.session.add(MatchModelRow(domain="customer", version="customer-loose-test", document=doc, active=False))
        uow.commit()
    preview = json_lines(cli(any_hub, "rematch", "--domain", "customer", "--version", "customer-loose-test").output)
    assert preview[-1]["summary"]["model_version"] == "customer-loose-test", "a saved model can be previewed"
    assert cli(any_hub, "rematch", "--domain", "customer", "--version", "nope").exit_code != 0
    assert cli(any_hub, "model", "activate", "customer-loose-test").exit_code == 0
    looser = cli(any_hub, "rematch", "--domain", "customer")
    assert looser.exit_code == 0, looser.output
    lines = json_lines(looser.output)
    summary = lines[-1]["summary"]
    by_id = {c["source_id"]: c for c in lines[:-1]}
    assert by_id["001A000001thnCCC"]["change"] == "merge", lines
    assert preview == lines, "the preview predicted exactly what the activated model reports"
    assert summary["golden_merges"] >= 1 and summary["records_that_would_move"] >= 1
    assert summary["model_version"] == "customer-loose-test"
    # the rejected copy is never proposed for the golden a steward said it is not part of
    acme = any_hub.get("/sources/erp/customer/records/C-ACME").get_json()["golden_id"]
    rejected = by_id.get("001A000001thnBBB")
    assert rejected is None or rejected["proposed_golden_id"] != acme
    limited = json_lines(cli(any_hub, "rematch", "--domain", "customer", "--limit", "3").output)[-1]["summary"]
    assert limited["records_checked"] == 3
    assert counts(any_hub) == {**before, "match_model": 1}, "rematch wrote nothing (the one new row is the test's model)"
    prices = cli(any_hub, "rematch", "--domain", "price")
    assert prices.exit_code == 0 and json_lines(prices.output)[-1]["summary"]["records_checked"] == 0
    reset_caches()


def test_the_console_script_is_wired(hub: Hub) -> None:
    result = subprocess.run([sys.executable, "-m", "mdm.cli", "model", "--help"], capture_output=True, text=True,
                            env=worker_env(hub.settings), timeout=60)
    assert result.returncode == 0 and "train" in result.stdout and "activate" in result.stdout
    result = subprocess.run([sys.executable, "-m", "mdm.cli", "rematch", "--domain", "planet"], capture_output=True,
                            text=True, env=worker_env(hub.settings), timeout=60)
    assert result.returncode == 2 and "planet" in result.stderr
