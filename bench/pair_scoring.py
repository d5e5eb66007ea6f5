"""Real-time scoring in the engine alone: µs per scored pair and ms per decision (no database).

People are generated as in bench/speed.py (FEBRL-like, corrupted copies), prepared, and
blocked in memory with the engine's own keys. Pairs are drawn from the blocks (so every level
is met as it is in a hub); each sampled record is decided against the records sharing a key
with it, each taken as a one-member golden. Prints medians of three rounds and a fingerprint
of every weight and decision, so two versions of the code can be compared for speed *and*
sameness (run it from a git worktree of the other version with the same venv).

    python bench/pair_scoring.py                # 200,000 people, 40,000 pairs, 2,000 decisions
    python bench/pair_scoring.py --people 1000000
    python bench/pair_scoring.py --smoke        # CI: 5,000 people, a few seconds
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.speed import hub_fields, people  # noqa: E402
from matching import MatchEngine  # noqa: E402


def _fingerprint(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, default=str, sort_keys=True).encode()).hexdigest()[:12]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="5,000 people, a few seconds")
    parser.add_argument("--people", type=int, default=200_000)
    parser.add_argument("--pairs", type=int, default=40_000)
    parser.add_argument("--decisions", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    if args.smoke:
        args.people, args.pairs, args.decisions, args.rounds = 5_000, 3_000, 300, 1

    engine = MatchEngine("customer")
    prepared = [engine.prepare(hub_fields(r)) for _, r in people(args.people)]
    keys = [engine.blocking_keys(p) for p in prepared]
    blocks: dict[str, list[int]] = defaultdict(list)
    for i, record_keys in enumerate(keys):
        for key in record_keys:
            blocks[key].append(i)
    in_block = sorted({(ids[a], ids[b]) for ids in blocks.values() if len(ids) <= engine.max_block_size
                       for a in range(len(ids)) for b in range(a + 1, len(ids))})
    random.Random(1).shuffle(in_block)
    pairs = in_block[: args.pairs]
    step = max(1, args.people // args.decisions)
    sampled = list(range(0, args.people, step))[: args.decisions]
    candidates = [{j: [prepared[j]] for key in keys[i] for j in blocks[key] if j != i} for i in sampled]

    pair_us, decide_ms = [], []
    weights: list[float] = []
    decisions: list[Any] = []
    for _ in range(args.rounds):
        t = time.perf_counter()
        weights = [engine.weight(prepared[a], prepared[b]) for a, b in pairs]
        pair_us.append((time.perf_counter() - t) / max(len(pairs), 1) * 1e6)
        t = time.perf_counter()
        decisions = [engine.decide(prepared[i], c) for i, c in zip(sampled, candidates, strict=True)]
        decide_ms.append((time.perf_counter() - t) / max(len(sampled), 1) * 1e3)
    out = {
        "people": args.people, "pairs": len(pairs), "decisions": len(sampled),
        "mean_candidates": round(statistics.mean(len(c) for c in candidates), 2) if candidates else 0,
        "us_per_pair_median": round(statistics.median(pair_us), 2),
        "ms_per_decision_median": round(statistics.median(decide_ms), 3),
        "weights_fingerprint": _fingerprint([repr(w) for w in weights]),
        "decisions_fingerprint": _fingerprint([(d.action, d.golden_id, repr(d.probability), d.explanation, d.warnings,
                                                [(c.golden_id, repr(c.weight), c.explanation) for c in d.ranked])
                                               for d in decisions]),
    }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
