"""Helpers of the records suites: reading what reached the record store, with a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from berth.core.records import RecordQuery, StoredRecord
from berth.storage.sql_records import SqlRecordStore

T = TypeVar("T")


def eventually(read: Callable[[], T], done: Callable[[T], bool], timeout_s: float = 90.0) -> T:
    """`read()` until `done` holds for its value (polled; the ingester works on its own clock, at a
    lower CPU priority than the servers: on a loaded machine it lags for tens of seconds)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = read()
        if done(value) or time.monotonic() >= deadline:
            return value
        time.sleep(0.05)


def all_records(store: SqlRecordStore, *, include_shadows: bool = True) -> list[StoredRecord]:
    """Every record, newest first (following cursors)."""
    found: list[StoredRecord] = []
    after = None
    while True:
        page = store.query(RecordQuery(include_shadows=include_shadows, limit=1000, after=after))
        found += page.records
        after = page.next_cursor
        if after is None:
            return found
