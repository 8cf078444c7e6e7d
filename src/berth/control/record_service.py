"""Records and feedback as the API and the CLI use them: query, feedback, export, erasure.

Records reach the database from the journal through the ingester, a fraction of a second after
they were answered (`berth.storage.record_ingest`), longer on a loaded machine (it runs at a lower
CPU priority). Feedback sent right after a prediction may therefore name an id the database does
not hold yet: when this host's journal holds lines not yet ingested, the service waits until the
ingester has caught up with what the journal held (bounded, `catch_up_journal`) and tries those ids
once more before it reports them unknown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TypeVar

from berth.control.record_exports import ExportFolder, ExportInfo, Progress
from berth.control.review_order import (
    REVIEW_WINDOW,
    GroupingsByQuery,
    TextEmbedder,
    needs_review,
    review_offset,
    review_page,
)
from berth.core.errors import BerthError, ErrorCode
from berth.core.records import (
    EntityFeedback,
    ErasureReport,
    Feedback,
    FeedbackOutcome,
    FeedbackReport,
    RecordPage,
    RecordQuery,
    StoredRecord,
)
from berth.storage.record_protocols import RecordStore

MAX_PAGE = 1000
MAX_FEEDBACK_ITEMS = 10_000
EXPORT_PAGE = 1000

T = TypeVar("T")

JournalDrain = Callable[[datetime], bool]
"""Waits until the local journal holds nothing written before the given time (ingested, then
deleted); False when it still does at its timeout (no ingester runs: the lines are dropped when one does)."""


@dataclass(frozen=True, slots=True)
class RecordService:
    store: RecordStore
    exports: ExportFolder
    drain_journal: JournalDrain
    catch_up_journal: Callable[[], bool]
    """Waits (bounded) until the database holds what this host's journal holds now; False at once
    when the journal holds nothing not yet ingested (no id can still arrive)."""
    embed: TextEmbedder | None = None
    """Texts -> embeddings, for the needs-review order's groups of meaning (None: by category)."""
    groupings: GroupingsByQuery = field(default_factory=GroupingsByQuery, repr=False)
    """The needs-review order's groups of meaning per query, kept for its next pages."""

    # -- reading -------------------------------------------------------------------------------
    def query(self, query: RecordQuery) -> RecordPage:
        check_window(query.start, query.end)
        if not 1 <= query.limit <= MAX_PAGE:
            raise BerthError(ErrorCode.INVALID_REQUEST, f"limit must be between 1 and {MAX_PAGE}")
        return self.store.query(query)

    def needs_review(self, query: RecordQuery) -> RecordPage:
        """The records `query` selects that await a correction, in the "needs review" order
        (`berth.control.review_order`): computed over the newest `REVIEW_WINDOW` of them without
        feedback; `query.after` is this order's cursor (``review-N``)."""
        check_window(query.start, query.end)
        if not 1 <= query.limit <= MAX_PAGE:
            raise BerthError(ErrorCode.INVALID_REQUEST, f"limit must be between 1 and {MAX_PAGE}")
        offset = review_offset(query.after)
        window: list[StoredRecord] = []
        cursor: str | None = None
        unlabelled = replace(_page(query, None), with_feedback=False)
        while len(window) < REVIEW_WINDOW:
            page = self.store.query(replace(unlabelled, after=cursor))
            window += page.records
            cursor = page.next_cursor
            if cursor is None or not page.records:
                break
        # the groups of this query's earlier pages (its times move with the clock: not in the key;
        # `Groupings` reuses them only while the window is mostly the same records)
        groupings = self.groupings.of(replace(unlabelled, start=None, end=None, limit=0))
        records, next_cursor = review_page(
            needs_review(window[:REVIEW_WINDOW], self.embed, groupings), offset, query.limit
        )
        return RecordPage(records, next_cursor)

    def get(self, prediction_id: str) -> list[StoredRecord]:
        records = self.store.get(prediction_id)
        if not records:
            raise BerthError(
                ErrorCode.RECORD_NOT_FOUND, f"no prediction {prediction_id!r}", prediction_id=prediction_id
            )
        return records

    def endpoints_of(self, prediction_ids: Sequence[str]) -> dict[str, str]:
        """The endpoint of each known caller-facing prediction id (for authorization); ids not found
        are looked for once more after the ingestion delay."""
        found = self._endpoints_of(prediction_ids)
        missing = [p for p in prediction_ids if p not in found]
        if missing and self.catch_up_journal():
            found |= self._endpoints_of(missing)
        return found

    def _endpoints_of(self, prediction_ids: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for pid in dict.fromkeys(prediction_ids):
            for stored in self.store.get(pid):
                if stored.record.shadow_of is None:
                    found[pid] = stored.record.endpoint
                    break
        return found

    # -- feedback ------------------------------------------------------------------------------
    def add_feedback(self, items: Sequence[Feedback]) -> FeedbackReport:
        _check_count(len(items))
        report = self.store.add_feedback(items)
        return self._retry_unknown(report, items, self.store.add_feedback, lambda f: f.prediction_id)

    def add_entity_feedback(self, items: Sequence[EntityFeedback]) -> FeedbackReport:
        _check_count(len(items))
        report = self.store.add_entity_feedback(items)
        return self._retry_unknown(report, items, self.store.add_entity_feedback, lambda f: f.entity_key)

    def _retry_unknown(
        self,
        report: FeedbackReport,
        items: Sequence[T],
        add: Callable[[Sequence[T]], FeedbackReport],
        key: Callable[[T], str],
    ) -> FeedbackReport:
        unknown = set(report.unknown)
        if not unknown or not self.catch_up_journal():  # ids answered a moment ago may be in the journal
            return report
        retried = dict(add([i for i in items if key(i) in unknown]).outcomes)
        return FeedbackReport(
            tuple(
                (k, retried.get(k, o) if o is FeedbackOutcome.UNKNOWN_PREDICTION else o)
                for k, o in report.outcomes
            )
        )

    # -- export --------------------------------------------------------------------------------
    def export(
        self, query: RecordQuery, progress: Progress | None = None, *, max_bytes: int | None = None
    ) -> ExportInfo:
        """Every record `query` selects (all pages) into a new Parquet export (at most `max_bytes`)."""
        check_window(query.start, query.end)
        export_id = self.exports.write(self._all(query), progress, max_bytes=max_bytes)
        return self.exports.info(export_id)

    def _all(self, query: RecordQuery) -> Iterator[StoredRecord]:
        cursor = query.after
        while True:
            page = self.store.query(_page(query, cursor))
            yield from page.records
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    # -- erasure -------------------------------------------------------------------------------
    def erase_entity(self, entity_key: str) -> ErasureReport:
        """Delete everything berth holds of `entity_key`: records and feedback in the database,
        journal lines not yet ingested on this host, and rows of the exports."""
        if not entity_key or len(entity_key) > 256:
            raise BerthError(ErrorCode.INVALID_REQUEST, "entity_key must be 1 to 256 characters")
        at = datetime.now(UTC)
        first = self.store.erase_entity(entity_key, at)
        drained = self.drain_journal(at)  # every journal line written before now is ingested (and dropped)
        second = self.store.erase_entity(entity_key, at)
        return ErasureReport(
            entity_key,
            records=first.records + second.records,
            feedback=first.feedback + second.feedback,
            export_rows=self.exports.scrub(entity_key),
            journal_drained=drained,
        )


def check_window(start: datetime | None, end: datetime | None) -> None:
    if start is not None and end is not None and start >= end:
        raise BerthError(
            ErrorCode.INVALID_REQUEST,
            f"empty time range: start {start.isoformat()} is not before end {end.isoformat()}",
        )


def _check_count(n: int) -> None:
    if n == 0:
        raise BerthError(ErrorCode.INVALID_REQUEST, "no feedback items")
    if n > MAX_FEEDBACK_ITEMS:
        raise BerthError(ErrorCode.INVALID_REQUEST, f"at most {MAX_FEEDBACK_ITEMS} feedback items per call")


def _page(query: RecordQuery, cursor: str | None) -> RecordQuery:
    return RecordQuery(
        endpoint=query.endpoint,
        model=query.model,
        version=query.version,
        variant=query.variant,
        entity_key=query.entity_key,
        start=query.start,
        end=query.end,
        with_feedback=query.with_feedback,
        include_shadows=query.include_shadows,
        limit=EXPORT_PAGE,
        after=cursor,
    )
