"""The JSON shapes people already send to ``POST /v1/models/{name}:predict``, as tensors.

A body holds exactly one of these keys (TF-Serving's ``signature_name`` may come along and is
ignored); the values become tensors named and typed by the version's `Signature`, and then go
through the same checks as an OIP request (`berth.core.codecs.model_io.to_model_input`):

- ``{"instances": [...]}`` (TF-Serving rows): each instance is a row. Rows that are objects
  ``{input_name: value}`` give one tensor per name (the values of a name stacked over rows).
  Other rows (scalars or lists) are the rows of the one input; in the ``columns`` layout with
  several inputs, a list row holds the columns in signature order.
- ``{"inputs": {name: value, ...}}`` (TF-Serving columns): each value is the whole batch of that
  input. ``{"inputs": [...]}`` means the same as ``{"instances": [...]}``.
- ``{"dataframe_split": {"columns": [...], "data": [[...]], "index": [...]}}`` and
  ``{"dataframe_records": [{column: value}, ...]}`` (MLflow): a table. In the ``tensor`` layout
  the table is the one input ([N, columns], or [N] when the only column is named after the
  input); otherwise each column is a tensor. Without ``columns``, the signature's order is used.

A name the signature does not know keeps the datatype its values suggest, so that the
signature check names it. Decoded with ``typed=False`` (a request to an endpoint, whose variants may
type an input differently), every value keeps the datatype it suggests, and the signature gives only
the names and the layout; each variant's signature check then casts where no value can change.
Values follow the OIP JSON rules (strict integers and booleans;
``null``/``"NaN"``/``"Infinity"`` in float inputs).

`encode_v1_response` answers ``{"predictions": [...]}``: one output -> the list of its rows,
several outputs -> one object ``{output_name: value}`` per row; non-finite floats become ``null``
(as pandas writes them). The ``tf-columnar`` style, which TF-Serving uses to answer ``inputs``
requests, answers ``{"outputs": value}`` or ``{"outputs": {name: value}}``. ``tf`` and ``mlflow``
give the same body today; both names exist so callers say which client they serve.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from berth.core.bounded import duplicates, preview
from berth.core.codecs._arrays import Array, array_from_json, json_rows
from berth.core.codecs.limits import DEFAULT_MAX_TENSORS, check_tensor_count
from berth.core.codecs.oip_json import dump, load_object
from berth.core.errors import BerthError, ErrorCode
from berth.core.numpy_types import oip_datatype
from berth.core.signature import InputLayout, Signature
from berth.core.tensors import Tensor

V1Style = Literal["tf", "tf-columnar", "mlflow"]
FORMAT_KEYS = ("instances", "inputs", "dataframe_split", "dataframe_records")
_IGNORED_KEYS = frozenset({"signature_name"})


@dataclass(frozen=True, slots=True)
class V1Request:
    """The tensors of a v1 request and the response style its format calls for."""

    inputs: list[Tensor]
    style: V1Style


def decode_v1_request(
    body: bytes, signature: Signature, *, max_tensors: int = DEFAULT_MAX_TENSORS, typed: bool = True
) -> V1Request:
    """Tensors from a TF-Serving or MLflow JSON body, named and typed by `signature` (only named
    without `typed`); more than `max_tensors` names (inputs, columns) is TOO_MANY_TENSORS, before
    any value is read."""
    doc = load_object(body)
    present = [k for k in FORMAT_KEYS if k in doc]
    unknown = set(doc) - set(FORMAT_KEYS) - _IGNORED_KEYS
    if len(present) != 1 or unknown:
        raise BerthError(
            ErrorCode.INVALID_REQUEST,
            f"the body must hold exactly one of {list(FORMAT_KEYS)}; got keys {preview(doc)}",
        )
    key = present[0]
    value = doc[key]
    if key == "instances":
        return V1Request(_rows(value, signature, typed, key, max_tensors), "tf")
    if key == "inputs":
        if isinstance(value, dict):
            check_tensor_count(len(value), "input", max_tensors)
            return V1Request([_tensor(n, v, signature, typed) for n, v in value.items()], "tf-columnar")
        return V1Request(_rows(value, signature, typed, key, max_tensors), "tf-columnar")
    columns, table = _split(value) if key == "dataframe_split" else _records(value, key, max_tensors)
    if columns is not None:
        check_tensor_count(len(columns), "column", max_tensors)
    return V1Request(_table(columns, table, signature, typed), "mlflow")


def encode_v1_response(outputs: Sequence[Tensor], style: V1Style) -> bytes:
    """``{"predictions": ...}`` (or ``{"outputs": ...}`` for ``tf-columnar``); see the module doc."""
    if style == "tf-columnar":
        columns = {t.name: json_rows(t.data) for t in outputs}
        only = next(iter(columns.values())) if len(columns) == 1 else columns
        return dump({"outputs": only}, _INTERNAL)
    if len(outputs) == 1:
        return dump({"predictions": json_rows(outputs[0].data)}, _INTERNAL)
    names = [t.name for t in outputs]
    try:
        rows = [
            dict(zip(names, row, strict=True))
            for row in zip(*(json_rows(t.data) for t in outputs), strict=True)
        ]
    except ValueError:
        raise BerthError(ErrorCode.INTERNAL, "outputs disagree on the number of rows") from None
    return dump({"predictions": rows}, _INTERNAL)


_INTERNAL = ErrorCode.INTERNAL


def _tensor(name: str, data: Any, signature: Signature, typed: bool) -> Tensor:
    spec = signature.input(name) if typed else None
    label = f"input {name!r}"
    array = array_from_json(label, spec.datatype, data) if spec else _inferred(label, data)
    return Tensor(name, spec.datatype if spec else oip_datatype(array.dtype), array.shape, array)


def _inferred(label: str, data: Any) -> Array:
    try:
        array = np.asarray(data)
    except (ValueError, TypeError, OverflowError, RecursionError):
        raise BerthError(ErrorCode.INVALID_TENSOR, f"{label}: data is ragged or too deep") from None
    if array.dtype.kind in "biuf":
        return array
    return array_from_json(label, "BYTES", data)


def _rows(rows: Any, signature: Signature, typed: bool, key: str, max_tensors: int) -> list[Tensor]:
    if not isinstance(rows, list):
        raise BerthError(ErrorCode.INVALID_REQUEST, f"'{key}' must be a list of rows")
    if rows and all(isinstance(r, dict) for r in rows):
        return _named(*_records(rows, key, max_tensors), signature, typed)
    if any(isinstance(r, dict) for r in rows):
        raise BerthError(ErrorCode.INVALID_REQUEST, f"'{key}' mixes objects and plain rows")
    if len(signature.inputs) == 1:
        return [_tensor(signature.inputs[0].name, rows, signature, typed)]
    if signature.layout is InputLayout.COLUMNS:
        return _named(
            [s.name for s in signature.inputs], _checked_rows(rows, len(signature.inputs)), signature, typed
        )
    raise BerthError(
        ErrorCode.INVALID_REQUEST,
        f"the model takes several inputs {[s.name for s in signature.inputs]}: name them,"
        ' e.g. {"instances": [{"name": value, ...}]} or {"inputs": {"name": [...], ...}}',
    )


def _split(value: Any) -> tuple[list[str] | None, list[Any]]:
    if not isinstance(value, dict) or not isinstance(value.get("data"), list):
        raise BerthError(
            ErrorCode.INVALID_REQUEST, '\'dataframe_split\' must be {"columns": [...], "data": [[...]]}'
        )
    columns = value.get("columns")
    if columns is not None and (
        not isinstance(columns, list) or not all(isinstance(c, str) for c in columns)
    ):
        raise BerthError(ErrorCode.INVALID_REQUEST, "'dataframe_split.columns' must be a list of strings")
    return columns, value["data"]


def _records(value: Any, key: str, max_tensors: int) -> tuple[list[str], list[Any]]:
    if not isinstance(value, list) or not value or not all(isinstance(r, dict) for r in value):
        raise BerthError(ErrorCode.INVALID_REQUEST, f"'{key}' must be a non-empty list of objects")
    names = list(value[0])
    check_tensor_count(len(names), "input", max_tensors)
    first = value[0].keys()
    rows = []
    for index, record in enumerate(value):
        if record.keys() != first:
            raise BerthError(
                ErrorCode.INVALID_REQUEST,
                f"row {index} has keys {preview(sorted(record))}; row 0 has {preview(sorted(names))}",
            )
        rows.append([record[n] for n in names])
    return names, rows


def _table(columns: list[str] | None, rows: list[Any], signature: Signature, typed: bool) -> list[Tensor]:
    """Tensors from a table: the one input in the ``tensor`` layout, else one tensor per column."""
    if signature.layout is InputLayout.TENSOR:
        name = signature.inputs[0].name
        if columns == [name]:
            return [_tensor(name, [row[0] for row in _checked_rows(rows, 1)], signature, typed)]
        rows = rows if columns is None else _checked_rows(rows, len(columns))
        return [_tensor(name, rows, signature, typed)]
    names = columns if columns is not None else [s.name for s in signature.inputs]
    return _named(names, _checked_rows(rows, len(names)), signature, typed)


def _named(names: list[str], rows: list[list[Any]], signature: Signature, typed: bool) -> list[Tensor]:
    """One tensor per name, stacking that name's value over the rows."""
    if len(set(names)) != len(names):
        raise BerthError(ErrorCode.INVALID_REQUEST, f"duplicate columns {preview(duplicates(names))}")
    return [_tensor(name, [row[i] for row in rows], signature, typed) for i, name in enumerate(names)]


def _checked_rows(rows: list[Any], width: int) -> list[list[Any]]:
    for index, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != width:
            raise BerthError(ErrorCode.INVALID_REQUEST, f"row {index} must be a list of {width} values")
    return rows
