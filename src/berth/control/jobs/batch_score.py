"""The built-in ``batch-score`` kind: score a CSV (or Parquet) file with a model version, with progress.

Parameters (paths are relative to the berth home folder, and must stay inside it; the input must be
there when the job is enqueued, `check_batch_score_inputs`)::

    {"model": "churn", "ref": "production",      # alias or version number; default: as callers get it
     "input": "data/customers.csv",              # .csv, or .parquet (needs pyarrow installed)
     "output": "data/customers.scored.csv",      # default: <input stem>.scored.csv next to it
     "outputs": ["label"],                       # default: the version's default outputs
     "chunk_rows": 1000,                          # rows per predict call (and per progress report)
     "engine": "local",                           # or "spark": Parquet in, Parquet out, on a cluster
     "spark_master": "spark://host:7077"}         # engine spark: the cluster (default local[*])

The version is loaded as a server loads it (verified artifact, its flavor, its warm-up) and each
chunk goes through the same signature checks as a request. The output holds the input's columns
then one column per output (``name_0``, ``name_1``… for an output of several columns); it is written
to a temporary file renamed into place at the end, so a failed or stopped job leaves no partial file.
Each row gets a prediction id (column ``prediction_id``, kept as it is when the input has one), the
form the server gives an answer it records: 32 hex characters, 16 for this run and 16 for the row.

With ``engine: spark`` the job drives a Spark application (`berth.control.jobs.batch_score_spark`):
the input is a Parquet file or folder, the output a Parquet folder written the same way. Input and
output may instead both be ``s3://`` URIs (Parquet in; either engine), in a location the operator
allows (`berth.control.jobs.batch_score_s3`; the workspace's `BatchData` checks them).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Final

from berth.control.jobs.context import JobContext
from berth.control.jobs.kind import JobKind
from berth.core.errors import BerthError, ErrorCode
from berth.core.jobs import JsonObject
from berth.storage.batch_data import parse_place

if TYPE_CHECKING:  # numpy, pandas and the runtime load when a job runs, not when kinds are listed
    import pandas as pd

    from berth.core.entities import Version
    from berth.runtime.flavors.base import Runtime

MAX_CHUNK_ROWS: Final = 100_000
ENGINES: Final = ("local", "spark")
ID_COLUMN: Final = "prediction_id"
_FORMATS: Final = (".csv", ".parquet")
_HOST_PORT: Final = r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})?:[0-9]{1,5}"
_SPARK_MASTER: Final = re.compile(
    rf"spark://{_HOST_PORT}(?:,{_HOST_PORT}){{0,7}}|local(?:\[(?:[1-9][0-9]{{0,3}}|\*)\])?"
)


def check_batch_score_params(params: JsonObject) -> JsonObject:
    known = {"model", "ref", "input", "output", "outputs", "chunk_rows", "engine", "spark_master"}
    unknown = sorted(set(params) - known)
    if unknown:
        raise bad(f"unknown parameters {unknown}; batch-score takes {sorted(known)}")
    model = params.get("model")
    if not isinstance(model, str) or not model:
        raise bad("'model' (the model's name) is required")
    ref = params.get("ref")
    if ref is not None and (not isinstance(ref, str | int) or isinstance(ref, bool)):
        raise bad("'ref' is an alias or a version number")
    engine = params.get("engine", "local")
    if engine not in ENGINES:
        raise bad(f"'engine' is one of {list(ENGINES)}")
    master = params.get("spark_master")
    if master is not None and engine != "spark":
        raise bad("'spark_master' is for engine 'spark'")
    if engine == "spark":
        master = check_spark_master("local[*]" if master is None else master)
    remote = isinstance(params.get("input"), str) and str(params["input"]).startswith("s3://")
    source = _location("input", params.get("input"), remote)
    formats, written = (_FORMATS, ".csv") if engine == "local" else ((".parquet",), ".parquet")
    if remote:
        formats = (".parquet",)
    if source.suffix.lower() not in formats:
        raise bad(
            f"'input' must be a {' or '.join(formats)} {'object' if remote else 'file'}, got {str(source)!r}"
        )
    default = _written(source.with_suffix(f".scored{written}"), remote)
    target = _location("output", params.get("output", default), remote)
    if target.suffix.lower() != written:
        raise bad(f"'output' must be a {written} {'file' if engine == 'local' else 'folder'}")
    if target == source:
        raise bad("'output' must differ from 'input'")
    outputs = params.get("outputs", [])
    if not isinstance(outputs, list) or not all(isinstance(o, str) for o in outputs):
        raise bad("'outputs' is a list of output names")
    chunk_rows = params.get("chunk_rows", 1000)
    if (
        isinstance(chunk_rows, bool)
        or not isinstance(chunk_rows, int)
        or not 0 < chunk_rows <= MAX_CHUNK_ROWS
    ):
        raise bad(f"'chunk_rows' must be an integer in [1, {MAX_CHUNK_ROWS}]")
    return {
        "model": model,
        "ref": None if ref is None else str(ref),
        "input": _written(source, remote),
        "output": _written(target, remote),
        "outputs": outputs,
        "chunk_rows": chunk_rows,
        "engine": engine,
    } | ({"spark_master": master} if engine == "spark" else {})


def _location(name: str, value: Any, remote: bool) -> PurePosixPath:
    """A path of the home folder, or (`remote`) an ``s3://bucket/key`` URI as ``bucket/key``: the
    input and the output are both in the home folder or both in object storage."""
    if not remote:
        if isinstance(value, str) and value.startswith("s3://"):
            raise bad(f"'{name}' is in object storage but the input is not: both are, or neither")
        return relative_path(name, value)
    if not isinstance(value, str) or not value.startswith("s3://") or len(value) > 1024:
        raise bad(f"'{name}' must be an s3:// URI like the input")
    place = parse_place(value, name)
    if not place.key:
        raise bad(f"'{name}' must name an object or folder in the bucket, not the bucket")
    return PurePosixPath(place.bucket, place.key)


def _written(location: PurePosixPath, remote: bool) -> str:
    return f"s3://{location}" if remote else str(location)


def check_batch_score_inputs(params: JsonObject, home: Path) -> None:
    """At enqueue: the input is in `home` (a file; with engine spark a file or a Parquet folder).
    An ``s3://`` input is checked when the job runs (the worker holds the S3 settings)."""
    if str(params["input"]).startswith("s3://"):
        return
    source = inside(home, str(params["input"]))
    there = source.is_file() if params.get("engine", "local") == "local" else source.exists()
    if not there:
        raise missing_input(str(params["input"]))


def missing_input(name: str) -> BerthError:
    return BerthError(
        ErrorCode.JOB_INPUT_NOT_FOUND,
        f"input {name!r} is not in the berth home folder (job inputs are paths relative to it)",
        input=name,
    )


def check_spark_master(value: Any) -> str:
    """``spark://HOST:PORT`` (or a comma-separated list of them, for standby masters) or ``local``,
    ``local[N]``, ``local[*]``: nothing else reaches Spark (no k8s://, yarn or option-like text)."""
    if not isinstance(value, str) or not _SPARK_MASTER.fullmatch(value):
        raise bad("'spark_master' is spark://HOST:PORT[,HOST:PORT…], local, local[N] or local[*]")
    return value


def run_batch_score(params: JsonObject, ctx: JobContext) -> JsonObject:
    params = check_batch_score_params(params)
    remote = params["input"].startswith("s3://")
    if remote:
        from berth.control.jobs import batch_score_s3

        if params["engine"] == "spark":
            return batch_score_s3.run_on_spark_s3(params, ctx)
        return batch_score_s3.run_locally_on_s3(params, ctx)
    if params["engine"] == "spark":
        from berth.control.jobs.batch_score_spark import run_on_spark

        return run_on_spark(params, ctx)
    source = inside(ctx.home, params["input"])
    if not source.is_file():
        raise missing_input(params["input"])
    target = inside(ctx.home, params["output"])
    version = ctx.workspace.store.resolve(params["model"], params["ref"])
    chunks = _chunks(source, int(params["chunk_rows"]))
    rows = score_with_runtime(version, ctx, chunks, _count_rows(source), target, params)
    return {
        "model": version.model,
        "version": version.number,
        "rows": rows,
        "output": params["output"],
    }


def score_with_runtime(
    version: Version,
    ctx: JobContext,
    chunks: Iterator[pd.DataFrame],
    total: int,
    target: Path,
    params: JsonObject,
) -> int:
    """Score `chunks` with the version loaded as a server loads it, into the CSV file `target`
    (written next to it, renamed into place at the end)."""
    from berth.runtime.loader import VersionLoader

    ctx.progress(0.0, f"loading {version.model} v{version.number}")
    with ThreadPoolExecutor(1, thread_name_prefix="berth-batch-score") as executor:
        loaded = VersionLoader(ctx.workspace.artifacts, ctx.workspace.catalog, executor).load(version)
    try:
        return _score_file(loaded.runtime, version, chunks, total, target, params, ctx)
    finally:
        loaded.runtime.unload()


BATCH_SCORE: Final = JobKind(
    "batch-score",
    run_batch_score,
    check_batch_score_params,
    "Score a CSV or Parquet file of the home folder (or Parquet in an allowed s3:// location) with a"
    " model version; writes a CSV next to it (a Parquet folder with engine spark).",
    check_batch_score_inputs,
)


def _score_file(
    runtime: Runtime,
    version: Version,
    chunks: Iterator[pd.DataFrame],
    total: int,
    target: Path,
    params: JsonObject,
    ctx: JobContext,
) -> int:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{ctx.job.id}.partial")
    done = 0
    ids = PredictionIds()
    try:
        with partial.open("w", newline="") as out:
            for chunk in chunks:
                scored = _score_chunk(
                    runtime, version, chunk, params["outputs"], ids.of_rows(done, len(chunk))
                )
                scored.to_csv(out, index=False, header=done == 0)
                done += len(chunk)
                ctx.progress(min(done / max(total, 1), 1.0), f"scored {done} of {total} rows")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return done


class PredictionIds:
    """The prediction ids of one run: 16 random hex characters, then the row's number in 16."""

    def __init__(self) -> None:
        self.prefix = os.urandom(8).hex()

    def of_rows(self, start: int, count: int) -> list[str]:
        return [f"{self.prefix}{row:016x}" for row in range(start, start + count)]


def _score_chunk(
    runtime: Runtime, version: Version, chunk: pd.DataFrame, outputs: list[str], ids: list[str]
) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    from berth.core.codecs.model_io import to_model_input, to_output_tensors
    from berth.core.codecs.v1_json import decode_v1_request

    signature = version.signature
    names = [s.name for s in signature.inputs]
    sent = chunk[names] if names and all(n in chunk.columns for n in names) else chunk
    body = b'{"dataframe_split":' + sent.to_json(orient="split", index=False).encode() + b"}"
    inputs = decode_v1_request(body, signature).inputs
    raw = runtime.predict(to_model_input(inputs, signature), tuple(outputs) or signature.returned_by_default)
    columns: dict[str, Any] = {}
    for tensor in to_output_tensors(raw, outputs, signature):
        data = np.asarray(tensor.data)
        if data.dtype.kind in "OS":
            data = np.vectorize(_text, otypes=[object])(data)
        if data.ndim <= 1:
            columns[tensor.name] = data.reshape(len(chunk))
        else:
            flat = data.reshape(len(chunk), -1)
            for i in range(flat.shape[1]):
                columns[f"{tensor.name}_{i}"] = flat[:, i]
    given = chunk.reset_index(drop=True)
    if ID_COLUMN not in given.columns:
        given = given.assign(**{ID_COLUMN: ids})
    return pd.concat([given, pd.DataFrame(columns)], axis=1)


def _chunks(source: Path, rows: int) -> Iterator[pd.DataFrame]:
    import pandas as pd

    if source.suffix.lower() == ".parquet":
        frame = _read_parquet(source)
        for start in range(0, len(frame), rows):
            yield frame.iloc[start : start + rows]
        return
    try:
        yield from pd.read_csv(source, chunksize=rows)
    except (ValueError, pd.errors.ParserError) as exc:
        raise bad(f"cannot read {source.name} as CSV: {exc}") from None


def _count_rows(source: Path) -> int:
    if source.suffix.lower() == ".parquet":
        return len(_read_parquet(source))
    with source.open("rb") as f:
        return max(sum(1 for _ in f) - 1, 0)  # lines less the header (a quoted newline over-counts)


def _read_parquet(source: Path) -> pd.DataFrame:
    import pandas as pd

    try:
        return pd.read_parquet(source)
    except ImportError:
        raise bad("reading Parquet needs pyarrow installed in the worker") from None
    except (ValueError, OSError) as exc:
        raise bad(f"cannot read {source.name} as Parquet: {exc}") from None


def relative_path(name: str, value: Any) -> PurePosixPath:
    if not isinstance(value, str) or not value or len(value) > 1024:
        raise bad(f"'{name}' is a path relative to the berth home folder")
    path = PurePosixPath(value)
    if path.is_absolute() or ".." in path.parts or "\\" in value or "\x00" in value:
        raise bad(f"'{name}' must be a relative path inside the home folder, got {value!r}")
    return path


def inside(home: Path, relative: str) -> Path:
    root = home.resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root):  # a symbolic link out of the home folder
        raise bad(f"{relative!r} leads out of the home folder")
    return path


def _text(value: Any) -> Any:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def bad(message: str) -> BerthError:
    return BerthError(ErrorCode.INVALID_JOB_PARAMS, message)
