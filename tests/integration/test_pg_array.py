"""Array parameters sent as one literal (``mdm.db.pg_array``) arrive in PostgreSQL unchanged."""

from __future__ import annotations

from sqlalchemy import create_engine, text

from mdm.db import pg_array

ODD_KEYS = ["", "plain", "with,comma", 'with "quotes"', "back\\slash", "\\", '\\"', "{braces}", "NULL", "null",
            " spaced ", "tab\tnew\nline", "Zürich 🍕", "p_names:o'brien|smith", "a" * 200]


def test_text_and_bigint_arrays_round_trip(pg_url: str) -> None:
    numbers = [0, 1, -1, 2**63 - 1, -(2**63), 1234567890123]
    engine = create_engine(pg_url)
    try:
        with engine.connect() as conn:
            keys = conn.execute(text("SELECT CAST(:a AS varchar[])"), {"a": pg_array(ODD_KEYS)}).scalar_one()
            ints = conn.execute(text("SELECT CAST(:a AS bigint[])"), {"a": pg_array(numbers)}).scalar_one()
            empty = conn.execute(text("SELECT cardinality(CAST(:a AS varchar[]))"), {"a": pg_array([])}).scalar_one()
            unnested = list(conn.execute(text("SELECT unnest(CAST(:a AS varchar[]))"), {"a": pg_array(ODD_KEYS)}).scalars())
    finally:
        engine.dispose()
    assert keys == ODD_KEYS and unnested == ODD_KEYS
    assert ints == numbers and empty == 0
