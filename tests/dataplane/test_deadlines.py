"""Deadlines shared per time slot: late waits are cancelled, finished or failed ones never are."""

from __future__ import annotations

import asyncio

import pytest

from berth.dataplane.deadlines import Deadlines


async def _watched(deadlines: Deadlines, wait: float, fail: bool = False) -> str:
    task = asyncio.current_task()
    assert task is not None
    slot = deadlines.enter(task)
    try:
        await asyncio.sleep(wait)
        if fail:
            raise ValueError("the model failed")
    except asyncio.CancelledError:
        if deadlines.leave(task, slot):
            return "timed out"
        raise
    except BaseException:
        deadlines.leave(task, slot)
        raise
    deadlines.leave(task, slot)
    await asyncio.sleep(0.3)  # well past the slot's timer: nothing may cancel it now
    return "answered"


def test_a_late_wait_times_out_and_the_others_are_left_alone() -> None:
    async def scenario() -> list[object]:
        deadlines = Deadlines(0.1)
        return await asyncio.gather(
            _watched(deadlines, 0.5),
            _watched(deadlines, 0.0),
            _watched(deadlines, 0.01, fail=True),
            _watched(deadlines, 0.5),
            return_exceptions=True,
        )

    results = asyncio.run(scenario())
    assert results[0] == results[3] == "timed out"
    assert results[1] == "answered"
    assert isinstance(results[2], ValueError)


def test_a_cancellation_that_is_not_a_deadline_stays_a_cancellation() -> None:
    async def scenario() -> None:
        deadlines = Deadlines(10.0)
        task = asyncio.create_task(_watched(deadlines, 5.0))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
