"""``Decision.merge_with``: a record that bridges two goldens merges them — unless a steward is involved."""

from __future__ import annotations

from typing import Any

from tests.conftest import Hub

ADDRESS = {"line1": "12 Banksia Crescent", "city": "Toowong", "region": "QLD", "postal_code": "4066", "country": "AU"}
#: two partial copies of one person that do not link to each other (too little in common) ...
PARTIAL_A = {"kind": "person", "first_name": "Jonathan", "last_name": "Whitfield", "birth_date": "1980-03-14",
             "email": "jon.whitfield@example.com", "phone": "+61 7 3870 9999"}
PARTIAL_C = {"kind": "person", "first_name": "Jonathan", "last_name": "Whitfeld", "address": ADDRESS, "phone": "+61 7 3870 1234"}
#: ... and a complete copy that links to both: together they are one cluster
FULL_B = {"kind": "person", "first_name": "Jonathan", "last_name": "Whitfield", "birth_date": "1980-03-14",
          "email": "jon.whitfield@example.com", "address": ADDRESS, "phone": "+61 7 3870 1234"}


def rec(hub: Hub, source_id: str) -> dict[str, Any]:
    return hub.get(f"/sources/erp/customer/records/{source_id}").get_json()


def test_a_bridging_record_merges_the_goldens_it_joins(any_hub: Hub) -> None:
    any_hub.put("erp", "customer", "P-A", PARTIAL_A)
    any_hub.wait_resolved()
    any_hub.put("erp", "customer", "P-C", PARTIAL_C)
    any_hub.wait_resolved()
    a, c = rec(any_hub, "P-A"), rec(any_hub, "P-C")
    assert a["golden_id"] != c["golden_id"] and c["match_status"] == "new", "A and C alone do not match"
    any_hub.put("erp", "customer", "P-B", FULL_B)
    any_hub.wait_resolved()
    b = rec(any_hub, "P-B")
    assert b["match_status"] == "linked" and b["match_explanation"]["merged"], b["match_explanation"]
    assert rec(any_hub, "P-A")["golden_id"] == rec(any_hub, "P-C")["golden_id"] == b["golden_id"] == a["golden_id"], \
        "one golden, under the oldest id"
    assert any_hub.get(f"/golden/customer/{c['golden_id']}").status_code == 308
    history = any_hub.get(f"/golden/customer/{a['golden_id']}/history").get_json()["versions"]
    assert history[-1]["cause"]["type"] == "merge" and history[-1]["cause"]["actor"] == "matching"


def test_no_bridge_merge_across_a_steward_split(any_hub: Hub) -> None:
    any_hub.put("erp", "customer", "P-A", PARTIAL_A)
    any_hub.put("erp", "customer", "P-A2", {**PARTIAL_A, "email": "j.whitfield@example.com"})
    any_hub.wait_resolved()
    golden = rec(any_hub, "P-A")["golden_id"]
    assert rec(any_hub, "P-A2")["golden_id"] == golden
    # a steward splits A2 off: "not a match" between A2 and A's golden
    split = any_hub.client.post(f"/api/v1/golden/customer/{golden}/split", json={"record_ids": [rec(any_hub, "P-A2")["id"]]},
                                headers=any_hub.headers("steward"))
    assert split.status_code == 201, split.get_json()
    a2_golden = split.get_json()["new_golden_id"]
    # a record that links to both must not undo the steward's split
    any_hub.put("erp", "customer", "P-B", {**FULL_B, "email": "j.whitfield@example.com"})
    any_hub.wait_resolved()
    b = rec(any_hub, "P-B")
    assert rec(any_hub, "P-A")["golden_id"] == golden and rec(any_hub, "P-A2")["golden_id"] == a2_golden
    assert b["golden_id"] in (golden, a2_golden)
    skipped = b["match_explanation"].get("merge_skipped") or {}
    assert not b["match_explanation"].get("merged")
    assert b["match_explanation"]["merge_with"], "matching proposed the bridge merge ..."
    assert "steward" in " ".join(skipped.values()), "... and the resolve job declined it"


def test_no_bridge_merge_while_a_golden_is_in_review(any_hub: Hub) -> None:
    any_hub.put("erp", "customer", "P-A", PARTIAL_A)
    any_hub.wait_resolved()
    # same names, nothing else shared: the review band (a provisional golden and a review item)
    any_hub.put("erp", "customer", "P-C", {**PARTIAL_C, "last_name": "Whitfield"})
    any_hub.wait_resolved()
    a, c = rec(any_hub, "P-A"), rec(any_hub, "P-C")
    assert c["match_status"] == "review" and c["golden_id"] != a["golden_id"]
    any_hub.put("erp", "customer", "P-B", FULL_B)
    any_hub.wait_resolved()
    b = rec(any_hub, "P-B")
    assert b["match_status"] == "linked"
    assert rec(any_hub, "P-A")["golden_id"] == a["golden_id"] != rec(any_hub, "P-C")["golden_id"], "the steward decides"
    assert "review" in " ".join((b["match_explanation"].get("merge_skipped") or {}).values()), b["match_explanation"]
    assert len(any_hub.get("/review/customer", role="steward").get_json()["items"]) == 1
