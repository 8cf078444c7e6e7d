"""The recorder alone: group commit, durability modes, sampling, the record's encoding."""

from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path

import numpy as np
import pytest

from berth.core.errors import BerthError
from berth.core.tensors import InferenceRequest, Tensor
from berth.dataplane.recording import (
    Pending,
    Recorder,
    committed,
    first_rows,
    first_served,
    prediction_identity,
    tensors_json,
)
from berth.storage.journal import JournalWriter, decode_record, read_lines, segments


def pending(pid: str, endpoint: str = "churn") -> Pending:
    x = Tensor("x", "FP64", (1, 3), np.array([[1.0, math.nan, 3.0]]))
    y = Tensor("label", "INT64", (1,), np.array([7]))
    return Pending(
        prediction_id=pid,
        at=time.time(),
        endpoint=endpoint,
        model="churn",
        version=2,
        variant="churn@production",
        inputs=[x],
        model_inputs=None,
        outputs=[y],
        latency_s=0.01,
        entity_key="c1",
        shadow_of=None,
    )


def journal_ids(folder: Path) -> list[str]:
    return [
        decode_record(p).prediction_id
        for s in segments(folder)
        for p, _ in read_lines(s, 0, writer_gone=True).payloads
    ]


def test_concurrent_records_share_one_commit_and_read_back(tmp_path: Path) -> None:
    async def scenario() -> list[asyncio.Future[None] | None]:
        recorder = Recorder(JournalWriter(tmp_path), durability="journal")
        await recorder.start()
        futures = [recorder.record(pending(f"p{i}")) for i in range(50)]
        await asyncio.gather(*(committed(f) for f in futures))
        await recorder.close()
        return futures

    futures = asyncio.run(scenario())

    assert len({id(f) for f in futures}) == 1  # one batch, one commit
    assert journal_ids(tmp_path) == [f"p{i}" for i in range(50)]
    record = decode_record(read_lines(segments(tmp_path)[0], 0, writer_gone=True).payloads[0][0])
    assert record.inputs == {"x": {"datatype": "FP64", "shape": [1, 3], "data": [1.0, "NaN", 3.0]}}
    assert record.outputs == {"label": {"datatype": "INT64", "shape": [1], "data": [7]}}
    assert (record.variant, record.version, record.entity_key) == ("churn@production", 2, "c1")


@pytest.mark.parametrize(("durability", "waits"), [("journal", True), ("fsync", True), ("none", False)])
def test_durability_decides_whether_a_caller_waits(tmp_path: Path, durability: str, waits: bool) -> None:
    async def scenario() -> bool:
        recorder = Recorder(JournalWriter(tmp_path), durability=durability)
        await recorder.start()
        future = recorder.record(pending("p1"))
        await recorder.close()
        return future is not None

    assert asyncio.run(scenario()) is waits
    assert journal_ids(tmp_path) == ["p1"]  # written either way, by close at the latest


def test_an_idle_journal_is_not_synced_and_a_written_one_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = JournalWriter(tmp_path)
    syncs: list[bool] = []
    real_sync = writer.sync

    async def scenario() -> int:
        loop = asyncio.get_running_loop()
        synced = asyncio.Event()

        def counted_sync() -> bool:
            syncs.append(real_sync())
            loop.call_soon_threadsafe(synced.set)
            return syncs[-1]

        monkeypatch.setattr(writer, "sync", counted_sync)
        recorder = Recorder(writer, durability="journal", sync_interval_s=0.01)
        await recorder.start()
        await asyncio.sleep(0.3)  # thirty sync intervals with nothing written
        idle = len(syncs)
        await committed(recorder.record(pending("p1")))
        await asyncio.wait_for(synced.wait(), 60)
        await recorder.close()
        return idle

    assert asyncio.run(scenario()) == 0
    assert True in syncs  # the record's segment was fsynced by the background sync


def test_a_cancelled_caller_does_not_cancel_its_batch(tmp_path: Path) -> None:
    async def scenario() -> None:
        # "fsync" writes on the writer thread, so the batch is still being committed when the
        # caller is cancelled ("journal" writes on the loop: its batch may be done before)
        recorder = Recorder(JournalWriter(tmp_path), durability="fsync")
        await recorder.start()
        shared = recorder.record(pending("a"))
        recorder.record(pending("b"))
        waiter = asyncio.create_task(committed(shared))
        await asyncio.sleep(0)
        waiter.cancel()
        await committed(shared)  # the other caller of the batch still gets its commit
        assert shared is not None
        assert not shared.cancelled()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        await recorder.close()

    asyncio.run(scenario())
    assert journal_ids(tmp_path) == ["a", "b"]


def test_sampling_by_id_with_a_per_endpoint_share(tmp_path: Path) -> None:
    recorder = Recorder(JournalWriter(tmp_path), sampling=0.25, endpoint_sampling={"all": 1.0, "none": 0.0})
    ids = [f"id-{i}" for i in range(4000)]

    kept = [pid for pid in ids if recorder.sampled(pid, "churn")]

    assert 800 < len(kept) < 1200
    assert kept == [pid for pid in ids if recorder.sampled(pid, "churn")]  # the same id: the same answer
    assert all(recorder.sampled(pid, "all") for pid in ids)
    assert not any(recorder.sampled(pid, "none") for pid in ids)


def test_prediction_identity() -> None:
    given = InferenceRequest(inputs=[], id="abc", parameters={"entity_key": "k1"})
    assert prediction_identity(given, None) == ("abc", "k1")
    assert prediction_identity(given, lambda name: "k2" if name == "berth-entity-key" else None) == (
        "abc",
        "k2",
    )
    generated, entity = prediction_identity(InferenceRequest(inputs=[]), None)
    assert len(generated) == 32
    assert entity is None
    for bad in (
        InferenceRequest(inputs=[], id="x" * 129),
        InferenceRequest(inputs=[], parameters={"entity_key": "k" * 257}),
        InferenceRequest(inputs=[], parameters={"entity_key": ["k"]}),
        InferenceRequest(inputs=[], parameters={"entity_key": "a\x00b"}),
    ):
        with pytest.raises(BerthError):
            prediction_identity(bad, None)


def test_a_cut_record_keeps_the_first_rows_and_says_how_many_there_were() -> None:
    long = Tensor("x", "FP32", (5, 2), np.arange(10, dtype=np.float32).reshape(5, 2))
    short = Tensor("y", "INT64", (2,), np.array([1, 2]))
    scalar = Tensor("z", "FP64", (), np.array(1.5))

    assert first_rows([short, scalar], 3) == [short, scalar]
    cut = tensors_json(first_rows([long, short, scalar], 3))

    assert cut["x"] == {
        "datatype": "FP32",
        "shape": [3, 2],
        "data": [0, 1, 2, 3, 4, 5],
        "parameters": {"rows": 5},
    }
    assert cut["y"] == {"datatype": "INT64", "shape": [2], "data": [1, 2]}
    assert "parameters" not in cut["z"]


def test_a_cut_record_keeps_what_the_features_steps_read_of_its_first_rows() -> None:
    served = [
        {
            "view": "profile",
            "read_at": 5.0,
            "keys": ["a", "b", None, "d"],
            "outcomes": ["hit", "miss", None, "stale"],
            "written_at": [1.0, None, None, 0.5],
        },
        {"view": "small", "read_at": 5.5, "keys": ["a"], "outcomes": ["hit"], "written_at": [2.0]},
    ]

    assert first_served(served, 4) is served
    assert first_served(served, 2) == [
        {
            "view": "profile",
            "read_at": 5.0,
            "keys": ["a", "b"],
            "outcomes": ["hit", "miss"],
            "written_at": [1.0, None],
        },
        served[1],
    ]
