"""The bridge to the pure libraries: which matching model and which survivorship rules are in force.

Both are cached per process. The active matching model is re-read from the database at the
start of every resolve job (:func:`recheck_models`) and at most every ``MODEL_RECHECK_SECONDS``
within one, so ``mdm model train`` takes effect on running workers without a restart;
explanations store the model version that made each decision.
"""

from __future__ import annotations

import time

from sqlalchemy.orm import Session
from sqlmodel import select

from matching import MatchEngine, MatchModel
from mdm.models import MatchModelRow
from survivorship import SurvivorshipEngine, load_rules

MODEL_RECHECK_SECONDS = 30.0
#: Domains matched fuzzily; prices are keyed (see ``mdm.services.resolve``).
FUZZY_DOMAINS = ("customer", "product")

_match_cache: dict[str, tuple[float, str | None, MatchEngine]] = {}
_rules_cache: dict[tuple[str, str | None], tuple[SurvivorshipEngine, str]] = {}


def match_engine(session: Session, domain: str) -> MatchEngine:
    """The engine with the active model for ``domain`` (the shipped default before any training)."""
    now = time.monotonic()
    cached = _match_cache.get(domain)
    if cached and now - cached[0] < MODEL_RECHECK_SECONDS:
        return cached[2]
    row = session.exec(
        select(MatchModelRow).where(MatchModelRow.domain == domain, MatchModelRow.active.is_(True))  # type: ignore[union-attr]
    ).first()
    version = row.version if row else None
    if cached and cached[1] == version:
        engine = cached[2]
    else:
        engine = MatchEngine(domain, model=MatchModel.from_json(row.document) if row else None)
    _match_cache[domain] = (now, version, engine)
    return engine


def survivorship_engine(domain: str, rules_dir: str | None = None) -> tuple[SurvivorshipEngine, str]:
    """The rules engine for ``domain`` and the fingerprint of its rules (recorded on every golden).

    ``load_rules`` is cached by file size and mtime, so an edited rules file is picked up on
    the next call; the engine is rebuilt only when the rules' fingerprint changes.
    """
    # a rules directory may override only some domains; the others use the shipped files
    rules = load_rules(domain, path=rules_dir) if rules_dir else load_rules(domain)
    fingerprint = rules.fingerprint
    key = (domain, rules_dir)
    cached = _rules_cache.get(key)
    if cached is None or cached[1] != fingerprint:
        cached = _rules_cache[key] = (SurvivorshipEngine(rules), fingerprint)
    return cached


def check_all_rules(rules_dir: str | None) -> None:
    """Load every domain's rules now, so an invalid file stops the process at start
    (``RulesError`` names the file, the field and the problem), never at merge time."""
    for domain in ("customer", "product", "price"):
        survivorship_engine(domain, rules_dir)


def recheck_models() -> None:
    """Make the next :func:`match_engine` call re-read which model is active (one small query;
    the engine itself is kept while the version is the same). Every resolve job calls this: a
    worker runs jobs in its own process, so a model activated between two jobs is in force from
    the next job on, as it was when each job ran in a fresh forked work-horse."""
    for domain, (_checked, version, engine) in list(_match_cache.items()):
        _match_cache[domain] = (float("-inf"), version, engine)


def reset_caches() -> None:
    """Forget cached engines (tests, and after ``mdm golden recompute`` changes the rules)."""
    _match_cache.clear()
    _rules_cache.clear()
