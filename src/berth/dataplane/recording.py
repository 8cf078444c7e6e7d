"""Recording answered predictions into the journal, off the hot path, with group commit.

`Recorder.record` runs on the event loop and only appends a tuple of references (the request's
tensors, the answer's tensors, ids, times) to a pending list. One flusher task takes the whole
pending list, encodes it (orjson, about 6 µs a record), appends it to the journal and resolves one
future shared by the batch; requests answered meanwhile form the next batch. With "journal" and
"none" that happens on the event loop itself: a write to the page cache takes microseconds, less
than handing the batch to a thread and the GIL ping-pong that brings (measured: a writer thread
cost 0.75-0.81 of the throughput, the loop 0.90). "fsync" writes on a writer thread, since it
waits for the disk. Segments left behind are fsynced and closed on the sync thread.
Durability:

- "journal" (default): a caller awaits its batch's write to the journal file before its response
  is sent, so an answered prediction survives a crash of the process (``kill -9`` included: the
  operating system holds written data). A second thread fsyncs the journal every
  `sync_interval_s` (group commit in the background): a crash of the machine loses at most that
  much. No request waits for the disk.
- "fsync": a caller awaits its batch's fsync: an answered prediction survives a power loss too;
  every request waits for a disk flush (about 1.5 fsyncs), which is felt at high concurrency on
  disks whose fsync takes milliseconds.
- "none": nobody waits (a crash of the process may lose the last moments of records).

Sampling is decided from the prediction id's hash, so a shadow answer is recorded exactly when its
caller's answer is.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import errno
import logging
import math
import random
import time
import zlib
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

import orjson

from berth.core.codecs._arrays import BASE64, CONTENT_TYPE, json_data
from berth.core.entities import Version
from berth.core.errors import BerthError, ErrorCode
from berth.core.records import (
    MAX_ENTITY_KEY_LENGTH,
    MAX_PREDICTION_ID_LENGTH,
    FeaturesServed,
    TensorsJson,
)
from berth.core.tensors import InferenceRequest, Tensor
from berth.storage.journal import JournalWriter, close_segment, encode_line, probe_space

log = logging.getLogger(__name__)

ENTITY_HEADER: Final = "berth-entity-key"
ENTITY_PARAMETER: Final = "entity_key"
DURABILITIES: Final = ("journal", "fsync", "none")
_DUMP: Final = orjson.OPT_SERIALIZE_NUMPY
PROBE_BYTES: Final = 64 * 1024
MAX_PROBE_BYTES: Final = 64 * 1024 * 1024
"""A journal that refused writes is writable again once this much (or the largest batch it refused,
up to `MAX_PROBE_BYTES`) can be written and fsynced beside it."""
ROWS_PARAMETER: Final = "rows"
"""In a record's tensor: the rows the request had, when the record keeps only its first
`InferenceRequest.record_rows` (the tensor's shape and data are those kept)."""
SMALL_TENSOR: Final = 256
"""Tensors of at most this many elements are encoded through Python lists (cheaper when small)."""


@dataclass(slots=True, kw_only=True)
class Pending:
    """One answered prediction waiting to be written (references only: nothing is encoded yet).

    Not frozen: one is built per answered prediction, and a frozen dataclass's constructor costs
    about four times as much; nothing changes one once it is built."""

    prediction_id: str
    at: float
    endpoint: str
    model: str
    version: int
    variant: str
    inputs: list[Tensor]
    model_inputs: list[Tensor] | None
    outputs: list[Tensor]
    latency_s: float
    entity_key: str | None
    shadow_of: str | None
    features_served: FeaturesServed | None = None


class PredictionRecorder(abc.ABC):
    """What the data plane records through: `Recorder` (the local journal) or
    `berth.dataplane.stream_recording.StreamRecorder` (a record stream), picked by the wiring. Both
    sample requests here, by prediction id."""

    def __init__(self, sampling: float, endpoint_sampling: Mapping[str, float] | None) -> None:
        self._sampling = sampling
        self._endpoint_sampling = dict(endpoint_sampling or {})

    def sampled(self, prediction_id: str, endpoint: str) -> bool:
        return sampled(prediction_id, self._endpoint_sampling.get(endpoint, self._sampling))

    def recording(
        self,
        prediction_id: str,
        endpoint: str,
        entity_key: str | None,
        received: list[Tensor],
        *,
        pre_steps_ran: bool = False,
        rows: int | None = None,
        features_served: FeaturesServed | None = None,
    ) -> RequestRecording | None:
        """The records of a request answered under `endpoint`; None when it is sampled out.
        `rows`: most rows its records keep (`InferenceRequest.record_rows`); `features_served`:
        what its ``features`` steps read (`StepContext.served`)."""
        if not self.sampled(prediction_id, endpoint):
            return None
        return RequestRecording(
            self, prediction_id, entity_key, received, pre_steps_ran, rows, features_served
        )

    @abc.abstractmethod
    def record(self, item: Pending) -> asyncio.Future[None] | None:
        """Queue one record; unless durability is "none", the future its caller must await (see
        `committed`) before answering."""

    @abc.abstractmethod
    def record_failure(self, item: FailedPending) -> None: ...

    @abc.abstractmethod
    def queue_depth(self) -> float: ...

    @abc.abstractmethod
    async def start(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...


def sampled(prediction_id: str, rate: float) -> bool:
    """Whether a prediction is recorded at sampling `rate`: decided from its id's hash, so a shadow
    answer is recorded exactly when its caller's answer is."""
    if rate >= 1.0:
        return True
    return zlib.crc32(prediction_id.encode()) < rate * 2**32


@dataclass(frozen=True, slots=True)
class RequestRecording:
    """The records of one request (its caller's answer, and its shadows' answers), made by
    `Recorder.recording` when the request is sampled in. Both ways in (a model, an endpoint) record
    through here."""

    recorder: PredictionRecorder
    prediction_id: str
    entity_key: str | None
    received: list[Tensor]
    pre_steps_ran: bool
    rows: int | None = None
    """Most rows a record keeps (the first ones, marked with `ROWS_PARAMETER`); None: every row."""
    features_served: FeaturesServed | None = None
    """What the request's ``features`` steps read (the same for its shadows' records)."""

    def record(
        self,
        endpoint: str,
        version: Version,
        variant: str,
        model_inputs: list[Tensor],
        outputs: list[Tensor],
        latency_s: float,
        *,
        shadow: bool = False,
    ) -> asyncio.Future[None] | None:
        """Queue the record of one answer: the caller's (awaited through `committed` before the
        caller is answered), or with `shadow` a shadow's (never awaited: a shadow never holds anyone
        up; its id is the caller's with the version that answered)."""
        shadow_of = self.prediction_id if shadow else None
        pid = self.prediction_id if shadow_of is None else f"{shadow_of}~{version.model}:{version.number}"
        received, rows, served = self.received, self.rows, self.features_served
        if rows is not None:
            received, model_inputs, outputs = (first_rows(t, rows) for t in (received, model_inputs, outputs))
            if served is not None:
                served = first_served(served, rows)
        item = Pending(
            prediction_id=pid,
            at=time.time(),
            endpoint=endpoint,
            model=version.model,
            version=version.number,
            variant=variant,
            inputs=received,
            model_inputs=model_inputs if self.pre_steps_ran else None,
            outputs=outputs,
            latency_s=latency_s,
            entity_key=self.entity_key,
            shadow_of=shadow_of,
            features_served=served,
        )
        return self.recorder.record(item)


def prediction_identity(request: InferenceRequest, header: Any) -> tuple[str, str | None]:
    """The request's prediction id (its OIP ``id``, else a new 32-hex id) and entity key (header
    ``berth-entity-key``, else the request parameter ``entity_key``); INVALID_REQUEST when too long."""
    pid = request.id
    if pid is None or pid == "":
        pid = f"{random.getrandbits(128):032x}"  # no system call per request (reseeded on fork)
    elif len(pid) > MAX_PREDICTION_ID_LENGTH:
        raise BerthError(
            ErrorCode.INVALID_REQUEST, f"the request id is longer than {MAX_PREDICTION_ID_LENGTH} characters"
        )
    entity = header(ENTITY_HEADER) if header is not None else None
    if entity is None and request.parameters:
        entity = request.parameters.get(ENTITY_PARAMETER)
    if entity is not None:
        if not isinstance(entity, str) or len(entity) > MAX_ENTITY_KEY_LENGTH or "\x00" in entity:
            raise BerthError(
                ErrorCode.INVALID_REQUEST,
                f"the entity key must be a string of at most {MAX_ENTITY_KEY_LENGTH} characters",
            )
        entity = entity or None
    return pid, entity


def first_rows(tensors: list[Tensor], rows: int) -> list[Tensor]:
    """`tensors` with at most `rows` rows each (views, not copies); a cut tensor carries the rows it
    had in its parameters (`ROWS_PARAMETER`)."""
    if all(t.data.ndim == 0 or t.data.shape[0] <= rows for t in tensors):
        return tensors
    return [
        t
        if t.data.ndim == 0 or t.data.shape[0] <= rows
        else Tensor(t.name, t.datatype, (rows, *t.shape[1:]), t.data[:rows], {ROWS_PARAMETER: t.shape[0]})
        for t in tensors
    ]


def first_served(served: FeaturesServed, rows: int) -> FeaturesServed:
    """`served` with its per-row lists cut to the first `rows` rows, as `first_rows` cuts tensors."""
    if all(len(view["keys"]) <= rows for view in served):
        return served
    per_row = ("keys", "outcomes", "written_at")
    return [{k: v[:rows] if k in per_row else v for k, v in view.items()} for view in served]


def tensors_json(tensors: list[Tensor]) -> TensorsJson:
    """Tensors in the record form: by name, datatype, shape and the flat data, as the OIP JSON
    protocol writes them (non-finite floats as "NaN"/"Infinity" strings, BYTES as str or base64)."""
    out: TensorsJson = {}
    for t in tensors:
        array = t.data
        data: Any = None
        if array.size <= SMALL_TENSOR and array.dtype.kind in "biuf":
            data = array.ravel().tolist()  # for a few values, faster than numpy's checks
            if array.dtype.kind == "f" and not math.isfinite(sum(data)):
                data = None  # a NaN or an infinity: the general path spells them
        if data is None:
            data, base64 = json_data(array)
            if base64:
                out[t.name] = {
                    "datatype": t.datatype,
                    "shape": list(t.shape),
                    "data": data,
                    "parameters": {CONTENT_TYPE: BASE64, **_cut(t)},
                }
                continue
        out[t.name] = {"datatype": t.datatype, "shape": list(t.shape), "data": data}
        if t.parameters and ROWS_PARAMETER in t.parameters:
            out[t.name]["parameters"] = _cut(t)
    return out


def _cut(tensor: Tensor) -> dict[str, Any]:
    rows = tensor.parameters.get(ROWS_PARAMETER) if tensor.parameters else None
    return {} if rows is None else {ROWS_PARAMETER: rows}


class FailedPending(NamedTuple):
    """A request that failed, waiting to be written (its code, never its inputs)."""

    at: float
    endpoint: str
    model: str
    version: int | None
    variant: str
    code: str
    latency_s: float


def encode_failure(item: FailedPending) -> bytes:
    """The journal line of a failed request (read back by `berth.storage.journal.decode_entry`)."""
    return encode_line(failure_document(item))


def failure_document(item: FailedPending) -> bytes:
    """A failed request as JSON (a journal line's payload, a record stream's message)."""
    doc = {
        "t": item.at,
        "e": item.endpoint,
        "m": item.model,
        "v": item.version,
        "var": item.variant,
        "err": item.code,
        "lat": item.latency_s,
    }
    return orjson.dumps(doc, option=_DUMP)


def encode_pending(item: Pending) -> bytes:
    """The journal line of one record (read back by `berth.storage.journal.decode_record`)."""
    return encode_line(record_document(item))


def record_document(item: Pending) -> bytes:
    """One record as JSON (a journal line's payload, a record stream's message)."""
    doc: dict[str, Any] = {
        "id": item.prediction_id,
        "t": item.at,
        "e": item.endpoint,
        "m": item.model,
        "v": item.version,
        "var": item.variant,
        "in": tensors_json(item.inputs),
        "out": tensors_json(item.outputs),
        "lat": item.latency_s,
    }
    if item.model_inputs is not None:
        doc["min"] = tensors_json(item.model_inputs)
    if item.entity_key is not None:
        doc["ek"] = item.entity_key
    if item.shadow_of is not None:
        doc["so"] = item.shadow_of
    if item.features_served is not None:
        doc["fs"] = item.features_served
    return orjson.dumps(doc, option=_DUMP)


class Recorder(PredictionRecorder):
    """Group-committed recording into a `JournalWriter` (see the module docs)."""

    def __init__(
        self,
        writer: JournalWriter,
        *,
        durability: str = "journal",
        sampling: float = 1.0,
        endpoint_sampling: Mapping[str, float] | None = None,
        rotate_s: float = 2.0,
        sync_interval_s: float = 0.1,
    ) -> None:
        if durability not in DURABILITIES:
            raise ValueError(f"durability is one of {DURABILITIES}, got {durability!r}")
        super().__init__(sampling, endpoint_sampling)
        self._writer = writer
        self._durable = durability != "none"
        self._sync = durability == "fsync"
        self._background_sync = durability == "journal"
        self._sync_interval_s = sync_interval_s
        self._syncer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="berth-journal-sync")
        # segments left behind are fsynced and closed on the sync thread, after any sync of them
        writer.hand_segments_to(self._retire_segment)
        self._rotate_s = rotate_s
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="berth-journal")
        self._pending: list[Pending | FailedPending] = []
        self._future: asyncio.Future[None] | None = None
        self._wake: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.written = 0
        self.failed = 0
        self.write_failure: str | None = None
        """Why the journal refuses writes (a full disk), None while it takes them: readiness is off
        meanwhile. Set by a failed write; cleared by `check_space` only (a small batch that still
        fits on an almost full disk says nothing about the next one)."""
        self._batch_bytes = 0
        self._refused_bytes = 0
        """The largest batch refused since the journal failed: `check_space` probes for that much."""

    async def start(self) -> None:
        self._start_tasks()

    def _start_tasks(self) -> None:
        if self._wake is not None:
            return
        self._wake = asyncio.Event()
        self._tasks = [
            asyncio.create_task(self._flush_loop(), name="berth-record-flusher"),
            asyncio.create_task(self._rotate_loop(), name="berth-journal-rotation"),
        ]
        if self._background_sync:
            self._tasks.append(asyncio.create_task(self._sync_loop(), name="berth-journal-sync"))

    def _retire_segment(self, fd: int) -> None:
        self._syncer.submit(close_segment, fd)

    def queue_depth(self) -> float:
        """Records waiting for the journal writer (a metrics reading)."""
        return float(len(self._pending))

    def record(self, item: Pending) -> asyncio.Future[None] | None:
        if self._wake is None:  # a data plane used without its server's start (tests, tools)
            self._start_tasks()
        assert self._wake is not None
        self._pending.append(item)
        future = self._future
        if future is None and self._durable:
            future = self._future = BatchCommit()
        self._wake.set()
        return future

    async def _flush_loop(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch, future = self._pending, self._future
                self._pending, self._future = [], None
                try:
                    await self._in_writer(self._write, batch)
                except asyncio.CancelledError:
                    _fail(future, "the recorder stopped")
                    raise
                except Exception as exc:
                    self.failed += len(batch)
                    self._failing(exc, len(batch))
                    _fail(future, self.write_failure or str(exc))
                else:
                    self.written += len(batch)
                    if future is not None and not future.done():
                        future.set_result(None)

    def _failing(self, exc: Exception, records: int) -> None:
        """Note a write that failed: logged once per episode (a full disk fails every batch until
        there is room; one line says so, not a traceback per request)."""
        self._refused_bytes = max(self._refused_bytes, self._batch_bytes)
        if self.write_failure is not None:
            return
        if isinstance(exc, OSError):
            reason = f"the journal cannot be written: {exc.strerror or exc}"
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                reason = "the journal's disk is full"
            log.error("%s (%d records refused); predictions answer 503 until it is writable", reason, records)
        else:
            reason = "the journal cannot be written"
            log.exception("%d prediction records could not be written to the journal", records)
        self.write_failure = reason

    def check_space(self) -> bool:
        """While writes fail, try one probe write in the journal's folder (blocking: off the event
        loop) as large as the largest batch refused; True (and the failure cleared) when it is
        writable again, so readiness comes back without waiting for traffic a not-ready server
        does not get."""
        if self.write_failure is None:
            return True
        try:
            probe_space(self._writer.folder, max(PROBE_BYTES, min(self._refused_bytes, MAX_PROBE_BYTES)))
        except OSError:
            return False
        log.warning("the journal is writable again: predictions are answered and recorded")
        self.write_failure = None
        self._refused_bytes = 0
        return True

    def record_failure(self, item: FailedPending) -> None:
        """Queue a failed request (nobody waits for it: an error rate may lose its last moments)."""
        if self._wake is None:
            self._start_tasks()
        assert self._wake is not None
        self._pending.append(item)
        self._wake.set()

    def _write(self, batch: list[Pending | FailedPending]) -> None:
        lines = [encode_failure(i) if isinstance(i, FailedPending) else encode_pending(i) for i in batch]
        data = b"".join(lines)
        self._batch_bytes = len(data)
        self._writer.append(data, sync=self._sync)

    async def _in_writer(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a journal writer call where writes happen: on the event loop (durability "journal"
        or "none": a write to the page cache takes microseconds, less than a hand-off to a thread
        and the GIL ping-pong it brings), or on the writer thread ("fsync", which waits for the disk)."""
        if self._sync:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        return fn(*args)

    async def _rotate_loop(self) -> None:
        while True:
            await asyncio.sleep(self._rotate_s / 4)
            try:
                await self._in_writer(self._writer.rotate_if_due)
            except OSError:
                log.exception("the journal segment could not be closed")

    async def _sync_loop(self) -> None:
        """Group commit in the background: fsync what was written, every `sync_interval_s`. An idle
        journal costs no hop to the sync thread (an idle server was woken ten times a second)."""
        loop = asyncio.get_running_loop()
        synced = self.written
        while True:
            await asyncio.sleep(self._sync_interval_s)
            if self.written == synced:  # nothing written since the last sync began
                continue
            synced = self.written
            try:
                await loop.run_in_executor(self._syncer, self._writer.sync)
            except OSError as exc:  # a disk that fills up may say so at the fsync
                self._failing(exc, 0)

    async def flush(self) -> None:
        """Wait until every record queued so far is written."""
        while self._pending or (self._wake is not None and self._wake.is_set()):
            await asyncio.sleep(0.001)
        await self._in_writer(lambda: None)  # the batch in the writer's hands

    async def close(self) -> None:
        """Write what is pending, close the segment (the ingester may finish it) and stop."""
        if self._wake is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.flush(), 10.0)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        self._pending.clear()
        _fail(self._future, "the recorder stopped")
        await self._in_writer(self._writer.close)
        self._executor.shutdown(wait=True)
        self._syncer.shutdown(wait=True)


class BatchCommit(asyncio.Future[None]):
    """The future a batch's callers await: done when the batch is on disk. It is shared, so it
    cannot be cancelled: a caller cancelled while it waits stops when the batch is committed (a
    few milliseconds), instead of cancelling its neighbours' wait (cheaper than a shield each)."""

    def cancel(self, msg: Any | None = None) -> bool:
        return False


async def committed(future: asyncio.Future[None] | None) -> None:
    """Wait for a batch's commit (None: nothing to wait for)."""
    if future is not None:
        await future


def _fail(future: asyncio.Future[None] | None, reason: str) -> None:
    if future is not None and not future.done():
        future.set_exception(
            BerthError(ErrorCode.RECORDING_UNAVAILABLE, f"the prediction could not be recorded: {reason}")
        )
