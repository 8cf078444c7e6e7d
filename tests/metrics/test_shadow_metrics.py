"""Shadow copies dropped on a full queue, and copies waiting, as a scrape shows them."""

from __future__ import annotations

import asyncio

import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from berth.core.tensors import Tensor
from berth.dataplane.shadows import ShadowCall, ShadowRunner
from berth.runtime.variant_stats import TrafficStats
from berth.server.metrics.server_metrics import ServerMetrics


def samples(metrics: ServerMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.scrape().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def fill_and_drain() -> tuple[dict[tuple[str, tuple[tuple[str, str], ...]], float], ...]:
    metrics = ServerMetrics()
    runner = ShadowRunner(TrafficStats(), queue_size=2, workers=1, dropped=metrics.shadow_dropped)
    metrics.gauges.shadow_queue_depth.watch(lambda: {k: n for k, n in runner.queue_depths().items()})
    release = asyncio.Event()
    primary = [Tensor("y", "INT64", (1,), np.array([1]))]

    async def answer() -> list[Tensor]:
        await release.wait()
        return primary

    try:
        runner.submit(ShadowCall("ep", "m:2", answer, primary))
        await asyncio.sleep(0)  # the one worker takes the first copy and waits on it
        for _ in range(4):
            runner.submit(ShadowCall("ep", "m:2", answer, primary))  # 2 wait, 2 are dropped
        full = samples(metrics)
        release.set()
        await runner.drain()
        return full, samples(metrics)
    finally:
        await runner.close()


def test_shadow_queue_depth_and_drops() -> None:
    full, drained = asyncio.run(fill_and_drain())
    labels = (("endpoint", "ep"), ("variant", "m:2"))
    assert full["berth_shadow_queue_depth", labels] == 2
    assert full["berth_shadow_dropped_total", labels] == 2
    assert drained["berth_shadow_queue_depth", labels] == 0
    assert drained["berth_shadow_dropped_total", labels] == 2
