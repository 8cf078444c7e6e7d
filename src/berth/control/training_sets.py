"""Training sets that match serving: a record export (`berth.control.record_exports`) laid out as
one row per predicted row, with the model's inputs as they were served.

A record keeps the model's inputs after the pre-steps (`PredictionRecord.served_inputs`): the
feature values a ``features`` step read at prediction time are in it, so a training set built from
records carries what the model saw, not what the feature store holds now (no leakage from later
updates). This module does not read records: it reshapes an export's Parquet file, so the export
job's rights, quotas, object storage and paging serve both (docs/features.md#training-sets).

Columns, in order: ``prediction_id``, ``recorded_at``, ``row`` (the row's position in its request)
and ``rows`` (the request's rows), ``model``, ``version``, ``variant``, ``entity_key``; then one
column per model input (a tensor ``[n]`` gives scalars, ``[n, k, ...]`` a flat list of ``k * ...``
values per row; an input named like a column above is written ``input.NAME``); then, for each
feature view a ``features`` step read (the record's ``features_served``), ``feature.VIEW.outcome``
(``hit``, ``miss``, ``stale``, ``unavailable``), ``feature.VIEW.written_at`` (when the value read
was written to the store) and ``feature.VIEW.read_at`` (when the store answered); then one
``output.NAME`` column per output; then the features joined as of each prediction's time (an
export asked with ``join``, `berth.control.feature_joins`: ``VIEW.feature``, one value per
predicted row); then ``feedback_label``, ``feedback_value`` and
``feedback_observed_at``. Feedback names a prediction, so every row of a batched prediction
carries its label: ``rows == 1`` keeps the unambiguous ones (what the retrain job trains on).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from berth.control.record_exports import SCHEMA
from berth.core.errors import BerthError, ErrorCode

LEADING: Final = ("prediction_id", "recorded_at", "row", "rows", "model", "version", "variant", "entity_key")
TRAILING: Final = ("feedback_label", "feedback_value", "feedback_observed_at")
INPUT_PREFIX: Final = "input."
OUTPUT_PREFIX: Final = "output."
FEATURE_PREFIX: Final = "feature."


def write_training_set(export: Path, out: Path) -> int:
    """The training set of the export file `export`, written to the Parquet file `out`; its rows."""
    table = training_table(pq.read_table(export))
    pq.write_table(table, out, compression="zstd")
    return int(table.num_rows)


def training_table(export: pa.Table) -> pa.Table:
    """An export's records (one row each, tensors as JSON text) as one row per predicted row."""
    columns: dict[str, list[Any]] = {name: [] for name in LEADING}
    inputs: dict[str, list[Any]] = {}
    features: dict[str, list[Any]] = {}
    outputs: dict[str, list[Any]] = {}
    trailing: dict[str, list[Any]] = {name: [] for name in TRAILING}
    joined_names = [f.name for f in export.schema if f.name not in SCHEMA.names and pa.types.is_list(f.type)]
    joined: dict[str, list[Any]] = {name: [] for name in joined_names}
    total = 0
    for record in export.to_pylist():
        served = _tensors(record["model_inputs"] or record["inputs"])
        answered = _tensors(record["outputs"])
        views = _views(record.get("features_served"))
        rows = _rows(served, record["prediction_id"])
        for row in range(rows):
            _append(columns, total, dict.fromkeys(LEADING) | _identity(record, row, rows))
            _append(inputs, total, {_input_name(n): _value(t, row) for n, t in served.items()})
            _append(features, total, _feature_columns(views, row))
            _append(outputs, total, {OUTPUT_PREFIX + n: _value(t, row) for n, t in answered.items()})
            _append(joined, total, {n: _joined_value(record[n], row) for n in joined_names})
            _append(trailing, total, {name: record[name] for name in TRAILING})
            total += 1
    looked_up = {name: _feature_array(name, values) for name, values in _padded(features, total).items()}
    types = {name: export.schema.field(name).type.value_type for name in joined_names}
    joined_columns = {name: pa.array(values, types[name]) for name, values in joined.items()}
    return pa.Table.from_pydict(
        {
            **columns,
            **_padded(inputs, total),
            **looked_up,
            **_padded(outputs, total),
            **joined_columns,
            **trailing,
        }
    )


def _joined_value(values: list[Any] | None, row: int) -> Any:
    """A joined feature's value for row `row` (the export keeps a list per record)."""
    return values[row] if values is not None and row < len(values) else None


def _views(text: str | None) -> list[dict[str, Any]]:
    found = orjson.loads(text) if text else []
    if not isinstance(found, list):
        return []
    return [v for v in found if isinstance(v, dict) and isinstance(v.get("view"), str)]


def _feature_columns(views: list[dict[str, Any]], row: int) -> dict[str, Any]:
    """Row `row`'s look-up in each view: its outcome, the value's write time and the read time."""
    columns: dict[str, Any] = {}
    for view in views:
        name = FEATURE_PREFIX + view["view"]
        columns[name + ".outcome"] = _item(view.get("outcomes"), row)
        columns[name + ".written_at"] = _time(_item(view.get("written_at"), row))
        columns[name + ".read_at"] = _time(view.get("read_at"))
    return columns


def _item(values: Any, row: int) -> Any:
    return values[row] if isinstance(values, list) and row < len(values) else None


def _time(value: Any) -> datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return datetime.fromtimestamp(value, UTC)
    return None


def _feature_array(name: str, values: list[Any]) -> pa.Array:
    kind = pa.string() if name.endswith(".outcome") else pa.timestamp("us", tz="UTC")
    return pa.array(values, type=kind)


def _identity(record: Mapping[str, Any], row: int, rows: int) -> dict[str, Any]:
    return {name: record[name] for name in LEADING if name in record} | {"row": row, "rows": rows}


def _append(columns: dict[str, list[Any]], filled: int, values: Mapping[str, Any]) -> None:
    """Add one row's `values`; a column first seen now is null in the `filled` rows before it
    (records of another model version may have other inputs)."""
    for name, value in values.items():
        column = columns.setdefault(name, [None] * filled)
        column.extend([None] * (filled - len(column)))
        column.append(value)


def _padded(columns: dict[str, list[Any]], total: int) -> dict[str, list[Any]]:
    for column in columns.values():
        column.extend([None] * (total - len(column)))
    return columns


def _input_name(name: str) -> str:
    return INPUT_PREFIX + name if name in LEADING or name in TRAILING else name


def _tensors(text: str | None) -> dict[str, dict[str, Any]]:
    found = orjson.loads(text) if text else {}
    return {str(k): v for k, v in found.items()} if isinstance(found, dict) else {}


def _rows(tensors: Mapping[str, Mapping[str, Any]], prediction_id: str) -> int:
    """How many rows the request had: the first dimension, the same for every input."""
    firsts = {int(t["shape"][0]) if t.get("shape") else 1 for t in tensors.values()}
    if len(firsts) > 1:
        raise BerthError(
            ErrorCode.INVALID_REQUEST,
            f"prediction {prediction_id!r}: its model inputs disagree on the number of rows {sorted(firsts)}",
        )
    return firsts.pop() if firsts else 0


def _value(tensor: Mapping[str, Any], row: int) -> Any:
    """Row `row` of `tensor` (flat, row-major data): a scalar, or a flat list for wider tensors."""
    shape = [int(d) for d in tensor.get("shape") or [1]]
    data = tensor.get("data") or []
    if len(shape) == 1:
        return data[row] if row < len(data) else None
    width = math.prod(shape[1:])
    return data[row * width : (row + 1) * width]
