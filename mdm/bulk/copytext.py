"""PostgreSQL ``COPY … FROM STDIN`` text format, built in plain Python so worker processes can do it.

Why not psycopg's ``Copy.write_row``: it formats rows on the connection's process, and the bulk
load formats millions of rows (mostly JSON documents) — that work is spread over a process pool
(:mod:`mdm.bulk.parallel`) and only the finished text crosses back to the process holding the
transaction. The format is the documented text format: tab-separated columns, ``\\N`` for NULL,
and backslash, tab, newline and carriage return escaped with a backslash.

JSON is serialized with orjson (compact, UTF-8, about 5× faster than ``json.dumps``); the column
is JSONB, so whitespace never reached storage anyway.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

import orjson

_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS


def json_text(value: Any) -> str:
    """A JSON document as text (``str()`` for the odd non-JSON value, like ``json.dumps(default=str)``)."""
    return orjson.dumps(value, default=str, option=_JSON_OPTIONS).decode()


def _escape(text: str) -> str:
    if "\\" in text:
        text = text.replace("\\", "\\\\")
    if "\t" in text:
        text = text.replace("\t", "\\t")
    if "\n" in text:
        text = text.replace("\n", "\\n")
    if "\r" in text:
        text = text.replace("\r", "\\r")
    return text


def cell(value: Any, is_json: bool) -> str:
    """One column of one row, escaped for the text format."""
    if value is None:
        return "\\N"
    if is_json:
        # orjson never emits a raw control character: only backslashes need doubling
        text = json_text(value)
        return text.replace("\\", "\\\\") if "\\" in text else text
    if isinstance(value, str):
        return _escape(value)
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return _escape(str(value))


def format_rows(rows: Iterable[dict[str, Any]], columns: Sequence[str], json_columns: frozenset[str]) -> str:
    """Rows (dicts with at least ``columns``) as COPY text, one line each.

    Formatted a column at a time, each distinct value *object* once: most columns of a bulk
    load's rows hold the same object in every row (the load's timestamp, source, domain, its
    cause document), and a golden's fields reach several rows. Keyed by ``id()``; each entry
    holds its value, so no id is reused by another object while the column is formatted.
    """
    rows = rows if isinstance(rows, list) else list(rows)
    if not rows:
        return ""
    cells = [_column(rows, c, c in json_columns) for c in columns]
    return "\n".join(map("\t".join, zip(*cells, strict=True))) + "\n"


def _column(rows: list[dict[str, Any]], column: str, is_json: bool) -> list[str]:
    done: dict[int, tuple[Any, str]] = {}
    out = []
    for row in rows:
        value = row[column]
        seen = done.get(id(value))
        if seen is None or seen[0] is not value:
            seen = done[id(value)] = (value, cell(value, is_json))
        out.append(seen[1])
    return out


def json_columns(table: Any) -> frozenset[str]:
    """Names of a SQLAlchemy table's JSON/JSONB columns."""
    return frozenset(c.name for c in table.columns if "JSON" in repr(c.type) or c.type.__class__.__name__ == "Variant")


__all__ = ["cell", "format_rows", "json_columns", "json_text"]
