"""The canary controller: raises a healthy canary step by step and rolls a bad one back.

Every server runs one. Each second it looks at every endpoint with a canary and compares the
canary's answers since its step began with the stable targets' answers over the same seconds:

- roll back when the canary has answered at least ``min_requests`` times and its error rate is more
  than ``max_error_rate_increase`` above the stable targets', or its p95 latency is more than
  ``max_latency_ratio`` times theirs (when they answered at least ``min_requests`` too);
- else, after ``interval_s`` seconds and ``min_requests`` answers, move to the next step, and after
  the last step promote the canary (it becomes the only target).

Errors are every failed request after its variant was chosen (bad input fails on both sides alike,
so the comparison is fair). Decisions are written through `EndpointService` with the revision the
server routes by: when several replicas decide at once, one write wins and the others get CONFLICT
and drop theirs (statistics are per replica; each replica judges its own share of the traffic).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Final

from berth.control.endpoints import EndpointService
from berth.core.endpoints import CanaryPolicy, Endpoint
from berth.core.errors import BerthError, ErrorCode
from berth.runtime.compiled_endpoints import EndpointRoute
from berth.runtime.routing import RoutingTable
from berth.runtime.variant_stats import StatsSummary, TrafficStats

log = logging.getLogger(__name__)

ACTOR: Final = "berth-canary"


@dataclass(frozen=True, slots=True)
class Verdict:
    action: str  # "wait", "advance" or "rollback"
    reason: str


def judge(canary: CanaryPolicy, mine: StatsSummary, stable: StatsSummary, elapsed_s: float) -> Verdict:
    """What to do with a canary, from its statistics and the stable targets' over the same seconds."""
    if mine.requests >= canary.min_requests and mine.requests:
        mine_rate = mine.errors / mine.requests
        stable_rate = stable.errors / stable.requests if stable.requests else 0.0
        if mine_rate - stable_rate > canary.max_error_rate_increase:
            return Verdict(
                "rollback",
                f"error rate {mine_rate:.1%} vs {stable_rate:.1%} on the stable targets "
                f"(allowed +{canary.max_error_rate_increase:.1%}) over {mine.requests} requests",
            )
        if (
            stable.requests >= canary.min_requests
            and mine.p95_s is not None
            and stable.p95_s is not None
            and mine.p95_s > canary.max_latency_ratio * stable.p95_s
        ):
            return Verdict(
                "rollback",
                f"p95 latency {mine.p95_s * 1000:.2f} ms vs {stable.p95_s * 1000:.2f} ms on the stable "
                f"targets (allowed x{canary.max_latency_ratio:g})",
            )
    if elapsed_s >= canary.interval_s and mine.requests >= canary.min_requests:
        target = "promote" if canary.last_step else f"{canary.steps[canary.step + 1]:g}%"
        return Verdict(
            "advance",
            f"healthy at {canary.weight:g}% for {elapsed_s:.0f} s over {mine.requests} requests: {target}",
        )
    return Verdict("wait", "")


class CanaryController:
    def __init__(
        self,
        service: EndpointService,
        stats: TrafficStats,
        table: Callable[[], RoutingTable],
        io_executor: Executor,
        *,
        interval_s: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._service = service
        self._stats = stats
        self._table = table
        self._io = io_executor
        self._interval_s = interval_s
        self._clock = clock
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="berth-canary")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await self.tick()
            except Exception:
                log.exception("canary check failed; retrying")

    async def tick(self) -> list[tuple[str, Verdict]]:
        """Judge every canary once; returns what was decided (for tests and logs)."""
        decided: list[tuple[str, Verdict]] = []
        routes = list(self._table().endpoints.values())
        self._stats.prune(
            {(r.name, v.label) for r in routes if r.split is not None for v in r.split.variants()}
        )
        for route in routes:
            verdict = self._judge(route)
            if verdict is None or verdict.action == "wait":
                continue
            if await self._apply(route.endpoint, verdict):
                decided.append((route.name, verdict))
        return decided

    def _judge(self, route: EndpointRoute) -> Verdict | None:
        canary = route.endpoint.spec.canary
        split = route.split
        if canary is None or split is None or split.canary is None or canary.step_started_at is None:
            return None
        start = canary.step_started_at.timestamp()
        mine = self._stats.since(route.name, [split.canary.label], start)
        stable = self._stats.since(route.name, [v.label for v in split.stable], start)
        return judge(canary, mine, stable, self._clock() - start)

    async def _apply(self, endpoint: Endpoint, verdict: Verdict) -> bool:
        def write() -> None:
            if verdict.action == "rollback":
                self._service.abort_canary(
                    endpoint.name,
                    expected=endpoint,
                    actor=ACTOR,
                    reason=f"automatic rollback: {verdict.reason}",
                )
            else:
                self._service.advance_canary(endpoint, actor=ACTOR, reason=verdict.reason)

        try:
            await asyncio.get_running_loop().run_in_executor(self._io, write)
        except BerthError as exc:
            if exc.code in (ErrorCode.CONFLICT, ErrorCode.ENDPOINT_NOT_FOUND):
                return False  # another replica (or a person) changed it first
            raise
        log.warning("endpoint %s canary: %s (%s)", endpoint.name, verdict.action, verdict.reason)
        return True
