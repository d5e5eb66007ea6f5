"""Survivorship in the service: ERP-governed fields, account numbers, rules files, recompute."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from survivorship import RulesError
from tests.conftest import Hub, _build_hub

SF_ACME = {"Name": "Acme Corp.", "BillingStreet": "1 Main St", "BillingCity": "Springfield", "BillingState": "IL",
           "BillingPostalCode": "62701", "AccountNumber": "SF-999", "credit_limit": "999999"}
ERP_ACME = {"kind": "organization", "name": "ACME Corporation", "account_number": "AC-70001", "credit_limit": "50000",
            "payment_terms": "NET30", "address": {"line1": "1 Main Street", "city": "Springfield", "region": "IL", "postal_code": "62701"}}


def golden_for(hub: Hub, source: str, source_id: str) -> dict:
    golden_id = hub.get(f"/sources/{source}/customer/records/{source_id}").get_json()["golden_id"]
    return hub.get(f"/golden/customer/{golden_id}").get_json()


def test_erp_governed_fields_never_come_from_salesforce(any_hub: Hub) -> None:
    any_hub.put("salesforce", "customer", "001A000001abcDE", SF_ACME)
    any_hub.wait_resolved()
    alone = golden_for(any_hub, "salesforce", "001A000001abcDE")
    # Salesforce's values are stored on its record, shown as not eligible, and never survive
    assert alone["fields"]["credit_limit"] is None
    assert alone["lineage"]["credit_limit"]["ineligible"][0]["reason"] == "not_owner"
    assert alone["account_number"] and alone["account_number"] != "SF-999", "the hub assigned one"
    assert alone["lineage"]["account_number"]["rule"] == "hub_assigned"

    any_hub.put("erp", "customer", "C-70001", ERP_ACME)
    any_hub.wait_resolved()
    golden = golden_for(any_hub, "erp", "C-70001")
    assert golden["id"] == alone["id"]
    assert golden["fields"]["credit_limit"] == "50000" and golden["lineage"]["credit_limit"]["source"] == "erp"
    assert golden["account_number"] == golden["fields"]["account_number"] == "AC-70001", "the ERP's number wins"


def test_hub_assigned_account_numbers_are_distinct_and_follow_the_format(any_hub: Hub) -> None:
    numbers = []
    for i, city in enumerate(["Austin", "Boston", "Denver", "Fresno"]):
        any_hub.put("salesforce", "customer", f"001A00000000{i:03d}", {"Name": f"Shop {city} {i}", "BillingCity": city, "BillingPostalCode": f"{10000 + i}"})
    any_hub.wait_resolved()
    for i in range(4):
        numbers.append(golden_for(any_hub, "salesforce", f"001A00000000{i:03d}")["account_number"])
    assert len(set(numbers)) == 4 and all(n.startswith("C") and len(n) == 9 for n in numbers)


def test_invalid_rules_file_fails_startup_and_rules_check_names_the_problem(tmp_path: Path, sqlite_settings) -> None:  # noqa: ANN001
    bad = tmp_path / "rules"
    bad.mkdir()
    (bad / "customer.yaml").write_text("domain: customer\nfields:\n  name:\n    type: string\n    rules: [mst_recent]\n")
    with pytest.raises(RulesError) as info:
        _build_hub(replace(sqlite_settings, rules_dir=str(bad)))
    assert "customer.yaml" in str(info.value) and "mst_recent" in str(info.value)
    check = subprocess.run([sys.executable, "-m", "mdm.cli", "rules", "check", str(bad / "customer.yaml")], capture_output=True, text=True)
    assert check.returncode == 1 and "name" in check.stderr and "mst_recent" in check.stderr
    good = subprocess.run([sys.executable, "-m", "mdm.cli", "rules", "check", "survivorship/rules/customer.yaml"], capture_output=True, text=True, cwd=Path(__file__).parents[2])
    assert good.returncode == 0, good.stderr


def test_recompute_after_a_rules_change_versions_only_changed_goldens(tmp_path: Path, sqlite_settings) -> None:  # noqa: ANN001
    hub = _build_hub(sqlite_settings)
    hub.put("salesforce", "customer", "001A000001abcDE", {**SF_ACME, "Phone": "217-555-0100"})
    hub.put("erp", "customer", "C-70001", ERP_ACME)
    hub.put("erp", "customer", "C-2", {"kind": "organization", "name": "Globex Inc", "address": {"line1": "9 Elm Ave", "city": "Shelbyville", "postal_code": "62565"}})
    acme = golden_for(hub, "erp", "C-70001")
    globex = golden_for(hub, "erp", "C-2")
    assert acme["fields"]["name"] == "ACME Corporation"

    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    shipped = (Path(__file__).parents[2] / "survivorship/rules/customer.yaml").read_text()
    # Salesforce first for names now
    (rules_dir / "customer.yaml").write_text(shipped.replace("source_priority: [erp, salesforce]", "source_priority: [salesforce, erp]"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MDM_")}
    env.update({"MDM_DATABASE_URL": sqlite_settings.database_url, "MDM_RULES_DIR": str(rules_dir)})
    out = subprocess.run([sys.executable, "-m", "mdm.cli", "golden", "recompute", "--domain", "customer"], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["recomputed"] == 2 and report["changed"] == 1
    after = hub.get(f"/golden/customer/{acme['id']}").get_json()
    assert after["fields"]["name"] == "Acme Corp." and after["version"] == acme["version"] + 1
    assert hub.get(f"/golden/customer/{globex['id']}").get_json()["version"] == globex["version"]
    history = hub.get(f"/golden/customer/{acme['id']}/history").get_json()["versions"]
    assert history[-1]["cause"]["type"] == "rule_change" and history[-1]["changes"]["name"]["to"] == "Acme Corp."
