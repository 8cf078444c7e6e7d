"""Gauges read from callbacks at scrape time: label sets that go away, and readings that fail."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from berth.server.metrics.server_metrics import ServerMetrics


def gauge(metrics: ServerMetrics, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(metrics.scrape().decode())
        for s in family.samples
        if s.name == name
    }


def test_a_version_no_longer_loaded_leaves_the_batch_queue_gauge() -> None:
    metrics = ServerMetrics()
    depths = {("lr", "1"): 3, ("lr", "2"): 0}
    metrics.gauges.batch_queue_depth.watch(lambda: dict(depths))
    assert gauge(metrics, "berth_batch_queue_depth") == {
        (("model", "lr"), ("version", "1")): 3,
        (("model", "lr"), ("version", "2")): 0,
    }
    del depths["lr", "1"]
    assert gauge(metrics, "berth_batch_queue_depth") == {(("model", "lr"), ("version", "2")): 0}


def test_a_failing_reading_keeps_the_last_value(caplog: pytest.LogCaptureFixture) -> None:
    metrics = ServerMetrics()
    lags = iter([2.5])
    metrics.gauges.record_writer_lag.watch(lambda: next(lags))  # the second reading raises
    assert gauge(metrics, "berth_record_writer_lag_seconds") == {(): 2.5}
    assert gauge(metrics, "berth_record_writer_lag_seconds") == {(): 2.5}
    assert "reading berth_record_writer_lag_seconds failed" in caplog.text
