"""The prediction journal: per-process, append-only, segmented files of records, before the database.

A serving process appends its records to its own segment, ``<host>-<pid>-<start_ns>-<seq>.jrnl``,
one line per record: ``<crc32 of the JSON, 8 hex> <JSON>\\n``. While it writes a segment it holds
an exclusive ``flock`` on it; the kernel releases the lock when the process dies in any way
(``kill -9`` included), so whoever can lock a segment knows its writer is gone and the segment
will not grow. A segment is created under a temporary name, locked, then renamed, so it is never
visible unlocked while its writer lives. The writer moves to a new segment every `rotate_s`
seconds (when the segment holds data) or `max_bytes`; segments are opened on the first write, so
an idle process leaves no empty files.

`read_lines` yields the complete, CRC-valid lines from an offset: a line cut short by a dying
writer (no newline yet) is left for later while the writer lives and skipped (counted) once it is
gone; a line whose CRC does not match is skipped and counted. Nothing in a segment crashes the reader.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import orjson

from berth.core.records import FailedRequest, PredictionRecord

SUFFIX: Final = ".jrnl"
DEFAULT_ROTATE_S: Final = 2.0
DEFAULT_MAX_BYTES: Final = 64 * 1024 * 1024
LOCK_FILE: Final = "ingester.lock"
STATUS_FILE: Final = "ingester.status"


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def try_lock(fd: int) -> bool:
    """Take an exclusive flock on `fd` without waiting; False when another open file holds it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def segment_start_ns(name: str) -> int | None:
    """When a segment was opened (ns since the epoch), from its name; None for a foreign name."""
    parts = name.removesuffix(SUFFIX).rsplit("-", 3)
    if len(parts) != 4 or not parts[2].isdigit():
        return None
    return int(parts[2])


def segments(folder: Path) -> list[Path]:
    """The journal's segments, oldest first (by their start time, then name)."""
    found = [p for p in folder.glob(f"*{SUFFIX}") if p.is_file()]
    return sorted(found, key=lambda p: (segment_start_ns(p.name) or 0, p.name))


def close_segment(fd: int) -> None:
    """fsync a segment's descriptor and close it, which releases its flock: its lines are final."""
    with contextlib.suppress(OSError):
        os.fsync(fd)
    os.close(fd)


class JournalWriter:
    """Appends encoded lines to this process's current segment. One thread writes (the recorder's
    event loop, or its writer thread); another may call `sync` at the same time (the background
    group fsync). A segment it leaves (rotation, size limit, close) is handed to `retire`, which
    fsyncs and closes it: inline by default, on the sync thread for the recorder (so the writing
    thread never waits for the disk)."""

    def __init__(
        self,
        folder: Path,
        *,
        rotate_s: float = DEFAULT_ROTATE_S,
        max_bytes: int = DEFAULT_MAX_BYTES,
        retire: Callable[[int], None] | None = None,
    ) -> None:
        self._folder = folder
        self._retire = retire
        self._rotate_s = rotate_s
        self._max_bytes = max_bytes
        self._host = socket.gethostname().replace("-", "_")
        self._seq = 0
        self._fd: int | None = None
        self._path: Path | None = None
        self._opened = 0.0
        self._size = 0
        self._dirty = False
        self._fd_lock = threading.Lock()  # `sync` never fsyncs a descriptor `close` is closing

    def hand_segments_to(self, retire: Callable[[int], None]) -> None:
        """Give every segment this writer leaves to `retire` (which must fsync and close it)."""
        self._retire = retire

    @property
    def folder(self) -> Path:
        return self._folder

    @property
    def segment(self) -> Path | None:
        """The segment being written (None between segments)."""
        return self._path

    def append(self, data: bytes, *, sync: bool) -> None:
        """Write `data` (whole lines) to the current segment, and fsync it when `sync`."""
        if self._fd is not None and self._size >= self._max_bytes:
            self.close()
        if self._fd is None:
            self._open()
        assert self._fd is not None
        view = memoryview(data)
        try:
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        except OSError:
            # a full disk may take part of the batch: cut the segment back to its last whole line,
            # so the next batch (once there is room) never lands behind a torn line
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._size)
            raise
        self._size += len(data)
        self._dirty = True
        if sync:
            os.fdatasync(self._fd)

    def sync(self) -> bool:
        """fdatasync what was written to the current segment since the last sync (from any thread);
        True when there was something to sync."""
        with self._fd_lock:
            if self._fd is None or not self._dirty:
                return False
            self._dirty = False
            os.fdatasync(self._fd)
            return True

    def rotate_if_due(self) -> bool:
        """Close the segment once it is `rotate_s` old (a new one opens on the next write)."""
        if self._fd is not None and time.monotonic() - self._opened >= self._rotate_s:
            self.close()
            return True
        return False

    def close(self) -> None:
        """Close (and unlock) the current segment: its lines are final, the ingester may finish it."""
        if self._retire is not None:
            with self._fd_lock:
                fd, self._fd, self._path = self._fd, None, None
            if fd is not None:
                self._retire(fd)  # fsynced and closed by the sync thread, after any sync of it
            return
        with self._fd_lock:
            if self._fd is None:
                return
            fd, self._fd, self._path = self._fd, None, None
            close_segment(fd)

    def _open(self) -> None:
        self._folder.mkdir(parents=True, exist_ok=True)
        self._seq += 1
        # the pid of now: a process forked after the writer was made names its own segments
        name = f"{self._host}-{os.getpid()}-{time.time_ns()}-{self._seq}"
        temporary = self._folder / f"{name}.open"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a fresh file: nobody else holds it
            path = self._folder / f"{name}{SUFFIX}"
            os.rename(temporary, path)
            _fsync_folder(self._folder)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise
        self._fd, self._path, self._opened, self._size = fd, path, time.monotonic(), 0


# -- lines -----------------------------------------------------------------------------------------


def encode_line(payload: bytes) -> bytes:
    """One journal line for a JSON payload (which holds no newline: JSON escapes them)."""
    return b"%08x %s\n" % (zlib.crc32(payload), payload)


@dataclass(slots=True)
class ReadResult:
    """What `read_lines` found: the payloads, the offset after the last complete line it consumed,
    and how many lines it skipped (torn or failing their CRC)."""

    payloads: list[tuple[bytes, int]]
    """Each valid payload with the offset just after its line."""
    offset: int
    skipped: int = 0


def read_lines(path: Path, offset: int, *, writer_gone: bool, limit: int | None = None) -> ReadResult:
    """The complete lines of `path` from `offset` (at most `limit`). With `writer_gone`, an
    unterminated last line is torn for good: it is skipped and the offset moves past it."""
    with path.open("rb") as f:
        f.seek(offset)
        data = f.read()
    result = ReadResult(payloads=[], offset=offset)
    start = 0
    while limit is None or len(result.payloads) < limit:
        end = data.find(b"\n", start)
        if end < 0:
            if writer_gone and start < len(data):
                result.skipped += 1
                result.offset = offset + len(data)
            break
        line = data[start:end]
        start = end + 1
        result.offset = offset + start
        payload = _checked(line)
        if payload is None:
            result.skipped += 1
        else:
            result.payloads.append((payload, result.offset))
    return result


def _checked(line: bytes) -> bytes | None:
    if len(line) < 10 or line[8:9] != b" ":
        return None
    try:
        crc = int(line[:8], 16)
    except ValueError:
        return None
    payload = line[9:]
    return payload if zlib.crc32(payload) == crc else None


# -- records ---------------------------------------------------------------------------------------


def decode_entry(payload: bytes) -> PredictionRecord | FailedRequest:
    """What a journal line holds: a record, or a failed request (its line has an ``err`` code)."""
    data: dict[str, Any] = orjson.loads(payload)
    if "err" in data:
        version = data.get("v")
        return FailedRequest(
            recorded_at=datetime.fromtimestamp(data["t"], UTC),
            endpoint=str(data["e"]),
            model=str(data["m"]),
            version=None if version is None else int(version),
            variant=str(data["var"]),
            code=str(data["err"]),
            latency_s=float(data["lat"]),
        )
    return _record(data)


def decode_record(payload: bytes) -> PredictionRecord:
    """The record a journal line holds (see `berth.dataplane.recording` for the writing side)."""
    return _record(orjson.loads(payload))


def _record(data: dict[str, Any]) -> PredictionRecord:
    return PredictionRecord(
        prediction_id=data["id"],
        recorded_at=datetime.fromtimestamp(data["t"], UTC),
        endpoint=data["e"],
        model=data["m"],
        version=int(data["v"]),
        variant=data["var"],
        inputs=data["in"],
        outputs=data["out"],
        latency_s=float(data["lat"]),
        model_inputs=data.get("min"),
        entity_key=data.get("ek"),
        shadow_of=data.get("so"),
        features_served=data.get("fs"),
    )


# -- lag ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JournalLag:
    """How far the ingester is behind: the age of the oldest record not yet in the database, the
    bytes of journal not yet read, and when the ingester last reported (None: never)."""

    oldest_unread_s: float
    bytes_behind: int
    segments: int
    reported_at: datetime | None


def measure_backlog(journal_dir: Path, ingested: Mapping[str, int], now: float | None = None) -> JournalLag:
    """The backlog read from the journal itself: every segment still in the folder past the offset
    the database holds for it (`ingested`: segment name -> offset), its bytes, and the age of the
    oldest line not yet ingested. It does not ask the ingester, so a dead or stalled ingester shows
    as a growing backlog. Blocking (reads the folder): call it off the event loop."""
    now = time.time() if now is None else now
    behind = 0
    remaining = 0
    oldest: float | None = None
    for path in segments(journal_dir):
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            continue  # ingested and deleted meanwhile
        offset = ingested.get(path.name, 0)
        if size <= offset:
            continue
        remaining += 1
        behind += size - offset
        first = _first_line_time(path, offset)
        if first is None:  # a line being written: the segment's start bounds its age
            started = segment_start_ns(path.name)
            first = started / 1e9 if started is not None else now
        oldest = first if oldest is None else min(oldest, first)
    return JournalLag(
        oldest_unread_s=max(0.0, now - oldest) if oldest is not None else 0.0,
        bytes_behind=behind,
        segments=remaining,
        reported_at=datetime.fromtimestamp(now, UTC),
    )


FIRST_LINE_READ: Final = 256 * 1024
"""`measure_backlog` reads at most this much of a segment to date its first unread line (a longer
line is dated by its segment's start)."""


def _first_line_time(path: Path, offset: int) -> float | None:
    """When the first complete line at `offset` was written (None: no complete line within
    `FIRST_LINE_READ` bytes)."""
    try:
        with path.open("rb") as f:
            f.seek(offset)
            chunk = f.read(FIRST_LINE_READ)
    except FileNotFoundError:
        return None
    end = chunk.find(b"\n")
    payload = _checked(chunk[:end]) if end >= 0 else None
    if payload is None:
        return None
    with contextlib.suppress(ValueError, KeyError, TypeError):
        return float(orjson.loads(payload)["t"])
    return None


def probe_space(journal_dir: Path, size: int) -> None:
    """Write and fsync `size` bytes in the journal's folder, then remove them: OSError (ENOSPC when
    the disk is full) when the journal could not take a batch of that size now."""
    path = journal_dir / f".space-probe-{os.getpid()}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        block = memoryview(bytes(min(size, 1024 * 1024)))
        left = size
        while left > 0:
            left -= os.write(fd, block[: min(left, len(block))])
        os.fsync(fd)
    finally:
        os.close(fd)
        with contextlib.suppress(OSError):
            path.unlink()


def write_status(folder: Path, lag: JournalLag) -> None:
    """Save the ingester's lag (atomically: readers see the old or the new status)."""
    status = {
        "oldest_unread_s": lag.oldest_unread_s,
        "bytes_behind": lag.bytes_behind,
        "segments": lag.segments,
        "reported_at": (lag.reported_at or datetime.now(UTC)).timestamp(),
    }
    temporary = folder / f".{STATUS_FILE}.{os.getpid()}"
    try:
        temporary.write_bytes(orjson.dumps(status))
        os.replace(temporary, folder / STATUS_FILE)
    except OSError:  # a full disk: the report is advisory (readiness measures the journal itself)
        with contextlib.suppress(OSError):
            temporary.unlink()


def journal_lag(journal_dir: Path) -> JournalLag:
    """The ingester's last reported lag (zero lag, never reported, when it has not run yet)."""
    try:
        status = orjson.loads((journal_dir / STATUS_FILE).read_bytes())
        return JournalLag(
            oldest_unread_s=float(status["oldest_unread_s"]),
            bytes_behind=int(status["bytes_behind"]),
            segments=int(status["segments"]),
            reported_at=datetime.fromtimestamp(float(status["reported_at"]), UTC),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return JournalLag(oldest_unread_s=0.0, bytes_behind=0, segments=0, reported_at=None)


def segments_before(journal_dir: Path, at: datetime) -> list[Path]:
    """The segments opened before `at` that are still in the journal."""
    cutoff = int(at.timestamp() * 1e9)
    return [p for p in segments(journal_dir) if (segment_start_ns(p.name) or 0) < cutoff]


def wait_for_journal_before(journal_dir: Path, at: datetime, timeout_s: float) -> bool:
    """Wait until no segment opened before `at` is left (each is rotated within the rotation period,
    then ingested and deleted); True when none is left, False at the timeout. Blocking: call it
    off the event loop."""
    deadline = time.monotonic() + timeout_s
    while segments_before(journal_dir, at):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def catch_up_with_journal(
    journal_dir: Path, ingested: Callable[[], Mapping[str, int]], timeout_s: float
) -> bool:
    """Wait until the database holds every line this host's journal held at the call: each segment
    then present is deleted (ingested and finished) or `ingested` (segment name -> offset read up
    to) has reached the size it had. False when the journal held nothing (nothing to wait for); else
    True once caught up or at the timeout, whichever is first. Blocking: call it off the event loop."""
    sizes: dict[str, int] = {}
    for path in segments(journal_dir):
        with contextlib.suppress(FileNotFoundError):  # ingested and deleted meanwhile
            sizes[path.name] = path.stat().st_size
    if not sizes:
        return False
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        offsets = ingested()
        behind = [n for n, size in sizes.items() if offsets.get(n, 0) < size and (journal_dir / n).exists()]
        if not behind:
            break
        time.sleep(0.05)
    return True
