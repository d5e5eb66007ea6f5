"""The worker hides its start-up objects from the garbage collector and collects less often."""

from __future__ import annotations

import json
import subprocess
import sys


def test_settled_worker_freezes_what_it_loaded_and_raises_the_young_threshold() -> None:
    # in a child process: freezing and thresholds are process-wide
    code = (
        "import gc, json; from mdm.worker import _settle_gc, _preload, GC_YOUNG_THRESHOLD; _preload(None); "
        "before = len(gc.get_objects()); _settle_gc(); "
        "print(json.dumps([before, gc.get_freeze_count(), len(gc.get_objects()), gc.get_threshold()[0], GC_YOUNG_THRESHOLD]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    before, frozen, tracked_after, threshold, wanted = json.loads(out)
    assert before > 50_000  # the engines and models loaded at start
    assert frozen >= before * 0.9 and tracked_after < before / 10  # no longer walked by each collection
    assert threshold == wanted > 700


def test_maintenance_workers_fork_a_work_horse_per_job_unless_told_otherwise() -> None:
    from mdm.settings import Settings
    from mdm.worker import forks_by_default

    assert forks_by_default(Settings(), "maintenance") is True  # long loads: memory returned per job
    assert forks_by_default(Settings(), "resolve") is False
    assert forks_by_default(Settings(worker_fork=True), "resolve") is True
    assert forks_by_default(Settings(), "publish") is False
