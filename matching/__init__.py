"""Matching: normalize, block, compare, score and decide — a pure library.

See docs/interfaces.md for the contract `mdm/` relies on.
"""

from .blocking import BlockReport, cap_blocks
from .engine import MatchEngine
from .model import MatchModel
from .types import Candidate, Decision, FieldComparison, PairScore, PreparedRecord

__all__ = [
    "BlockReport",
    "Candidate",
    "Decision",
    "FieldComparison",
    "MatchEngine",
    "MatchModel",
    "PairScore",
    "PreparedRecord",
    "cap_blocks",
]
