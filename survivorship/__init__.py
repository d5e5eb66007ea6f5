"""Field-level survivorship: build a golden record's fields from its member records.

A pure library (no Flask, database or RQ): plain data in, plain data out. The
public contract is documented in docs/interfaces.md and docs/survivorship.md.
"""

from .config import FieldRules, RuleSet, RuleSpec, check_rules_file, load_rules, load_rules_file, parse_rules
from .engine import SurvivorshipEngine
from .errors import OverrideError, RulesError
from .model import Contributor, GoldenResult, Ineligible, LineageEntry, Member, Override

__all__ = [
    "Contributor",
    "FieldRules",
    "GoldenResult",
    "Ineligible",
    "LineageEntry",
    "Member",
    "Override",
    "OverrideError",
    "RuleSet",
    "RuleSpec",
    "RulesError",
    "SurvivorshipEngine",
    "check_rules_file",
    "load_rules",
    "load_rules_file",
    "parse_rules",
]
