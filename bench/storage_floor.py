"""PostgreSQL's own cost of storing a bulk load's rows, against Splink's whole dedupe of as many records.

Why: target (d) of issue 7 asks ``mdm load --bulk`` of 1,000,000 records in at most twice Splink's
time. This measures a floor that no work in Python can lower: what the PostgreSQL server alone
spends to take the rows such a load stores (the hub's schema and its documented JSON: source
records with raw, canonical and prepared payloads, goldens with lineage, their first versions,
match keys, outbox events) and to build the indexes the hub needs on them.

How: ``--records`` N FEBRL-like people are bulk-loaded into a fresh hub (``bench.speed``), each
loaded table is copied out once, and its text is sent ``--copies`` K times with ``COPY … FROM
STDIN`` into a table of the same columns (compression and storage included) without indexes or
constraints — N × K rows, the cheapest way in. Then every index the hub has on that table is built
on the copy, non-unique (the copies repeat keys) and single-process (``max_parallel_maintenance_
workers = 0``, so all of its CPU is the backend's). The backend's CPU is read from ``/proc``
(PostgreSQL on this machine). Splink 5 then dedupes N × K fresh people of the same generator in the
same run (``bench.speed.measure_splink``).

The floor is CPU seconds: on this 2-core machine, nothing stored in less than half of it in wall
time, with Python and the scoring still to run beside it.

Commands::

    python bench/storage_floor.py --records 100000 --copies 10     # 1,000,000 rows a table (run 20)
    python bench/storage_floor.py --smoke                          # CI: 2,000 records, 2 copies, no Splink
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.speed import Database, measure_bulk, measure_splink, people, settings_for, write_jsonl  # noqa: E402

#: what a bulk load writes (data_load and the rest hold a few rows)
TABLES = ("source_record", "golden_record", "golden_version", "match_key", "outbox_event")
_CHUNK = 1 << 20


def _backend_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) of a PostgreSQL backend on this machine; None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _spent(pid: int, since: tuple[float, float | None]) -> dict[str, float | None]:
    cpu = _backend_cpu(pid)
    return {"wall_s": round(time.perf_counter() - since[0], 2),
            "backend_cpu_s": None if cpu is None or since[1] is None else round(cpu - since[1], 2)}


def _copy_out(conn: Any, table: str, path: Path) -> int:
    with conn.cursor() as cur, path.open("wb") as out, cur.copy(f"COPY public.{table} TO STDOUT") as copy:
        for data in copy:
            out.write(data)
    return path.stat().st_size


def _copy_in(conn: Any, table: str, path: Path, copies: int) -> None:
    with conn.cursor() as cur:
        for _ in range(copies):
            with path.open("rb") as src, cur.copy(f"COPY floor.{table} FROM STDIN") as copy:
                while data := src.read(_CHUNK):
                    copy.write(data)


def _index_statements(conn: Any, table: str) -> list[str]:
    """The hub's indexes of ``table`` (primary and unique keys included), as plain indexes on the copy."""
    rows = conn.execute("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = %s",
                        (table,)).fetchall()
    return [definition.replace("CREATE UNIQUE INDEX", "CREATE INDEX").replace(f"INDEX {name} ON public.",
                                                                              f"INDEX floor_{name} ON floor.")
            for name, definition in rows]


def store_floor(url: str, copies: int, workdir: Path) -> dict[str, Any]:
    """Per table: rows, text size, COPY and index-build wall and backend CPU, for ``copies`` × the table."""
    import psycopg

    conn = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)
    pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    conn.execute("SET max_parallel_maintenance_workers = 0")
    conn.execute("CREATE SCHEMA IF NOT EXISTS floor")
    tables: dict[str, Any] = {}
    try:
        for table in TABLES:
            path = workdir / f"{table}.copy"
            size = _copy_out(conn, table, path)
            conn.execute(f"DROP TABLE IF EXISTS floor.{table}")
            conn.execute(f"CREATE TABLE floor.{table} (LIKE public.{table} INCLUDING DEFAULTS INCLUDING COMPRESSION "
                         "INCLUDING STORAGE)")
            start = (time.perf_counter(), _backend_cpu(pid))
            _copy_in(conn, table, path, copies)
            copied = _spent(pid, start)
            start = (time.perf_counter(), _backend_cpu(pid))
            statements = _index_statements(conn, table)
            for statement in statements:
                conn.execute(statement)
            indexed = _spent(pid, start)
            rows = conn.execute(f"SELECT count(*) FROM floor.{table}").fetchone()[0]
            tables[table] = {"rows": rows, "text_mb": round(size * copies / 1e6, 1), "copy": copied,
                             "indexes": len(statements), "index_build": indexed}
            conn.execute(f"DROP TABLE floor.{table}")
            path.unlink()
    finally:
        conn.execute("DROP SCHEMA IF EXISTS floor CASCADE")
        conn.close()
    return tables


def _total(tables: dict[str, Any], part: str, figure: str) -> float | None:
    values = [t[part][figure] for t in tables.values()]
    return None if None in values else round(sum(values), 2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000, help="people bulk-loaded once (N)")
    parser.add_argument("--copies", type=int, default=10, help="times each table's rows are stored (K)")
    parser.add_argument("--skip-splink", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="CI: 2,000 records, 2 copies, no Splink")
    args = parser.parse_args(argv)
    if args.smoke:
        args.records, args.copies, args.skip_splink = 2_000, 2, True
    started = time.perf_counter()
    db = Database()
    try:
        with tempfile.TemporaryDirectory(prefix="mdm-floor-") as tmp:
            workdir = Path(tmp)
            load = measure_bulk(settings_for(db.url, None), write_jsonl(people(args.records), workdir / "people.jsonl"))
            tables = store_floor(db.url, args.copies, workdir)
    finally:
        db.close()
    copy_cpu, index_cpu = _total(tables, "copy", "backend_cpu_s"), _total(tables, "index_build", "backend_cpu_s")
    result: dict[str, Any] = {
        "records_loaded": args.records, "copies": args.copies,
        "bulk_load_of_the_records_s": load["timings"]["total"], "tables": tables,
        "floor_backend_cpu_s": {"copy": copy_cpu, "index_build": index_cpu,
                                "total": None if copy_cpu is None or index_cpu is None else round(copy_cpu + index_cpu, 2)},
        "floor_wall_s": {"copy": _total(tables, "copy", "wall_s"), "index_build": _total(tables, "index_build", "wall_s")},
    }
    if not args.skip_splink:
        splink = measure_splink(people(args.records * args.copies))
        result["splink_records"] = args.records * args.copies
        result["splink"] = splink
        total = result["floor_backend_cpu_s"]["total"]
        if "seconds" in splink and total is not None:
            # two cores: the floor's CPU spread perfectly over both, against twice Splink's wall time
            result["floor_on_two_cores_over_twice_splink"] = round(total / 2 / (2 * splink["seconds"]), 2)
    result["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
