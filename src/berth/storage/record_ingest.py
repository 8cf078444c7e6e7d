"""The journal ingester: moves prediction records from the journal into the database.

It runs in the monitor process (``python -m berth.wiring.monitor_process``), which each server
process starts, so the database writes never compete with serving for the server's GIL. Of the ingesters
sharing a journal folder, only the holder of the flock on ``<journal>/ingester.lock`` works; the
others wait and take over when it dies.

Every `interval_s` it reads each segment from its saved position and ingests the records in
batches of at most `BATCH` lines, each batch in one transaction with the position after its last
line (a crash between the two can neither lose nor duplicate a record). A segment whose writer is
gone (its flock can be taken) and which is read to its end is deleted and its position forgotten.
When its parent server dies (``kill -9`` included) or it is asked to stop (SIGTERM), it drains
what it can, then exits; whatever is left is replayed by the next ingester. Records older than the
retention are purged hourly. Its lag is written to ``<journal>/ingester.status`` (`journal_lag`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

import orjson

from berth.core.errors import BerthError, ErrorCode
from berth.core.records import FailedRequest, IngestBatch, JournalPosition, PredictionRecord
from berth.storage.journal import (
    LOCK_FILE,
    JournalLag,
    decode_entry,
    read_lines,
    segments,
    try_lock,
    write_status,
)
from berth.storage.record_protocols import RecordStore

log = logging.getLogger(__name__)

BATCH: Final = 2000
"""Most records per transaction."""
PURGE_EVERY_S: Final = 3600.0
"""The database URL reaches the process by environment (an argument would show a password in ps)."""


@dataclass(slots=True)
class PassReport:
    """What one pass over the journal did."""

    ingested: int = 0
    skipped: int = 0
    deleted: int = 0
    lag: JournalLag | None = None


class Ingester:
    """One pass at a time over a journal folder into a record store (see the module docs)."""

    def __init__(self, store: RecordStore, journal_dir: Path) -> None:
        self._store = store
        self._dir = journal_dir

    def run_pass(self) -> PassReport:
        report = PassReport()
        positions = self._store.journal_positions()
        oldest_unread: float | None = None
        behind = 0
        remaining = 0
        for path in segments(self._dir):
            try:
                size_behind, first_unread = self._segment(path, positions.get(path.name), report)
            except FileNotFoundError:
                continue
            if size_behind is not None:
                remaining += 1
                behind += size_behind
                if first_unread is not None:
                    oldest_unread = (
                        first_unread if oldest_unread is None else min(oldest_unread, first_unread)
                    )
        now = time.time()
        report.lag = JournalLag(
            oldest_unread_s=max(0.0, now - oldest_unread) if oldest_unread is not None else 0.0,
            bytes_behind=behind,
            segments=remaining,
            reported_at=datetime.fromtimestamp(now, UTC),
        )
        write_status(self._dir, report.lag)
        return report

    def _segment(
        self, path: Path, saved: JournalPosition | None, report: PassReport
    ) -> tuple[int | None, float | None]:
        """Ingest what `path` holds past its position; delete it when finished. Returns the bytes
        still unread and the time of its first unread record (None, None once deleted)."""
        fd = os.open(path, os.O_RDONLY)
        try:
            writer_gone = try_lock(fd)  # held until this pass is done with the segment
            offset = saved.offset if saved is not None else 0
            while True:
                read = read_lines(path, offset, writer_gone=writer_gone, limit=BATCH)
                report.skipped += read.skipped
                if read.skipped:
                    log.warning(
                        "journal segment %s: skipped %d torn or corrupt lines", path.name, read.skipped
                    )
                if read.offset == offset:
                    break
                report.ingested += self._ingest(path.name, read.payloads, read.offset)
                offset = read.offset
            size = os.fstat(fd).st_size
            if writer_gone and offset >= size:
                path.unlink()
                self._store.forget_segments([path.name])
                report.deleted += 1
                return None, None
            return size - offset, _first_time(path, offset) if size > offset else None
        finally:
            os.close(fd)

    def _ingest(self, segment: str, payloads: Sequence[tuple[bytes, int]], end: int) -> int:
        records: list[PredictionRecord] = []
        errors: list[FailedRequest] = []
        for payload, _ in payloads:
            try:
                entry = decode_entry(payload)
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("journal segment %s: a record cannot be read (%s); skipped", segment, exc)
                continue
            if isinstance(entry, FailedRequest):
                errors.append(entry)
            else:
                records.append(entry)
        try:
            return self._store.ingest(IngestBatch(records, JournalPosition(segment, end), errors))
        except BerthError as exc:
            if exc.code is ErrorCode.UNAVAILABLE:
                raise
        return self._ingest_one_by_one(segment, payloads)

    def _ingest_one_by_one(self, segment: str, payloads: Sequence[tuple[bytes, int]]) -> int:
        """A batch the database refused: each record with its own position; a record the database
        cannot store is skipped (logged), so one bad record never stops the journal."""
        inserted = 0
        for payload, end in payloads:
            position = JournalPosition(segment, end)
            try:
                entry = decode_entry(payload)
            except (ValueError, KeyError, TypeError):
                entry = None
            batch = IngestBatch([], position)
            if isinstance(entry, FailedRequest):
                batch.errors.append(entry)
            elif entry is not None:
                batch.records.append(entry)
            try:
                inserted += self._store.ingest(batch)
            except BerthError as exc:
                if exc.code is ErrorCode.UNAVAILABLE:
                    raise
                log.error(
                    "journal segment %s: a record was refused by the database (%s); skipped", segment, exc
                )
                self._store.ingest(IngestBatch([], position))
        return inserted


def _first_time(path: Path, offset: int) -> float | None:
    read = read_lines(path, offset, writer_gone=False, limit=1)
    if not read.payloads:
        return None
    with contextlib.suppress(ValueError, KeyError, TypeError):
        return float(orjson.loads(read.payloads[0][0])["t"])
    return None


# -- the process ---------------------------------------------------------------------------------


def run(
    store: RecordStore,
    journal_dir: Path,
    *,
    parent_pid: int | None,
    interval_s: float,
    retention_days: float,
    stop: threading.Event,
    on_lock: Callable[[], None] | None = None,
    on_turn: Callable[[], None] | None = None,
    held_lock: int | None = None,
) -> None:
    """Wait for the ingester lock, then ingest every `interval_s` until `stop` is set or the parent
    is gone; then drain and return. `on_lock` is called once the lock is held (work that one
    process per journal does, e.g. evaluating alert rules, starts there); `on_turn` after every
    turn of waiting for the lock and every pass that reached the database (readiness).
    `held_lock`: an open file of the lock that holds it already (its caller waited: taking the lock
    again through it succeeds at once); closed on return."""
    turned = on_turn or (lambda: None)
    journal_dir.mkdir(parents=True, exist_ok=True)
    ingester = Ingester(store, journal_dir)
    lock_fd = (
        held_lock
        if held_lock is not None
        else os.open(journal_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    )
    try:
        while not try_lock(lock_fd):
            if _should_stop(stop, parent_pid):
                return
            turned()
            stop.wait(interval_s)
        if on_lock is not None:
            on_lock()
        last_purge = 0.0
        while True:
            finishing = _should_stop(stop, parent_pid)
            try:
                ingester.run_pass()
                turned()
                if retention_days > 0 and time.monotonic() - last_purge >= PURGE_EVERY_S:
                    cutoff = datetime.now(UTC) - timedelta(days=retention_days)
                    purged = store.purge_before(cutoff)
                    last_purge = time.monotonic()
                    if purged:
                        log.info("purged %d records older than %s", purged, cutoff.isoformat())
            except BerthError as exc:
                log.warning("journal ingestion paused: %s", exc)
                if finishing:
                    return
            if finishing:
                return
            stop.wait(interval_s)
    finally:
        os.close(lock_fd)


def _should_stop(stop: threading.Event, parent_pid: int | None) -> bool:
    return stop.is_set() or (parent_pid is not None and os.getppid() != parent_pid)
