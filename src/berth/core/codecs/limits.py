"""Limits every request codec applies before doing work proportional to what a caller declared.

- how many tensors (inputs, requested outputs) one request may name: TOO_MANY_TENSORS past the
  limit (``BERTH_MAX_REQUEST_TENSORS``), checked before any tensor is decoded;
- how large a declared shape may be: a dimension or a product of dimensions numpy cannot hold is
  INVALID_TENSOR (never an overflow deep inside numpy, which would be a 500).
"""

from __future__ import annotations

import math
from typing import Final

from berth.core.errors import BerthError, ErrorCode

DEFAULT_MAX_TENSORS: Final = 1024
"""How many inputs (and, separately, requested outputs) one request may name by default."""
MAX_SHAPE_ELEMENTS: Final = 2**56
"""The largest element count a shape may declare (numpy's limit is 2**63 bytes; 8-byte values
and the zero-size dimensions numpy still multiplies leave this margin)."""


def check_tensor_count(count: int, role: str, limit: int) -> None:
    """TOO_MANY_TENSORS when a request names more than `limit` `role`s."""
    if count > limit:
        raise BerthError(
            ErrorCode.TOO_MANY_TENSORS,
            f"the request has {count} {role}s; at most {limit} are accepted",
            limit=limit,
        )


def check_shape_size(label: str, shape: tuple[int, ...]) -> None:
    """INVALID_TENSOR when `shape` is larger than any array could be (zero dimensions aside)."""
    if len(shape) > 32:
        raise BerthError(ErrorCode.INVALID_TENSOR, f"{label}: shape has {len(shape)} dimensions; at most 32")
    if math.prod(d for d in shape if d) > MAX_SHAPE_ELEMENTS:
        raise BerthError(ErrorCode.INVALID_TENSOR, f"{label}: shape is too large for any tensor")
