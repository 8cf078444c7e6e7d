"""The signature of a model version: given by its owner, inferred from an input example, or read
from what the model declares, with outputs found by running the model once."""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from berth.core.datatypes import FLOAT_DATATYPES
from berth.core.errors import BerthError, ErrorCode
from berth.core.numpy_types import numpy_dtype
from berth.core.signature import InputLayout, Signature, TensorSpec
from berth.core.signature_inference import as_array, infer_input_specs, infer_output_specs
from berth.core.tensors import ModelInput
from berth.runtime.flavors.base import Runtime

EXAMPLE_ROWS = 2


@runtime_checkable
class HandlesMissingValues(Protocol):
    """A runtime whose model treats NaN as a missing value (gradient-boosted trees)."""

    handles_nan: bool


def _handles_nan(runtime: Runtime) -> bool:
    return isinstance(runtime, HandlesMissingValues) and runtime.handles_nan is True


def _with_nan(specs: tuple[TensorSpec, ...], allow_nan: bool) -> tuple[TensorSpec, ...]:
    if not allow_nan:
        return specs
    return tuple(
        dataclasses.replace(s, allow_nan=True) if s.datatype in FLOAT_DATATYPES else s for s in specs
    )


def _synthetic_values(spec: TensorSpec, rows: int, *, column: bool) -> np.ndarray[Any, Any]:
    dims = (rows,) if column else (rows, *(max(d, 1) for d in spec.shape[1:]))
    if spec.datatype == "BYTES":
        return np.full(dims, "", dtype=object)
    return np.zeros(dims, dtype=numpy_dtype(spec.datatype))


def synthetic_example(
    layout: InputLayout, specs: tuple[TensorSpec, ...], rows: int = EXAMPLE_ROWS
) -> ModelInput:
    """A `rows`-row input made of zeros and empty strings that fits `specs`."""
    if layout is InputLayout.COLUMNS:
        return pd.DataFrame({s.name: _synthetic_values(s, rows, column=True) for s in specs})
    if layout is InputLayout.TENSORS:
        return {s.name: _synthetic_values(s, rows, column=False) for s in specs}
    return _synthetic_values(specs[0], rows, column=False)


def model_input(example: Any, layout: InputLayout) -> ModelInput:
    """An input example as a runtime receives it for `layout`."""
    if layout is InputLayout.COLUMNS:
        return example if isinstance(example, pd.DataFrame) else pd.DataFrame(example)
    if layout is InputLayout.TENSORS:
        return {str(k): as_array(v) for k, v in dict(example).items()}
    return as_array(example)


def typed_example(example: Any, declared: tuple[InputLayout, tuple[TensorSpec, ...]]) -> Any:
    """`example` with the datatypes of the `declared` inputs (a DataFrame's columns in their order),
    or None when it does not fit them (other names, layout or values). For an example read from
    JSON (an MLflow model's), which says little of its types."""
    layout, specs = declared
    try:
        if layout is InputLayout.COLUMNS and isinstance(example, pd.DataFrame):
            columns = {s.name: example[s.name].to_numpy(dtype=numpy_dtype(s.datatype)) for s in specs}
            return pd.DataFrame(columns)
        if layout is InputLayout.TENSOR and isinstance(example, np.ndarray):
            return example.astype(numpy_dtype(specs[0].datatype))
        if layout is InputLayout.TENSORS and isinstance(example, dict):
            return {s.name: np.asarray(example[s.name], dtype=numpy_dtype(s.datatype)) for s in specs}
    except (KeyError, TypeError, ValueError):
        return None
    return None


def _declared_name(
    runtime: Runtime, layout: InputLayout, inputs: tuple[TensorSpec, ...]
) -> tuple[TensorSpec, ...]:
    """An array example says nothing of its input's name: keep the one the model declares (an ONNX
    graph's ``X``, say), so callers use the model's own name rather than ``input-0``."""
    declared = runtime.input_specs()
    if layout is not InputLayout.TENSOR or declared is None or declared[0] is not InputLayout.TENSOR:
        return inputs
    return (dataclasses.replace(inputs[0], name=declared[1][0].name),)


def build_signature(
    runtime: Runtime,
    *,
    example: Any = None,
    given: Signature | None = None,
    allow_nan: bool = False,
    declared: tuple[InputLayout, tuple[TensorSpec, ...]] | None = None,
) -> Signature:
    """The signature of a loaded model: `given` as it is; else inputs from `declared` (what the
    artifact's description states, e.g. an MLflow signature), from `example` or from what the model
    declares, and outputs from the model's answer to the example (or to a synthesised two-row
    example of zeros and empty strings). Float inputs accept NaN when `allow_nan` or when the model
    handles missing values natively."""
    if given is not None:
        return given
    nan = allow_nan or _handles_nan(runtime)
    if declared is not None:
        layout, inputs = declared[0], _with_nan(declared[1], nan)
        probe = model_input(example, layout) if example is not None else synthetic_example(layout, inputs)
        inputs = _declared_name(runtime, layout, inputs)
    elif example is not None:
        layout, inputs = infer_input_specs(example, allow_nan=nan)
        probe = model_input(example, layout)
        inputs = _declared_name(runtime, layout, inputs)
    else:
        own = runtime.input_specs()
        if own is None:
            raise BerthError(
                ErrorCode.SIGNATURE_MISMATCH,
                "the model does not declare its inputs: pass an input example",
            )
        layout, inputs = own[0], _with_nan(own[1], nan)
        probe = synthetic_example(layout, inputs)
    names = runtime.output_names()
    try:
        answer = runtime.predict(probe, names)
    except BerthError as exc:
        if example is not None:
            raise
        raise BerthError(
            ErrorCode.SIGNATURE_MISMATCH,
            f"the model failed on a synthesised example ({exc.message}): pass an input example",
        ) from exc
    outputs = infer_output_specs({n: answer[n] for n in names if n in answer})
    produced = {s.name for s in outputs}
    defaults = tuple(n for n in runtime.default_outputs() if n in produced)
    return Signature(inputs=inputs, outputs=outputs, layout=layout, default_outputs=defaults)
