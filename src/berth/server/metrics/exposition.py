"""The text a scrape of ``/metrics`` answers, with one worker or several.

With several workers (``--workers N``), berth uses prometheus-client's multiprocess mode: the
parent process makes an empty folder for the run and names it in ``PROMETHEUS_MULTIPROC_DIR``
before it starts the workers; each worker writes its values to its own files there, and a scrape,
whichever worker answers it, adds up the files of all of them. Counters and histograms are sums
over every worker of the run (a worker that exits keeps its counts); gauges are summed over the
live workers (the record writer's lag: their maximum); the process series (memory, CPU, open files)
are each live worker's own, labelled with its ``pid`` (`berth.server.metrics.process`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Final

from prometheus_client import CollectorRegistry, generate_latest, multiprocess
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from berth.server.metrics.process import as_counters

MULTIPROCESS_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir() -> str | None:
    """The folder of this run's metric files, when several workers share them."""
    return os.environ.get(MULTIPROCESS_ENV) or os.environ.get(MULTIPROCESS_ENV.lower()) or None


def exposition(
    registry: CollectorRegistry, shared_dir: str | None, *, served: frozenset[str] | None = None
) -> bytes:
    """The Prometheus text format of `registry` (one worker), or of every worker's files with only
    the series whose endpoint and model labels name something in `served` (or are empty): a deleted
    name's series may live on in the files of another worker, or of one that exited or was
    restarted, which nobody rewrites. `served` None (nothing reconciled yet) keeps every series."""
    if shared_dir is None:
        return generate_latest(registry)
    combined = CollectorRegistry()
    collector = _ProcessCounters(multiprocess.MultiProcessCollector(None, path=shared_dir))  # type: ignore[no-untyped-call]
    combined.register(collector if served is None else _Served(collector, served))
    return generate_latest(combined)


class _ProcessCounters(Collector):
    """`inner`'s metrics, with the workers' CPU seconds typed as the counter they are."""

    def __init__(self, inner: Collector) -> None:
        self._inner = inner

    def collect(self) -> Iterable[Metric]:
        return as_counters(self._inner.collect())


class _Served(Collector):
    """`inner`'s metrics without the samples labelled with an endpoint or model not served now."""

    def __init__(self, inner: Collector, served: frozenset[str]) -> None:
        self._inner = inner
        self._served = served

    def collect(self) -> Iterable[Metric]:
        for metric in self._inner.collect():
            metric.samples = [s for s in metric.samples if _served(s.labels, self._served)]
            yield metric


def _served(labels: dict[str, str], served: frozenset[str]) -> bool:
    return all(labels.get(name, "") in served or not labels.get(name) for name in ("endpoint", "model"))


def worker_exited(shared_dir: str | None) -> None:
    """Drop this worker's live gauges from the sums (its counters stay)."""
    if shared_dir is not None:
        multiprocess.mark_process_dead(os.getpid(), shared_dir)  # type: ignore[no-untyped-call]
