"""Corrected prediction records as the record store returns them (`RecordReader.query`), built in
memory: the SQL record store lands with the records work, and the retrain job only pages through
`query(RecordQuery(endpoint=..., with_feedback=True))`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from berth.core.records import Feedback, PredictionRecord, RecordPage, RecordQuery, StoredRecord

T0 = datetime(2026, 11, 1, tzinfo=UTC)


class CorrectedRecords:
    """Records of one endpoint, each with an analyst's label, newest first with cursor paging."""

    def __init__(
        self, endpoint: str, texts: Sequence[str], labels: Sequence[str], *, prefix: str = "p"
    ) -> None:
        self.endpoint = endpoint
        self._records = [
            StoredRecord(
                PredictionRecord(
                    prediction_id=f"{prefix}-{i}",
                    recorded_at=T0 + timedelta(seconds=i),
                    endpoint=endpoint,
                    model="voice-classifier",
                    version=1,
                    variant="voice-classifier@champion",
                    inputs={"text": {"datatype": "BYTES", "shape": [1], "data": [text]}},
                    outputs={},
                    latency_s=0.01,
                ),
                Feedback(f"{prefix}-{i}", T0 + timedelta(days=1), label=label, source="analyst"),
            )
            for i, (text, label) in enumerate(zip(texts, labels, strict=True))
        ][::-1]
        self.queries: list[RecordQuery] = []

    def query(self, query: RecordQuery) -> RecordPage:
        self.queries.append(query)
        matching = [r for r in self._records if query.endpoint in (None, r.record.endpoint)]
        start = 0 if query.after is None else int(query.after)
        page = matching[start : start + query.limit]
        more = start + query.limit < len(matching)
        return RecordPage(page, str(start + query.limit) if more else None)
