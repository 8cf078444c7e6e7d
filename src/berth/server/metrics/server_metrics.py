"""The metrics of one server: its families, a request counter per protocol, the sampled gauges,
the hooks the runtime and the shadow runner call, and the scrape.

Built by the composition root (`berth.wiring.server.build_server`); with metrics off
(``BERTH_METRICS=false``) the request counters and hooks do nothing and ``/metrics`` is not served.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Final

from berth.core.entities import Version
from berth.server.metrics.exposition import exposition, multiprocess_dir, worker_exited
from berth.server.metrics.families import MetricFamilies
from berth.server.metrics.process import ProcessSeries
from berth.server.metrics.requests import NoRequestMetrics, RequestCounter, RequestMetrics
from berth.server.metrics.sampled import Gauges

log = logging.getLogger(__name__)

PROTOCOLS: Final = ("rest", "grpc", "v1")
"""The ``protocol`` label: OIP V2 over REST, OIP V2 over gRPC, TF-Serving/MLflow JSON (/v1)."""
SAMPLE_INTERVAL_S: Final = 1.0
"""How often each worker refreshes its sampled gauges when several workers share the metrics."""

BatchObserver = Callable[[int], None]


class ServerMetrics:
    def __init__(self, *, enabled: bool = True, shared_dir: str | None = None) -> None:
        self.enabled = enabled
        self.shared_dir = shared_dir if enabled else None
        """The folder of the run's metric files when several workers share them (multiprocess mode)."""
        self.families = MetricFamilies()
        self.gauges = Gauges(self.families)
        self.process = (
            ProcessSeries(self.families.registry, shared=self.shared_dir is not None) if enabled else None
        )
        """Memory, CPU and open files of this process (per worker with several)."""
        counting = {p: RequestMetrics(self.families, p) for p in PROTOCOLS} if enabled else {}
        self._counters: dict[str, RequestCounter] = {
            p: counting.get(p) or NoRequestMetrics() for p in PROTOCOLS
        }
        self.gauges.inflight.watch(lambda: {(p,): c.inflight for p, c in counting.items()})
        self._counting = counting
        self._sampler: asyncio.Task[None] | None = None
        self._served: Mapping[str, str] | None = None
        """What this worker serves (None until its first routing table): with several workers, a
        scrape shows only series of these names, whatever other workers' files still hold."""

    @classmethod
    def from_environment(cls, *, enabled: bool) -> ServerMetrics:
        """Metrics of this process: shared with the other workers when the runner set up a folder."""
        return cls(enabled=enabled, shared_dir=multiprocess_dir())

    def requests(self, protocol: str) -> RequestCounter:
        """The request counter of `protocol` (one of `PROTOCOLS`)."""
        return self._counters[protocol]

    def batch_observer(self, version: Version) -> BatchObserver | None:
        """What a version's batcher calls with the rows of each predict call (None: metrics off)."""
        if not self.enabled:
            return None
        return self.families.batch_size.labels(version.model, str(version.number)).observe

    @property
    def features(self) -> FeatureMetrics | None:
        """What the online feature look-ups report to (None: metrics off)."""
        return FeatureMetrics(self.families) if self.enabled else None

    def shadow_dropped(self, endpoint: str, variant: str) -> None:
        if self.enabled:
            self.families.shadow_dropped.labels(endpoint, variant).inc()

    def monitor_restarted(self, ended_by: str) -> None:
        """Count a restart of a monitor process that died; `ended_by`: "signal" or "exit"."""
        if self.enabled:
            self.families.monitor_restarts.labels(ended_by).inc()

    def names_served(self, names: Mapping[str, str]) -> None:
        """The endpoints and models this worker serves now, each name with its identity (the
        reconciler calls it after every change): every series of a name that went away, or came
        back as another thing of that name, is removed, in every family."""
        before, self._served = self._served, names
        if not self.enabled or before is None:
            return
        gone = frozenset(name for name, identity in before.items() if names.get(name) != identity)
        if not gone:
            return
        for counter in self._counting.values():
            counter.forget(gone)
        removed = self.families.forget(gone, shared=self.shared_dir is not None)
        log.info("metrics: removed %d series of %d deleted names", removed, len(gone))

    def scrape(self) -> bytes:
        """The Prometheus text format of this server (every worker's, with several)."""
        self._sample()
        served = None if self._served is None else frozenset(self._served)
        return exposition(self.families.registry, self.shared_dir, served=served)

    def _sample(self) -> None:
        self.gauges.sample()
        if self.process is not None:
            self.process.sample()

    async def start(self) -> None:
        if self.shared_dir is not None and self._sampler is None:
            self._sample()  # this worker's series are in the files before it answers a scrape
            self._sampler = asyncio.create_task(self._sample_forever(), name="berth-metrics-sampler")

    async def stop(self) -> None:
        sampler, self._sampler = self._sampler, None
        if sampler is not None:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler
        worker_exited(self.shared_dir)

    async def _sample_forever(self) -> None:
        while True:
            self._sample()
            await asyncio.sleep(SAMPLE_INTERVAL_S)


class FeatureMetrics:
    """`berth.runtime.features.FeatureObserver` on the server's metric families."""

    def __init__(self, families: MetricFamilies) -> None:
        self._families = families

    def rows(self, view: str, outcome: str, count: int) -> None:
        self._families.feature_rows.labels(view, outcome).inc(count)

    def read(self, store: str, seconds: float, ok: bool) -> None:
        self._families.feature_reads.labels(store, "true" if ok else "false").observe(seconds)
