"""Record exports as jobs: owned by the principal who asked, bounded by quotas, deleted after a while.

An export writes a Parquet file into the export store (a folder of the berth home, or object
storage every replica reaches), so asking for one is a claim on a shared resource. `RecordExports`
is the one place that decides about them, for every route:

- an export is a job of kind ``records-export`` (`EXPORT_KIND`, run by the server's embedded export
  worker or any ``berth worker``), with progress; its file goes to the export store under a name
  berth chooses (`ExportFolder.write`);
- it belongs to its creator (the job's ``created_by``): only they, and platform administrators,
  list, read, download and delete it; anyone else gets the answer of an export that does not exist
  (`EXPORT_NOT_FOUND`);
- per principal, at most `ExportQuotas.max_running` exports queued or running, and at most
  `max_bytes` bytes kept: each export may grow to what is left of the quota, less what the
  principal's running exports may still write, and at most ``max_bytes / max_running`` (so kept and
  running exports together never pass the quota); one growing past its share is stopped and its
  file deleted, and a new export is refused (`EXPORT_QUOTA_EXCEEDED`, 429) when nothing is left;
- export files older than `retention` are deleted (`sweep`, on every create and list, and by the
  job); a deleted export is no longer listed.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from berth.control.feature_joins import joined_columns, resolve_joins
from berth.control.jobs.context import JobContext, JobStopped
from berth.control.jobs.kind import JobKind
from berth.control.jobs.service import JobService
from berth.control.record_exports import ROWS_PER_GROUP, ExportFolder, ExportInfo, ExportReader
from berth.core.errors import BerthError, ErrorCode
from berth.core.features import FeatureView
from berth.core.jobs import Job, JobQuery, JobStatus, JsonObject, NewJob
from berth.core.record_requests import ExportBody

EXPORT_KIND: Final = "records-export"
_LISTED: Final = 500
_ERROR_CODE = re.compile(r"^\[([a-z_]+)\]")


@dataclass(frozen=True, slots=True)
class ExportQuotas:
    max_running: int = 2
    max_bytes: int = 1 << 30
    retention: timedelta = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Requester:
    """Who asks: a principal's name, and whether it may see every principal's exports."""

    name: str
    admin: bool


def _check_params(params: JsonObject) -> JsonObject:
    try:
        filters = ExportBody.model_validate(params.get("filters", {}) | {"join": params.get("join") or []})
    except ValueError as exc:
        raise BerthError(ErrorCode.INVALID_JOB_PARAMS, f"{EXPORT_KIND}: bad filters: {exc}") from None
    max_bytes = params.get("max_bytes")
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
        raise BerthError(ErrorCode.INVALID_JOB_PARAMS, f"{EXPORT_KIND}: max_bytes is a byte count")
    joins = {"join": filters.joins()} if filters.join else {}
    return {"filters": filters.filters(), "max_bytes": max_bytes} | joins


def _run(params: JsonObject, ctx: JobContext) -> JsonObject:
    records = ctx.workspace.records
    query = ExportBody.model_validate(params["filters"]).to_query()

    def progress(rows: int) -> None:  # the total is not known up front: a fraction that never reaches 1
        ctx.progress(min(0.99, rows / (rows + 5 * ROWS_PER_GROUP)), f"{rows} records written")

    info = records.export(query, progress, max_bytes=int(params["max_bytes"]))
    try:
        if params.get("join"):
            info = _joined(info, params, ctx)
        ctx.progress(1.0, f"{info.rows} records written")
    except (JobStopped, BerthError):  # cancelled while written, or the join failed: the file goes too
        records.exports.discard(info.id)
        raise
    return {"export_id": info.id, "rows": info.rows, "bytes": info.bytes}


def _joined(info: ExportInfo, params: JsonObject, ctx: JobContext) -> ExportInfo:
    """The export with the features `params["join"]` names joined as of each prediction's time."""
    workspace = ctx.workspace
    exports = workspace.records.exports
    joins = resolve_joins(params["join"], workspace.features.get)

    def progress(rows: int) -> None:
        ctx.progress(min(0.99, rows / max(info.rows, 1)), f"joined {rows} of {info.rows} records")

    exports.extend(info.id, lambda table: joined_columns(table, joins, workspace.feature_history), progress)
    joined = exports.info(info.id)
    if joined.bytes > int(params["max_bytes"]):
        raise BerthError(
            ErrorCode.EXPORT_QUOTA_EXCEEDED,
            f"the export with its joined features grew past the {params['max_bytes']} bytes left of the "
            "exports quota; narrow it, or delete older exports",
        )
    return joined


RECORDS_EXPORT: Final = JobKind(
    EXPORT_KIND,
    _run,
    _check_params,
    "Prediction records (with feedback) to a Parquet file in the exports folder; made through "
    "POST /api/v1/records/exports",
)


class RecordExports:
    """Exports as their owners (and administrators) see them; see the module doc."""

    def __init__(
        self,
        jobs: JobService,
        folder: ExportFolder,
        quotas: ExportQuotas,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_enqueued: Callable[[], None] = lambda: None,
        view_of: Callable[[str], FeatureView] | None = None,
    ) -> None:
        self._view_of = view_of
        self._on_enqueued = on_enqueued
        self._jobs = jobs
        self._folder = folder
        self._quotas = quotas
        self._clock = clock
        self._creating = threading.Lock()

    def create(self, requester: Requester, filters: ExportBody) -> JsonObject:
        """Enqueue an export of `filters` owned by `requester` (EXPORT_QUOTA_EXCEEDED over quota);
        its joins checked against the views (their rights are the caller's to check)."""
        if filters.join:
            if self._view_of is None:
                raise BerthError(ErrorCode.INVALID_REQUEST, "this server joins no feature views")
            resolve_joins(filters.joins(), self._view_of)
        self.sweep()
        with self._creating:  # the quota check and the enqueue, one at a time in this process
            mine = self._owned(requester.name)
            running = [j for j in mine if not j.status.finished]
            if len(running) >= self._quotas.max_running:
                raise BerthError(
                    ErrorCode.EXPORT_QUOTA_EXCEEDED,
                    f"{len(running)} exports of yours are queued or running (at most "
                    f"{self._quotas.max_running}): wait for them, or delete one",
                )
            kept = sum(self._bytes(j) for j in mine)
            reserved = sum(int(j.params.get("max_bytes", 0)) for j in running)
            share = min(
                self._quotas.max_bytes - kept - reserved, self._quotas.max_bytes // self._quotas.max_running
            )
            if share <= 0:
                raise BerthError(
                    ErrorCode.EXPORT_QUOTA_EXCEEDED,
                    f"your exports keep {kept} bytes and reserve {reserved} more (at most "
                    f"{self._quotas.max_bytes}): delete some, "
                    f"or wait until they expire ({self._quotas.retention} after they were made)",
                )
            params = {"filters": filters.filters(), "max_bytes": share}
            if filters.join:
                params["join"] = filters.joins()
            job = self._jobs.enqueue(
                NewJob(
                    EXPORT_KIND, params, max_attempts=1, created_by=requester.name, reason="records export"
                )
            )
        return self.view(job)

    def list_for(self, requester: Requester) -> list[JsonObject]:
        """The requester's exports (every principal's for an administrator), newest first."""
        self.sweep()
        jobs = self._owned(None if requester.admin else requester.name)
        return [self.view(j) for j in jobs if self._listed(j)]

    def get(self, requester: Requester, export_id: int) -> JsonObject:
        return self.view(self._visible(requester, export_id))

    def file(self, requester: Requester, export_id: int) -> tuple[ExportReader, JsonObject]:
        """The Parquet file of a finished export, opened to be streamed from the store (the caller
        closes it), and its view."""
        job = self._visible(requester, export_id)
        if job.status is not JobStatus.SUCCEEDED:
            raise BerthError(
                ErrorCode.CONFLICT,
                f"export {export_id} is {job.status.value}: its file is there once it has succeeded",
            )
        return self._folder.open(_file_id(job)), self.view(job)

    def delete(self, requester: Requester, export_id: int) -> None:
        """Stop the export if it still runs, and delete its file."""
        job = self._visible(requester, export_id)
        if not job.status.finished:
            try:
                self._jobs.cancel(job.id)
            except BerthError as exc:
                if exc.code is not ErrorCode.CONFLICT:  # it finished meanwhile: delete its file
                    raise
                job = self._jobs.get_job(job.id)
        if job.status is JobStatus.SUCCEEDED:
            self._folder.discard(_file_id(job))

    def sweep(self) -> list[str]:
        """Delete the export files older than the retention; the ids deleted."""
        return self._folder.delete_older_than(self._clock() - self._quotas.retention)

    def view(self, job: Job) -> JsonObject:
        result = job.result if isinstance(job.result, dict) else {}
        made = job.finished_at or job.created_at
        view: dict[str, Any] = {
            "id": job.id,
            "status": job.status.value,
            "progress": job.progress,
            "message": job.progress_message,
            "created_by": job.created_by,
            "created_at": job.created_at.isoformat(),
            "finished_at": None if job.finished_at is None else job.finished_at.isoformat(),
            "filters": job.params.get("filters", {}),
            "rows": result.get("rows"),
            "bytes": result.get("bytes"),
            "expires_at": (made + self._quotas.retention).isoformat(),
            "error": _error_code(job.error),
        }
        if job.params.get("join"):
            view["join"] = job.params["join"]
        return view

    # -- pieces --------------------------------------------------------------------------------
    def _owned(self, owner: str | None) -> list[Job]:
        return self._jobs.list_jobs(JobQuery(kind=EXPORT_KIND, created_by=owner, limit=_LISTED))

    def _visible(self, requester: Requester, export_id: int) -> Job:
        missing = BerthError(ErrorCode.EXPORT_NOT_FOUND, f"no export {export_id}", export=export_id)
        try:
            job = self._jobs.get_job(export_id)
        except BerthError as exc:
            if exc.code is ErrorCode.JOB_NOT_FOUND:
                raise missing from None
            raise
        if job.kind != EXPORT_KIND or not (requester.admin or job.created_by == requester.name):
            raise missing
        if not self._listed(job):
            raise missing
        return job

    def _listed(self, job: Job) -> bool:
        """Whether an export still exists: not finished, failed, or succeeded with its file kept."""
        if job.status is JobStatus.CANCELLED:
            return False
        if job.status is JobStatus.SUCCEEDED:
            return self._bytes(job) > 0
        return True

    def _bytes(self, job: Job) -> int:
        return self._folder.size(_file_id(job)) if job.status is JobStatus.SUCCEEDED else 0


def _file_id(job: Job) -> str:
    result = job.result if isinstance(job.result, dict) else {}
    return str(result.get("export_id", ""))


def _error_code(error: str | None) -> str | None:
    """A failed export's error, as its owner sees it: the error code only (never a server's text)."""
    if error is None:
        return None
    found = _ERROR_CODE.match(error)
    return found.group(1) if found else ErrorCode.INTERNAL.value
