"""Prediction records as Parquet files, for offline analysis (pandas, DuckDB, Spark read them).

One row per record. Identity and routing columns are plain columns; the tensors (inputs, model
inputs, outputs) are JSON text in the record form (``{name: {datatype, shape, data}}``), which
DuckDB's ``json_extract`` and pandas' ``json.loads`` read without a schema per model. Feedback is
joined in (``feedback_label``, ``feedback_value``, ``feedback_observed_at``); what the ``features``
steps read (``features_served``, `berth.core.records.FeaturesServed`) is JSON text too.

Exports live in the export store the settings name (`berth.storage.export_files.ExportFiles`: a folder
of the berth home, or a prefix in S3-compatible object storage, which every replica reaches), under
names berth chooses, so that erasing an entity can rewrite them (`ExportFolder.scrub`): a customer's
right to be forgotten reaches the copies berth made. `ExportFolder` reads them through the store's
`pyarrow.fs` file system, whichever it is: listing, sizes, times (retention), Parquet footers (row
counts) and row groups (scrubbing); it writes each into a local spool file and has the store publish
it whole. Who owns an export, and the quotas, are `berth.control.record_export_jobs`'.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final, TypeVar

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyarrow import fs as pafs

from berth.core.errors import BerthError, ErrorCode
from berth.core.records import StoredRecord
from berth.storage.export_files import ByteStream, ExportFiles

SCHEMA: Final = pa.schema(
    [
        ("prediction_id", pa.string()),
        ("recorded_at", pa.timestamp("us", tz="UTC")),
        ("endpoint", pa.string()),
        ("model", pa.string()),
        ("version", pa.int32()),
        ("variant", pa.string()),
        ("entity_key", pa.string()),
        ("shadow_of", pa.string()),
        ("latency_s", pa.float64()),
        ("inputs", pa.string()),
        ("model_inputs", pa.string()),
        ("outputs", pa.string()),
        ("feedback_label", pa.string()),
        ("feedback_value", pa.float64()),
        ("feedback_observed_at", pa.timestamp("us", tz="UTC")),
        ("features_served", pa.string()),
    ]
)
ROWS_PER_GROUP: Final = 10_000
EXPORT_ID: Final = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}$")
SUFFIX: Final = ".parquet"
CHUNK_BYTES: Final = 1024 * 1024
"""Bytes read from the store at a time when an export is downloaded."""
Progress = Callable[[int], None]
T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ExportInfo:
    id: str
    rows: int
    bytes: int
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "rows": self.rows,
            "bytes": self.bytes,
            "created_at": self.created_at.isoformat(),
        }


def write_parquet(
    records: Iterable[StoredRecord],
    path: Path,
    progress: Progress | None = None,
    *,
    max_bytes: int | None = None,
) -> int:
    """Write `records` to the local file `path`; returns the row count. With `max_bytes`, a file
    growing past it raises EXPORT_QUOTA_EXCEEDED (the caller deletes it)."""
    rows = 0
    with pq.ParquetWriter(path, SCHEMA, compression="zstd") as writer:
        chunk: list[StoredRecord] = []
        for stored in records:
            chunk.append(stored)
            if len(chunk) >= ROWS_PER_GROUP:
                writer.write_table(_table(chunk))
                rows += len(chunk)
                chunk = []
                _check_size(path, max_bytes)
                if progress is not None:
                    progress(rows)
        if chunk or rows == 0:
            writer.write_table(_table(chunk))
            rows += len(chunk)
    _check_size(path, max_bytes)
    return rows


def _check_size(path: Path, max_bytes: int | None) -> None:
    if max_bytes is not None and path.stat().st_size > max_bytes:
        raise BerthError(
            ErrorCode.EXPORT_QUOTA_EXCEEDED,
            f"the export grew past the {max_bytes} bytes left of the exports quota; narrow it, or "
            "delete older exports",
        )


def _table(chunk: list[StoredRecord]) -> pa.Table:
    columns: dict[str, list[Any]] = {name: [] for name in SCHEMA.names}
    for stored in chunk:
        r = stored.record
        fb = stored.feedback
        columns["prediction_id"].append(r.prediction_id)
        columns["recorded_at"].append(r.recorded_at)
        columns["endpoint"].append(r.endpoint)
        columns["model"].append(r.model)
        columns["version"].append(r.version)
        columns["variant"].append(r.variant)
        columns["entity_key"].append(r.entity_key)
        columns["shadow_of"].append(r.shadow_of)
        columns["latency_s"].append(r.latency_s)
        columns["inputs"].append(orjson.dumps(r.inputs).decode())
        columns["model_inputs"].append(
            None if r.model_inputs is None else orjson.dumps(r.model_inputs).decode()
        )
        columns["outputs"].append(orjson.dumps(r.outputs).decode())
        columns["feedback_label"].append(None if fb is None else fb.label)
        columns["feedback_value"].append(None if fb is None else fb.value)
        columns["feedback_observed_at"].append(None if fb is None else fb.observed_at)
        columns["features_served"].append(
            None if r.features_served is None else orjson.dumps(r.features_served).decode()
        )
    return pa.Table.from_pydict(columns, schema=SCHEMA)


class ExportReader:
    """An export's bytes as the store held them when it was opened, read a chunk at a time: iterate
    it, then close it (it is a context manager)."""

    def __init__(self, stream: ByteStream, size: int) -> None:
        self._stream = stream
        self.size = size

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self._stream.read(CHUNK_BYTES):
            yield chunk

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> ExportReader:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


class ExportFolder:
    """The exports berth made, by id, in one export store (a folder here, or a prefix in object
    storage that every replica reaches). An id is checked before it names a file."""

    def __init__(self, files: ExportFiles) -> None:
        self._files = files
        self._fs = files.filesystem

    @property
    def location(self) -> str:
        return self._files.location

    def write(
        self,
        records: Iterable[StoredRecord],
        progress: Progress | None = None,
        *,
        max_bytes: int | None = None,
    ) -> str:
        """A new export of `records` (at most `max_bytes`: EXPORT_QUOTA_EXCEEDED past it); its id.
        It is written to a local spool, then published whole: nobody sees a part of it, and a failed
        export leaves nothing behind."""
        export_id = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"
        spool = self._files.spool(_name(export_id))
        try:
            rows = write_parquet(records, spool, progress, max_bytes=max_bytes)
            self._files.publish(spool, _name(export_id))
        finally:
            spool.unlink(missing_ok=True)
        if progress is not None:
            progress(rows)
        return export_id

    def size(self, export_id: str) -> int:
        """The bytes of export `export_id` (0 when it is gone or the id is not one)."""
        if not EXPORT_ID.fullmatch(export_id):
            return 0
        found = self._io("read", self._fs.get_file_info, self._path(export_id))
        return int(found.size) if found.type == pafs.FileType.File else 0

    def info(self, export_id: str) -> ExportInfo:
        """Its rows (from the Parquet footer: the rows are not read), bytes and time
        (EXPORT_NOT_FOUND when there is none)."""
        path = self._path(_checked(export_id))
        try:
            found = self._io("read", self._fs.get_file_info, path)
            if found.type != pafs.FileType.File:
                raise FileNotFoundError(path)
            with self._io("read", self._fs.open_input_file, path) as file:
                rows = int(self._io("read", lambda: pq.ParquetFile(file).metadata.num_rows))
        except FileNotFoundError:
            raise _missing(export_id) from None
        return ExportInfo(export_id, rows, int(found.size), found.mtime)

    def list_all(self) -> list[ExportInfo]:
        """Every export, newest first."""
        exports = []
        for export_id in sorted((i for i, _ in self._listing()), reverse=True):
            try:
                exports.append(self.info(export_id))
            except BerthError as error:
                if error.code is not ErrorCode.EXPORT_NOT_FOUND:  # deleted meanwhile: not listed
                    raise
        return exports

    def open(self, export_id: str) -> ExportReader:
        """Export `export_id`'s bytes, streamed from the store (EXPORT_NOT_FOUND when there is none)."""
        _checked(export_id)
        try:
            stream, size = self._io("read", self._files.open, _name(export_id))
        except FileNotFoundError:
            raise _missing(export_id) from None
        return ExportReader(stream, size)

    def delete(self, export_id: str) -> None:
        """Delete export `export_id` (EXPORT_NOT_FOUND when there is none)."""
        if self.size(_checked(export_id)) == 0:
            raise _missing(export_id)
        self.discard(export_id)

    def discard(self, export_id: str) -> None:
        """Delete export `export_id` if there is one."""
        self._io("delete", self._files.delete, _name(_checked(export_id)))

    def delete_older_than(self, cutoff: datetime) -> list[str]:
        """Delete every export last written before `cutoff` (the retention); the ids gone."""
        gone = []
        for export_id, found in self._listing():
            if found.mtime is not None and found.mtime < cutoff:
                self.discard(export_id)
                gone.append(export_id)
        return gone

    def scrub(self, entity_key: str) -> int:
        """Rewrite every export without the rows of `entity_key`; returns how many rows went. An export
        is read a row group at a time and published whole, like a new one."""
        removed = 0
        for export_id, _ in sorted(self._listing()):
            try:
                removed += self._scrub_one(export_id, entity_key)
            except FileNotFoundError:  # deleted meanwhile
                continue
        return removed

    def extend(
        self,
        export_id: str,
        columns_of: Callable[[pa.Table], dict[str, pa.Array]],
        progress: Progress | None = None,
    ) -> None:
        """Rewrite export `export_id` with the columns `columns_of` gives each row group (the point-in-
        time join, `berth.control.feature_joins`), a row group at a time, published whole."""
        path = self._path(_checked(export_id))
        with self._io("read", self._fs.open_input_file, path) as file:
            parquet = self._io("read", pq.ParquetFile, file)
            spool = self._files.spool(_name(export_id))
            writer: pq.ParquetWriter | None = None
            try:
                done = 0
                for group in range(parquet.num_row_groups):
                    table = self._io("read", parquet.read_row_group, group)
                    for name, column in columns_of(table).items():
                        table = table.append_column(name, column)
                    if writer is None:
                        writer = pq.ParquetWriter(spool, table.schema, compression="zstd")
                    writer.write_table(table)
                    done += table.num_rows
                    if progress is not None:
                        progress(done)
                if writer is not None:  # an export without row groups has no rows to extend
                    writer.close()
                    writer = None
                    self._files.publish(spool, _name(export_id))
            finally:
                if writer is not None:
                    writer.close()
                spool.unlink(missing_ok=True)

    # -- pieces --------------------------------------------------------------------------------
    def _scrub_one(self, export_id: str, entity_key: str) -> int:
        path = self._path(export_id)
        with self._io("read", self._fs.open_input_file, path) as file:
            parquet = self._io("read", pq.ParquetFile, file)
            keys = self._io("read", parquet.read, columns=["entity_key"]).column("entity_key")
            gone = int(pc.sum(pc.equal(keys, entity_key)).as_py() or 0)
            if gone == 0:
                return 0
            spool = self._files.spool(_name(export_id))
            try:
                with pq.ParquetWriter(spool, parquet.schema_arrow, compression="zstd") as writer:
                    for group in range(parquet.num_row_groups):
                        table = self._io("read", parquet.read_row_group, group)
                        keep = pc.fill_null(pc.not_equal(table.column("entity_key"), entity_key), True)
                        writer.write_table(table.filter(keep))
                self._files.publish(spool, _name(export_id))
            finally:
                spool.unlink(missing_ok=True)
        return gone

    def _listing(self) -> list[tuple[str, Any]]:
        """The exports in the store: (id, pyarrow FileInfo); anything else there is passed by."""
        selector = pafs.FileSelector(self._files.root, allow_not_found=True)
        found = self._io("list", self._fs.get_file_info, selector)
        exports = []
        for info in found:
            export_id = info.base_name.removesuffix(SUFFIX)
            if (
                info.type == pafs.FileType.File
                and info.base_name == _name(export_id)
                and EXPORT_ID.fullmatch(export_id)
            ):
                exports.append((export_id, info))
        return exports

    def _path(self, export_id: str) -> str:
        return f"{self._files.root}/{_name(export_id)}"

    def _io(self, action: str, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`call(...)` on the store: FileNotFoundError as it is, other I/O errors UNAVAILABLE."""
        try:
            return call(*args, **kwargs)
        except FileNotFoundError:
            raise
        except OSError as error:
            log.warning("the export store %s could not %s: %s", self.location, action, error)
            raise BerthError(
                ErrorCode.UNAVAILABLE,
                f"the export store {self.location} could not {action}",
                store=self.location,
            ) from None


def _name(export_id: str) -> str:
    return f"{export_id}{SUFFIX}"


def _checked(export_id: str) -> str:
    """`export_id`, if it is one (checked before it touches a path or a key)."""
    if not EXPORT_ID.fullmatch(export_id):
        raise BerthError(ErrorCode.INVALID_REQUEST, f"{export_id!r} is not an export id")
    return export_id


def _missing(export_id: str) -> BerthError:
    return BerthError(ErrorCode.EXPORT_NOT_FOUND, f"no export {export_id!r}")
