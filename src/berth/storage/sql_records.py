"""`SqlRecordStore`: prediction records, their feedback and entity erasures on SQLite or PostgreSQL.

Records arrive only through `ingest`, in batches: from the journal ingester
(`berth.storage.record_ingest`), each batch in one transaction with the journal position it reached,
or from the record stream's drainer (`berth.storage.record_drain`), whose records carry a key
(unique: a record delivered twice is stored once, ON CONFLICT DO NOTHING). Prediction ids are not
unique: a caller may send the same id twice (through the journal), and a shadow answer is stored
under its own id (``<id>~<model>:<version>``) with `shadow_of` = the caller's id. Feedback is kept
per prediction id and applies to every caller-facing record with that id; a shadow answer is judged
by its caller's feedback (its `shadow_of`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, Final

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Row,
    Select,
    and_,
    delete,
    func,
    insert,
    or_,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL

from berth.core.cursors import decode_cursor, encode_cursor, invalid_cursor, query_binding
from berth.core.errors import BerthError, ErrorCode
from berth.core.records import (
    MAX_ENTITY_KEY_LENGTH,
    MAX_PREDICTION_ID_LENGTH,
    EntityFeedback,
    ErasureReport,
    FailedRequest,
    Feedback,
    FeedbackOutcome,
    FeedbackReport,
    IngestBatch,
    JournalPosition,
    LabelledPrediction,
    PredictionRecord,
    RecordPage,
    RecordQuery,
    StoredRecord,
)
from berth.storage import queries as q
from berth.storage.db import create_database_engine
from berth.storage.incarnations import of_current_holder
from berth.storage.migrate import upgrade_database
from berth.storage.schema import (
    entity_erasures,
    journal_positions,
    prediction_errors,
    prediction_feedback,
    prediction_records,
)
from berth.storage.sql_inbox import enqueue_messages
from berth.storage.transactions import database_errors, run_transaction

MAX_PAGE: Final = 1000
MAX_FEEDBACK_PER_CALL: Final = 10_000
MAX_LABEL_LENGTH: Final = 256
MAX_SOURCE_LENGTH: Final = 255
STREAM_CHUNK: Final = 2000
"""Rows fetched at a time when `labelled` streams (a server-side cursor on PostgreSQL)."""
PURGE_CHUNK: Final = 5000
"""Records deleted per transaction by `purge_before` (a long purge never holds the write lock long)."""
_IN_CHUNK: Final = 500

_r = prediction_records.c
_f = prediction_feedback.c


class SqlRecordStore:
    """The record store in a SQL database, by URL or engine (an engine passed in stays the caller's).

    Opened by URL it migrates the database to the newest schema (unless `migrate` is False)."""

    def __init__(self, url_or_engine: str | URL | Engine, *, migrate: bool = True) -> None:
        self._owns_engine = not isinstance(url_or_engine, Engine)
        self._engine = (
            url_or_engine if isinstance(url_or_engine, Engine) else create_database_engine(url_or_engine)
        )
        if migrate and self._owns_engine:
            try:
                with database_errors():
                    upgrade_database(self._engine)
            except BaseException:
                self.close()
                raise

    @property
    def engine(self) -> Engine:
        return self._engine

    # -- ingestion -------------------------------------------------------------------------------

    def ingest(self, batch: IngestBatch) -> int:
        def work(conn: Connection) -> int:
            records = _without_erased(conn, batch.records)
            inserted = 0
            try:
                unkeyed = [_record_values(r) for r in records if r.record_key is None]
                if unkeyed:
                    conn.execute(insert(prediction_records), unkeyed)
                    inserted += len(unkeyed)
                inserted += _insert_keyed(conn, [r for r in records if r.record_key is not None])
            except (TypeError, ValueError) as exc:  # a value the driver cannot adapt
                raise BerthError(ErrorCode.INVALID_REQUEST, f"a record cannot be stored: {exc}") from None
            enqueue_messages(conn, records)  # delivery to teams: the outbox, in the records' transaction
            if batch.errors:
                conn.execute(insert(prediction_errors), [_error_values(e) for e in batch.errors])
            if batch.position is not None:
                _save_position(conn, batch.position)
            return inserted

        return run_transaction(self._engine, work, write=True)

    def journal_positions(self) -> dict[str, JournalPosition]:
        def work(conn: Connection) -> dict[str, JournalPosition]:
            rows = conn.execute(select(journal_positions))
            return {
                r.segment: JournalPosition(segment=r.segment, offset=int(r.offset), finished=bool(r.finished))
                for r in rows
            }

        return run_transaction(self._engine, work)

    def forget_segments(self, segments: Sequence[str]) -> None:
        names = list(dict.fromkeys(segments))
        if not names:
            return

        def work(conn: Connection) -> None:
            for start in range(0, len(names), _IN_CHUNK):
                chunk = names[start : start + _IN_CHUNK]
                conn.execute(delete(journal_positions).where(journal_positions.c.segment.in_(chunk)))

        run_transaction(self._engine, work, write=True)

    # -- reading ---------------------------------------------------------------------------------

    def query(self, query: RecordQuery) -> RecordPage:
        if not 1 <= query.limit <= MAX_PAGE:
            raise BerthError(ErrorCode.INVALID_REQUEST, f"limit must be 1 to {MAX_PAGE}, got {query.limit}")
        conditions = _conditions(query)
        if query.after is not None:
            at, row_id = _parse_cursor(query.after, query)
            conditions.append(or_(_r.recorded_at < at, and_(_r.recorded_at == at, _r.id < row_id)))
        stmt = (
            _records_with_feedback()
            .where(*conditions)
            .order_by(_r.recorded_at.desc(), _r.id.desc())
            .limit(query.limit + 1)
        )

        def work(conn: Connection) -> RecordPage:
            rows = conn.execute(stmt).all()
            more = len(rows) > query.limit
            rows = rows[: query.limit]
            cursor = _cursor(rows[-1].recorded_at, int(rows[-1].id), query) if more else None
            return RecordPage(records=[_stored(r) for r in rows], next_cursor=cursor)

        return run_transaction(self._engine, work)

    def get(self, prediction_id: str) -> list[StoredRecord]:
        stmt = (
            _records_with_feedback()
            .where(
                or_(_r.prediction_id == prediction_id, _r.shadow_of == prediction_id),
                of_current_holder(_r.endpoint, _r.recorded_at),
            )
            .order_by(_r.recorded_at, _r.id)
        )
        return run_transaction(self._engine, lambda conn: [_stored(r) for r in conn.execute(stmt)])

    def count(self, query: RecordQuery) -> int:
        stmt = select(func.count()).select_from(prediction_records).where(*_conditions(query))
        return run_transaction(self._engine, lambda conn: int(conn.execute(stmt).scalar_one()))

    def labelled(
        self,
        *,
        endpoint: str | None = None,
        model: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> Iterator[LabelledPrediction]:
        _check_range(start, end)
        stmt = (
            select(
                _r.prediction_id,
                _r.recorded_at,
                _r.endpoint,
                _r.model,
                _r.version,
                _r.variant,
                _r.outputs,
                _r.latency_s,
                _f.label,
                _f.value,
            )
            .join(prediction_feedback, _f.prediction_id == _r.prediction_id)
            .where(_r.shadow_of.is_(None), of_current_holder(endpoint or _r.endpoint, _r.recorded_at))
            .order_by(_r.recorded_at, _r.id)
        )
        if endpoint is not None:
            stmt = stmt.where(_r.endpoint == endpoint)
        if model is not None:
            stmt = stmt.where(_r.model == model)
        if start is not None:
            stmt = stmt.where(_r.recorded_at >= start)
        if end is not None:
            stmt = stmt.where(_r.recorded_at < end)
        return self._stream(stmt)

    def _stream(self, stmt: Select[Any]) -> Iterator[LabelledPrediction]:
        # One read transaction for the whole stream; rows come STREAM_CHUNK at a time (PostgreSQL:
        # a server-side cursor), so reading millions never holds them all in memory.
        with database_errors(), self._engine.connect() as conn, conn.begin():
            result = conn.execution_options(yield_per=STREAM_CHUNK).execute(stmt)
            for row in result:
                yield LabelledPrediction(
                    prediction_id=row.prediction_id,
                    recorded_at=row.recorded_at,
                    endpoint=row.endpoint,
                    model=row.model,
                    version=int(row.version),
                    variant=row.variant,
                    outputs=row.outputs,
                    latency_s=float(row.latency_s),
                    label=row.label,
                    value=row.value,
                )

    # -- feedback --------------------------------------------------------------------------------

    def add_feedback(self, items: Sequence[Feedback]) -> FeedbackReport:
        _check_count(len(items))
        for item in items:
            _check_prediction_id(item.prediction_id)
            _check_truth(item.prediction_id, item.label, item.value, item.observed_at, item.source)

        def work(conn: Connection) -> FeedbackReport:
            known = _known_ids(conn, [i.prediction_id for i in items])
            received = q.now()
            last = {i.prediction_id: i for i in items if i.prediction_id in known}  # the last one wins
            _upsert_feedback(conn, [_feedback_values(i, received) for i in last.values()])
            return FeedbackReport(
                outcomes=tuple(
                    (
                        i.prediction_id,
                        FeedbackOutcome.STORED
                        if i.prediction_id in known
                        else FeedbackOutcome.UNKNOWN_PREDICTION,
                    )
                    for i in items
                )
            )

        return run_transaction(self._engine, work, write=True)

    def add_entity_feedback(self, items: Sequence[EntityFeedback]) -> FeedbackReport:
        _check_count(len(items))
        for item in items:
            _check_entity_key(item.entity_key)
            _check_truth(item.entity_key, item.label, item.value, item.observed_at, item.source)

        def work(conn: Connection) -> FeedbackReport:
            received = q.now()
            outcomes: list[tuple[str, FeedbackOutcome]] = []
            values: dict[str, dict[str, Any]] = {}
            for item in items:
                stmt = (
                    select(_r.prediction_id)
                    .where(
                        _r.entity_key == item.entity_key,
                        _r.endpoint == item.endpoint,
                        of_current_holder(item.endpoint, _r.recorded_at),
                        _r.shadow_of.is_(None),
                        _r.recorded_at <= item.observed_at,
                    )
                    .order_by(_r.recorded_at.desc(), _r.id.desc())
                    .limit(1)
                )
                found = conn.execute(stmt).scalar_one_or_none()
                if found is None:
                    outcomes.append((item.entity_key, FeedbackOutcome.UNKNOWN_PREDICTION))
                    continue
                outcomes.append((item.entity_key, FeedbackOutcome.STORED))
                truth = Feedback(found, item.observed_at, item.label, item.value, item.source)
                values[found] = _feedback_values(truth, received)
            _upsert_feedback(conn, list(values.values()))
            return FeedbackReport(outcomes=tuple(outcomes))

        return run_transaction(self._engine, work, write=True)

    # -- deletion --------------------------------------------------------------------------------

    def erase_entity(self, entity_key: str, at: datetime) -> ErasureReport:
        _check_entity_key(entity_key)
        _check_aware(at, "the erasure time")

        def work(conn: Connection) -> ErasureReport:
            ids = select(_r.prediction_id).where(_r.entity_key == entity_key)
            feedback = conn.execute(delete(prediction_feedback).where(_f.prediction_id.in_(ids))).rowcount
            records = conn.execute(delete(prediction_records).where(_r.entity_key == entity_key)).rowcount
            previous = conn.execute(
                select(entity_erasures.c.erased_at).where(entity_erasures.c.entity_key == entity_key)
            ).scalar_one_or_none()
            if previous is None:
                conn.execute(insert(entity_erasures).values(entity_key=entity_key, erased_at=at))
            elif previous < at:
                conn.execute(
                    entity_erasures.update()
                    .where(entity_erasures.c.entity_key == entity_key)
                    .values(erased_at=at)
                )
            return ErasureReport(entity_key=entity_key, records=int(records), feedback=int(feedback))

        return run_transaction(self._engine, work, write=True)

    def purge_before(self, cutoff: datetime) -> int:
        _check_aware(cutoff, "the cutoff")
        purged = 0
        while True:
            removed = run_transaction(self._engine, lambda conn: _purge_chunk(conn, cutoff), write=True)
            purged += removed
            if removed < PURGE_CHUNK:
                break
        old_errors = delete(prediction_errors).where(prediction_errors.c.recorded_at < cutoff)
        run_transaction(self._engine, lambda conn: conn.execute(old_errors), write=True)  # kept as long
        return purged

    def close(self) -> None:
        if self._owns_engine:
            self._engine.dispose()


# -- statements ------------------------------------------------------------------------------------


def _records_with_feedback() -> Select[Any]:
    # A shadow answer is judged by its caller's feedback.
    caller_id = func.coalesce(_r.shadow_of, _r.prediction_id)
    return select(
        prediction_records,
        _f.prediction_id.label("f_prediction_id"),
        _f.label.label("f_label"),
        _f.value.label("f_value"),
        _f.observed_at.label("f_observed_at"),
        _f.source.label("f_source"),
    ).outerjoin(prediction_feedback, _f.prediction_id == caller_id)


def _conditions(query: RecordQuery) -> list[ColumnElement[bool]]:
    _check_range(query.start, query.end)
    # only the records of the current holder of an endpoint's name (an earlier, deleted endpoint
    # of that name keeps its own)
    conditions: list[ColumnElement[bool]] = [of_current_holder(query.endpoint or _r.endpoint, _r.recorded_at)]
    if query.endpoint is not None:
        conditions.append(_r.endpoint == query.endpoint)
    if query.model is not None:
        conditions.append(_r.model == query.model)
    if query.version is not None:
        conditions.append(_r.version == query.version)
    if query.variant is not None:
        conditions.append(_r.variant == query.variant)
    if query.entity_key is not None:
        conditions.append(_r.entity_key == query.entity_key)
    if query.start is not None:
        conditions.append(_r.recorded_at >= query.start)
    if query.end is not None:
        conditions.append(_r.recorded_at < query.end)
    if not query.include_shadows:
        conditions.append(_r.shadow_of.is_(None))
    if query.with_feedback is not None:
        caller_id = func.coalesce(_r.shadow_of, _r.prediction_id)
        has = (
            select(_f.prediction_id)
            .where(_f.prediction_id == caller_id)
            .correlate(prediction_records)
            .exists()
        )
        conditions.append(has if query.with_feedback else ~has)
    return conditions


def _without_erased(conn: Connection, records: Sequence[PredictionRecord]) -> list[PredictionRecord]:
    keys = sorted({r.entity_key for r in records if r.entity_key is not None})
    if not keys:
        return list(records)
    erased: dict[str, datetime] = {}
    for start in range(0, len(keys), _IN_CHUNK):
        stmt = select(entity_erasures).where(
            entity_erasures.c.entity_key.in_(keys[start : start + _IN_CHUNK])
        )
        erased.update({row.entity_key: row.erased_at for row in conn.execute(stmt)})
    if not erased:
        return list(records)
    return [
        r
        for r in records
        if r.entity_key is None or r.entity_key not in erased or r.recorded_at > erased[r.entity_key]
    ]


def _insert_keyed(conn: Connection, records: Sequence[PredictionRecord]) -> int:
    """Insert records that carry a key, each key once: one already stored (a redelivery) is skipped
    by the database (ON CONFLICT DO NOTHING on the unique key), so concurrent drainers that insert
    the same record store it once. Returns how many were new."""
    by_key = {r.record_key: r for r in records}
    if not by_key:
        return 0
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = (
        dialect.insert(prediction_records)
        .on_conflict_do_nothing(index_elements=[_r.record_key])
        .returning(_r.id)
    )
    return len(conn.execute(stmt, [_record_values(r) for r in by_key.values()]).all())


def _save_position(conn: Connection, position: JournalPosition) -> None:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(journal_positions).values(
        segment=position.segment, offset=position.offset, finished=position.finished
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["segment"],
            set_={"offset": stmt.excluded.offset, "finished": stmt.excluded.finished},
        )
    )


def _upsert_feedback(conn: Connection, values: list[dict[str, Any]]) -> None:
    if not values:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    for start in range(0, len(values), _IN_CHUNK):
        stmt = dialect.insert(prediction_feedback).values(values[start : start + _IN_CHUNK])
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["prediction_id"],
                set_={
                    "label": stmt.excluded.label,
                    "value": stmt.excluded.value,
                    "observed_at": stmt.excluded.observed_at,
                    "received_at": stmt.excluded.received_at,
                    "source": stmt.excluded.source,
                },
            )
        )


def _known_ids(conn: Connection, ids: Sequence[str]) -> set[str]:
    wanted = sorted(set(ids))
    known: set[str] = set()
    for start in range(0, len(wanted), _IN_CHUNK):
        stmt = (
            select(_r.prediction_id)
            .where(
                _r.prediction_id.in_(wanted[start : start + _IN_CHUNK]),
                _r.shadow_of.is_(None),
                of_current_holder(_r.endpoint, _r.recorded_at),
            )
            .distinct()
        )
        known.update(conn.execute(stmt).scalars())
    return known


def _purge_chunk(conn: Connection, cutoff: datetime) -> int:
    rows = conn.execute(
        select(_r.id, _r.prediction_id, _r.shadow_of)
        .where(_r.recorded_at < cutoff)
        .order_by(_r.recorded_at)
        .limit(PURGE_CHUNK)
    ).all()
    if not rows:
        return 0
    for start in range(0, len(rows), _IN_CHUNK):
        conn.execute(
            delete(prediction_records).where(_r.id.in_([r.id for r in rows[start : start + _IN_CHUNK]]))
        )
    # Feedback goes with the last caller-facing record of its id.
    ids = sorted({r.prediction_id for r in rows if r.shadow_of is None})
    for start in range(0, len(ids), _IN_CHUNK):
        chunk = ids[start : start + _IN_CHUNK]
        still = (
            select(_r.id)
            .where(_r.prediction_id == _f.prediction_id, _r.shadow_of.is_(None))
            .correlate(prediction_feedback)
            .exists()
        )
        conn.execute(delete(prediction_feedback).where(_f.prediction_id.in_(chunk), ~still))
    return len(rows)


# -- rows ------------------------------------------------------------------------------------------


def _record_values(record: PredictionRecord) -> dict[str, Any]:
    return {
        "prediction_id": record.prediction_id,
        "recorded_at": record.recorded_at,
        "endpoint": record.endpoint,
        "model": record.model,
        "version": record.version,
        "variant": record.variant,
        "inputs": record.inputs,
        "model_inputs": record.model_inputs,
        "outputs": record.outputs,
        "latency_s": record.latency_s,
        "entity_key": record.entity_key,
        "shadow_of": record.shadow_of,
        "record_key": record.record_key,
        "features_served": record.features_served,
    }


def _error_values(error: FailedRequest) -> dict[str, Any]:
    return {
        "recorded_at": error.recorded_at,
        "endpoint": error.endpoint[:128],
        "model": error.model[:128],
        "version": error.version,
        "variant": error.variant[:256],
        "code": error.code[:64],
        "latency_s": error.latency_s,
    }


def _feedback_values(item: Feedback, received: datetime) -> dict[str, Any]:
    return {
        "prediction_id": item.prediction_id,
        "label": item.label,
        "value": item.value,
        "observed_at": item.observed_at,
        "received_at": received,
        "source": item.source,
    }


def _stored(row: Row[Any]) -> StoredRecord:
    record = PredictionRecord(
        prediction_id=row.prediction_id,
        recorded_at=row.recorded_at,
        endpoint=row.endpoint,
        model=row.model,
        version=int(row.version),
        variant=row.variant,
        inputs=row.inputs,
        outputs=row.outputs,
        latency_s=float(row.latency_s),
        model_inputs=row.model_inputs,
        entity_key=row.entity_key,
        shadow_of=row.shadow_of,
        features_served=row.features_served,
    )
    feedback = None
    if row.f_prediction_id is not None:
        feedback = Feedback(
            prediction_id=row.f_prediction_id,
            observed_at=row.f_observed_at,
            label=row.f_label,
            value=row.f_value,
            source=row.f_source,
        )
    return StoredRecord(record=record, feedback=feedback)


def _binding(query: RecordQuery) -> str:
    """What a records cursor is bound to: the query's filters (not its page size or position)."""
    return query_binding(replace(query, limit=0, after=None))


def _cursor(at: datetime, row_id: int, query: RecordQuery) -> str:
    return encode_cursor("records", _binding(query), [at.isoformat(), row_id])


def _parse_cursor(cursor: str, query: RecordQuery) -> tuple[datetime, int]:
    position = decode_cursor(cursor, "records", _binding(query))
    if len(position) != 2 or not isinstance(position[0], str) or not isinstance(position[1], int):
        raise invalid_cursor("malformed cursor")
    try:
        at = datetime.fromisoformat(position[0])
    except ValueError:
        raise invalid_cursor("malformed cursor") from None
    if at.tzinfo is None or not 0 <= position[1] < 2**63:
        raise invalid_cursor("malformed cursor")
    return at, position[1]


# -- checks ----------------------------------------------------------------------------------------


def _check_aware(at: object, what: str) -> None:
    if not isinstance(at, datetime) or at.tzinfo is None:
        raise BerthError(ErrorCode.INVALID_REQUEST, f"{what} must be a timezone-aware time")


def _check_range(start: datetime | None, end: datetime | None) -> None:
    if start is not None:
        _check_aware(start, "start")
    if end is not None:
        _check_aware(end, "end")
    if start is not None and end is not None and start > end:
        raise BerthError(
            ErrorCode.INVALID_REQUEST, f"start {start.isoformat()} is after end {end.isoformat()}"
        )


def _check_count(n: int) -> None:
    if n > MAX_FEEDBACK_PER_CALL:
        raise BerthError(
            ErrorCode.PAYLOAD_TOO_LARGE, f"at most {MAX_FEEDBACK_PER_CALL} feedback items per call, got {n}"
        )


def _check_prediction_id(prediction_id: object) -> None:
    if not isinstance(prediction_id, str) or not 0 < len(prediction_id) <= MAX_PREDICTION_ID_LENGTH:
        raise BerthError(
            ErrorCode.INVALID_REQUEST,
            f"a prediction id must be a non-empty string of at most {MAX_PREDICTION_ID_LENGTH} characters",
        )


def _check_entity_key(key: object) -> None:
    if not isinstance(key, str) or not 0 < len(key) <= MAX_ENTITY_KEY_LENGTH:
        raise BerthError(
            ErrorCode.INVALID_REQUEST,
            f"an entity key must be a non-empty string of at most {MAX_ENTITY_KEY_LENGTH} characters",
        )


def _check_truth(subject: str, label: object, value: object, observed_at: object, source: object) -> None:
    if label is None and value is None:
        raise BerthError(ErrorCode.INVALID_REQUEST, f"feedback for {subject!r} needs a label or a value")
    if label is not None and (not isinstance(label, str) or len(label) > MAX_LABEL_LENGTH):
        raise BerthError(
            ErrorCode.INVALID_REQUEST,
            f"the label for {subject!r} must be a string of at most {MAX_LABEL_LENGTH}",
        )
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
    ):
        raise BerthError(ErrorCode.INVALID_REQUEST, f"the value for {subject!r} must be a finite number")
    if not isinstance(source, str) or len(source) > MAX_SOURCE_LENGTH:
        raise BerthError(
            ErrorCode.INVALID_REQUEST,
            f"the source for {subject!r} must be a string of at most {MAX_SOURCE_LENGTH}",
        )
    _check_aware(observed_at, f"the observation time of {subject!r}")
