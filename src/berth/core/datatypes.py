"""Open Inference Protocol datatypes and their numpy counterparts."""

from __future__ import annotations

from typing import Final

import numpy as np

from berth.core.errors import BerthError, ErrorCode

#: OIP datatype name -> numpy dtype. BYTES tensors are numpy object arrays of ``bytes`` or ``str``.
OIP_TO_NUMPY: Final[dict[str, np.dtype[np.generic]]] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
    "BYTES": np.dtype(object),
}

_NUMPY_KIND_TO_OIP: Final[dict[tuple[str, int], str]] = {
    ("b", 1): "BOOL",
    ("u", 1): "UINT8",
    ("u", 2): "UINT16",
    ("u", 4): "UINT32",
    ("u", 8): "UINT64",
    ("i", 1): "INT8",
    ("i", 2): "INT16",
    ("i", 4): "INT32",
    ("i", 8): "INT64",
    ("f", 2): "FP16",
    ("f", 4): "FP32",
    ("f", 8): "FP64",
}

DATATYPES: Final[frozenset[str]] = frozenset(OIP_TO_NUMPY)
FLOAT_DATATYPES: Final[frozenset[str]] = frozenset({"FP16", "FP32", "FP64"})


def numpy_dtype(datatype: str) -> np.dtype[np.generic]:
    """The numpy dtype of an OIP datatype; an unknown name is an UNSUPPORTED_DATATYPE error."""
    try:
        return OIP_TO_NUMPY[datatype]
    except KeyError:
        raise BerthError(
            ErrorCode.UNSUPPORTED_DATATYPE,
            f"unknown datatype {datatype!r}; expected one of {', '.join(sorted(DATATYPES))}",
        ) from None


def oip_datatype(dtype: np.dtype[np.generic]) -> str:
    """The OIP datatype of a numpy dtype: strings, bytes and objects are BYTES."""
    if dtype.kind in ("U", "S", "O", "T"):
        return "BYTES"
    try:
        return _NUMPY_KIND_TO_OIP[(dtype.kind, dtype.itemsize)]
    except KeyError:
        raise BerthError(
            ErrorCode.UNSUPPORTED_DATATYPE, f"numpy dtype {dtype} has no Open Inference Protocol datatype"
        ) from None
