"""The batch-score job over Parquet in S3-compatible object storage (``s3://`` input and output), on
Spark or in the worker's own process, without Hadoop's S3 connector (pyspark ships no
``hadoop-aws``, and nothing is downloaded at run time).

Where a job may go is the operator's choice, not the request's: every URI is checked by the
workspace's `BatchData` (`Settings.batch_s3_allow`; FORBIDDEN outside it, and never written under
the artifacts' or exports' prefix), which reaches storage with the ``s3_*`` settings and the
worker's AWS credentials.

**On Spark** the driver (the worker) lists the input's Parquet objects and reads their footers, then
cuts the work into pieces of whole row groups (consecutive row groups of one object, up to
`TASK_ROWS` rows; a larger row group is a piece of its own) and runs one Spark task per piece: the
task reads its row groups with pyarrow (ranged GETs), scores them in batches of `BATCH_ROWS` with the
model its Python worker loaded once (`berth.runtime.spark_scoring.loaded`: the artifact the driver
shipped with ``addFile``, verified), and writes its part, ``part-NNNNN.parquet`` (N: the task's
number), into a hidden staging folder next to the output (``.<name>.<job id>.partial/``). Rows get
prediction ids as on the other Spark path: the run's 16 hex characters, then
``(task number << 33) + row in the task`` in 16, the value ``monotonically_increasing_id`` gives.

**Publishing.** S3 has no rename. When every task has succeeded, the driver deletes the old output's
objects (its ``_SUCCESS`` marker first), copies the parts into the output folder (server-side copies)
and writes ``_SUCCESS`` last, a small JSON document naming the job, the version, the rows and the
parts. A reader that must never see a partial result waits for ``_SUCCESS`` (as with Hadoop's
committers); readers of Parquet folders (pyarrow, pandas, Spark, DuckDB) skip ``_``- and
``.``-prefixed names. A failed or cancelled job deletes its staging folder and leaves the old output
as it was. An output folder holding anything but an earlier output's parts and marker is refused.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from berth.control.jobs.batch_score import ID_COLUMN, PredictionIds, bad, score_with_runtime
from berth.control.jobs.context import JobContext
from berth.core.errors import BerthError, ErrorCode
from berth.core.jobs import JsonObject
from berth.storage.batch_data import BatchData, ParquetObject, S3Place

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from berth.core.entities import Version
    from berth.runtime.spark_scoring import Field, ModelSource

TASK_ROWS: Final = 262_144
"""Most rows of one Spark task (whole row groups: a larger row group is a task of its own)."""
BATCH_ROWS: Final = 10_000
"""Rows per predict call in a task (Spark's own Arrow batch size)."""
ARROW_TYPES: Final = {
    "boolean": "bool",
    "tinyint": "int8",
    "smallint": "int16",
    "int": "int32",
    "bigint": "int64",
    "float": "float32",
    "double": "float64",
    "string": "string",
}
"""Spark SQL type of an output column -> its Arrow type in the written Parquet (as Spark writes it)."""


@dataclass(frozen=True, slots=True)
class Piece:
    """The row groups of one object that one task scores."""

    place: S3Place
    row_groups: tuple[int, ...]
    rows: int


def run_on_spark_s3(params: JsonObject, ctx: JobContext) -> JsonObject:
    from berth.control.jobs.batch_score_spark import ONE_APPLICATION, linked, spark_session, while_reporting
    from berth.runtime.spark_scoring import ShippedArtifact, output_fields

    data = ctx.workspace.batch_data
    source, target = _places(data, params)
    objects = data.parquet_objects(source)
    if not objects:
        raise bad(f"'input' {params['input']!r} holds no Parquet object")
    version = ctx.workspace.store.resolve(params["model"], params["ref"])
    fields = output_fields(version.signature, params["outputs"])
    _check_columns(objects, version, fields)
    data.check_replaceable(target)
    pieces = list(_pieces(objects))
    if not pieces:
        raise bad(f"'input' {params['input']!r} holds no rows")
    staging = target.sibling(f".{target.name}.{ctx.job.id}.partial")
    ctx.progress(
        0.0,
        f"starting Spark ({params['spark_master']}): {len(pieces)} tasks, {version.model} v{version.number}",
    )
    artifact = ctx.workspace.artifacts.fetch(version.artifact)  # verified against its sha256
    ids = PredictionIds()
    with ONE_APPLICATION, tempfile.TemporaryDirectory(prefix="berth-spark-") as shipping:
        spark = spark_session(params["spark_master"], f"berth batch-score job {ctx.job.id}")
        try:
            data.discard(staging)
            file_name = f"berth-{version.artifact.sha256}"
            spark.sparkContext.addFile(str(linked(artifact, Path(shipping) / file_name)))
            task = ScorePieces(
                data, ShippedArtifact(version, file_name), version, tuple(fields), ids.prefix, staging
            )
            counted: list[int] = []
            run = spark.sparkContext.parallelize(pieces, len(pieces)).mapPartitionsWithIndex(task)
            while_reporting(spark, f"berth-job-{ctx.job.id}", ctx, lambda: counted.extend(run.collect()))
            rows = sum(counted)
            marker = {"job": ctx.job.id, "model": version.model, "version": version.number,
                      "rows": rows, "parts": len(pieces)}  # fmt: skip
            ctx.progress(0.99, f"publishing {len(pieces)} parts to {target.uri}")
            data.publish(staging, target, json.dumps(marker).encode())
        finally:
            spark.stop()
            data.discard(staging)
    ctx.progress(1.0, f"scored {rows} rows on Spark")
    return {"model": version.model, "version": version.number, "rows": rows,
            "output": params["output"], "engine": "spark"}  # fmt: skip


def run_locally_on_s3(params: JsonObject, ctx: JobContext) -> JsonObject:
    """The single-process engine over ``s3://``: the input's Parquet objects read in turn, the CSV
    written locally, then put whole (one PUT or a multipart upload completed at the end)."""
    data = ctx.workspace.batch_data
    source, target = _places(data, params)
    objects = data.parquet_objects(source)
    if not objects:
        raise bad(f"'input' {params['input']!r} holds no Parquet object")
    version = ctx.workspace.store.resolve(params["model"], params["ref"])
    chunk_rows = int(params["chunk_rows"])

    def chunks() -> Iterator[pd.DataFrame]:
        for obj in objects:
            table = data.read(obj.place)
            for batch in table.to_batches(max_chunksize=chunk_rows):
                yield batch.to_pandas()

    total = sum(obj.rows for obj in objects)
    with tempfile.TemporaryDirectory(prefix="berth-batch-") as folder:
        written = Path(folder) / "scored.csv"
        rows = score_with_runtime(version, ctx, chunks(), total, written, params)
        data.upload(written, target)
    return {"model": version.model, "version": version.number, "rows": rows, "output": params["output"]}


def _places(data: BatchData, params: JsonObject) -> tuple[S3Place, S3Place]:
    source = data.place(params["input"], "input")
    target = data.place(params["output"], "output", writing=True)
    if source.within(target) or target.within(source):
        raise bad("'output' must be apart from 'input'")
    return source, target


def _check_columns(objects: Sequence[ParquetObject], version: Version, fields: Sequence[Field]) -> None:
    """Before any task runs: every object has the model's inputs, none has an output's name."""
    names = [s.name for s in version.signature.inputs]
    for obj in objects:
        missing = [n for n in names if n not in obj.columns]
        if missing:
            raise BerthError(
                ErrorCode.SIGNATURE_MISMATCH,
                f"{obj.place.uri} has no column {missing}; the model takes {names}",
                missing=missing,
            )
        taken = [f.name for f in fields if f.name in obj.columns]
        if taken:
            raise bad(f"{obj.place.uri} already has columns named like the outputs: {taken}")


def _pieces(objects: Iterable[ParquetObject]) -> Iterator[Piece]:
    for obj in objects:
        groups: list[int] = []
        rows = 0
        for index, count in enumerate(obj.row_groups):
            if groups and rows + count > TASK_ROWS:
                yield Piece(obj.place, tuple(groups), rows)
                groups, rows = [], 0
            groups.append(index)
            rows += count
        if groups:
            yield Piece(obj.place, tuple(groups), rows)


@dataclass(frozen=True, slots=True)
class ScorePieces:
    """A Spark task (pickled to the executors): score the pieces of its partition, write its part,
    answer the rows written."""

    data: BatchData
    source: ModelSource
    version: Version
    fields: tuple[Field, ...]
    prefix: str
    staging: S3Place

    def __call__(self, index: int, pieces: Iterable[Piece]) -> Iterator[int]:
        import pyarrow as pa

        tables = [self._scored(index, self.data.read(p.place, p.row_groups)) for p in pieces]
        if not tables:
            return
        table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
        self.data.write_parquet(self.staging.child(f"part-{index:05d}.parquet"), table)
        yield table.num_rows

    def _scored(self, index: int, table: pa.Table) -> pa.Table:
        import numpy as np
        import pyarrow as pa

        from berth.runtime.spark_scoring import loaded

        model = loaded(self.source)
        names = [s.name for s in self.version.signature.inputs]
        wanted = tuple(dict.fromkeys(f.output for f in self.fields))
        answers: dict[str, list[Any]] = {f.name: [] for f in self.fields}
        for start in range(0, table.num_rows, BATCH_ROWS):
            frame = table.slice(start, BATCH_ROWS).select(names).to_pandas()
            answer = model.predict(frame, wanted)
            for field in self.fields:
                if field.name not in answer.columns:
                    raise BerthError(
                        ErrorCode.PREDICTION_FAILED,
                        f"the model answered columns {list(answer.columns)}, not {field.name!r} as its"
                        " signature says",
                    )
                answers[field.name].append(answer[field.name].to_numpy())
        if ID_COLUMN not in table.column_names:
            first = index << 33  # monotonically_increasing_id's value for the partition's first row
            ids = [f"{self.prefix}{first + row:016x}" for row in range(table.num_rows)]
            table = table.append_column(ID_COLUMN, pa.array(ids, pa.string()))
        for field in self.fields:
            kind = pa.type_for_alias(ARROW_TYPES[field.spark_type])
            parts = answers[field.name]
            column = pa.array(np.concatenate(parts)).cast(kind, safe=False) if parts else pa.array([], kind)
            table = table.append_column(field.name, column)
        return table
