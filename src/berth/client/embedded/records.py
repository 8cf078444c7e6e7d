"""Prediction records of a home folder opened in this process (``--home``): `LocalRecords`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from berth.client.embedded.home import open_home
from berth.client.records import JsonDict, export_spool, jsonable, training_file, training_filters
from berth.control.record_service import RecordService
from berth.core.errors import BerthError, ErrorCode
from berth.core.record_requests import ExportBody, FeedbackBody, parse_time
from berth.core.records import FeedbackReport

FILTERS = ("endpoint", "model", "version", "variant", "entity_key", "start", "end", "has_feedback")


def open_local_records(home: str | Path | None) -> LocalRecords:
    workspace = open_home(home)

    def join(export_id: str, specs: list[dict[str, Any]]) -> None:
        from berth.control.feature_joins import joined_columns, resolve_joins

        joins = resolve_joins(specs, workspace.features.get)
        workspace.records.exports.extend(
            export_id, lambda table: joined_columns(table, joins, workspace.feature_history)
        )

    return LocalRecords(workspace.records, workspace.close, join)


class LocalRecords:
    """Records of an embedded home (what a `berth serve` on that home has ingested)."""

    def __init__(
        self,
        service: RecordService,
        close: Any,
        join: Callable[[str, list[dict[str, Any]]], None] | None = None,
    ) -> None:
        self._service = service
        self._close = close
        self._join = join

    def list(
        self, *, limit: int = 100, cursor: str | None = None, order: str = "newest", **filters: Any
    ) -> JsonDict:
        """Records, newest first; ``order="needs_review"``: those awaiting a correction, the most
        instructive first (`berth.control.review_order`)."""
        if order not in ("newest", "needs_review"):
            raise BerthError(ErrorCode.INVALID_REQUEST, "order must be 'newest' or 'needs_review'")
        body = ExportBody.model_validate(_filters(filters))
        query = replace(body.to_query(), limit=limit, after=cursor)
        read = self._service.needs_review if order == "needs_review" else self._service.query
        page = read(query)
        return {"records": [r.to_json() for r in page.records], "next_cursor": page.next_cursor}

    def get(self, prediction_id: str) -> JsonDict:
        records = self._service.get(prediction_id)
        return {"prediction_id": prediction_id, "records": [r.to_json() for r in records]}

    def feedback(
        self, items: Sequence[Mapping[str, Any]], entity_items: Sequence[Mapping[str, Any]] = ()
    ) -> JsonDict:
        body = FeedbackBody.model_validate(
            {
                "feedback": [jsonable(i) for i in items],
                "entity_feedback": [jsonable(i) for i in entity_items],
            }
        )
        outcomes: list[Any] = []
        if body.feedback:
            outcomes += self._service.add_feedback([i.to_feedback() for i in body.feedback]).outcomes
        if body.entity_feedback:
            outcomes += self._service.add_entity_feedback(
                [i.to_feedback() for i in body.entity_feedback]
            ).outcomes
        return FeedbackReport(tuple(outcomes)).to_json()

    def export(self, out: str | Path, **filters: Any) -> JsonDict:
        info = self._service.export(ExportBody.model_validate(_filters(filters)).to_query())
        with self._service.exports.open(info.id) as reader, Path(out).open("wb") as file:
            for chunk in reader:  # streamed from the export store, wherever it is
                file.write(chunk)
        return info.to_json() | {"path": str(out)}

    def training_set(
        self,
        out: str | Path,
        endpoint: str,
        *,
        start: Any = None,
        end: Any = None,
        with_feedback_only: bool = False,
        join: Sequence[Mapping[str, Any]] = (),
    ) -> JsonDict:
        """The training set of `endpoint`'s records in the Parquet file `out` (as `RemoteRecords`':
        an export, joined to the views of `join` as of each prediction, reshaped, then deleted)."""
        body = ExportBody.model_validate(
            _filters(training_filters(endpoint, start, end, with_feedback_only)) | {"join": list(join)}
        )
        if body.join and self._join is None:
            raise BerthError(ErrorCode.INVALID_REQUEST, "these records join no feature views")
        info = self._service.export(body.to_query())
        try:
            if body.join and self._join is not None:
                self._join(info.id, body.joins())
            with self._service.exports.open(info.id) as reader, export_spool(out) as spool:
                with spool.open("wb") as file:
                    for chunk in reader:
                        file.write(chunk)
                return training_file(spool, out, info.rows)
        finally:
            self._service.exports.discard(info.id)

    def erase(self, entity_key: str) -> JsonDict:
        return self._service.erase_entity(entity_key).to_json()

    def close(self) -> None:
        self._close()


def _filters(filters: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(filters) - set(FILTERS) - {"include_shadows"}
    if unknown:
        raise BerthError(ErrorCode.INVALID_REQUEST, f"unknown record filters {sorted(unknown)}")
    values = {k: v for k, v in filters.items() if v is not None}
    for key in ("start", "end"):
        if isinstance(values.get(key), str):
            values[key] = parse_time(key, values[key])
    return values
