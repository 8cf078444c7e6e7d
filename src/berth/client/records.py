"""Prediction records and feedback as the CLI and the SDK see them: remote (a server URL) or
embedded (a home folder). Both answer with the JSON views of the REST API (``/api/v1/records``);
the embedded one (`berth.client.embedded.records`) is imported only when a home is opened.

    import berth
    recs = berth.records(url="http://127.0.0.1:8080")
    page = recs.list(endpoint="feedback-router", has_feedback=False, limit=50)
    recs.feedback([{"prediction_id": page["records"][0]["prediction_id"], "label": "card_lost"}])
    recs.export("records.parquet", endpoint="feedback-router")
    recs.training_set("train.parquet", "feedback-router", with_feedback_only=True)
    recs.erase("customer-42")
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias
from urllib.parse import quote

from berth.client.transport import Transport
from berth.core.errors import BerthError, ErrorCode

if TYPE_CHECKING:
    from berth.client.embedded.records import LocalRecords

JsonDict = dict[str, Any]


# What both implementations take: the remote one here, the embedded one
# (`berth.client.embedded.records`) when a home is opened. mypy checks each call against both.
Records: TypeAlias = "RemoteRecords | LocalRecords"


def open_records(
    *, home: str | Path | None = None, url: str | None = None, token: str | None = None
) -> Records:
    """The records of the server at `url` (called with `token`, default ``BERTH_TOKEN``), else of
    the embedded registry in `home`."""
    url = url or (None if home is not None else os.environ.get("BERTH_URL"))
    if url:
        return RemoteRecords(url, token=token)
    from berth.client.embedded.records import open_local_records

    return open_local_records(home)


class RemoteRecords:
    """Records behind a running server's API."""

    def __init__(self, url: str, *, timeout: float = 300.0, token: str | None = None) -> None:
        self._http = Transport(url, timeout=timeout, token=token)

    def list(self, *, limit: int = 100, cursor: str | None = None, **filters: Any) -> JsonDict:
        params = {k: _param(v) for k, v in filters.items() if v is not None}
        params["limit"] = str(limit)
        if cursor:
            params["cursor"] = cursor
        body: JsonDict = self._http.json("GET", "/api/v1/records", params=params)
        return body

    def get(self, prediction_id: str) -> JsonDict:
        body: JsonDict = self._http.json("GET", f"/api/v1/records/{quote(prediction_id, safe='')}")
        return body

    def feedback(
        self, items: Sequence[Mapping[str, Any]], entity_items: Sequence[Mapping[str, Any]] = ()
    ) -> JsonDict:
        body = {
            "feedback": [jsonable(i) for i in items],
            "entity_feedback": [jsonable(i) for i in entity_items],
        }
        answer: JsonDict = self._http.json("POST", "/api/v1/feedback", json=body)
        return answer

    def export(self, out: str | Path, *, wait_s: float = 3600.0, **filters: Any) -> JsonDict:
        """Ask the server for an export (a job), wait until it is written, download it to `out`."""
        body = {k: _param(v) for k, v in filters.items() if v is not None}
        job: JsonDict = self._http.json("POST", "/api/v1/records/exports", json=body)
        path = f"/api/v1/records/exports/{int(job['id'])}"
        deadline = time.monotonic() + wait_s
        pause = 0.1
        while job["status"] in ("queued", "running"):
            if time.monotonic() > deadline:
                raise BerthError(ErrorCode.REQUEST_TIMEOUT, f"export {job['id']} is still {job['status']}")
            time.sleep(pause)
            pause = min(pause * 2, 2.0)
            job = self._http.json("GET", path)
        if job["status"] != "succeeded":
            code = ErrorCode(job["error"]) if job.get("error") in set(ErrorCode) else ErrorCode.INTERNAL
            raise BerthError(code, f"export {job['id']} {job['status']} ({job.get('error')})")
        written = self._http.download(f"{path}/file", Path(out))
        return {"id": job["id"], "rows": job["rows"], "bytes": written, "path": str(out)}

    def training_set(
        self,
        out: str | Path,
        endpoint: str,
        *,
        start: Any = None,
        end: Any = None,
        with_feedback_only: bool = False,
        join: Sequence[Mapping[str, Any]] = (),
        wait_s: float = 3600.0,
    ) -> JsonDict:
        """The training set of `endpoint`'s records (`berth.control.training_sets`: one row per
        predicted row, the model inputs as served) in the Parquet file `out`. A view over an export
        of those records: made, downloaded next to `out`, reshaped, then deleted on the server.
        `join`: feature views whose offline history is joined as of each prediction's time
        (``{"view", "features"?, "key"?}``, `berth.control.feature_joins`), done by the server."""
        filters = training_filters(endpoint, start, end, with_feedback_only)
        if join:
            filters["join"] = [dict(j) for j in join]
        with export_spool(out) as spool:
            exported = self.export(spool, wait_s=wait_s, **filters)
            self._http.json("DELETE", f"/api/v1/records/exports/{int(exported['id'])}")
            return training_file(spool, out, exported["rows"])

    def erase(self, entity_key: str) -> JsonDict:
        body: JsonDict = self._http.json("DELETE", "/api/v1/records", params={"entity_key": entity_key})
        return body

    def close(self) -> None:
        self._http.close()


def training_filters(endpoint: str, start: Any, end: Any, with_feedback_only: bool) -> JsonDict:
    """The export filters of a training set: the endpoint's caller-facing records in the window."""
    return {"endpoint": endpoint, "start": start, "end": end, "has_feedback": with_feedback_only or None}


def training_file(export: Path, out: str | Path, records: int) -> JsonDict:
    """Reshape the export file `export` into the training set `out`; what was written."""
    from berth.control.training_sets import write_training_set  # pyarrow: when one is asked for

    rows = write_training_set(export, Path(out))
    return {"records": records, "rows": rows, "path": str(out)}


@contextmanager
def export_spool(out: str | Path) -> Iterator[Path]:
    """A scratch file next to `out` for the export, removed however the training set ends."""
    target = Path(out)
    spool = target.with_name(f".{target.name}.export-{os.getpid()}.parquet")
    try:
        yield spool
    finally:
        spool.unlink(missing_ok=True)


def _param(value: Any) -> Any:
    if isinstance(value, bool):
        return str(value).lower()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def jsonable(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _param(v) if k == "observed_at" else v for k, v in item.items()}
