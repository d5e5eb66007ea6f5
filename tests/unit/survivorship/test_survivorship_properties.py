"""Property-based tests of the engine (hypothesis).

Values come from tiny alphabets and timestamps from a handful of instants, so
ties and agreements, the cases where order dependence would hide, are common.
"""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from survivorship import Member, Override, SurvivorshipEngine, load_rules, parse_rules
from survivorship.ruletypes import RULE_TYPES

# Per-test settings (not a global profile) so other packages' hypothesis tests are unaffected.
PROPERTY = settings(max_examples=100, deadline=None)

RULES = load_rules("customer")
ENGINE = SurvivorshipEngine(RULES)
OWNED = {name for name, spec in RULES.fields.items() if spec.owners}
SOURCES = ["erp", "salesforce", "webshop"]
INSTANTS = [None] + [dt.datetime(2024, 1, d, tzinfo=dt.UTC) for d in (1, 2, 3)]

texts = st.sampled_from(["", " ", "Acme", "ACME", "acme", "Acme Inc", "Globex"])
emails = st.sampled_from(["a@x.co", "A@x.co", "b@x.co", "c@y.co", ""])
decimals = st.sampled_from(["1", "1.0", "2.50", "10", "x", ""])
addresses = st.dictionaries(
    st.sampled_from(["line1", "line2", "city", "postal_code", "country"]),
    st.sampled_from(["", "A", "B"]),
    max_size=4,
)
FIELD_VALUES = {
    "name": texts,
    "kind": st.sampled_from(["organization", "person", ""]),
    "email": st.one_of(emails, st.lists(emails, max_size=3)),
    "phone": st.sampled_from(["+1555", "+1556", None]),
    "birth_date": st.sampled_from(["1980-01-01", "1990-05-05", "bad"]),
    "address": addresses,
    "account_number": st.sampled_from(["A1", "A2", None]),
    "credit_limit": decimals,
    "credit_hold": st.booleans(),
    "payment_terms": st.sampled_from(["NET30", "NET60"]),
    "loyalty_tier": texts,  # not declared: the default rule applies
}


@st.composite
def members(draw, max_size: int = 6) -> list[Member]:
    out = []
    for _ in range(draw(st.integers(0, max_size))):
        names = draw(st.sets(st.sampled_from(sorted(FIELD_VALUES)), max_size=len(FIELD_VALUES)))
        fields = {n: draw(FIELD_VALUES[n]) for n in sorted(names)}
        out.append(
            Member(
                record_id=draw(st.integers(1, 8)),  # repeats on purpose
                source=draw(st.sampled_from(SOURCES)),
                source_id=draw(st.sampled_from(["s1", "s2", "s3"])),
                updated_at=draw(st.sampled_from(INSTANTS)),
                fields=fields,
                invalid_fields=frozenset(
                    draw(st.sets(st.sampled_from(sorted(names) or ["name"]), max_size=2))
                ),
            )
        )
    return out


overrides = st.dictionaries(
    st.sampled_from(["name", "credit_limit", "email", "account_number"]),
    st.builds(
        Override,
        field=st.just("?"),
        value=st.sampled_from(["P1", "P2", None]),
        pinned_by=st.just("steward"),
        pinned_at=st.sampled_from(INSTANTS),
    ),
    max_size=2,
).map(lambda d: {k: Override(k, o.value, o.pinned_by, o.pinned_at) for k, o in d.items()})


@PROPERTY
@given(members(), overrides, st.randoms(use_true_random=False))
def test_result_does_not_depend_on_member_order(ms, pins, rnd):
    shuffled = list(ms)
    rnd.shuffle(shuffled)
    assert ENGINE.build(shuffled, pins).to_json() == ENGINE.build(ms, pins).to_json()


CHAIN_RULES = sorted(set(RULE_TYPES) - {"union"})


@PROPERTY
@given(
    st.lists(st.sampled_from(CHAIN_RULES), min_size=1, max_size=4),
    st.sampled_from(["decimal", "date"]),
    st.lists(
        st.tuples(
            st.sampled_from(SOURCES),
            st.sampled_from(INSTANTS),
            st.sampled_from(["1", "2", "10", "2024-01-01", "2023-05-05", "x"]),
            st.booleans(),
        ),
        max_size=6,
    ),
    st.randoms(use_true_random=False),
)
def test_every_rule_chain_is_order_free(chain, type_, rows, rnd):
    rules_list = [{"source_priority": ["salesforce", "erp"]} if r == "source_priority" else r for r in chain]
    rules, problems = parse_rules({"domain": "t", "fields": {"x": {"type": type_, "rules": rules_list}}})
    assert not problems
    ms = [
        Member(i, src, f"id{i}", when, {"x": value}, frozenset() if ok else frozenset({"x"}))
        for i, (src, when, value, ok) in enumerate(rows)
    ]
    engine = SurvivorshipEngine(rules)
    shuffled = list(ms)
    rnd.shuffle(shuffled)
    assert engine.build(shuffled).to_json() == engine.build(ms).to_json()


@PROPERTY
@given(members(), overrides, members())
def test_recomputing_is_idempotent(ms, pins, other):
    first = ENGINE.build(ms, pins)
    ENGINE.build(other, {})  # an unrelated build in between must not leak state
    again = ENGINE.build(ms, pins)
    fresh = SurvivorshipEngine(load_rules("customer")).build(ms, pins)
    assert first == again == fresh


def _member_has(m: Member, name: str, value) -> bool:
    held = m.fields.get(name)
    return held == value or (isinstance(held, list) and value in held)


@PROPERTY
@given(members(), overrides)
def test_every_lineage_entry_points_to_a_member_or_an_override(ms, pins):
    result = ENGINE.build(ms, pins)
    assert set(result.lineage) == set(result.fields)
    for name, entry in result.lineage.items():
        assert result.fields[name] == entry.value
        base = name.removesuffix("_all") if RULES.field_rules(name.removesuffix("_all")).union else name
        if entry.rule == "steward_override" or (base != name and base in pins):
            assert base in pins and entry.pinned_by == pins[base].pinned_by
            if base == name:
                assert entry.value == pins[name].value
        elif entry.rule == "no_eligible_value":
            assert entry.value in (None, []) and entry.source is None and entry.record_id is None
        else:
            matches = [
                m
                for m in ms
                if (m.record_id, m.source, m.source_id, m.updated_at)
                == (entry.record_id, entry.source, entry.source_id, entry.updated_at)
            ]
            assert matches, (name, entry)
            if base == name:
                assert any(_member_has(m, name, entry.value) for m in matches)
        for c in entry.contributors:
            assert any(
                (m.record_id, m.source, m.source_id) == (c.record_id, c.source, c.source_id)
                and _member_has(m, base, c.value)
                for m in ms
            )
        for i in entry.ineligible:
            assert i.reason in ("empty", "not_owner")
            assert any((m.record_id, m.source) == (i.record_id, i.source) for m in ms)


@PROPERTY
@given(members(), overrides)
def test_erp_governed_fields_never_come_from_another_source(ms, pins):
    result = ENGINE.build(ms, pins)
    for name in OWNED & set(result.fields):
        entry = result.lineage[name]
        if name in pins:
            assert entry.rule == "steward_override"
        elif entry.source is None:
            assert result.fields[name] is None
        else:
            assert entry.source == "erp"
            assert any(m.source == "erp" and m.fields.get(name) == entry.value for m in ms)
        assert all(i.source != "erp" or i.reason == "empty" for i in entry.ineligible)


@PROPERTY
@given(members(), overrides)
def test_nothing_a_source_sends_is_lost(ms, pins):
    result = ENGINE.build(ms, pins)
    sent = {name for m in ms for name in m.fields if name != "email_all"}
    assert sent | set(pins) <= set(result.fields)
    for name in ("email", "phone"):
        if name in result.fields:
            assert f"{name}_all" in result.fields
