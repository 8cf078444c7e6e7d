"""Model signatures: the named inputs and outputs of a model version, with datatypes and shapes.

A signature is stored with every version. It is given by the owner or inferred from an input
example (`infer_signature`), and the data plane checks requests against it before a model sees
them. `layout` says what the model receives:

- ``tensor``: one input; the model gets a numpy array (e.g. ``input-0`` of shape ``[-1, 20]``, or
  a 1-D BYTES tensor of strings for a text pipeline);
- ``columns``: every input is a column; the model gets a pandas DataFrame with those columns, in order;
- ``tensors``: several named inputs; the model gets a ``dict[str, numpy array]`` (e.g. ONNX graphs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from berth.core.bounded import preview
from berth.core.datatypes import DATATYPES, FLOAT_DATATYPES, oip_datatype
from berth.core.errors import BerthError, ErrorCode

BATCH = -1
"""A dimension of any size (the batch dimension, or a variable one)."""


class InputLayout(StrEnum):
    TENSOR = "tensor"
    COLUMNS = "columns"
    TENSORS = "tensors"


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """One named input or output: OIP datatype, shape (-1 = any size) and whether NaN is accepted."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    allow_nan: bool = False

    def __post_init__(self) -> None:
        if not self.name:
            raise BerthError(ErrorCode.SIGNATURE_MISMATCH, "a tensor spec needs a name")
        if self.datatype not in DATATYPES:
            raise BerthError(ErrorCode.UNSUPPORTED_DATATYPE, f"unknown datatype {self.datatype!r}")
        if any((not isinstance(d, int)) or d < BATCH or d == 0 for d in self.shape):
            raise BerthError(
                ErrorCode.SIGNATURE_MISMATCH, f"invalid shape {list(self.shape)} for {self.name!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}
        if self.datatype in FLOAT_DATATYPES:
            body["allow_nan"] = self.allow_nan
        return body

    @classmethod
    def from_dict(cls, body: Mapping[str, Any]) -> TensorSpec:
        try:
            return cls(
                name=str(body["name"]),
                datatype=str(body["datatype"]),
                shape=tuple(int(d) for d in body["shape"]),
                allow_nan=bool(body.get("allow_nan", False)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BerthError(
                ErrorCode.SIGNATURE_MISMATCH, f"invalid tensor spec {dict(body)!r}: {exc}"
            ) from None


@dataclass(frozen=True, slots=True)
class Signature:
    """Inputs, outputs, the input layout and the outputs returned when a request names none."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    layout: InputLayout = InputLayout.TENSOR
    default_outputs: tuple[str, ...] = ()
    output_names: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "output_names", frozenset(s.name for s in self.outputs))
        if not self.inputs:
            raise BerthError(ErrorCode.SIGNATURE_MISMATCH, "a signature needs at least one input")
        if self.layout is InputLayout.TENSOR and len(self.inputs) != 1:
            raise BerthError(ErrorCode.SIGNATURE_MISMATCH, "layout 'tensor' takes exactly one input")
        for specs in (self.inputs, self.outputs):
            names = [s.name for s in specs]
            if len(set(names)) != len(names):
                raise BerthError(ErrorCode.SIGNATURE_MISMATCH, f"duplicate tensor names in {names}")
        unknown = set(self.default_outputs) - {s.name for s in self.outputs}
        if unknown:
            raise BerthError(
                ErrorCode.SIGNATURE_MISMATCH, f"default outputs {sorted(unknown)} are not outputs"
            )

    @property
    def returned_by_default(self) -> tuple[str, ...]:
        """The outputs answered when a request asks for none: `default_outputs`, else every output."""
        return self.default_outputs or tuple(s.name for s in self.outputs)

    def input(self, name: str) -> TensorSpec | None:
        return next((s for s in self.inputs if s.name == name), None)

    def output(self, name: str) -> TensorSpec | None:
        return next((s for s in self.outputs if s.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "layout": self.layout.value,
            "inputs": [s.to_dict() for s in self.inputs],
            "outputs": [s.to_dict() for s in self.outputs],
            "default_outputs": list(self.default_outputs),
        }

    @classmethod
    def from_dict(cls, body: Mapping[str, Any]) -> Signature:
        try:
            layout = InputLayout(str(body.get("layout", InputLayout.TENSOR.value)))
            inputs = tuple(TensorSpec.from_dict(s) for s in body["inputs"])
            outputs = tuple(TensorSpec.from_dict(s) for s in body.get("outputs", ()))
            defaults = tuple(str(n) for n in body.get("default_outputs", ()))
        except (KeyError, TypeError, ValueError) as exc:
            raise BerthError(ErrorCode.SIGNATURE_MISMATCH, f"invalid signature: {exc}") from None
        return cls(inputs=inputs, outputs=outputs, layout=layout, default_outputs=defaults)


def _has_nan(values: np.ndarray[Any, Any]) -> bool:
    return values.dtype.kind == "f" and bool(np.isnan(values).any())


def _spec_for_array(name: str, values: np.ndarray[Any, Any], *, allow_nan: bool) -> TensorSpec:
    shape = (BATCH, *values.shape[1:]) if values.ndim >= 1 else (BATCH,)
    return TensorSpec(name, oip_datatype(values.dtype), tuple(shape), allow_nan=allow_nan or _has_nan(values))


def _column_values(series: pd.Series[Any]) -> np.ndarray[Any, Any]:
    """A column as numpy; pandas' nullable and categorical dtypes become their numpy equivalents."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        return series.astype(object).to_numpy()
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.to_numpy(dtype=np.bool_)
    if pd.api.types.is_string_dtype(series.dtype):
        return series.to_numpy(dtype=object)
    values = series.to_numpy()
    if values.dtype.kind in ("M", "m"):
        raise BerthError(
            ErrorCode.UNSUPPORTED_DATATYPE,
            f"column {series.name!r} holds dates/times; send them as numbers or strings",
        )
    return values


def infer_input_specs(example: Any, *, allow_nan: bool = False) -> tuple[InputLayout, tuple[TensorSpec, ...]]:
    """The input layout and specs of an input example (DataFrame, array, list of strings, dict of arrays).

    `allow_nan` marks float inputs as accepting NaN (models that handle missing values natively);
    float inputs whose example holds a NaN accept NaN in any case.
    """
    if isinstance(example, pd.DataFrame):
        if example.shape[1] == 0:
            raise BerthError(ErrorCode.SIGNATURE_MISMATCH, "the input example has no columns")
        specs = tuple(
            TensorSpec(str(col), oip_datatype(vals.dtype), (BATCH,), allow_nan=allow_nan or _has_nan(vals))
            for col in example.columns
            for vals in [_column_values(example[col])]
        )
        return InputLayout.COLUMNS, specs
    if isinstance(example, Mapping):
        if not example:
            raise BerthError(ErrorCode.SIGNATURE_MISMATCH, "the input example has no inputs")
        specs = tuple(
            _spec_for_array(str(name), as_array(values), allow_nan=allow_nan)
            for name, values in example.items()
        )
        return InputLayout.TENSORS, specs
    return InputLayout.TENSOR, (_spec_for_array("input-0", as_array(example), allow_nan=allow_nan),)


def infer_output_specs(outputs: Mapping[str, Any]) -> tuple[TensorSpec, ...]:
    """Output specs from a model's answer to its input example (output name -> array)."""
    return tuple(_spec_for_array(name, as_array(values), allow_nan=True) for name, values in outputs.items())


def as_array(values: Any) -> np.ndarray[Any, Any]:
    """An array from a model input or output: arrays as they are, lists and series converted.

    Strings become object arrays (OIP BYTES), never numpy's fixed-width unicode.
    """
    if isinstance(values, pd.Series | pd.Index):
        values = _column_values(pd.Series(values))
    elif hasattr(values, "toarray") and not isinstance(values, np.ndarray):  # scipy sparse
        values = values.toarray()
    array = np.asarray(values)
    if array.dtype.kind in ("U", "S", "T"):
        array = array.astype(object)
    return array


def describe_signature_mismatch(expected: Sequence[TensorSpec], got: Sequence[str]) -> str:
    """A message naming the inputs a request lacks and the ones the model does not know."""
    want = [s.name for s in expected]
    wanted, sent = set(want), set(got)  # one pass each: `got` may hold a caller's 100,000 names
    missing = [n for n in want if n not in sent]
    extra = [n for n in got if n not in wanted]
    parts = []
    if missing:
        parts.append(f"missing inputs {preview(missing)}")
    if extra:
        parts.append(f"unknown inputs {preview(extra)}")
    return "; ".join(parts) + f" (the model takes {preview(want)})"
