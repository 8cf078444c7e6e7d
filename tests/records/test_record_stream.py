"""The record stream on a real NATS JetStream: records acknowledged before callers are answered,
drained into a real record store once, however often they are published or delivered; a stream that
cannot be reached refuses records at once with ``recording_unavailable``."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import nats
import numpy as np
import pytest
from nats.js.api import AckPolicy, ConsumerConfig

from berth.core.errors import BerthError, ErrorCode
from berth.core.records import IngestBatch, RecordQuery, record_key
from berth.core.tensors import Tensor
from berth.dataplane.recording import Pending, committed, record_document
from berth.dataplane.stream_recording import StreamRecorder
from berth.storage.journal import decode_record
from berth.storage.record_drain import DRAINER, DrainOptions, RecordDrainer
from berth.storage.record_stream import (
    MSG_ID,
    StreamConnection,
    StreamTarget,
    ensure_stream,
    parse_stream_uri,
    publish_records,
)
from berth.storage.sql_records import SqlRecordStore
from tests.support.nats import nats_server_url, stream_uri
from tests.support.servers import free_port

pytestmark = pytest.mark.nats


@pytest.fixture
def target() -> Iterator[StreamTarget]:
    with stream_uri() as uri:
        yield parse_stream_uri(uri)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlRecordStore]:
    opened = SqlRecordStore(f"sqlite:///{tmp_path / 'records.db'}")
    yield opened
    opened.close()


SERVED = [
    {"view": "profile", "read_at": 1765000000.5, "keys": ["c1"], "outcomes": ["stale"], "written_at": [1.0]}
]


def pending(pid: str, *, shadow_of: str | None = None) -> Pending:
    return Pending(
        prediction_id=pid,
        at=time.time(),
        endpoint="churn",
        model="churn",
        version=2,
        variant="churn@production",
        inputs=[Tensor("x", "FP64", (1, 3), np.array([[1.0, math.nan, 3.0]]))],
        model_inputs=None,
        outputs=[Tensor("label", "INT64", (1,), np.array([7]))],
        latency_s=0.01,
        entity_key="c1",
        shadow_of=shadow_of,
        features_served=SERVED if pid.startswith("p0") else None,
    )


def connection(target: StreamTarget, window_s: float = 120.0) -> StreamConnection:
    return StreamConnection(target, duplicate_window_s=window_s, name="berth-test")


async def drain_until(drainer: RecordDrainer, done: Callable[[], bool], timeout_s: float = 60.0) -> None:
    """Run `drainer` until `done()` holds (or the timeout)."""
    stop = asyncio.Event()
    task = asyncio.create_task(drainer.run(stop))
    deadline = time.monotonic() + timeout_s
    while not done() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    stop.set()
    await task


def stored_ids(store: SqlRecordStore) -> list[str]:
    page = store.query(RecordQuery(include_shadows=True, limit=1000))
    return sorted(r.record.prediction_id for r in page.records)


def test_acknowledged_records_are_drained_into_the_store(target: StreamTarget, store: SqlRecordStore) -> None:
    async def scenario() -> StreamRecorder:
        recorder = StreamRecorder(connection(target))
        await recorder.start()
        futures = [recorder.record(pending(f"p{i}")) for i in range(40)]
        futures.append(recorder.record(pending("p0~churn:3", shadow_of="p0")))
        await asyncio.gather(*(committed(f) for f in futures))
        await recorder.close()
        drainer = RecordDrainer(store, connection(target), DrainOptions())
        await drain_until(drainer, lambda: drainer.stored >= 41)
        return recorder

    recorder = asyncio.run(scenario())

    assert (recorder.written, recorder.failed) == (41, 0)
    assert stored_ids(store) == sorted([f"p{i}" for i in range(40)] + ["p0~churn:3"])
    [caller, shadow] = store.get("p0")
    assert caller.record.inputs == {"x": {"datatype": "FP64", "shape": [1, 3], "data": [1.0, "NaN", 3.0]}}
    assert (shadow.record.shadow_of, shadow.record.entity_key) == ("p0", "c1")
    assert caller.record.features_served == shadow.record.features_served == SERVED  # what was read
    assert store.get("p1")[0].record.features_served is None


def test_a_republished_record_is_stored_once(target: StreamTarget, store: SqlRecordStore) -> None:
    """Within the duplicate window JetStream drops the copy (its acknowledgement says so); past it,
    the copy reaches the stream and the drainer's keyed insert drops it."""
    message = [(record_key("churn", "p1", None), record_document(pending("p1")))]

    async def scenario() -> tuple[int, int, RecordDrainer]:
        stream = connection(target, window_s=1.0)
        await stream.start()
        assert await stream.wait_connected(10)
        first = await publish_records(stream, message, 5)
        again = await publish_records(stream, message, 5)
        await asyncio.sleep(1.5)  # past the duplicate window: JetStream takes it again
        late = await publish_records(stream, message, 5)
        await stream.close()
        drainer = RecordDrainer(store, connection(target, window_s=1.0), DrainOptions())
        await drain_until(drainer, lambda: drainer.stored + drainer.duplicates >= 2)
        return first + late, again, drainer

    fresh, duplicate, drainer = asyncio.run(scenario())

    assert (fresh, duplicate) == (0, 1)
    assert (drainer.stored, drainer.duplicates) == (1, 1)
    assert stored_ids(store) == ["p1"]


def test_records_delivered_again_after_a_drainer_died_unacknowledged_are_stored_once(
    target: StreamTarget, store: SqlRecordStore
) -> None:
    """A drainer that committed a batch and died before acknowledging it: JetStream hands the batch
    out again after the ack wait, and the next drainer stores none of it twice."""
    messages = [(record_key("churn", f"p{i}", None), record_document(pending(f"p{i}"))) for i in range(5)]

    async def scenario() -> RecordDrainer:
        stream = connection(target)
        await stream.start()
        assert await stream.wait_connected(10)
        await publish_records(stream, messages, 5)
        await stream.close()
        client = await nats.connect(nats_server_url())
        config = ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=1.0, max_deliver=-1)
        subscription = await client.jetstream().pull_subscribe(
            target.subject, durable=DRAINER, stream=target.stream, config=config
        )
        fetched = await subscription.fetch(3, timeout=5)
        records = [replace(decode_record(m.data), record_key=(m.headers or {})[MSG_ID]) for m in fetched]
        assert store.ingest(IngestBatch(records)) == 3  # committed; never acknowledged: the "crash"
        await client.close()
        drainer = RecordDrainer(store, connection(target), DrainOptions(ack_wait_s=1.0))
        await drain_until(drainer, lambda: drainer.stored + drainer.duplicates >= 5)
        return drainer

    drainer = asyncio.run(scenario())

    assert (drainer.stored, drainer.duplicates) == (2, 3)
    assert stored_ids(store) == [f"p{i}" for i in range(5)]


def test_an_unreachable_stream_refuses_records_at_once() -> None:
    """A server starts at once when its NATS refuses the connection (not after the publish timeout),
    says why it is not ready, and refuses each record at once."""
    target = parse_stream_uri(f"nats://127.0.0.1:{free_port()}/NOWHERE")

    timeout_s = 60.0

    async def scenario() -> tuple[float, BerthError, float, list[str]]:
        recorder = StreamRecorder(connection(target), publish_timeout_s=timeout_s)
        started = time.monotonic()
        await recorder.start()  # returns once the first connection has failed
        start_took = time.monotonic() - started
        started = time.monotonic()
        with pytest.raises(BerthError) as refused:
            await committed(recorder.record(pending("p1")))
        took = time.monotonic() - started
        problems = recorder.problems()
        await recorder.close()
        return start_took, refused.value, took, problems

    start_took, error, took, problems = asyncio.run(scenario())

    assert start_took < timeout_s / 4  # not held until the publish timeout
    assert error.code is ErrorCode.RECORDING_UNAVAILABLE
    assert "unreachable" in error.message
    assert took < timeout_s / 4  # refused at once, never held until the publish timeout
    assert problems
    assert "cannot be recorded" in problems[0]
    assert "unreachable" in problems[0]


def test_a_stream_keeping_duplicates_apart_for_less_than_asked_is_refused(target: StreamTarget) -> None:
    async def scenario() -> BerthError:
        stream = connection(target, window_s=5.0)
        await stream.start()
        assert await stream.wait_connected(10)
        await stream.close()
        client = await nats.connect(nats_server_url())
        try:
            with pytest.raises(BerthError) as refused:
                await ensure_stream(client.jetstream(), target, duplicate_window_s=60.0)
        finally:
            await client.close()
        return refused.value

    error = asyncio.run(scenario())

    assert error.code is ErrorCode.RECORDING_UNAVAILABLE
    assert "duplicates apart for 5 s" in error.message


def test_stream_uris_are_parsed_and_checked() -> None:
    target = parse_stream_uri("nats://user:secret@a:4222,b:4223/RECORDS")

    assert target.servers == ("nats://user:secret@a:4222", "nats://user:secret@b:4223")
    assert (target.stream, target.subject) == ("RECORDS", "berth.records.RECORDS")
    assert "secret" not in target.uri
    assert parse_stream_uri("nats://127.0.0.1:4222").stream == "BERTH_RECORDS"
    for bad in ("nats:///S", "http://h:1/S", "nats://h:1/a.b"):
        with pytest.raises(BerthError) as refused:
            parse_stream_uri(bad)
        assert refused.value.code is ErrorCode.INVALID_REQUEST


def test_prediction_record_keys_tell_shadows_apart() -> None:
    assert record_key("scoring", "p1", None) == "p:scoring/p1"
    assert record_key("scoring", "p1~churn:2", "p1") == "s:scoring/p1~churn:2"
    # the same caller-chosen id under two names (two teams' models) is two records
    assert record_key("alpha-model", "txn-1", None) != record_key("beta-model", "txn-1", None)
