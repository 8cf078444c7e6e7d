"""A version as a Spark pandas UDF: the return schema from its signature, the model loaded once per
Python worker (`berth.spark_udf` and the batch-score job's Spark engine both build theirs here).

The UDF is the iterator-of-batches form (``Iterator[tuple[pd.Series, ...]] -> Iterator[...]``): a
task loads nothing per batch, and the model itself is kept per Python worker process (`_MODELS`,
keyed by the artifact's sha256), so with Spark's reused Python workers (the default) each worker
loads it once, whatever the number of tasks and partitions. How the model is loaded is a picklable
`ModelSource` the driver builds: from the registry (`berth.client.spark`) or from the artifact
the driver shipped with ``SparkContext.addFile`` (`ShippedArtifact`, the batch job: executors need
no access to the registry then). Either way the artifact is verified against the sha256 the driver
resolved, so an alias moved while the job runs does not mix two versions in one output.

The answer's columns are those `berth.Client.predict` answers: an output of one value per row is a
column named after it, an output of k values (``[-1, k]``) the columns ``name_0 … name_{k-1}``; one
column is returned as it is, several as a struct. pyspark is imported by the functions that need it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

import pandas as pd

from berth.core.entities import Version
from berth.core.errors import BerthError, ErrorCode
from berth.core.signature import BATCH, Signature, TensorSpec
from berth.runtime.local_model import LocalModel, open_local_model

if TYPE_CHECKING:
    from pyspark.sql import Column

SPARK_TYPES: Final = {
    "BOOL": "boolean",
    "INT8": "tinyint",
    "INT16": "smallint",
    "INT32": "int",
    "INT64": "bigint",
    "UINT8": "smallint",
    "UINT16": "int",
    "UINT32": "bigint",
    "FP16": "float",
    "FP32": "float",
    "FP64": "double",
    "BYTES": "string",
}
"""OIP datatype -> Spark SQL type (unsigned integers widened; UINT64 has no Spark type that holds it)."""


class ModelSource(Protocol):
    """Picklable: how an executor gets the model. `key` names what it loads (the artifact's sha256)."""

    @property
    def key(self) -> str: ...

    def __call__(self) -> LocalModel: ...


@dataclass(frozen=True, slots=True)
class Field:
    """One column of the answer: its name, Spark SQL type, and where its values come from."""

    name: str
    spark_type: str
    output: str
    index: int | None
    """The column of an ``[-1, k]`` output; None for an output of one value per row."""


@dataclass(frozen=True, slots=True)
class ShippedArtifact:
    """The artifact the driver shipped to every executor with ``SparkContext.addFile``."""

    version: Version
    file_name: str

    @property
    def key(self) -> str:
        return self.version.artifact.sha256

    def __call__(self) -> LocalModel:
        from pyspark import SparkFiles

        return open_local_model(self.version, Path(SparkFiles.get(self.file_name)))  # verifies the sha256


_MODELS: dict[str, LocalModel] = {}
_MODELS_LOCK = threading.Lock()
_KEPT: Final = 4
"""Most models one Python worker keeps loaded (several UDFs in one query each have theirs)."""


def loaded(source: ModelSource) -> LocalModel:
    """The model `source` names, loaded once per Python worker process."""
    with _MODELS_LOCK:
        model = _MODELS.get(source.key)
        if model is None:
            model = source()
            while len(_MODELS) >= _KEPT:
                _MODELS.pop(next(iter(_MODELS))).close()
            _MODELS[source.key] = model
        return model


def output_fields(signature: Signature, outputs: Sequence[str]) -> list[Field]:
    """The answer's columns for `outputs` (default: the signature's default outputs), from their specs."""
    wanted = tuple(outputs) or signature.returned_by_default
    if not wanted:
        raise BerthError(
            ErrorCode.SIGNATURE_MISMATCH,
            "the version's signature declares no outputs, so a Spark schema cannot be made: push it"
            " with a signature (or an input example) that names its outputs",
        )
    specs = {s.name: s for s in signature.outputs}
    fields: list[Field] = []
    for name in wanted:
        spec = specs.get(name)
        if spec is None:
            raise BerthError(ErrorCode.OUTPUT_NOT_FOUND, f"the model has no output {name!r}", output=name)
        fields.extend(_fields_of(spec))
    names = [f.name for f in fields]
    if len(set(names)) != len(names):
        raise BerthError(ErrorCode.SIGNATURE_MISMATCH, f"the outputs give duplicate columns {names}")
    return fields


def return_type(fields: Sequence[Field]) -> str:
    """The UDF's return type as Spark SQL DDL: the one column's type, or a struct of them."""
    if len(fields) == 1:
        return fields[0].spark_type
    return "struct<" + ", ".join(f"{_quoted(f.name)}: {f.spark_type}" for f in fields) + ">"


def scoring_udf(source: ModelSource, signature: Signature, outputs: Sequence[str] = ()) -> Any:
    """A pandas UDF scoring with the model `source` loads; call it with the input columns, in the
    signature's order (``udf(*names)``), or with one struct of them (``udf(struct(*names))``)."""
    from pyspark.sql.pandas.functions import pandas_udf

    fields = output_fields(signature, outputs)
    wanted = tuple(dict.fromkeys(f.output for f in fields))
    names = [s.name for s in signature.inputs]
    single = len(fields) == 1

    def answers(batches: Iterator[tuple[pd.Series, ...]]) -> Iterator[Any]:
        model = loaded(source)
        for batch in batches:
            yield _columns(model.predict(_frame(batch, names), wanted), fields, single)

    # pyspark reads the UDF's kind from its type hints: a Series per batch for one column, a
    # DataFrame (a struct) for several
    def score_column(batches: Iterator[tuple[pd.Series, ...]]) -> Iterator[pd.Series]:
        return answers(batches)

    def score_struct(batches: Iterator[tuple[pd.Series, ...]]) -> Iterator[pd.DataFrame]:
        return answers(batches)

    udf = score_column if single else score_struct
    return pandas_udf(udf, return_type(fields))  # type: ignore[call-overload]  # its overloads want a literal kind


def input_columns(signature: Signature, available: Sequence[str]) -> list[Column]:
    """The columns to call a scoring UDF with: the signature's inputs, in order (SIGNATURE_MISMATCH
    naming the missing ones)."""
    from pyspark.sql.functions import col

    names = [s.name for s in signature.inputs]
    missing = [n for n in names if n not in available]
    if missing:
        raise BerthError(
            ErrorCode.SIGNATURE_MISMATCH,
            f"the data has no column {missing}; the model takes {names}",
            missing=missing,
        )
    return [col(_quoted(n)) for n in names]


def _fields_of(spec: TensorSpec) -> list[Field]:
    spark_type = SPARK_TYPES.get(spec.datatype)
    if spark_type is None:
        raise BerthError(
            ErrorCode.UNSUPPORTED_DATATYPE,
            f"output {spec.name!r} is {spec.datatype}, which no Spark type holds",
            output=spec.name,
        )
    if len(spec.shape) <= 1 or (len(spec.shape) == 2 and spec.shape[1] == 1):
        return [Field(spec.name, spark_type, spec.name, None)]
    width = spec.shape[1]
    if len(spec.shape) != 2 or width == BATCH:
        raise BerthError(
            ErrorCode.SIGNATURE_MISMATCH,
            f"output {spec.name!r} has shape {list(spec.shape)}: Spark columns need one value per row"
            " or a known number of them ([-1, k])",
            output=spec.name,
        )
    return [Field(f"{spec.name}_{i}", spark_type, spec.name, i) for i in range(width)]


def _frame(batch: Any, names: Sequence[str]) -> pd.DataFrame:
    """A batch as a DataFrame of the model's inputs: a struct arrives as a DataFrame, columns as a
    tuple of Series (named by position: the signature's order)."""
    parts = batch if isinstance(batch, tuple) else (batch,)
    if len(parts) == 1 and isinstance(parts[0], pd.DataFrame):
        return parts[0]
    if len(parts) != len(names):
        raise BerthError(
            ErrorCode.SIGNATURE_MISMATCH,
            f"the UDF was called with {len(parts)} columns; the model takes {len(names)}: {list(names)}",
        )
    return pd.DataFrame(
        {name: part.reset_index(drop=True) for name, part in zip(names, parts, strict=True)}, copy=False
    )


def _columns(answer: pd.DataFrame, fields: Sequence[Field], single: bool) -> Any:
    """The model's answer as the UDF's declared columns (a Series for one, a DataFrame for several)."""
    columns = {}
    for field in fields:
        if field.name not in answer.columns:
            raise BerthError(
                ErrorCode.PREDICTION_FAILED,
                f"the model answered columns {list(answer.columns)}, not {field.name!r} as its"
                " signature says",
            )
        columns[field.name] = answer[field.name]
    if single:
        return columns[fields[0].name]
    return pd.DataFrame(columns, copy=False)


def _quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"
