"""The contract of the record store: prediction records, their feedback, erasure by entity.

One implementation (`berth.storage.sql_records.SqlRecordStore`, SQLite or PostgreSQL by URL) and
one contract test suite (``tests/storage/test_record_store.py``) that runs it on both.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Protocol

from berth.core.records import (
    EntityFeedback,
    ErasureReport,
    Feedback,
    FeedbackReport,
    IngestBatch,
    JournalPosition,
    LabelledPrediction,
    RecordPage,
    RecordQuery,
    StoredRecord,
)


class RecordStore(Protocol):
    """Where records land after the journal, and where feedback joins them."""

    # -- ingestion (the journal ingester is the only writer of records) -----------------------
    def ingest(self, batch: IngestBatch) -> int:
        """Insert the batch's records and save its journal position in one transaction (so a crash
        between the two can neither lose nor duplicate a record). Records of an erased entity made
        at or before its erasure are dropped. Returns how many were inserted."""
        ...

    def journal_positions(self) -> dict[str, JournalPosition]:
        """The saved position of every segment not yet forgotten."""
        ...

    def forget_segments(self, segments: Sequence[str]) -> None:
        """Drop the saved positions of segments deleted from the journal."""
        ...

    # -- reading -------------------------------------------------------------------------------
    def query(self, query: RecordQuery) -> RecordPage: ...

    def get(self, prediction_id: str) -> list[StoredRecord]:
        """Every record with this prediction id (shadow answers included), oldest first."""
        ...

    def count(self, query: RecordQuery) -> int: ...

    def labelled(
        self,
        *,
        endpoint: str | None = None,
        model: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> Iterator[LabelledPrediction]:
        """Caller-facing predictions (no shadows) that have feedback, oldest first."""
        ...

    # -- feedback ------------------------------------------------------------------------------
    def add_feedback(self, items: Sequence[Feedback]) -> FeedbackReport:
        """Store ground truth per prediction id; an id with no record is reported, the others are
        stored. Feedback for an id that has some already replaces it (the last one sent wins)."""
        ...

    def add_entity_feedback(self, items: Sequence[EntityFeedback]) -> FeedbackReport:
        """Feedback for each entity's latest caller-facing prediction of the endpoint made at or
        before `observed_at`; an entity with none is reported as unknown (by its key)."""
        ...

    # -- deletion ------------------------------------------------------------------------------
    def erase_entity(self, entity_key: str, at: datetime) -> ErasureReport:
        """Delete the entity's records and their feedback, and remember the erasure so records of it
        made at or before `at` that are still in a journal are dropped when ingested."""
        ...

    def purge_before(self, cutoff: datetime) -> int:
        """Delete records (and their feedback) made before `cutoff` (retention); returns how many."""
        ...

    def close(self) -> None: ...
