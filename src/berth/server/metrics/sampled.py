"""Gauges read from callbacks when metrics are collected: queue depths, loaded models, writer lag.

A part of the server registers a reading once (``gauges.record_writer_lag.watch(read)``); every
scrape calls the readings first (and, with several workers, each worker calls them every second,
so the other workers' files are fresh). Readings run on the event loop: they must be quick and
must not block. A reading that raises is logged and skipped; the gauge keeps its last value.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from prometheus_client import Gauge

from berth.server.metrics.families import MetricFamilies

log = logging.getLogger(__name__)

Reading = Callable[[], float]
LabelledReading = Callable[[], Mapping[tuple[str, ...], float]]
"""Label values (in the gauge's label order) -> value; label sets not returned any more are dropped."""


class SampledGauge:
    """A gauge without labels, set from one reading."""

    def __init__(self, gauge: Gauge) -> None:
        self._gauge = gauge
        self._name = next(iter(gauge.describe())).name
        self._read: Reading | None = None

    def watch(self, read: Reading) -> None:
        self._read = read

    def sample(self) -> None:
        if self._read is None:
            return
        try:
            value = float(self._read())
        except Exception:
            log.exception("metrics: reading %s failed", self._name)
            return
        self._gauge.set(value)


class SampledLabelledGauge:
    """A gauge with labels, set from one reading of every label set."""

    def __init__(self, gauge: Gauge) -> None:
        self._gauge = gauge
        self._name = next(iter(gauge.describe())).name
        self._read: LabelledReading | None = None
        self._seen: set[tuple[str, ...]] = set()

    def watch(self, read: LabelledReading) -> None:
        self._read = read

    def sample(self) -> None:
        if self._read is None:
            return
        try:
            values = {labels: float(value) for labels, value in self._read().items()}
        except Exception:
            log.exception("metrics: reading %s failed", self._name)
            return
        for gone in self._seen - values.keys():
            self._gauge.labels(*gone).set(0)  # with several workers, the file keeps this 0
            self._gauge.remove(*gone)
        for labels, value in values.items():
            self._gauge.labels(*labels).set(value)
        self._seen = set(values)


class Gauges:
    """Every sampled gauge of a server."""

    def __init__(self, families: MetricFamilies) -> None:
        self.inflight = SampledLabelledGauge(families.inflight)
        self.models_loaded = SampledGauge(families.models_loaded)
        self.pool_versions = SampledLabelledGauge(families.pool_versions)
        self.batch_queue_depth = SampledLabelledGauge(families.batch_queue_depth)
        self.shadow_queue_depth = SampledLabelledGauge(families.shadow_queue_depth)
        self.record_queue_depth = SampledGauge(families.record_queue_depth)
        """Wired by the record writer: ``gauges.record_queue_depth.watch(writer.queue_depth)``."""
        self.record_writer_lag = SampledGauge(families.record_writer_lag)
        """Wired by the journal's health check (`berth.server.journal_health`)."""
        self.record_journal_bytes = SampledGauge(families.record_journal_bytes)
        """Wired by the journal's health check (`berth.server.journal_health`)."""
        self._all: tuple[SampledGauge | SampledLabelledGauge, ...] = (
            self.inflight,
            self.models_loaded,
            self.pool_versions,
            self.batch_queue_depth,
            self.shadow_queue_depth,
            self.record_queue_depth,
            self.record_writer_lag,
            self.record_journal_bytes,
        )

    def sample(self) -> None:
        for gauge in self._all:
            gauge.sample()
