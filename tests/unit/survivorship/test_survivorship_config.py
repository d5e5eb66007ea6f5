"""Rules files: packaged defaults, MDM_RULES_DIR, validation messages, fingerprints."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from survivorship import RulesError, check_rules_file, load_rules, load_rules_file, parse_rules
from survivorship.config import PACKAGED_RULES_DIR, RULES_DIR_ENV

GOOD = """\
domain: customer
fields:
  name:
    rules:
      - source_priority: [erp, salesforce]
      - most_recent
"""


def write(tmp_path: Path, text: str, name: str = "customer.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _no_rules_dir(monkeypatch):
    monkeypatch.delenv(RULES_DIR_ENV, raising=False)


class TestPackagedRules:
    @pytest.mark.parametrize("domain", ["customer", "product", "price"])
    def test_each_domain_has_a_valid_file(self, domain):
        rules = load_rules(domain)
        assert rules.domain == domain
        assert check_rules_file(PACKAGED_RULES_DIR / f"{domain}.yaml") == []

    def test_customer_declares_every_canonical_field(self):
        expected = {
            "kind",
            "name",
            "first_name",
            "last_name",
            "birth_date",
            "tax_id",
            "national_id",
            "email",
            "phone",
            "website",
            "address",
            "account_number",
            "payment_terms",
            "credit_limit",
            "credit_hold",
            "tax_registration",
            "currency",
        }
        assert set(load_rules("customer").fields) == expected

    def test_erp_governed_customer_fields_are_owned_by_erp(self):
        rules = load_rules("customer")
        owned = {name for name, spec in rules.fields.items() if spec.owners == ("erp",)}
        assert owned == {
            "account_number",
            "payment_terms",
            "credit_limit",
            "credit_hold",
            "tax_registration",
            "currency",
        }

    def test_product_and_price_fields(self):
        assert set(load_rules("product").fields) == {
            "sku",
            "gtin",
            "mpn",
            "name",
            "brand",
            "category",
            "uom",
            "description",
        }
        assert set(load_rules("price").fields) == {
            "product",
            "price_list",
            "currency",
            "amount",
            "min_quantity",
            "valid_from",
            "valid_to",
        }

    def test_unknown_domain(self):
        with pytest.raises(RulesError, match="no rules for domain 'vendor'"):
            load_rules("vendor")


class TestRulesDir:
    def test_env_dir_overrides_one_domain_and_others_fall_back(self, tmp_path, monkeypatch):
        write(tmp_path, GOOD)
        monkeypatch.setenv(RULES_DIR_ENV, str(tmp_path))
        assert set(load_rules("customer").fields) == {"name"}
        assert load_rules("customer").source_path == str(tmp_path / "customer.yaml")
        assert "sku" in load_rules("product").fields

    def test_env_dir_that_does_not_exist_is_an_error(self, tmp_path, monkeypatch):
        monkeypatch.setenv(RULES_DIR_ENV, str(tmp_path / "nope"))
        with pytest.raises(RulesError, match="MDM_RULES_DIR is not a directory"):
            load_rules("customer")

    def test_explicit_path_file_or_directory(self, tmp_path):
        path = write(tmp_path, GOOD)
        assert set(load_rules("customer", path).fields) == {"name"}
        assert set(load_rules("customer", tmp_path).fields) == {"name"}
        assert load_rules("price", tmp_path).source_path == str(PACKAGED_RULES_DIR / "price.yaml")
        with pytest.raises(RulesError, match="file not found"):
            load_rules("price", tmp_path / "price.yaml")

    def test_json_files_are_accepted(self, tmp_path):
        doc = {"domain": "customer", "fields": {"name": {"rules": ["most_recent"]}}}
        write(tmp_path, json.dumps(doc), "customer.json")
        assert load_rules("customer", tmp_path).fields["name"].rules[0].name == "most_recent"

    def test_edited_file_is_reloaded(self, tmp_path):
        path = write(tmp_path, GOOD)
        assert set(load_rules("customer", path).fields) == {"name"}
        write(tmp_path, GOOD + "  email:\n    rules: [union, most_recent]\n")
        assert set(load_rules("customer", path).fields) == {"name", "email"}

    def test_domain_in_file_must_match(self, tmp_path):
        path = write(tmp_path, GOOD.replace("domain: customer", "domain: product"))
        with pytest.raises(RulesError, match="domain is 'product', expected 'customer'"):
            load_rules("customer", path)


def problems_for(tmp_path: Path, text: str) -> list[str]:
    return check_rules_file(write(tmp_path, text))


class TestValidation:
    """Every message names the file, the field and the problem."""

    def test_unknown_rule(self, tmp_path):
        (line,) = problems_for(tmp_path, GOOD.replace("most_recent", "mst_recent"))
        assert line.startswith(
            str(tmp_path / "customer.yaml") + ": field 'name': rules[1]: unknown rule 'mst_recent'"
        )

    def test_error_carries_file_field_problem(self, tmp_path):
        path = write(tmp_path, GOOD.replace("most_recent", "mst_recent"))
        with pytest.raises(RulesError) as info:
            load_rules_file(path)
        assert info.value.file == str(path)
        assert info.value.field == "name"
        assert "unknown rule 'mst_recent'" in info.value.problem

    @pytest.mark.parametrize(
        ("snippet", "expected"),
        [
            ("  x:\n    rules: []\n", "field 'x': rules: Shorter than minimum length 1"),
            ("  x:\n    type: strng\n    rules: [most_recent]\n", "field 'x': type: Must be one of"),
            ("  x:\n    rule: [most_recent]\n", "field 'x': rule: Unknown field"),
            ("  x:\n    rules: [highest]\n", "field 'x': rules: rule 'highest' needs an orderable type"),
            (
                "  x:\n    type: decimal\n    rules: [union]\n",
                "field 'x': rules: rule 'union' cannot be used",
            ),
            ("  x:\n    rules: [union, union]\n", "rule 'union' is listed more than once"),
            (
                "  x:\n    rules: [{source_priority: []}]\n",
                "rules[0]: rule 'source_priority': sources: Shorter",
            ),
            ("  x:\n    rules: [{rule: source_priority}]\n", "rule 'source_priority': sources: Missing data"),
            (
                "  x:\n    rules: [{rule: most_recent, sources: [erp]}]\n",
                "rule 'most_recent' takes no parameters",
            ),
            ("  x:\n    rules: [{a: 1, b: 2}]\n", "a rule is a name"),
            ("  x:\n    owner: []\n    rules: [most_recent]\n", "field 'x': owner: owner must be"),
            (
                "  x:\n    properties: [a]\n    rules: [most_recent]\n",
                "'properties' is only allowed with type 'object'",
            ),
            (
                "  x:\n    type: integer\n    enum: [a]\n    rules: [most_recent]\n",
                "enum value 'a' does not match",
            ),
            ("  x: most_recent\n", "field 'x': must be a mapping"),
            (
                "  email:\n    rules: [union]\n  email_all:\n    rules: [most_recent]\n",
                "field 'email_all': clashes with the union list",
            ),
        ],
    )
    def test_field_problems(self, tmp_path, snippet, expected):
        problems = problems_for(tmp_path, GOOD + snippet)
        assert any(expected in p for p in problems), problems

    def test_all_problems_are_reported_at_once(self, tmp_path):
        text = GOOD + "  a:\n    rules: [nope]\n  b:\n    rules: []\n"
        problems = problems_for(tmp_path, text)
        assert [p.split(": ")[1] for p in problems] == ["field 'a'", "field 'b'"]
        with pytest.raises(RulesError, match=r"\(and 1 more problem\(s\)\)"):
            load_rules("customer", tmp_path / "customer.yaml")

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("domain: customer\n", "fields: Missing data"),
            ("fields: {}\n", "domain: Missing data"),
            (GOOD + "extra: 1\n", "extra: Unknown field"),
            ("- a\n- b\n", "must be a mapping"),
            ("domain: customer\nfields:\n  name: [unclosed\n", "not valid YAML"),
            (
                GOOD + "  name:\n    rules: [most_recent]\n",
                "not valid YAML at line 7, column 3: duplicate key 'name'",
            ),
            (
                GOOD + "default:\n  rules: [highest]\n",
                "default.rules: rule(s) ['highest'] cannot be the default",
            ),
        ],
    )
    def test_file_level_problems(self, tmp_path, text, expected):
        problems = problems_for(tmp_path, text)
        assert len(problems) == 1 and expected in problems[0], problems
        assert problems[0].startswith(str(tmp_path / "customer.yaml") + ": ")

    def test_missing_file(self, tmp_path):
        assert check_rules_file(tmp_path / "none.yaml") == [f"{tmp_path / 'none.yaml'}: file not found"]

    def test_aliases_and_rule_spellings_are_equivalent(self):
        spelled = [{"rule": "source_priority", "sources": ["erp"]}, "most_complete", "most_frequent"]
        short = [{"source_priority": ["erp"]}, "longest", "vote"]
        a, _ = parse_rules({"domain": "d", "fields": {"x": {"rules": spelled}}})
        b, _ = parse_rules({"domain": "d", "fields": {"x": {"rules": short}}})
        assert a is not None and b is not None
        assert a.fields["x"].rules == b.fields["x"].rules
        assert a.fingerprint == b.fingerprint


class TestFingerprint:
    def test_stable_across_formatting_comments_descriptions_and_version(self, tmp_path):
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        a = write(tmp_path / "a", GOOD)
        b = write(
            tmp_path / "b",
            "# a comment\nversion: 7\n"
            + GOOD.replace("  name:\n", "  name:\n    description: the legal name\n"),
        )
        assert load_rules_file(a).fingerprint == load_rules_file(b).fingerprint

    def test_changes_when_behaviour_changes(self, tmp_path):
        base = load_rules_file(write(tmp_path, GOOD)).fingerprint
        swapped = GOOD.replace("[erp, salesforce]", "[salesforce, erp]")
        assert load_rules_file(write(tmp_path, swapped)).fingerprint != base
        owned = GOOD.replace("    rules:\n", "    owner: erp\n    rules:\n")
        assert load_rules_file(write(tmp_path, owned)).fingerprint != base

    def test_known_value_for_a_fixed_document(self):
        rules, _ = parse_rules({"domain": "d", "fields": {"x": {"rules": ["most_recent"]}}})
        assert rules is not None
        # Pinned: a change here means every golden would look "built by different rules".
        canonical = (
            b'{"default":{"rules":[{"rule":"most_recent"}],"type":"any"},"domain":"d",'
            b'"fields":{"x":{"rules":[{"rule":"most_recent"}],"type":"any"}}}'
        )
        assert rules.fingerprint == "sha256:" + hashlib.sha256(canonical).hexdigest()
