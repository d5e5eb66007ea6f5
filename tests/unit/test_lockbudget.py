"""Resolve groups are sized so that every registered worker's group fits in PostgreSQL's lock table."""

from __future__ import annotations

import pytest

from mdm.lockbudget import KEYS_PER_RECORD, SHARE, group_size


@pytest.mark.parametrize(("workers", "expected"), [(0, 100), (1, 100), (2, 100), (3, 100), (4, 80), (8, 40), (16, 20),
                                                   (1000, 1)])
def test_groups_shrink_as_workers_are_added(workers: int, expected: int) -> None:
    """The server's defaults (64 locks × 100 connections): three workers keep the configured 100;
    beyond, all groups together stay within the share of the table; never below one record."""
    assert group_size(100, 6400, workers) == expected


@pytest.mark.parametrize("workers", [1, 2, 3, 4, 5, 7, 8, 12, 16, 40, 100])
@pytest.mark.parametrize("slots", [6400, 12800, 19200])
def test_every_workers_group_fits_in_the_share(workers: int, slots: int) -> None:
    size = group_size(100, slots, workers)
    assert 1 <= size <= 100
    assert size == 1 or workers * size * KEYS_PER_RECORD <= slots * SHARE


def test_the_configured_size_is_an_upper_bound() -> None:
    assert group_size(25, 6400, 2) == 25
    assert group_size(100, 64_000, 2) == 100
