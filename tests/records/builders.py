"""Records written straight into a record store, as the journal ingester writes them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from berth.core.records import IngestBatch, PredictionRecord
from berth.storage.sql_records import SqlRecordStore

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def record(
    n: int,
    *,
    endpoint: str = "router",
    model: str = "clf",
    version: int = 1,
    variant: str = "",
    entity: str | None = None,
    text: str = "hello",
    label: str = "a",
    at: datetime | None = None,
    latency_s: float = 0.002,
) -> PredictionRecord:
    return PredictionRecord(
        prediction_id=f"p{n}",
        recorded_at=at or T0 + timedelta(seconds=n),
        endpoint=endpoint,
        model=model,
        version=version,
        variant=variant,
        inputs={"text": {"datatype": "BYTES", "shape": [1], "data": [text]}},
        outputs={"predict": {"datatype": "BYTES", "shape": [1], "data": [label]}},
        latency_s=latency_s,
        entity_key=entity,
    )


def ingest(url: str, records: list[PredictionRecord]) -> None:
    store = SqlRecordStore(url)
    try:
        store.ingest(IngestBatch(records, None))
    finally:
        store.close()
