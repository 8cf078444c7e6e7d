"""What monitoring reads from the records, and the failed requests: narrow, column-wise queries.

`SqlRecordStore` answers record-shaped questions (a page of records, one prediction); monitoring
asks for a few columns of many rows (every answer's time, variant and latency over a day; the
tensors of the newest records for drift), and for the failed requests, which are not records.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from sqlalchemy import ColumnElement, Connection, Engine, func, or_, select, true

from berth.core.records import FeaturesServed, TensorsJson
from berth.storage.incarnations import holder_created_at, of_current_holder
from berth.storage.schema import prediction_errors, prediction_feedback, prediction_records
from berth.storage.transactions import run_transaction

_r = prediction_records.c
_e = prediction_errors.c
MAX_ROWS: Final = 2_000_000


class SqlRecordStats:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def timings(self, *, endpoint: str, start: datetime, end: datetime) -> list[tuple[datetime, str, float]]:
        """(time, variant, latency) of every caller-facing answer of `endpoint` in [start, end);
        the variant of a model called directly is ``model:version``."""
        stmt = (
            select(_r.recorded_at, _r.model, _r.version, _r.variant, _r.latency_s)
            .where(*_answered(endpoint, start, end))
            .limit(MAX_ROWS)
        )

        def work(conn: Connection) -> list[tuple[datetime, str, float]]:
            return [
                (row.recorded_at, row.variant or f"{row.model}:{row.version}", float(row.latency_s))
                for row in conn.execute(stmt)
            ]

        return run_transaction(self._engine, work)

    def busiest_version(self, *, endpoint: str, start: datetime, end: datetime) -> tuple[str, int] | None:
        """The (model, version) that answered most in the window (None: no answer)."""
        stmt = (
            select(_r.model, _r.version)
            .where(*_answered(endpoint, start, end))
            .group_by(_r.model, _r.version)
            .order_by(func.count().desc(), _r.version.desc())
            .limit(1)
        )

        def work(conn: Connection) -> tuple[str, int] | None:
            row = conn.execute(stmt).first()
            return None if row is None else (row.model, int(row.version))

        return run_transaction(self._engine, work)

    def count_answered(self, *, endpoint: str, start: datetime, end: datetime) -> int:
        stmt = select(func.count()).where(*_answered(endpoint, start, end))
        return run_transaction(self._engine, lambda conn: int(conn.execute(stmt).scalar_one()))

    def window_tensors(
        self, *, endpoint: str, start: datetime, end: datetime, limit: int
    ) -> list[tuple[str, int, TensorsJson, TensorsJson]]:
        """(model, version, model inputs, outputs) of the newest `limit` caller-facing answers."""
        stmt = (
            select(_r.model, _r.version, _r.inputs, _r.model_inputs, _r.outputs)
            .where(*_answered(endpoint, start, end))
            .order_by(_r.recorded_at.desc(), _r.id.desc())
            .limit(limit)
        )

        def work(conn: Connection) -> list[tuple[str, int, TensorsJson, TensorsJson]]:
            return [
                (
                    row.model,
                    int(row.version),
                    row.model_inputs if row.model_inputs is not None else row.inputs,
                    row.outputs,
                )
                for row in conn.execute(stmt)
            ]

        return run_transaction(self._engine, work)

    def window_requests(
        self, *, endpoint: str, start: datetime, end: datetime, limit: int
    ) -> list[tuple[TensorsJson, TensorsJson]]:
        """(inputs as received, model inputs) of the newest `limit` caller-facing answers (the model
        inputs are the inputs when no pre-step changed them)."""
        stmt = (
            select(_r.inputs, _r.model_inputs)
            .where(*_answered(endpoint, start, end))
            .order_by(_r.recorded_at.desc(), _r.id.desc())
            .limit(limit)
        )

        def work(conn: Connection) -> list[tuple[TensorsJson, TensorsJson]]:
            return [
                (row.inputs, row.model_inputs if row.model_inputs is not None else row.inputs)
                for row in conn.execute(stmt)
            ]

        return run_transaction(self._engine, work)

    def window_features_served(
        self, *, endpoint: str, start: datetime, end: datetime, limit: int
    ) -> list[FeaturesServed]:
        """What the ``features`` steps read (`FeaturesServed`) in the newest `limit` caller-facing
        answers that kept it."""
        stmt = (
            select(_r.features_served)
            .where(*_answered(endpoint, start, end), _r.features_served.is_not(None))
            .order_by(_r.recorded_at.desc(), _r.id.desc())
            .limit(limit)
        )

        def work(conn: Connection) -> list[FeaturesServed]:
            return [row.features_served for row in conn.execute(stmt)]

        return run_transaction(self._engine, work)

    def corrections_since(
        self,
        endpoint: str,
        since: datetime,
        *,
        until: datetime | None = None,
        held_since: datetime | None = None,
    ) -> int:
        """Feedback items received after `since` (and not after `until`, when given) for
        caller-facing records of `endpoint` (what a "retrain after N corrections" trigger
        counts). With `held_since` (when the trigger was
        made), none when the endpoint that has the name now was created after that: a trigger counts
        for the endpoint it was made for, not for a later holder of its name."""
        _f = prediction_feedback.c
        started = holder_created_at(endpoint)
        stmt = (
            select(func.count(func.distinct(_f.prediction_id)))
            .select_from(prediction_feedback.join(prediction_records, _r.prediction_id == _f.prediction_id))
            .where(
                _r.endpoint == endpoint,
                of_current_holder(endpoint, _r.recorded_at),
                _r.shadow_of.is_(None),
                _f.received_at > since,
                true() if until is None else _f.received_at <= until,
                true() if held_since is None else or_(started.is_(None), started <= held_since),
            )
        )
        return run_transaction(self._engine, lambda conn: int(conn.execute(stmt).scalar_one()))

    # -- failed requests ---------------------------------------------------------------------
    def error_counts(
        self, *, endpoint: str, start: datetime, end: datetime
    ) -> list[tuple[datetime, str, int]]:
        """(time, code, 1) of every failed request of `endpoint` in [start, end)."""
        stmt = (
            select(_e.recorded_at, _e.code)
            .where(
                _e.endpoint == endpoint,
                of_current_holder(endpoint, _e.recorded_at),
                _e.recorded_at >= start,
                _e.recorded_at < end,
            )
            .limit(MAX_ROWS)
        )
        return run_transaction(
            self._engine, lambda conn: [(r.recorded_at, r.code, 1) for r in conn.execute(stmt)]
        )


def _answered(endpoint: str, start: datetime, end: datetime) -> tuple[ColumnElement[bool], ...]:
    """Caller-facing answers of `endpoint` in [start, end) (shadow answers are not traffic)."""
    return (
        _r.endpoint == endpoint,
        of_current_holder(endpoint, _r.recorded_at),
        _r.recorded_at >= start,
        _r.recorded_at < end,
        _r.shadow_of.is_(None),
    )
