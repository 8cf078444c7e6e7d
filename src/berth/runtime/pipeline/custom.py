"""The ``python`` step: a custom Python callable from a pushed package (``"model:3"``, ``"model@alias"``).

Contract: the callable receives a pandas DataFrame of the frame's 1-D columns (in order, index
0..N-1) and returns a DataFrame with the same number of rows; its columns (index ignored) replace
the 1-D columns, so it may add, change and drop columns. 2-D columns (e.g. ``predict_proba``) are
not passed and are kept, unless the result has a column of the same name. It may be a coroutine
function. Anything else it returns, or raises, is PIPELINE_STEP_FAILED.
"""

from __future__ import annotations

import inspect
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from berth.core.codecs._arrays import Array
from berth.core.entities import check_alias_name, check_model_name
from berth.core.errors import BerthError
from berth.runtime.pipeline.context import StepContext
from berth.runtime.pipeline.frame import Frame
from berth.runtime.pipeline.spec import SpecReader, invalid_spec
from berth.runtime.pipeline.step import step_failed


def check_ref(ref: str) -> str:
    """A custom step's package: ``model:3`` or ``model@alias`` (INVALID_PIPELINE otherwise)."""
    model, sep, version = ref.partition(":")
    if not sep:
        model, sep, version = ref.partition("@")
    if sep == ":" and not (
        version.isascii() and version.isdigit() and len(version) <= 18 and int(version) > 0
    ):
        sep = ""
    if not sep:
        raise invalid_spec(f"'ref' must be 'model:version' or 'model@alias' (e.g. 'cleaner:3'), got {ref!r}")
    try:
        check_model_name(model)
        if sep == "@":
            check_alias_name(version)
    except BerthError as exc:
        raise invalid_spec(f"'ref' {ref!r}: {exc.message}") from None
    return ref


@dataclass(frozen=True, slots=True)
class PythonStep:
    """``{"type": "python", "ref": "complaint-cleaner:3"}`` (allowed before and after the model)."""

    ref: str
    kind = "python"

    @classmethod
    def from_spec(cls, spec: SpecReader) -> PythonStep:
        return cls(check_ref(spec.text("ref")))

    def describe(self) -> dict[str, Any]:
        return {"type": self.kind, "ref": self.ref}

    def columns_read(self) -> Collection[str]:
        return ()

    def columns_after(self, known: frozenset[str] | None) -> frozenset[str] | None:
        return None

    async def apply(self, frame: Frame, ctx: StepContext) -> Frame:
        import pandas as pd  # where a custom step runs: parsing an endpoint's pipeline needs no pandas

        function = await ctx.custom_steps.get(self.ref)
        flat = [name for name in frame.names if frame[name].ndim == 1]
        given = pd.DataFrame(
            {name: frame[name] for name in flat}, index=pd.RangeIndex(frame.rows), copy=False
        )
        result = function(given)
        if inspect.isawaitable(result):
            result = await result
        columns = _columns(self.ref, result, frame.rows)
        return frame.drop(flat).with_columns(columns)


def _columns(ref: str, result: Any, rows: int) -> dict[str, Array]:
    import pandas as pd

    from berth.core.signature_inference import as_array

    if not isinstance(result, pd.DataFrame):
        raise step_failed(f"custom step {ref!r} returned a {type(result).__name__}, not a pandas DataFrame")
    if len(result) != rows:
        raise step_failed(f"custom step {ref!r} returned {len(result)} rows for {rows}")
    names = [str(c) for c in result.columns]
    if len(set(names)) != len(names):
        raise step_failed(f"custom step {ref!r} returned duplicate columns {names}")
    return {name: as_array(result.iloc[:, i]) for i, name in enumerate(names)}
