"""The server's own readings for the sampled gauges: the model pool, its batchers, the shadow queues."""

from __future__ import annotations

from berth.dataplane.shadows import ShadowRunner
from berth.runtime.pool import ModelPool
from berth.server.metrics.sampled import Gauges


def watch_serving(gauges: Gauges, pool: ModelPool, shadows: ShadowRunner) -> None:
    gauges.models_loaded.watch(lambda: len(pool.loaded_keys()))
    gauges.pool_versions.watch(lambda: {(state.value,): n for state, n in pool.state_counts().items()})
    gauges.batch_queue_depth.watch(
        lambda: {(model, str(number)): n for (model, number), n in pool.queued_requests().items()}
    )
    gauges.shadow_queue_depth.watch(lambda: {key: n for key, n in shadows.queue_depths().items()})
