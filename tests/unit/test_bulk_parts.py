"""The bulk load's building blocks: candidate pairs, COPY text format, fast UUIDs, the forked pool."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mdm.bulk.cluster import candidate_pairs, key_codes
from mdm.bulk.copytext import cell, format_rows
from mdm.bulk.load import uuid4_strings
from mdm.bulk.parallel import forked_pool, state


def test_copy_text_escapes_what_the_text_format_needs() -> None:
    assert cell(None, False) == "\\N" and cell(None, True) == "\\N"
    assert cell("a\tb\nc\\d\re", False) == "a\\tb\\nc\\\\d\\re"
    assert cell(True, False) == "t" and cell(False, False) == "f" and cell(7, False) == "7"
    assert cell(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), False) == "2026-01-02T03:04:05+00:00"
    # JSON: compact, non-ASCII kept, backslashes of JSON escapes doubled for COPY
    assert cell({"name": "Zoë", "note": 'say "hi"\n'}, True) == '{"name":"Zoë","note":"say \\\\"hi\\\\"\\\\n"}'
    rows = [{"a": 1, "b": None, "c": {"x": [1, 2]}}, {"a": 2, "b": "t\tab", "c": []}]
    assert format_rows(rows, ("a", "b", "c"), frozenset({"c"})) == '1\t\\N\t{"x":[1,2]}\n2\tt\\tab\t[]\n'
    assert format_rows([], ("a",), frozenset()) == ""


def test_format_rows_formats_shared_and_fresh_values_like_cell_by_cell() -> None:
    """Values are formatted once per object; shared objects, equal-but-distinct objects,
    mappings that build a fresh value per access and a generator of rows all give the text
    of formatting every cell on its own."""
    from collections.abc import Mapping

    shared_doc, now = {"type": "bulk_load", "n": [1, 2]}, datetime(2026, 1, 2, tzinfo=UTC)

    class Fresh(Mapping):  # a new object on every access: ids may be reused once it is freed
        def __init__(self, i: int) -> None:
            self.i = i

        def __getitem__(self, key: str) -> object:
            return {"i": self.i} if key == "j" else f"v{self.i}"

        def __iter__(self):  # type: ignore[no-untyped-def]
            return iter(("t", "j"))

        def __len__(self) -> int:
            return 2

    rows = [{"t": "same", "j": shared_doc, "d": now, "n": None, "b": i % 2 == 0, "x": {"i": i}} for i in range(50)]
    rows += [{"t": f"t{i}\t", "j": dict(shared_doc), "d": datetime(2026, 1, 3, tzinfo=UTC), "n": i, "b": False,
              "x": [i]} for i in range(50)]
    columns, json_cols = ("t", "j", "d", "n", "b", "x"), frozenset({"j", "x"})
    by_cell = "".join("\t".join(cell(r[c], c in json_cols) for c in columns) + "\n" for r in rows)
    assert format_rows(rows, columns, json_cols) == by_cell
    assert format_rows(iter(rows), columns, json_cols) == by_cell
    fresh = [Fresh(i) for i in range(200)]
    assert format_rows(fresh, ("t", "j"), frozenset({"j"})) == "".join(f'v{i}\t{{"i":{i}}}\n' for i in range(200))


def test_uuid4_strings_are_distinct_version_4_uuids() -> None:
    ids = uuid4_strings(5000)
    assert len(set(ids)) == 5000
    parsed = [uuid.UUID(x) for x in ids]
    assert all(u.version == 4 and u.variant == uuid.RFC_4122 and str(u) == x for u, x in zip(parsed, ids, strict=True))
    assert uuid4_strings(0) == []


def _square_with_offset(x: int) -> tuple[int, int]:
    return os.getpid(), x * x + state()["offset"]


def _fail_on_three(x: int) -> int:
    if x == 3:
        raise ValueError("three")
    return x


@pytest.mark.parametrize("workers", [1, 2])
def test_forked_pool_keeps_order_shares_state_and_raises(workers: int) -> None:
    consumed: list[int] = []

    def tasks():  # the input is pulled lazily, never all at once
        for i in range(20):
            consumed.append(i)
            yield i

    with forked_pool(workers, offset=100) as pool_map:
        results = pool_map(_square_with_offset, tasks())
        first = next(results)
        assert first[1] == 100 and len(consumed) <= 2 * workers + 1
        rest = list(results)
    assert [v for _, v in [first, *rest]] == [i * i + 100 for i in range(20)]
    pids = {pid for pid, _ in [first, *rest]}
    assert (os.getpid() in pids) == (workers == 1)
    assert state() == {}  # cleared on exit
    with pytest.raises(ValueError, match="three"), forked_pool(workers) as pool_map:
        list(pool_map(_fail_on_three, range(6)))


_UNDER_A_WORKER = """
import signal, sys
from mdm.bulk.parallel import forked_pool
signal.signal(signal.SIGTERM, lambda *_: None)  # as an RQ worker does: SIGTERM asks for a warm shutdown
try:
    with forked_pool(2) as pool_map:
        assert list(pool_map(abs, [-1, -2, -3])) == [1, 2, 3]
        raise RuntimeError("the load stopped")  # terminate() with idle children
except RuntimeError:
    pass
for _ in range(100):  # terminate() at once: children that may not have run their initializer yet
    try:
        with forked_pool(2):
            raise RuntimeError("stopped at once")
    except RuntimeError:
        pass
print("finished")
"""


def test_a_pool_under_a_process_that_ignores_sigterm_still_ends() -> None:
    """Pool children must die on ``Pool.terminate``'s SIGTERM even when the parent (an RQ worker
    running an API load) handles SIGTERM itself, also when the pool is terminated before its
    children ran their initializer; before each fix this hung (in ``Pool.join``, or at exit)."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _UNDER_A_WORKER], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "finished", done.stderr


_RENEWED_CHILDREN = """
from mdm.bulk.parallel import forked_pool
for round in range(5):
    with forked_pool(2, tasks_per_child=1) as pool_map:  # every task after the first two runs in a renewed child
        assert list(pool_map(abs, range(-12, 0))) == list(range(12, 0, -1))
print("finished")
"""


def test_a_pool_whose_children_were_renewed_still_ends() -> None:
    """Children forked to replace renewed ones (``tasks_per_child``, as the write phase does) are
    forked by the pool's helper thread, which ends when the pool closes. Tying a child's life to
    the thread that forked it (``PR_SET_PDEATHSIG``) killed an idle child while it held the task
    queue's read lock, and ``Pool.terminate`` then waited for that lock for good: every bulk load
    of 100,000 records hung at the end of its write phase."""
    import subprocess

    done = subprocess.run([sys.executable, "-c", _RENEWED_CHILDREN], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "finished", done.stderr


_KILLED_MID_TASK = """
import os, sys, time
from mdm.bulk.parallel import forked_pool

def report_and_wait(i):
    with open(os.path.join(sys.argv[1], str(os.getpid())), "w"):
        pass
    time.sleep(120)  # mid-task when the parent is killed
    return i

with forked_pool(2, tasks_per_child=1) as pool_map:
    list(pool_map(report_and_wait, range(4)))
"""


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="without fork, tasks run in-process")
def test_pool_children_die_with_a_killed_parent(tmp_path: Path) -> None:
    """SIGKILL a process while its pool's children are mid-task: the children die too. They used
    to live on, holding the parent's inherited PostgreSQL socket, which kept a killed load's
    transaction and locks alive and blocked its retry."""
    import subprocess
    import time

    parent = subprocess.Popen([sys.executable, "-c", _KILLED_MID_TASK, str(tmp_path)])
    try:
        deadline = time.monotonic() + 30
        while len(list(tmp_path.iterdir())) < 2:  # each child writes its pid once it runs a task
            assert time.monotonic() < deadline and parent.poll() is None, "the pool's children never started"
            time.sleep(0.05)
    finally:
        parent.kill()
        parent.wait(timeout=30)
    children = [int(f.name) for f in tmp_path.iterdir()]
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    alive = [pid for pid in children if _alive(pid)]
    for pid in alive:  # do not leave them behind when the test fails
        os.kill(pid, signal.SIGKILL)
    assert not alive, f"pool children {alive} outlived their killed parent"


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (not gone, not a zombie waiting for a parent's wait)."""
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _naive_pairs(keys: list[list[str]], max_block: int) -> tuple[set[tuple[int, int]], dict[int, list[str]]]:
    """The real-time rule walked record by record: a record uses a key only while at most
    ``max_block`` earlier records carry it, and is compared with every earlier record sharing a used key."""
    carriers: dict[str, list[int]] = {}
    pairs: set[tuple[int, int]] = set()
    skipped: dict[int, list[str]] = {}
    for i, ks in enumerate(keys):
        for k in ks:
            earlier = carriers.setdefault(k, [])
            if len(earlier) > max_block:
                skipped.setdefault(i, []).append(k)
                continue
            pairs.update((j, i) for j in earlier)
            earlier.append(i)
    return pairs, skipped


@pytest.mark.parametrize("max_block", [1, 3, 200])
def test_candidate_pairs_follow_the_real_time_block_rule(max_block: int) -> None:
    rng = random.Random(max_block)
    keys = [sorted({f"k{rng.randrange(12)}" for _ in range(rng.randrange(4))}) for _ in range(300)]
    left, right, stats = candidate_pairs(keys, max_block)
    expected, skipped = _naive_pairs(keys, max_block)
    assert set(zip(left.tolist(), right.tolist(), strict=True)) == expected and len(left) == len(expected)
    assert list(zip(left.tolist(), right.tolist(), strict=True)) == sorted(expected)  # ordered by (earlier, later)
    assert {r: sorted(ks) for r, ks in stats.skipped.items()} == {r: sorted(ks) for r, ks in skipped.items()}
    assert stats.pairs == len(expected) and stats.keys == len({k for ks in keys for k in ks})
    assert bool(skipped) == (max_block < 200)


class _Colliding(str):
    """A key whose hash collides with every other such key."""

    def __hash__(self) -> int:
        return 42


def test_key_codes_are_exact_even_when_hashes_collide() -> None:
    plain = np.array(["a", "b", "a", "c", "b", "a"], dtype=object)
    codes, distinct = key_codes(plain)
    assert codes.tolist() == [0, 1, 0, 2, 1, 0] and distinct.tolist() == ["a", "b", "c"]
    colliding = np.array([_Colliding(x) for x in ["a", "b", "a", "c"]], dtype=object)
    codes, distinct = key_codes(colliding)
    assert codes.tolist() == [0, 1, 0, 2] and [str(x) for x in distinct] == ["a", "b", "c"]
    keys = [[_Colliding("x")], [_Colliding("y")], [_Colliding("x")]]
    left, right, _ = candidate_pairs(keys)
    assert list(zip(left.tolist(), right.tolist(), strict=True)) == [(0, 2)]  # x and y share a hash, not a block


def test_streamed_weights_pull_only_the_chunks_asked_for() -> None:
    from mdm.bulk.cluster import _StreamedWeights

    pulled = []

    def chunks():  # type: ignore[no-untyped-def]
        for k in range(4):
            pulled.append(k)
            yield np.arange(k * 3, k * 3 + 3, dtype=float)

    streamed = _StreamedWeights(12, chunks())
    streamed.upto(0)
    assert pulled == []
    streamed.upto(4)
    assert pulled == [0, 1] and streamed.values[:4].tolist() == [0, 1, 2, 3]
    streamed.upto(3)
    assert pulled == [0, 1]
    streamed.upto(12)
    assert pulled == [0, 1, 2, 3] and streamed.values.tolist() == list(range(12))


def test_clustering_is_the_same_however_the_scoring_is_chunked_and_spread(monkeypatch: pytest.MonkeyPatch) -> None:
    """The replay reads weights while the pool still scores later chunks: many small chunks on two
    forked processes give exactly the decisions of one chunk scored in-process."""
    import mdm.bulk.cluster as cluster
    from bench.speed import hub_fields, people
    from matching import MatchEngine

    engine = MatchEngine("customer")
    prepared = [engine.prepare(hub_fields(row)) for _, row in people(600, seed=3)]
    keys = [sorted(set(engine.blocking_keys(p))) for p in prepared]
    deleted = [i % 97 == 5 for i in range(len(prepared))]

    def outcome(workers: int) -> tuple[Any, ...]:
        c = cluster.cluster_records(engine, prepared, keys, deleted, workers)
        assert set(c.timings) == {"pairs", "columns", "score_replay", "score_wait"}
        return c.decisions, c.clusters, c.in_review, c.merged_away, c.on_demand_scores, c.stats.pairs

    whole = outcome(1)
    assert whole[5] > 200 and any(d.action == "link" for d in whole[0])  # enough pairs and links to tell
    monkeypatch.setattr(cluster, "SCORE_CHUNK", 37)
    assert outcome(2) == whole
    assert outcome(1) == whole
