"""The usage meter: counts per caller in memory, flushed additively; bounded; never fails a call."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from berth.core.access import Principal
from berth.core.consumers import UsageCount
from berth.core.errors import BerthError, ErrorCode
from berth.dataplane.served import Served
from berth.server.usage_meter import UsageMeter
from berth.storage.sql_consumers import SqlConsumerStore
from berth.storage.sql_registry import SqlRegistryStore
from tests.storage.builders import new_version

BOB = Principal("bob")
CAROL = Principal("carol")


def _served(version: str = "1", endpoint: str = "churn") -> Served:
    served = Served()
    served.endpoint, served.model, served.version = endpoint, "churn", version
    return served


class Sink:
    """A store that records what it is given, and fails while `down`."""

    def __init__(self) -> None:
        self.batches: list[list[UsageCount]] = []
        self.down = False

    def add_usage(self, counts: Sequence[UsageCount]) -> None:
        if self.down:
            raise BerthError(ErrorCode.UNAVAILABLE, "database away")
        self.batches.append(list(counts))

    def calls(self) -> dict[tuple[str, int], int]:
        found: dict[tuple[str, int], int] = {}
        for batch in self.batches:
            for c in batch:
                found[c.principal, c.version] = found.get((c.principal, c.version), 0) + c.calls
        return found


@pytest.fixture
def executor() -> ThreadPoolExecutor:
    with ThreadPoolExecutor(2) as pool:
        yield pool


def test_counts_are_flushed_once_with_their_team(executor: ThreadPoolExecutor) -> None:
    sink = Sink()
    teams = {"bob": "growth", "carol": "risk"}
    meter = UsageMeter(sink.add_usage, executor, team_of=lambda p, name: teams[p.name], clock=lambda: 1.8e9)

    async def run() -> None:
        for _ in range(3):
            meter.count(BOB, _served())
        meter.count(BOB, _served(), "invalid_tensor")
        meter.count(CAROL, _served("2"))
        meter.count(CAROL, _served("2"), "client_closed")  # the caller went away: not a call
        meter.count(CAROL, Served())  # refused before a model answered: not counted
        meter.count(CAROL, None)
        assert await meter.flush() == 5
        assert await meter.flush() == 0

    asyncio.run(run())
    (batch,) = sink.batches
    rows = {(c.principal, c.team, c.version): (c.calls, c.errors, c.day) for c in batch}
    assert rows == {("bob", "growth", 1): (4, 1, "2027-01-15"), ("carol", "risk", 2): (1, 0, "2027-01-15")}


def test_a_failed_flush_keeps_the_counts_for_the_next_and_the_call_never_sees_it(
    executor: ThreadPoolExecutor,
) -> None:
    sink = Sink()
    meter = UsageMeter(sink.add_usage, executor)

    async def run() -> None:
        sink.down = True
        meter.count(BOB, _served())
        assert await meter.flush() == 0
        meter.count(BOB, _served())  # counting goes on while the database is away
        assert meter.pending == 2
        sink.down = False
        assert await meter.flush() == 2

    asyncio.run(run())
    assert sink.calls() == {("bob", 1): 2}


def test_memory_is_bounded_while_the_database_is_away(executor: ThreadPoolExecutor) -> None:
    sink = Sink()
    sink.down = True
    meter = UsageMeter(sink.add_usage, executor, max_keys=3)

    async def run() -> None:
        for n in range(10):
            meter.count(Principal(f"p{n}"), _served())
            await meter.flush()
        meter.count(Principal("p0"), _served())  # a key kept is still counted
        await meter.flush()

    asyncio.run(run())
    assert meter.pending == 4  # p0 twice, p1, p2
    assert meter.dropped == 7


def test_stop_flushes_what_is_left(executor: ThreadPoolExecutor) -> None:
    sink = Sink()
    meter = UsageMeter(sink.add_usage, executor, flush_s=3600)

    async def run() -> None:
        await meter.start()
        meter.count(BOB, _served())
        await meter.stop()

    asyncio.run(run())
    assert sink.calls() == {("bob", 1): 1}


def test_the_background_task_flushes_on_its_own(executor: ThreadPoolExecutor) -> None:
    sink = Sink()
    meter = UsageMeter(sink.add_usage, executor, flush_s=0.01)

    async def run() -> None:
        await meter.start()
        meter.count(BOB, _served())
        while not sink.batches:  # the event: a flush arrived
            await asyncio.sleep(0.01)
        await meter.stop()

    asyncio.run(run())
    assert sink.calls() == {("bob", 1): 1}


def test_concurrent_requests_and_several_processes_add_up_in_the_database(
    tmp_path: Path, executor: ThreadPoolExecutor
) -> None:
    """Three meters (three worker processes or replicas) count concurrent requests and flush while
    they come in: the database holds every call."""
    registry = SqlRegistryStore(f"sqlite:///{tmp_path / 'berth.db'}")
    try:
        registry.create_model("churn", team="risk")
        registry.create_version("churn", new_version(), team="risk")
        store = SqlConsumerStore(registry.engine)
        meters = [UsageMeter(store.add_usage, executor) for _ in range(3)]

        async def caller(meter: UsageMeter, n: int) -> None:
            for i in range(200):
                meter.count(BOB if i % 2 else CAROL, _served())
                if i % 50 == n % 50:
                    await meter.flush()
                await asyncio.sleep(0)

        async def run() -> None:
            await asyncio.gather(*(caller(m, n) for m in meters for n in range(5)))
            for meter in meters:
                await meter.flush()

        asyncio.run(run())
        found = {c.principal: c.calls for c in store.consumers("model", "churn")}
        assert found == {"bob": 1500, "carol": 1500}
    finally:
        registry.close()
