"""pandas and numpy data <-> tensors, for clients, the SDK and stored input examples.

Tensor names follow `berth.core.signature_inference.infer_input_specs`, so data shaped like a version's
input example matches its signature: a DataFrame gives one 1-D tensor per column (named by the
column), a dict one tensor per key, anything else (an array, a list of strings) one tensor
``input-0``. String columns (object, ``str`` or categorical) are BYTES.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import orjson
import pandas as pd

from berth.core.codecs._arrays import Array, is_text, objects_as_numbers
from berth.core.codecs.oip_json import dump, tensor_json
from berth.core.errors import BerthError, ErrorCode
from berth.core.numpy_types import oip_datatype
from berth.core.signature_inference import as_array
from berth.core.tensors import Tensor

EXAMPLE_ROWS: Final = 5
"""How many rows of an input example are kept in its stored request."""


def to_tensors(data: Any) -> list[Tensor]:
    """Tensors from a DataFrame, a dict of arrays, an array or a list (e.g. of strings)."""
    if isinstance(data, pd.DataFrame):
        names = [str(c) for c in data.columns]
        if len(set(names)) != len(names):
            raise BerthError(ErrorCode.INVALID_REQUEST, f"duplicate column names {names}")
        return [_tensor(name, _column(name, data.iloc[:, i])) for i, name in enumerate(names)]
    if isinstance(data, Mapping):
        return [_tensor(str(name), as_array(values)) for name, values in data.items()]
    return [_tensor("input-0", as_array(data))]


def outputs_to_frame(outputs: list[Tensor]) -> pd.DataFrame:
    """A DataFrame with a column per output.

    1-D outputs (and ``[N, 1]`` ones) are a column named after the output; an ``[N, k]`` output
    (k > 1) becomes ``name_0 … name_{k-1}`` (higher ranks are flattened past the first dim).
    Outputs must agree on the number of rows (INVALID_TENSOR).
    """
    columns: dict[str, Array] = {}
    for tensor in outputs:
        array = tensor.data.reshape(1) if tensor.data.ndim == 0 else tensor.data
        table = array.reshape(array.shape[0], -1)
        if table.shape[1] == 1 and array.ndim <= 2:
            columns[tensor.name] = table[:, 0]
        else:
            columns.update({f"{tensor.name}_{j}": table[:, j] for j in range(table.shape[1])})
    rows = {len(c) for c in columns.values()}
    if len(rows) > 1:
        sizes = {t.name: t.shape[:1] for t in outputs}
        raise BerthError(ErrorCode.INVALID_TENSOR, f"outputs disagree on the number of rows: {sizes}")
    return pd.DataFrame(columns)


def example_to_request(example: Any) -> dict[str, Any]:
    """An OIP request (a JSON-able dict) for the first rows of an input example.

    At most `EXAMPLE_ROWS` rows are kept, so the request can be stored with a version, sent to
    warm the model up and shown as a copy-paste request.
    """
    inputs = [
        tensor_json(Tensor(t.name, t.datatype, t.data[:EXAMPLE_ROWS].shape, t.data[:EXAMPLE_ROWS]))
        for t in to_tensors(example)
    ]
    request: dict[str, Any] = orjson.loads(dump({"inputs": inputs}, ErrorCode.INVALID_REQUEST))
    return request


def _column(name: str, series: pd.Series[Any]) -> Array:
    try:
        return as_array(series)
    except (ValueError, TypeError) as exc:
        raise BerthError(
            ErrorCode.INVALID_TENSOR, f"column {name!r} cannot be sent (missing values?): {exc}"
        ) from None


def _tensor(name: str, array: Array) -> Tensor:
    if array.ndim == 0:
        array = array.reshape(1)
    if array.dtype.kind == "O" and not is_text(array):
        array = _numbers(name, array)
    return Tensor(name, oip_datatype(array.dtype), array.shape, array)


def _numbers(name: str, array: Array) -> Array:
    numeric = objects_as_numbers(array)
    if numeric is None:
        kinds = sorted({type(x).__name__ for x in array.flat})
        raise BerthError(
            ErrorCode.INVALID_TENSOR,
            f"{name!r} holds {kinds}; send numbers, booleans or strings (missing strings: use '')",
        )
    return numeric
