"""Open Inference Protocol datatypes, by name (their numpy counterparts: `berth.core.numpy_types`).

Kept free of numpy so that signatures, which name datatypes, load without it (``import berth``).
"""

from __future__ import annotations

from typing import Final

FLOAT_DATATYPES: Final[frozenset[str]] = frozenset({"FP16", "FP32", "FP64"})
INTEGER_DATATYPES: Final[frozenset[str]] = frozenset(
    {"UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64"}
)
DATATYPES: Final[frozenset[str]] = frozenset({"BOOL", "BYTES"}) | FLOAT_DATATYPES | INTEGER_DATATYPES
"""Every OIP datatype: BOOL, the unsigned and signed integers, FP16/32/64 and BYTES."""
