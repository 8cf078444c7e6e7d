"""JSON values <-> numpy arrays, with the strict rules every JSON codec shares.

Decoding (`array_from_json`), by datatype:

- BOOL: JSON booleans only (``0``/``1`` are refused);
- integers: JSON integers within the datatype's range (``1.5`` or ``2.0`` are refused: no truncation);
- FP16/32/64: JSON numbers; also the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` (JSON has no
  literal for them; the spelling is protobuf's JSON mapping, which OIP's gRPC twin uses) and
  ``null`` (a missing value) as NaN. A finite number too large for the datatype is refused;
- BYTES: JSON strings, kept as Python ``str`` in an object array.

Known limit, kept for speed: numpy coerces a *mix* of booleans and numbers (``[true, 2]``) to
numbers without a trace, so only all-boolean data is refused in a numeric tensor.

Encoding (`json_data`): numeric arrays go to orjson as numpy arrays (``OPT_SERIALIZE_NUMPY``);
non-finite floats become the strings above (orjson would write ``null`` and lose ±inf); BYTES
elements are ``str`` as they are, ``bytes`` decoded as UTF-8, and when any element is not UTF-8
the whole tensor is sent base64 with the tensor parameter ``content_type: "base64"`` (MLServer's
convention), which the decoders turn back into ``bytes``.
"""

from __future__ import annotations

import base64
import binascii
import math
from typing import Any, Final

import numpy as np

from berth.core.datatypes import FLOAT_DATATYPES
from berth.core.errors import BerthError, ErrorCode
from berth.core.numpy_types import numpy_dtype

NONFINITE_TOKENS: Final[dict[str, float]] = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_FLOAT_MAX: Final[dict[int, float]] = {2: float(np.finfo(np.float16).max), 4: float(np.finfo(np.float32).max)}
BASE64: Final = "base64"
CONTENT_TYPE: Final = "content_type"

Array = np.ndarray[Any, Any]


def invalid(name: str, problem: str) -> BerthError:
    """An INVALID_TENSOR error; `name` says which tensor (``"input 'x'"``)."""
    return BerthError(ErrorCode.INVALID_TENSOR, f"{name}: {problem}")


def array_from_json(name: str, datatype: str, data: Any) -> Array:
    """An array of `datatype` from a JSON value (nested lists keep their nesting as the shape).

    `name` says which tensor, for messages (``"input 'x'"``); errors are INVALID_TENSOR, or
    UNSUPPORTED_DATATYPE for an unknown datatype.
    """
    dtype: np.dtype[Any] = numpy_dtype(datatype)
    if datatype == "BYTES":
        return _bytes_array(name, data)
    try:
        raw = np.asarray(data)
    except (ValueError, TypeError, OverflowError, RecursionError):
        raise invalid(name, "nested data is ragged or too deep") from None
    if raw.size == 0:
        return np.empty(raw.shape, dtype)
    kind = raw.dtype.kind
    if datatype == "BOOL":
        if kind != "b":
            raise invalid(name, "BOOL data must be JSON booleans (true/false)")
        return raw
    if datatype in FLOAT_DATATYPES:
        if kind in "fiu":
            return _to_float(name, datatype, raw, dtype)
        if kind in "OU":
            return _to_float(name, datatype, _with_nonfinite(name, data), dtype)
        raise invalid(name, f"{datatype} data must be numbers, got booleans")
    if kind in "iu":
        return _to_int(name, datatype, raw, dtype)
    return _exact_ints(name, datatype, data, dtype)  # numpy makes floats of int64 + uint64 mixes


def _to_int(name: str, datatype: str, raw: Array, dtype: np.dtype[Any]) -> Array:
    if raw.dtype == dtype:
        return raw
    info = np.iinfo(dtype)
    if int(raw.min()) < info.min or int(raw.max()) > info.max:
        raise invalid(name, f"{datatype} data must be JSON integers in [{info.min}, {info.max}]")
    return raw.astype(dtype)


def _exact_ints(name: str, datatype: str, data: Any, dtype: np.dtype[Any]) -> Array:
    info = np.iinfo(dtype)
    low, high = int(info.min), int(info.max)
    stack = [data]
    while stack:
        value = stack.pop()
        if type(value) is list:
            stack.extend(value)
        elif type(value) is not int or not low <= value <= high:
            raise invalid(name, f"{datatype} data must be JSON integers in [{low}, {high}]")
    return np.array(data, dtype=dtype)


def _to_float(name: str, datatype: str, raw: Array, dtype: np.dtype[Any]) -> Array:
    if raw.dtype == dtype:
        return raw
    if dtype.itemsize == 8 or (raw.dtype.kind != "f" and dtype.itemsize == 4):
        return raw.astype(dtype)  # cannot overflow
    if np.abs(raw).max() <= _FLOAT_MAX[dtype.itemsize]:  # one reduction; False for NaN too
        return raw.astype(dtype)
    with np.errstate(over="ignore"):
        out = raw.astype(dtype)
    if (np.isinf(out) & np.isfinite(raw)).any():
        raise invalid(name, f"a value is too large for {datatype}")
    return out


def _with_nonfinite(name: str, data: Any) -> Array:
    try:
        return np.asarray(_floats(name, data), dtype=np.float64)
    except (ValueError, RecursionError):
        raise invalid(name, "nested data is ragged or too deep") from None


def _floats(name: str, value: Any) -> Any:
    if isinstance(value, list):
        return [_floats(name, v) for v in value]
    kind = type(value)
    if kind is float or kind is int:
        return value
    if value is None:
        return math.nan
    if kind is str and value in NONFINITE_TOKENS:
        return NONFINITE_TOKENS[value]
    raise invalid(
        name, f'float data must be numbers, null or "NaN"/"Infinity"/"-Infinity", got {value!r:.40}'
    )


def _bytes_array(name: str, data: Any) -> Array:
    try:
        arr = np.array(data, dtype=object)
    except (ValueError, RecursionError):
        raise invalid(name, "nested data is ragged or too deep") from None
    for item in arr.flat:
        if type(item) is not str:
            raise invalid(name, f"BYTES data must be strings (or nested lists of them), got {item!r:.40}")
    return arr


def objects_as_numbers(array: Array) -> Array | None:
    """An object array holding only numbers/booleans as a numeric array; None if it holds others."""
    try:
        numeric = np.array(array.tolist())
    except (ValueError, TypeError, OverflowError):
        return None
    return numeric if numeric.dtype.kind in "biuf" and numeric.shape == array.shape else None


def is_text(array: Array) -> bool:
    """Whether every element of an object array is ``str`` or ``bytes``."""
    return all(isinstance(x, str | bytes) for x in array.flat)


def decode_base64(name: str, arr: Array) -> Array:
    """A BYTES array of base64 strings as an array of ``bytes``."""
    out = np.empty(arr.shape, dtype=object)
    try:
        for index, item in np.ndenumerate(arr):
            out[index] = base64.b64decode(item, validate=True)
    except (binascii.Error, ValueError):
        raise invalid(name, "content_type is base64 but the data is not valid base64") from None
    return out


def json_data(array: Array) -> tuple[Any, bool]:
    """The flat, row-major JSON-able data of an array, and whether it is base64 (BYTES only).

    Numeric data is returned as a contiguous numpy array for orjson's ``OPT_SERIALIZE_NUMPY``.
    """
    kind = array.dtype.kind
    if kind in "biuf":
        if not array.dtype.isnative:
            array = array.astype(array.dtype.newbyteorder("="))
        flat = np.ascontiguousarray(array).reshape(-1)
        if kind == "f" and not np.isfinite(flat).all():
            return [_float_json(v) for v in flat.tolist()], False
        return flat, False
    if kind in "OUST":
        return _bytes_json(array.reshape(-1).tolist())
    raise BerthError(ErrorCode.UNSUPPORTED_DATATYPE, f"numpy dtype {array.dtype} has no OIP datatype")


def json_rows(array: Array) -> Any:
    """Nested JSON-able lists of an array (for row-oriented formats); non-finite floats become null."""
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        rows = array.astype(object)
        rows[~np.isfinite(array)] = None
        return rows.tolist()
    if array.dtype.kind in "OS":
        flat = _bytes_json(array.reshape(-1).tolist())[0]
        return np.array(flat, dtype=object).reshape(array.shape).tolist()
    return array.tolist()


def _float_json(value: float) -> float | str:
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def _bytes_json(items: list[Any]) -> tuple[list[str], bool]:
    out: list[str] = []
    for item in items:
        if type(item) is str:
            out.append(item)
        elif isinstance(item, bytes):
            try:
                out.append(item.decode("utf-8"))
            except UnicodeDecodeError:
                return _base64_json(items), True
        else:
            raise BerthError(
                ErrorCode.INVALID_TENSOR, f"a BYTES tensor holds a {type(item).__name__}, not str or bytes"
            )
    return out, False


def _base64_json(items: list[Any]) -> list[str]:
    return [
        base64.b64encode(item if isinstance(item, bytes) else str(item).encode("utf-8")).decode("ascii")
        for item in items
    ]
