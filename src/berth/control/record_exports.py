"""Prediction records as Parquet files, for offline analysis (pandas, DuckDB, Spark read them).

One row per record. Identity and routing columns are plain columns; the tensors (inputs, model
inputs, outputs) are JSON text in the record form (``{name: {datatype, shape, data}}``), which
DuckDB's ``json_extract`` and pandas' ``json.loads`` read without a schema per model. Feedback is
joined in (``feedback_label``, ``feedback_value``, ``feedback_observed_at``).

Exports made through a server live in its exports folder, under names berth chooses, so that
erasing an entity can rewrite them (`scrub_exports`): a customer's right to be forgotten reaches the
copies berth made. Who owns an export, and the quotas, are `berth.control.record_export_jobs`'.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from berth.core.errors import BerthError, ErrorCode
from berth.core.records import StoredRecord

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
    ]
)
ROWS_PER_GROUP: Final = 10_000
EXPORT_ID: Final = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}$")
Progress = Callable[[int], None]


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
    """Write `records` to `path` (atomically: a temporary file renamed); returns the row count.
    With `max_bytes`, a file growing past it is deleted and EXPORT_QUOTA_EXCEEDED raised."""
    tmp = path.with_name(path.name + ".tmp")
    rows = 0
    try:
        with pq.ParquetWriter(tmp, SCHEMA, compression="zstd") as writer:
            chunk: list[StoredRecord] = []
            for stored in records:
                chunk.append(stored)
                if len(chunk) >= ROWS_PER_GROUP:
                    writer.write_table(_table(chunk))
                    rows += len(chunk)
                    chunk = []
                    _check_size(tmp, max_bytes)
                    if progress is not None:
                        progress(rows)
            if chunk or rows == 0:
                writer.write_table(_table(chunk))
                rows += len(chunk)
        _check_size(tmp, max_bytes)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if progress is not None:
        progress(rows)
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
    return pa.Table.from_pydict(columns, schema=SCHEMA)


class ExportFolder:
    """The exports a server made, by id, in one folder it owns."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def size(self, export_id: str) -> int:
        """The bytes of export `export_id` (0 when it is gone or the id is not one)."""
        if not EXPORT_ID.match(export_id):
            return 0
        try:
            return (self.folder / f"{export_id}.parquet").stat().st_size
        except OSError:
            return 0

    def delete_older_than(self, cutoff: datetime) -> list[str]:
        """Delete every export file last written before `cutoff` (the retention); the ids gone."""
        if not self.folder.is_dir():
            return []
        gone = []
        for path in self.folder.glob("*.parquet"):
            try:
                if datetime.fromtimestamp(path.stat().st_mtime, UTC) < cutoff:
                    path.unlink()
                    gone.append(path.stem)
            except FileNotFoundError:
                continue
        return gone

    def new_path(self) -> tuple[str, Path]:
        self.folder.mkdir(parents=True, exist_ok=True)
        export_id = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"
        return export_id, self.folder / f"{export_id}.parquet"

    def path(self, export_id: str) -> Path:
        """The file of export `export_id` (an id is checked before it touches the file system)."""
        if not EXPORT_ID.match(export_id):
            raise BerthError(ErrorCode.INVALID_REQUEST, f"{export_id!r} is not an export id")
        path = self.folder / f"{export_id}.parquet"
        if not path.is_file():
            raise BerthError(ErrorCode.EXPORT_NOT_FOUND, f"no export {export_id!r}")
        return path

    def info(self, export_id: str) -> ExportInfo:
        path = self.path(export_id)
        stat = path.stat()
        rows = pq.ParquetFile(path).metadata.num_rows
        return ExportInfo(export_id, rows, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC))

    def list_all(self) -> list[ExportInfo]:
        if not self.folder.is_dir():
            return []
        ids = sorted((p.stem for p in self.folder.glob("*.parquet") if EXPORT_ID.match(p.stem)), reverse=True)
        return [self.info(i) for i in ids]

    def delete(self, export_id: str) -> None:
        self.path(export_id).unlink()

    def scrub(self, entity_key: str) -> int:
        """Rewrite every export without the rows of `entity_key`; returns how many rows went."""
        removed = 0
        if not self.folder.is_dir():
            return 0
        for path in sorted(self.folder.glob("*.parquet")):
            table = pq.read_table(path)
            keys = table.column("entity_key").to_pylist()
            keep = [k != entity_key for k in keys]
            gone = keep.count(False)
            if gone == 0:
                continue
            tmp = path.with_name(path.name + ".tmp")
            pq.write_table(table.filter(pa.array(keep)), tmp, compression="zstd")
            os.replace(tmp, path)
            removed += gone
        return removed
