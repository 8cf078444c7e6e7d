"""The ``scale`` pre-step: numeric columns scaled with parameters stored in the spec."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from berth.core.codecs._arrays import Array
from berth.runtime.pipeline.context import StepContext
from berth.runtime.pipeline.frame import Frame
from berth.runtime.pipeline.spec import SpecReader, invalid_spec
from berth.runtime.pipeline.step import column_of, step_failed


@dataclass(frozen=True, slots=True)
class Scaling:
    """``(x - center) / spread``: standard is ``(x - mean) / std``, minmax ``(x - min) / (max - min)``."""

    method: str
    params: Mapping[str, float]
    center: float
    spread: float

    @classmethod
    def from_spec(cls, column: str, spec: Any) -> Scaling:
        if not isinstance(spec, dict):
            raise invalid_spec(f"the scaling of {column!r} must be an object, got {spec!r:.60}")
        reader = SpecReader({"type": None, **spec})
        method = reader.text("method")
        if method == "standard":
            mean, std = reader.number("mean"), reader.number("std")
            reader.done()
            if std <= 0:
                raise invalid_spec(f"the scaling of {column!r}: std must be > 0, got {std}")
            return cls(method, {"mean": mean, "std": std}, mean, std)
        if method == "minmax":
            low, high = reader.number("min"), reader.number("max")
            reader.done()
            if not (high > low and math.isfinite(high - low)):
                raise invalid_spec(f"the scaling of {column!r}: max must be > min, got min {low}, max {high}")
            return cls(method, {"min": low, "max": high}, low, high - low)
        raise invalid_spec(
            f"the scaling of {column!r}: method must be 'standard' or 'minmax', got {method!r}"
        )

    def describe(self) -> dict[str, Any]:
        return {"method": self.method, **self.params}


@dataclass(frozen=True, slots=True)
class ScaleStep:
    """``{"type": "scale", "columns": {"age": {"method": "standard", "mean": 41.2, "std": 12.5}}}``.

    Columns must be numeric (integers become float64; float32 stays float32); NaN stays NaN.
    """

    columns: Mapping[str, Scaling]
    kind = "scale"

    @classmethod
    def from_spec(cls, spec: SpecReader) -> ScaleStep:
        return cls({name: Scaling.from_spec(name, s) for name, s in spec.mapping("columns").items()})

    def describe(self) -> dict[str, Any]:
        return {"type": self.kind, "columns": {n: s.describe() for n, s in self.columns.items()}}

    def columns_read(self) -> Collection[str]:
        return tuple(self.columns)

    def columns_after(self, known: frozenset[str] | None) -> frozenset[str] | None:
        return known

    async def apply(self, frame: Frame, ctx: StepContext) -> Frame:
        return frame.with_columns(
            {name: _scaled(name, column_of(frame, name), s) for name, s in self.columns.items()}
        )


def _scaled(name: str, column: Array, scaling: Scaling) -> Array:
    kind = column.dtype.kind
    if kind not in "iuf":
        raise step_failed(f"column {name!r} is {column.dtype}, not numbers: it cannot be scaled", column=name)
    dtype = column.dtype if kind == "f" else np.dtype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        return ((column - scaling.center) / scaling.spread).astype(dtype, copy=False)
