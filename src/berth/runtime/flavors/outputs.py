"""Which outputs a prediction computes: the requested ones, or the runtime's defaults."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from berth.core.errors import BerthError, ErrorCode

PREDICT: Final = "predict"
"""The output every flavor answers: predictions (class labels for classifiers)."""
PREDICT_PROBA: Final = "predict_proba"
"""A classifier's class probabilities, [N, n_classes]."""
TRANSFORM: Final = "transform"
"""What a scikit-learn transformer without ``predict`` answers."""


def requested_outputs(
    requested: Sequence[str], available: Sequence[str], defaults: Sequence[str]
) -> tuple[str, ...]:
    """`requested` (or `defaults` when empty), checked against `available` (OUTPUT_NOT_FOUND)."""
    wanted = tuple(requested) or tuple(defaults)
    unknown = [name for name in wanted if name not in available]
    if unknown:
        raise BerthError(
            ErrorCode.OUTPUT_NOT_FOUND,
            f"unknown outputs {unknown}; the model has {list(available)}",
        )
    return wanted
