"""CPU per resolved record inside one resolve worker, without the noise of the streaming run.

Why: on this shared 2-core machine the wall-clock rate of the same code moves by 20 % and more
between runs (docs/benchmarks-speed.md, runs 10–14), so a few per cent cannot be seen in
records/s. This script accepts ``--warm + --timed`` FEBRL-like people through the API (Redis
configured, no workers: nothing is resolved yet), resolves the first ``--warm`` in process with
the worker's own job function (``mdm.jobs.resolve_records``, chunks of 100, groups as
configured), runs ``VACUUM ANALYZE``, then measures the next ``--timed``:

- Python CPU seconds of this process and PostgreSQL's CPU (its postmaster's tree) per record;
- ``--callgrind``: run the script under ``valgrind --tool=callgrind --instr-atstart=no``; only
  the timed part is instrumented, and the instruction count valgrind prints is the figure to
  compare (it repeats within 0.3 % run to run, where time does not);
- ``--profile FILE``: a pyinstrument profile of the timed part (wall clock: includes waits on
  PostgreSQL).

Commands (run 14)::

    python bench/resolve_cpu.py --warm 10000 --timed 5000
    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=/tmp/cg.out \\
        python bench/resolve_cpu.py --warm 3000 --timed 1500 --callgrind
    python bench/resolve_cpu.py --smoke          # CI: 300 + 100 records
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.speed import REDIS_URL, CpuMeter, Database, api_client, people, post_people, settings_for  # noqa: E402

CHUNK = 100


def _callgrind(on: bool) -> None:
    """Switch callgrind's instrumentation for this process (the script runs under valgrind)."""
    subprocess.run(["callgrind_control", "-i", "on" if on else "off", str(os.getpid())], check=True, capture_output=True)


def measure(warm: int, timed: int, *, callgrind: bool = False, profile: Path | None = None) -> dict[str, float]:
    from redis import Redis
    from sqlalchemy import create_engine, text

    from mdm.jobs import resolve_records

    db = Database()
    try:
        Redis.from_url(REDIS_URL).flushdb()
        client, headers = api_client(settings_for(db.url, REDIS_URL))
        post_people(client, headers, people(warm + timed, seed=11))
        engine = create_engine(db.url)
        with engine.connect() as conn:
            ids = list(conn.execute(text("SELECT id FROM source_record ORDER BY id")).scalars())
        for i in range(0, warm, CHUNK):
            resolve_records(ids[i:min(i + CHUNK, warm)])
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
        engine.dispose()
        gc.freeze()  # as `mdm worker` does after start-up
        meter = CpuMeter([])
        before, cpu0, wall0 = meter.snapshot(), time.process_time(), time.perf_counter()
        profiler = None
        if callgrind:
            _callgrind(True)
        if profile is not None:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0005)
            profiler.start()
        for i in range(warm, warm + timed, CHUNK):
            resolve_records(ids[i:min(i + CHUNK, warm + timed)])
        if profiler is not None:
            profiler.stop()
            profile.write_text(profiler.output_text(unicode=False, color=False))
        if callgrind:
            _callgrind(False)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        parts = CpuMeter.per_record_ms(before, meter.snapshot(), timed)
        pending = db.scalar("SELECT count(*) FROM source_record WHERE match_status = 'pending'")
        assert pending == 0, f"{pending} records left unresolved"
        return {"warm": warm, "timed": timed, "python_cpu_ms_per_record": round(1000 * cpu / timed, 3),
                "postgres_cpu_ms_per_record": parts.get("postgres", float("nan")),
                "records_per_second": round(timed / wall, 1)}
    finally:
        db.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warm", type=int, default=10000, help="records resolved before the timed part")
    parser.add_argument("--timed", type=int, default=5000, help="records measured")
    parser.add_argument("--callgrind", action="store_true", help="toggle callgrind's instrumentation around the timed part")
    parser.add_argument("--profile", type=Path, default=None, help="write a pyinstrument profile of the timed part")
    parser.add_argument("--smoke", action="store_true", help="CI: 300 + 100 records")
    args = parser.parse_args(argv)
    if args.smoke:
        args.warm, args.timed = 300, 100
    print(json.dumps(measure(args.warm, args.timed, callgrind=args.callgrind, profile=args.profile), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
