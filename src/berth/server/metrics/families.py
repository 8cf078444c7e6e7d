"""Every metric a berth server exposes, built once per server in its own registry (no globals).

Label values are bounded: names the registry serves (endpoints, models, versions, variants),
protocols, error codes and load states; never a request id, a prediction id or an entity key.
In multiprocess mode (several workers, `berth.server.metrics.exposition`) values live in files
that any worker's scrape adds up; gauges then sum over the live workers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

REQUEST_LABELS: Final = ("endpoint", "model", "version", "variant", "protocol")
NAME_LABELS: Final = frozenset({"endpoint", "model"})
"""The labels that hold a name of the registry (an endpoint or a model): their series go with it."""
LATENCY_BUCKETS: Final = (
    0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
"""Seconds: from a fast model's answer (0.2 ms) to the slowest worth telling apart (10 s)."""
BATCH_BUCKETS: Final = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
"""Rows per predict call."""


class MetricFamilies:
    """The metric families of one server, registered in `registry`."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "berth_requests",
            "Inference requests, by what answered them and the outcome (code: ok or the error code).",
            [*REQUEST_LABELS, "code"],
            registry=r,
        )
        self.request_duration = Histogram(
            "berth_request_duration_seconds",
            "Time from a request's arrival at the transport to its answer (errors included).",
            REQUEST_LABELS,
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.inflight = Gauge(
            "berth_inflight_requests",
            "Inference requests being answered now.",
            ["protocol"],
            multiprocess_mode="livesum",
            registry=r,
        )
        self.batch_size = Histogram(
            "berth_batch_size",
            "Rows per predict call of a version (a batch of requests, or one request).",
            ["model", "version"],
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.batch_queue_depth = Gauge(
            "berth_batch_queue_depth",
            "Requests waiting for the next batch of a loaded version.",
            ["model", "version"],
            multiprocess_mode="livesum",
            registry=r,
        )
        self.models_loaded = Gauge(
            "berth_models_loaded",
            "Versions loaded in memory (with several workers: the sum of their copies).",
            multiprocess_mode="livesum",
            registry=r,
        )
        self.pool_versions = Gauge(
            "berth_model_pool_versions",
            "Versions in the model pool by state: ready, loading, failed.",
            ["state"],
            multiprocess_mode="livesum",
            registry=r,
        )
        self.shadow_queue_depth = Gauge(
            "berth_shadow_queue_depth",
            "Request copies waiting for a shadow variant.",
            ["endpoint", "variant"],
            multiprocess_mode="livesum",
            registry=r,
        )
        self.feature_rows = Counter(
            "berth_feature_rows",
            "Rows looked up in feature views, by view and outcome (hit, miss, stale, unavailable).",
            ["view", "outcome"],
            registry=r,
        )
        self.feature_reads = Histogram(
            "berth_feature_read_seconds",
            "One read of a feature store for a request (every view and key on it), by store and outcome.",
            ["store", "ok"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.shadow_dropped = Counter(
            "berth_shadow_dropped",
            "Request copies a shadow variant did not get because its queue was full.",
            ["endpoint", "variant"],
            registry=r,
        )
        self.record_queue_depth = Gauge(
            "berth_record_queue_depth",
            "Prediction records waiting for the record writer.",
            multiprocess_mode="livesum",
            registry=r,
        )
        self.record_writer_lag = Gauge(
            "berth_record_writer_lag_seconds",
            "Age of the oldest prediction record not yet written to the database (read from the journal).",
            multiprocess_mode="livemax",
            registry=r,
        )
        self.record_journal_bytes = Gauge(
            "berth_record_journal_bytes_behind",
            "Bytes of the prediction journal not yet written to the database (read from the journal).",
            multiprocess_mode="livemax",
            registry=r,
        )
        self.monitor_restarts = Counter(
            "berth_monitor_restarts",
            "Restarts of a monitor process (journal ingester and alert rules) that died, by how it "
            "ended: signal (killed) or exit (it exited by itself).",
            ["ended_by"],
            registry=r,
        )
        self.named: tuple[tuple[MetricWrapperBase, tuple[str, ...]], ...] = (
            (self.requests, (*REQUEST_LABELS, "code")),
            (self.request_duration, REQUEST_LABELS),
            (self.batch_size, ("model", "version")),
            (self.batch_queue_depth, ("model", "version")),
            (self.shadow_queue_depth, ("endpoint", "variant")),
            (self.shadow_dropped, ("endpoint", "variant")),
        )
        """Every family with a name label, with its label names in order."""

    def forget(self, names: frozenset[str], *, shared: bool) -> int:
        """Remove every series labelled with one of `names` (deleted endpoints and models) from
        every family; with `shared` (multiprocess) files, zero this worker's values first, since
        its files keep what `remove` drops. The number of series removed."""
        removed = 0
        for family, labels in self.named:
            for values in set(_labelled(family, labels, names)):
                if shared:
                    _zero(family.labels(*values))
                family.remove(*values)
                removed += 1
        return removed


def _labelled(
    family: MetricWrapperBase, labels: tuple[str, ...], names: frozenset[str]
) -> Iterator[tuple[str, ...]]:
    """The label values of `family`'s series that name one of `names` in a name label."""
    keys = [i for i, label in enumerate(labels) if label in NAME_LABELS]
    for metric in family.collect():
        for sample in metric.samples:
            values = tuple(sample.labels.get(label, "") for label in labels)
            if any(values[i] in names for i in keys):
                yield values


def _zero(child: Any) -> None:
    """Set a series' values (in this worker's multiprocess files) to 0: counters, gauges, histograms."""
    for attribute in ("_value", "_sum"):
        value = getattr(child, attribute, None)
        if value is not None:
            value.set(0)
    for bucket in getattr(child, "_buckets", ()):
        bucket.set(0)
