"""``mdm load FILE``: stream a CSV or JSON-lines file into the hub in batches.

The file is read a chunk at a time (it can be larger than memory). Good rows are stored and
resolved; bad rows are written, with their line numbers, to a reject file beside the input
(``FILE.rejects.jsonl``), and the load exits non-zero for them only with ``--strict``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mdm.canonical import parse_json
from mdm.db import UnitOfWork
from mdm.services.ingest import Change, accept_batch
from mdm.settings import Settings

ID_COLUMNS = ("source_id", "Id", "id")
META_COLUMNS = {"source_id", "updated_at", "deleted", "object"}


@dataclass
class Row:
    line: int
    change: Change | None
    error: str | None = None


class RejectFile:
    """``FILE.rejects.jsonl`` beside the input: one JSON line (line number, error) per bad row,
    created only when the first row is rejected. Both loaders (streaming and ``--bulk``) use it."""

    def __init__(self, source: Path) -> None:
        self.path = source.with_name(source.name + ".rejects.jsonl")
        self.count = 0
        self._handle: Any = None

    def write(self, line: int, error: Any) -> None:
        if self._handle is None:
            self._handle = self.path.open("w", encoding="utf-8")
        self._handle.write(json.dumps({"line": line, "error": error}, default=str) + "\n")
        self.count += 1

    @property
    def written(self) -> str | None:
        return str(self.path) if self._handle is not None else None

    def __enter__(self) -> RejectFile:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.close()


@dataclass
class LoadReport:
    total: int = 0
    stored: int = 0
    rejected: int = 0
    batches: list[str] = field(default_factory=list)
    reject_file: str | None = None
    outcomes: dict[str, int] = field(default_factory=dict)


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    """CSV columns named ``address.city`` become nested canonical fields; empty cells are absent."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        if value is None or value == "":
            continue
        head, _, rest = key.partition(".")
        if rest:
            out.setdefault(head, {})[rest] = value
        else:
            out[key] = value
    return out


def _parse_time(value: Any, default: datetime) -> datetime:
    if value in (None, ""):
        return default
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _to_change(doc: dict[str, Any], now: datetime) -> Change:
    if isinstance(doc.get("fields"), dict):
        fields, meta = doc["fields"], doc
    else:
        fields = {k: v for k, v in doc.items() if k not in META_COLUMNS}
        meta = doc
    source_id = next((meta.get(c) for c in ID_COLUMNS if meta.get(c) not in (None, "")), None)
    if source_id is None:
        raise ValueError("no source_id (or Id) column")
    deleted = str(meta.get("deleted", "")).lower() in ("1", "true", "yes")
    return Change(str(source_id), fields, _parse_time(meta.get("updated_at"), now), deleted, meta.get("object") or None)


def read_rows(path: Path) -> Iterator[Row]:
    """Yield one :class:`Row` per data line; malformed lines become rows with an error."""
    now = datetime.now(UTC)
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            for doc in reader:
                try:
                    yield Row(reader.line_num, _to_change(_nest(doc), now))
                except ValueError as exc:
                    yield Row(reader.line_num, None, str(exc))
        return
    for number, line in jsonl_lines(path):
        row = parse_jsonl_line(number, line, now)
        if row is not None:
            yield row


def jsonl_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of a JSON-lines file, unparsed: the bulk load parses them in its pool."""
    with path.open(encoding="utf-8") as handle:
        yield from enumerate(handle, start=1)


def parse_jsonl_line(number: int, line: str, now: datetime) -> Row | None:
    """One JSON-lines line as a :class:`Row` (``None`` for a blank line)."""
    if not line.strip():
        return None
    try:
        doc = parse_json(line)
        if not isinstance(doc, dict):
            raise ValueError("a line must be a JSON object")
        return Row(number, _to_change(doc, now))
    except ValueError as exc:
        return Row(number, None, str(exc))


def load_file(
    settings: Settings,
    path: Path,
    source: str,
    domain: str,
    *,
    batch_size: int = 1000,
    progress: Any = None,
    correlation_id: str | None = None,
) -> LoadReport:
    """Store the file in batches and enqueue resolution; returns counts and the reject file."""
    from mdm.jobs import enqueue_resolve

    report = LoadReport()
    rejects = RejectFile(path)
    reject = rejects.write

    def flush(rows: list[Row]) -> None:
        latest: dict[str, Row] = {}
        for row in rows:  # the same id twice in one chunk: the later line wins
            assert row.change is not None
            latest[row.change.source_id] = row
        chunk = list(latest.values())
        with UnitOfWork(settings) as uow:
            summary, to_resolve = accept_batch(uow, source, domain, [r.change for r in chunk], skip_invalid=True)  # type: ignore[misc]
            uow.commit()
        for index, error in summary.rejects.items():
            reject(chunk[int(index)].line, error)
        report.stored += summary.total
        for key, count in summary.outcomes.items():
            report.outcomes[key] = report.outcomes.get(key, 0) + count
        if summary.batch_id:
            report.batches.append(summary.batch_id)
        if to_resolve:
            enqueue_resolve(to_resolve, correlation_id=correlation_id or f"load:{path.name}", job_ids=summary.job_ids or None)

    with rejects:
        pending: list[Row] = []
        for row in read_rows(path):
            report.total += 1
            if progress is not None:
                progress.update(1)
            if row.change is None:
                reject(row.line, row.error)
                continue
            pending.append(row)
            if len(pending) >= batch_size:
                flush(pending)
                pending = []
        if pending:
            flush(pending)
    report.rejected, report.reject_file = rejects.count, rejects.written
    return report
