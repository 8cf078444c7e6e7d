"""The process collector's series (memory, CPU, open files, start time), per worker.

Every Prometheus dashboard and alert starts from ``process_resident_memory_bytes``,
``process_cpu_seconds_total``, ``process_open_fds`` (against ``process_max_fds``),
``process_virtual_memory_bytes`` and ``process_start_time_seconds``; prometheus-client's
`ProcessCollector` reads them from ``/proc`` (Linux; elsewhere it yields nothing).

With one worker the collector is registered as it is: the standard series, unlabelled. With
several (multiprocess mode, `berth.server.metrics.exposition`) a collector would only describe
the worker that answers the scrape, so each worker copies its own readings, every second and
before a scrape, into gauges of the same names in ``liveall`` mode: the files of the run then
hold every live worker's values, and a scrape shows one series per worker, labelled with its
``pid`` (a worker that exits is dropped with its live gauges). ``process_cpu_seconds_total`` is
exposed as the counter it is (`as_counters`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from prometheus_client import CollectorRegistry, Gauge, ProcessCollector
from prometheus_client.metrics_core import Metric

SERIES: Final = {
    "process_virtual_memory_bytes": "Virtual memory size in bytes.",
    "process_resident_memory_bytes": "Resident memory size in bytes.",
    "process_start_time_seconds": "Start time of the process since unix epoch in seconds.",
    "process_cpu_seconds_total": "Total user and system CPU time spent in seconds.",
    "process_open_fds": "Number of open file descriptors.",
    "process_max_fds": "Maximum number of open file descriptors.",
}
"""The process collector's samples, by name (those it reads on this platform)."""
COUNTERS: Final = {"process_cpu_seconds_total": "process_cpu_seconds"}
"""The samples that are counters: sample name -> family name."""


class ProcessSeries:
    """This process's series in `registry`: the collector itself (one worker), or per-worker gauges."""

    def __init__(self, registry: CollectorRegistry, *, shared: bool) -> None:
        self._collector = ProcessCollector(registry=None)
        self._gauges: dict[str, Gauge] = {}
        if not shared:
            registry.register(self._collector)
            return
        for name, documentation in SERIES.items():
            self._gauges[name] = Gauge(name, documentation, multiprocess_mode="liveall", registry=registry)

    def sample(self) -> None:
        """Copy this worker's readings into the run's files (several workers; else nothing to do)."""
        if not self._gauges:
            return
        for metric in self._collector.collect():
            for sample in metric.samples:
                gauge = self._gauges.get(sample.name)
                if gauge is not None:
                    gauge.set(sample.value)


def as_counters(metrics: Iterable[Metric]) -> Iterable[Metric]:
    """`metrics`, with the per-worker copies of counters (gauges in the files) typed as counters again."""
    for metric in metrics:
        family = COUNTERS.get(metric.name)
        if family is None or metric.type != "gauge":
            yield metric
            continue
        counter = Metric(family, metric.documentation, "counter")
        counter.samples = [s._replace(name=f"{family}_total") for s in metric.samples]
        yield counter
