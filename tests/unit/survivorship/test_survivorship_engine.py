"""The engine: rule chains, ownership, overrides, union, address as a unit, lineage."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest

from survivorship import (
    GoldenResult,
    Member,
    Override,
    RuleSet,
    SurvivorshipEngine,
    load_rules,
    parse_rules,
)

T0 = dt.datetime(2024, 3, 1, 12, 0, tzinfo=dt.UTC)


def at(days: float) -> dt.datetime:
    return T0 + dt.timedelta(days=days)


def rules_from(fields: dict, default: dict | None = None) -> RuleSet:
    doc = {"domain": "test", "fields": fields}
    if default is not None:
        doc["default"] = default
    rules, problems = parse_rules(doc, "test.yaml")
    assert not problems, problems
    return rules


def build(rules: RuleSet, *members: Member, overrides=None) -> GoldenResult:
    return SurvivorshipEngine(rules).build(list(members), overrides or {})


@pytest.fixture(scope="module")
def customer() -> SurvivorshipEngine:
    return SurvivorshipEngine(load_rules("customer"))


SF = Member("r1", "salesforce", "001A", at(10), {"name": "Acme", "email": "info@acme.com"})
ERP = Member("r2", "erp", "C-100", at(1), {"name": "ACME Inc.", "email": "billing@acme.com"})


class TestChain:
    def test_source_priority_then_most_recent(self):
        rules = rules_from({"name": {"rules": [{"source_priority": ["erp", "salesforce"]}, "most_recent"]}})
        older_erp = Member("r3", "erp", "C-101", at(0), {"name": "Acme Corp"})
        result = build(rules, SF, ERP, older_erp)
        assert result.fields["name"] == "ACME Inc."
        assert result.lineage["name"].rule == "most_recent"  # erp decided the source, recency the value

    def test_deciding_rule_is_the_first_that_leaves_one_value(self):
        rules = rules_from({"name": {"rules": [{"source_priority": ["erp"]}, "most_recent"]}})
        result = build(rules, SF, ERP)
        assert (result.fields["name"], result.lineage["name"].rule) == ("ACME Inc.", "source_priority")

    def test_next_rule_breaks_the_tie(self):
        rules = rules_from({"name": {"rules": ["first_valid", "most_recent"]}})
        assert build(rules, SF, ERP).lineage["name"].rule == "most_recent"

    def test_final_tiebreak_when_rules_cannot_decide(self):
        rules = rules_from({"name": {"rules": ["first_valid"]}})
        a = Member("a", "erp", "1", at(0), {"name": "Alpha"})
        b = Member("b", "erp", "2", at(0), {"name": "Beta"})
        first, second = build(rules, a, b), build(rules, b, a)
        assert first.lineage["name"].rule == "tiebreak"
        assert first.fields == second.fields
        assert first.lineage["name"].record_id == second.lineage["name"].record_id == "a"

    def test_agreeing_members_are_a_consensus_credited_by_the_chain(self):
        rules = rules_from({"name": {"rules": [{"source_priority": ["erp", "salesforce"]}]}})
        sf = Member("r1", "salesforce", "001A", at(5), {"name": "Acme"})
        erp = Member("r2", "erp", "C-1", at(0), {"name": "Acme"})
        entry = build(rules, sf, erp).lineage["name"]
        assert (entry.rule, entry.source, entry.source_id) == ("consensus", "erp", "C-1")

    def test_single_candidate(self):
        entry = build(rules_from({}), SF).lineage["name"]
        assert (entry.rule, entry.record_id) == ("single_candidate", "r1")

    def test_first_valid_beats_newer_invalid_value(self, customer):
        bad = Member("r1", "salesforce", "001A", at(10), {"website": "not a url"}, frozenset({"website"}))
        good = Member("r2", "salesforce", "001B", at(0), {"website": "acme.com"})
        result = customer.build([bad, good], {})
        assert (result.fields["website"], result.lineage["website"].rule) == ("acme.com", "first_valid")

    def test_invalid_value_still_survives_when_it_is_the_only_one(self, customer):
        bad = Member("r1", "salesforce", "001A", at(10), {"website": "nope"}, frozenset({"website"}))
        assert customer.build([bad], {}).fields["website"] == "nope"


class TestOwnership:
    def test_salesforce_value_for_erp_field_is_ineligible(self, customer):
        sf = Member("r1", "salesforce", "001A", at(10), {"credit_limit": "99999"})
        erp = Member("r2", "erp", "C-1", at(0), {"credit_limit": "5000.00"})
        result = customer.build([sf, erp], {})
        entry = result.lineage["credit_limit"]
        assert result.fields["credit_limit"] == "5000.00"
        assert entry.source == "erp"
        assert [(i.source, i.value, i.reason) for i in entry.ineligible] == [
            ("salesforce", "99999", "not_owner")
        ]
        assert "erp" in entry.ineligible[0].detail

    def test_only_non_owner_values_leave_the_field_empty(self, customer):
        sf = Member("r1", "salesforce", "001A", at(10), {"account_number": "SF-1", "credit_hold": True})
        result = customer.build([sf], {})
        assert result.fields["account_number"] is None and result.fields["credit_hold"] is None
        entry = result.lineage["account_number"]
        assert entry.rule == "no_eligible_value" and entry.source is None
        assert entry.ineligible[0].reason == "not_owner"

    def test_override_may_set_an_owned_field(self, customer):
        sf = Member("r1", "salesforce", "001A", at(10), {"payment_terms": "NET90"})
        pin = Override("payment_terms", "NET30", "steward@x", at(20))
        result = customer.build([sf], {"payment_terms": pin})
        assert result.fields["payment_terms"] == "NET30"
        assert result.lineage["payment_terms"].rule == "steward_override"
        assert result.lineage["payment_terms"].ineligible[0].source == "salesforce"

    def test_owned_price_amount(self):
        engine = SurvivorshipEngine(load_rules("price"))
        sf = Member("p1", "salesforce", "01u1", at(9), {"amount": "9.99", "price_list": "Standard"})
        erp = Member("p2", "erp", "PL1-SKU1", at(1), {"amount": "10.49", "price_list": "LIST"})
        result = engine.build([sf, erp], {})
        assert result.fields["amount"] == "10.49"
        assert result.fields["price_list"] == "LIST"


class TestOverride:
    def test_pinned_value_wins_and_is_attributed_to_the_steward(self, customer):
        pin = Override("name", "Acme Incorporated", "alice", at(30))
        entry = customer.build([SF, ERP], {"name": pin}).lineage["name"]
        assert (entry.value, entry.rule, entry.pinned_by, entry.pinned_at) == (
            "Acme Incorporated",
            "steward_override",
            "alice",
            at(30),
        )
        assert entry.source is None and entry.record_id is None

    def test_lineage_shows_what_unpinning_would_give(self, customer):
        entry = customer.build([SF, ERP], {"name": Override("name", "X", "alice")}).lineage["name"]
        assert entry.shadowed is not None
        assert (entry.shadowed.value, entry.shadowed.source, entry.shadowed.rule) == (
            "ACME Inc.",
            "erp",
            "source_priority",
        )
        assert entry.to_json()["shadowed"]["value"] == "ACME Inc."
        lone = customer.build([], {"name": Override("name", "X", "alice")}).lineage["name"]
        assert lone.shadowed is not None and lone.shadowed.rule == "no_eligible_value"

    def test_unpinning_restores_the_computed_value(self, customer):
        pinned = customer.build([SF, ERP], {"name": Override("name", "X", "alice")})
        unpinned = customer.build([SF, ERP], {})
        assert pinned.fields["name"] == "X" and unpinned.fields["name"] == "ACME Inc."

    def test_override_of_a_field_no_member_has(self, customer):
        result = customer.build([SF], {"tax_id": Override("tax_id", "DE123", "alice")})
        assert result.fields["tax_id"] == "DE123"

    def test_bare_values_are_accepted_as_overrides(self, customer):
        assert customer.build([SF], {"name": "Pinned"}).fields["name"] == "Pinned"


class TestUnion:
    def test_primary_in_field_and_all_distinct_values_in_field_all(self, customer):
        third = Member("r3", "salesforce", "003", at(3), {"email": ["INFO@acme.com ", "sales@acme.com"]})
        result = customer.build([SF, ERP, third], {})
        assert result.fields["email"] == "info@acme.com"  # salesforce first, then most recent
        assert result.fields["email_all"] == ["info@acme.com", "billing@acme.com", "sales@acme.com"]
        entry = result.lineage["email_all"]
        assert entry.rule == "union"
        assert {c.value: c.source_id for c in entry.contributors} == {
            "info@acme.com": "001A",
            "billing@acme.com": "C-100",
            "sales@acme.com": "003",
        }

    def test_override_goes_first_in_the_union(self, customer):
        result = customer.build([SF, ERP], {"email": Override("email", "ceo@acme.com", "bob")})
        assert result.fields["email"] == "ceo@acme.com"
        assert result.fields["email_all"] == ["ceo@acme.com", "billing@acme.com", "info@acme.com"]

    def test_union_field_with_only_empty_values(self, customer):
        result = customer.build([Member("r1", "erp", "1", at(0), {"phone": ""})], {})
        assert result.fields["phone"] is None and result.fields["phone_all"] == []
        assert result.lineage["phone"].ineligible[0].reason == "empty"

    def test_a_source_copy_of_the_union_list_is_ignored_with_a_warning(self, customer):
        m = Member("r1", "erp", "1", at(0), {"email": "a@b.co", "email_all": ["x@y.co"]})
        result = customer.build([m], {})
        assert result.fields["email_all"] == ["a@b.co"]
        assert any("email_all" in w for w in result.warnings)

    def test_an_override_of_the_union_list_is_ignored_with_a_warning(self, customer):
        m = Member("r1", "erp", "1", at(0), {"email": "a@b.co"})
        result = customer.build([m], {"email_all": Override("email_all", ["x@y.co"], "bob")})
        assert result.fields["email_all"] == ["a@b.co"]
        assert result.warnings == ("override of 'email_all' is ignored: pin 'email' instead",)


class TestAddressIsOneUnit:
    def test_never_mixes_parts_of_two_addresses(self, customer):
        erp_addr = {"line1": "1 Main St", "city": "Springfield", "postal_code": "", "country": "US"}
        sf_addr = {
            "line1": "9 Elm Rd",
            "city": "Shelbyville",
            "postal_code": "99999",
            "region": "IL",
            "country": "US",
        }
        erp = Member("r2", "erp", "C-1", at(0), {"address": erp_addr})
        sf = Member("r1", "salesforce", "001", at(5), {"address": sf_addr})
        assert customer.build([sf, erp], {}).fields["address"] == erp_addr

    def test_invalid_postal_code_flag_demotes_the_whole_address(self, customer):
        erp = Member(
            "r2", "erp", "C-1", at(0), {"address": {"line1": "1 Main"}}, frozenset({"address.postal_code"})
        )
        sf = Member("r1", "salesforce", "001", at(5), {"address": {"line1": "9 Elm"}})
        assert customer.build([sf, erp], {}).fields["address"] == {"line1": "9 Elm"}


class TestUnknownFieldsAndLineage:
    def test_unknown_fields_are_kept_with_the_default_rule(self, customer):
        old = Member("r1", "webshop", "w1", at(0), {"loyalty_tier": "gold"})
        new = Member("r2", "webshop", "w2", at(1), {"loyalty_tier": "silver"})
        result = customer.build([old, new], {})
        assert result.fields["loyalty_tier"] == "silver"
        assert result.lineage["loyalty_tier"].rule == "most_recent"

    def test_default_rule_is_configurable(self):
        rules = rules_from({}, default={"rules": [{"source_priority": ["erp"]}, "most_recent"]})
        assert build(rules, SF, ERP).fields["name"] == "ACME Inc."

    def test_every_field_has_lineage_to_its_member(self, customer):
        result = customer.build([SF, ERP], {})
        assert set(result.lineage) == set(result.fields)
        members = {m.record_id: m for m in (SF, ERP)}
        for name, entry in result.lineage.items():
            member = members[entry.record_id]
            assert (entry.source, entry.source_id, entry.updated_at) == (
                member.source,
                member.source_id,
                member.updated_at,
            )
            if not name.endswith("_all"):
                assert member.fields[name] == entry.value

    def test_to_json_is_serialisable_with_iso_datetimes(self, customer):
        pin = Override("credit_limit", "100", "bob", at(2))
        doc = customer.build([SF, ERP], {"credit_limit": pin}).to_json()
        text = json.dumps(doc)
        assert doc["lineage"]["name"]["updated_at"] == "2024-03-02T12:00:00+00:00"  # the erp member
        assert doc["lineage"]["credit_limit"]["pinned_at"] == "2024-03-03T12:00:00+00:00"
        assert doc["rules_fingerprint"].startswith("sha256:")
        assert json.loads(text) == doc

    def test_to_json_converts_non_json_member_values(self):
        m = Member("r1", "erp", "1", at(0), {"since": dt.date(2020, 1, 2)})
        assert build(rules_from({}), m).to_json()["fields"]["since"] == "2020-01-02"

    def test_to_json_accepts_uuid_record_ids(self):
        rid = uuid.UUID(int=7)
        doc = build(rules_from({}), Member(rid, "erp", "1", at(0), {"x": 1})).to_json()
        assert json.loads(json.dumps(doc))["lineage"]["x"]["record_id"] == str(rid)

    def test_naive_and_string_timestamps_are_normalised_to_utc(self):
        naive = Member("r1", "erp", "1", dt.datetime(2024, 1, 1, 12), {"x": "naive"})
        text = Member("r2", "erp", "2", "2024-01-01T13:00:00+02:00", {"x": "text"})
        result = build(rules_from({}), naive, text)
        assert result.fields["x"] == "naive"  # 12:00Z is later than 11:00Z
        assert text.updated_at == dt.datetime(2024, 1, 1, 11, tzinfo=dt.UTC)

    def test_no_members(self, customer):
        result = customer.build([], {})
        assert result.fields == {} and result.lineage == {}

    def test_duplicate_record_ids_are_reported(self, customer):
        result = customer.build([SF, SF], {})
        assert result.fields["name"] == "Acme"
        assert result.warnings == ("record_id 'r1' appears more than once among the members",)
