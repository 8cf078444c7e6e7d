"""What monitoring and triggers count from the records: corrections received since a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from berth.core.endpoints import EndpointSpec
from berth.core.records import Feedback
from berth.storage.sql_endpoints import SqlEndpointStore
from berth.storage.sql_record_stats import SqlRecordStats
from berth.storage.sql_records import SqlRecordStore
from tests.records.builders import T0, ingest, record


def test_corrections_since_counts_feedback_received_for_the_endpoint(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'berth.db'}"
    ingest(url, [record(n) for n in range(5)] + [record(10 + n, endpoint="other") for n in range(3)])
    store = SqlRecordStore(url)
    stats = SqlRecordStats(store.engine)
    try:
        before = datetime.now(UTC) - timedelta(seconds=1)
        assert stats.corrections_since("router", before) == 0
        now = datetime.now(UTC)
        store.add_feedback([Feedback(f"p{n}", now, label="b") for n in (0, 1, 2)])
        store.add_feedback([Feedback("p10", now, label="b")])
        assert stats.corrections_since("router", before) == 3
        assert stats.corrections_since("other", before) == 1
        assert stats.corrections_since("router", datetime.now(UTC) + timedelta(seconds=1)) == 0
        assert stats.corrections_since("router", before, until=before + timedelta(microseconds=1)) == 0
        assert stats.corrections_since("router", before, until=datetime.now(UTC)) == 3
        store.add_feedback([Feedback("p0", now, label="c")])  # a correction corrected: one prediction
        assert stats.corrections_since("router", before) == 3
    finally:
        store.close()


def test_the_busiest_version_of_a_window(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'berth.db'}"
    ingest(url, [record(n, version=1) for n in range(2)] + [record(10 + n, version=2) for n in range(3)])
    store = SqlRecordStore(url)
    stats = SqlRecordStats(store.engine)
    try:
        start, end = T0 - timedelta(seconds=1), T0 + timedelta(hours=1)
        assert stats.busiest_version(endpoint="router", start=start, end=end) == ("clf", 2)
        assert stats.busiest_version(endpoint="nobody", start=start, end=end) is None
    finally:
        store.close()


def test_corrections_count_only_for_the_endpoint_a_trigger_was_made_for(tmp_path: Path) -> None:
    """A trigger made for an endpoint since deleted counts none of the corrections of the endpoint
    that has its name now."""
    url = f"sqlite:///{tmp_path / 'berth.db'}"
    store = SqlRecordStore(url)
    stats = SqlRecordStats(store.engine)
    try:
        spec = EndpointSpec.from_json({"targets": [{"target": "clf"}]})
        endpoints = SqlEndpointStore(store.engine)
        endpoints.create_endpoint("router", spec, team="alpha")
        trigger_made = datetime.now(UTC)  # for alpha's router
        endpoints.delete_endpoint("router")
        endpoints.create_endpoint("router", spec, team="beta")
        now = datetime.now(UTC)
        ingest(url, [record(n, at=now) for n in range(3)])
        store.add_feedback([Feedback(f"p{n}", now, label="b") for n in range(3)])
        before = now - timedelta(seconds=1)
        assert stats.corrections_since("router", before) == 3
        assert stats.corrections_since("router", before, held_since=datetime.now(UTC)) == 3
        assert stats.corrections_since("router", before, held_since=trigger_made) == 0
    finally:
        store.close()
