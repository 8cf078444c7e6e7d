"""Adaptive batching: rows, not requests; no wait when idle; isolation of bad requests."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

from berth.core.errors import BerthError, ErrorCode
from berth.core.tensors import ModelOutput
from berth.runtime.batching import AdaptiveBatcher, BatchingConfig

Array = np.ndarray[Any, Any]


class FakeModel:
    """Doubles its input; a row of -1 makes the whole call fail. Records every call's row count."""

    def __init__(self, delay_s: float = 0.01) -> None:
        self.calls: list[int] = []
        self.delay_s = delay_s

    async def execute(self, arrays: list[Array], outputs: tuple[str, ...]) -> ModelOutput:
        self.calls.append(len(arrays[0]))
        await asyncio.sleep(self.delay_s)
        x = arrays[0]
        if (x == -1).any():
            raise BerthError(ErrorCode.PREDICTION_FAILED, "poison row")
        result = {"double": x * 2, "sum": x.sum(axis=1)}
        return {n: result[n] for n in outputs}


def rows(*values: float, width: int = 2) -> Array:
    return np.array([[v] * width for v in values], dtype=np.float64)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_a_lone_request_goes_straight_through() -> None:
    model = FakeModel(delay_s=0)
    # a budget no machine is slow enough to mistake for going straight through
    batcher = AdaptiveBatcher(model.execute, BatchingConfig(max_batch_size=8, max_latency_ms=20_000))

    async def scenario() -> tuple[ModelOutput, float]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        out = await batcher.submit([rows(1.0)], 1, ["double"])
        return out, loop.time() - start

    out, elapsed = run(scenario())
    np.testing.assert_array_equal(out["double"], rows(2.0))
    assert model.calls == [1]
    assert elapsed < 10.0  # the 20 s latency budget is not spent on an idle version


def test_concurrent_requests_share_batches_counted_in_rows() -> None:
    model = FakeModel()
    batcher = AdaptiveBatcher(model.execute, BatchingConfig(max_batch_size=4))

    async def scenario() -> list[ModelOutput]:
        jobs = [batcher.submit([rows(float(i))], 1, ["double"]) for i in range(9)]
        return list(await asyncio.gather(*jobs))

    results = run(scenario())
    for i, out in enumerate(results):
        np.testing.assert_array_equal(out["double"], rows(2.0 * i))
    assert model.calls == [4, 4, 1]  # all arrived in one tick: batches of at most 4 rows
    assert batcher.stats.requests == 9


def test_each_request_gets_only_its_outputs() -> None:
    model = FakeModel()
    batcher = AdaptiveBatcher(model.execute, BatchingConfig(max_batch_size=16))

    async def scenario() -> list[ModelOutput]:
        blocker = asyncio.ensure_future(batcher.submit([rows(0.0)], 1, ["double"]))
        await asyncio.sleep(0)
        a = batcher.submit([rows(1.0, 2.0)], 2, ["sum"])
        b = batcher.submit([rows(3.0)], 1, ["double", "sum"])
        return [await blocker, *await asyncio.gather(a, b)]

    _, a, b = run(scenario())
    assert set(a) == {"sum"}
    np.testing.assert_array_equal(a["sum"], [2.0, 4.0])
    assert set(b) == {"double", "sum"}
    np.testing.assert_array_equal(b["double"], rows(6.0))
    assert model.calls == [1, 3]


def test_a_large_request_is_not_held_back() -> None:
    model = FakeModel()
    batcher = AdaptiveBatcher(model.execute, BatchingConfig(max_batch_size=4))

    async def scenario() -> ModelOutput:
        return await batcher.submit([rows(*range(10))], 10, ["double"])

    out = run(scenario())
    assert out["double"].shape == (10, 2)
    assert model.calls == [10]


def test_a_bad_request_never_fails_the_others() -> None:
    model = FakeModel()
    batcher = AdaptiveBatcher(model.execute, BatchingConfig(max_batch_size=16))

    async def scenario() -> list[Any]:
        first = asyncio.ensure_future(batcher.submit([rows(0.0)], 1, ["double"]))
        await asyncio.sleep(0)
        jobs = [batcher.submit([rows(v)], 1, ["double"]) for v in (1.0, -1.0, 3.0)]
        return [await first, *await asyncio.gather(*jobs, return_exceptions=True)]

    _, good1, bad, good2 = run(scenario())
    np.testing.assert_array_equal(good1["double"], rows(2.0))
    np.testing.assert_array_equal(good2["double"], rows(6.0))
    assert isinstance(bad, BerthError)
    assert bad.code is ErrorCode.PREDICTION_FAILED


def test_rows_of_other_widths_are_not_merged() -> None:
    model = FakeModel()
    batcher = AdaptiveBatcher(model.execute, BatchingConfig(max_batch_size=16))

    async def scenario() -> list[ModelOutput]:
        first = asyncio.ensure_future(batcher.submit([rows(0.0)], 1, ["sum"]))
        await asyncio.sleep(0)
        narrow = batcher.submit([rows(1.0, width=2)], 1, ["sum"])
        wide = batcher.submit([rows(1.0, width=3)], 1, ["sum"])
        return [await first, *await asyncio.gather(narrow, wide)]

    _, narrow, wide = run(scenario())
    assert narrow["sum"].tolist() == [2.0]
    assert wide["sum"].tolist() == [3.0]
    assert model.calls == [1, 1, 1]


def test_batching_off_runs_every_request_alone() -> None:
    model = FakeModel()
    batcher = AdaptiveBatcher(model.execute, BatchingConfig(enabled=False))

    async def scenario() -> None:
        await asyncio.gather(*(batcher.submit([rows(float(i))], 1, ["double"]) for i in range(5)))

    run(scenario())
    assert model.calls == [1, 1, 1, 1, 1]


def test_a_cancelled_request_is_dropped_from_the_queue() -> None:
    model = FakeModel()
    batcher = AdaptiveBatcher(model.execute, BatchingConfig(max_batch_size=16))

    async def scenario() -> None:
        first = asyncio.ensure_future(batcher.submit([rows(0.0)], 1, ["double"]))
        await asyncio.sleep(0)
        gone = asyncio.ensure_future(batcher.submit([rows(5.0)], 1, ["double"]))
        kept = asyncio.ensure_future(batcher.submit([rows(6.0)], 1, ["double"]))
        await asyncio.sleep(0)
        gone.cancel()
        await asyncio.gather(first, kept)

    run(scenario())
    assert model.calls == [1, 1]


def test_under_load_a_slow_model_waits_for_stragglers() -> None:
    model = FakeModel(delay_s=0.02)  # every call costs 20 ms, whatever its size
    batcher = AdaptiveBatcher(model.execute, BatchingConfig(max_batch_size=64, max_latency_ms=20))

    async def scenario() -> None:
        for _ in range(3):  # load: batches with company, and a measured run time
            first = asyncio.ensure_future(batcher.submit([rows(0.0)], 1, ["double"]))
            await asyncio.sleep(0)
            await asyncio.gather(first, *(batcher.submit([rows(1.0)], 1, ["double"]) for _ in range(3)))
        # a batch now waits up to a quarter of ~20 ms for rows that are about to arrive
        await asyncio.gather(
            batcher.submit([rows(2.0)], 1, ["double"]),
            *(_late(batcher, 0.002) for _ in range(3)),
        )

    run(scenario())
    assert model.calls[-1] == 4  # the stragglers joined the batch instead of trailing it


def test_a_fast_model_under_load_waits_one_timer_tick_not_its_budget() -> None:
    model = FakeModel(delay_s=0)
    batcher = AdaptiveBatcher(model.execute, BatchingConfig(max_batch_size=64, max_latency_ms=20))

    async def scenario() -> float:
        loop = asyncio.get_running_loop()
        for _ in range(3):
            first = asyncio.ensure_future(batcher.submit([rows(0.0)], 1, ["double"]))
            await asyncio.sleep(0)
            await asyncio.gather(first, *(batcher.submit([rows(1.0)], 1, ["double"]) for _ in range(3)))
        start = loop.time()
        await asyncio.gather(*(batcher.submit([rows(2.0)], 1, ["double"]) for _ in range(2)))
        return loop.time() - start

    assert run(scenario()) < 0.01  # no 20 ms budget spent on a model that answers at once


async def _late(batcher: AdaptiveBatcher, delay: float) -> ModelOutput:
    await asyncio.sleep(delay)
    return await batcher.submit([rows(3.0)], 1, ["double"])


@pytest.mark.parametrize("bad", [{"max_batch_size": 0}, {"max_latency_ms": -1}, {"unknown": 1}])
def test_invalid_batching_settings_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(BerthError):
        BatchingConfig().updated(bad)
