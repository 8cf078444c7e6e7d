"""The built-in ``batch-score`` kind: score a CSV (or Parquet) file with a model version, with progress.

Parameters (paths are relative to the berth home folder, and must stay inside it)::

    {"model": "churn", "ref": "production",      # alias or version number; default: as callers get it
     "input": "data/customers.csv",              # .csv, or .parquet (needs pyarrow installed)
     "output": "data/customers.scored.csv",      # default: <input stem>.scored.csv next to it
     "outputs": ["label"],                       # default: the version's default outputs
     "chunk_rows": 1000}                          # rows per predict call (and per progress report)

The version is loaded as a server loads it (verified artifact, its flavor, its warm-up) and each
chunk goes through the same signature checks as a request. The output holds the input's columns
then one column per output (``name_0``, ``name_1``… for an output of several columns); it is written
to a temporary file renamed into place at the end, so a failed or stopped job leaves no partial file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Final

from berth.control.jobs.context import JobContext
from berth.control.jobs.kind import JobKind
from berth.core.errors import BerthError, ErrorCode
from berth.core.jobs import JsonObject

if TYPE_CHECKING:  # numpy, pandas and the runtime load when a job runs, not when kinds are listed
    import pandas as pd

    from berth.core.entities import Version
    from berth.runtime.flavors.base import Runtime

MAX_CHUNK_ROWS: Final = 100_000
_FORMATS: Final = (".csv", ".parquet")


def check_batch_score_params(params: JsonObject) -> JsonObject:
    known = {"model", "ref", "input", "output", "outputs", "chunk_rows"}
    unknown = sorted(set(params) - known)
    if unknown:
        raise _bad(f"unknown parameters {unknown}; batch-score takes {sorted(known)}")
    model = params.get("model")
    if not isinstance(model, str) or not model:
        raise _bad("'model' (the model's name) is required")
    ref = params.get("ref")
    if ref is not None and (not isinstance(ref, str | int) or isinstance(ref, bool)):
        raise _bad("'ref' is an alias or a version number")
    source = _relative_path("input", params.get("input"))
    if source.suffix.lower() not in _FORMATS:
        raise _bad(f"'input' must be a .csv or .parquet file, got {str(source)!r}")
    target = _relative_path("output", params.get("output", str(source.with_suffix(".scored.csv"))))
    if target.suffix.lower() != ".csv":
        raise _bad("'output' must be a .csv file")
    if target == source:
        raise _bad("'output' must differ from 'input'")
    outputs = params.get("outputs", [])
    if not isinstance(outputs, list) or not all(isinstance(o, str) for o in outputs):
        raise _bad("'outputs' is a list of output names")
    chunk_rows = params.get("chunk_rows", 1000)
    if (
        isinstance(chunk_rows, bool)
        or not isinstance(chunk_rows, int)
        or not 0 < chunk_rows <= MAX_CHUNK_ROWS
    ):
        raise _bad(f"'chunk_rows' must be an integer in [1, {MAX_CHUNK_ROWS}]")
    return {
        "model": model,
        "ref": None if ref is None else str(ref),
        "input": str(source),
        "output": str(target),
        "outputs": outputs,
        "chunk_rows": chunk_rows,
    }


def run_batch_score(params: JsonObject, ctx: JobContext) -> JsonObject:
    params = check_batch_score_params(params)
    source = _inside(ctx.home, params["input"])
    if not source.is_file():
        raise _bad(f"input file {params['input']!r} does not exist in the home folder")
    target = _inside(ctx.home, params["output"])
    from berth.runtime.loader import VersionLoader

    version = ctx.workspace.store.resolve(params["model"], params["ref"])
    ctx.progress(0.0, f"loading {version.model} v{version.number}")
    with ThreadPoolExecutor(1, thread_name_prefix="berth-batch-score") as executor:
        loaded = VersionLoader(ctx.workspace.artifacts, ctx.workspace.catalog, executor).load(version)
    try:
        rows = _score_file(loaded.runtime, version, source, target, params, ctx)
    finally:
        loaded.runtime.unload()
    return {
        "model": version.model,
        "version": version.number,
        "rows": rows,
        "output": params["output"],
    }


BATCH_SCORE: Final = JobKind(
    "batch-score",
    run_batch_score,
    check_batch_score_params,
    "Score a CSV or Parquet file of the home folder with a model version; writes a CSV next to it.",
)


def _score_file(
    runtime: Runtime, version: Version, source: Path, target: Path, params: JsonObject, ctx: JobContext
) -> int:
    total = _count_rows(source)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{ctx.job.id}.partial")
    done = 0
    try:
        with partial.open("w", newline="") as out:
            for chunk in _chunks(source, int(params["chunk_rows"])):
                scored = _score_chunk(runtime, version, chunk, params["outputs"])
                scored.to_csv(out, index=False, header=done == 0)
                done += len(chunk)
                ctx.progress(min(done / max(total, 1), 1.0), f"scored {done} of {total} rows")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return done


def _score_chunk(runtime: Runtime, version: Version, chunk: pd.DataFrame, outputs: list[str]) -> pd.DataFrame:
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
    return pd.concat([chunk.reset_index(drop=True), pd.DataFrame(columns)], axis=1)


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
        raise _bad(f"cannot read {source.name} as CSV: {exc}") from None


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
        raise _bad("reading Parquet needs pyarrow installed in the worker") from None
    except (ValueError, OSError) as exc:
        raise _bad(f"cannot read {source.name} as Parquet: {exc}") from None


def _relative_path(name: str, value: Any) -> PurePosixPath:
    if not isinstance(value, str) or not value or len(value) > 1024:
        raise _bad(f"'{name}' is a path relative to the berth home folder")
    path = PurePosixPath(value)
    if path.is_absolute() or ".." in path.parts or "\\" in value or "\x00" in value:
        raise _bad(f"'{name}' must be a relative path inside the home folder, got {value!r}")
    return path


def _inside(home: Path, relative: str) -> Path:
    root = home.resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root):  # a symbolic link out of the home folder
        raise _bad(f"{relative!r} leads out of the home folder")
    return path


def _text(value: Any) -> Any:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _bad(message: str) -> BerthError:
    return BerthError(ErrorCode.INVALID_JOB_PARAMS, message)
