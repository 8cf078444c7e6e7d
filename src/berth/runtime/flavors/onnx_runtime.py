"""An ONNX graph served by onnxruntime."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from berth.core.errors import BerthError, ErrorCode
from berth.core.signature import BATCH, InputLayout, TensorSpec
from berth.core.tensors import ModelInput, ModelOutput
from berth.runtime.flavors.failures import prediction_failed
from berth.runtime.flavors.outputs import requested_outputs

#: onnxruntime element type -> (OIP datatype, numpy dtype)
ONNX_TYPES: dict[str, tuple[str, np.dtype[Any]]] = {
    "tensor(float)": ("FP32", np.dtype(np.float32)),
    "tensor(double)": ("FP64", np.dtype(np.float64)),
    "tensor(float16)": ("FP16", np.dtype(np.float16)),
    "tensor(int8)": ("INT8", np.dtype(np.int8)),
    "tensor(int16)": ("INT16", np.dtype(np.int16)),
    "tensor(int32)": ("INT32", np.dtype(np.int32)),
    "tensor(int64)": ("INT64", np.dtype(np.int64)),
    "tensor(uint8)": ("UINT8", np.dtype(np.uint8)),
    "tensor(uint16)": ("UINT16", np.dtype(np.uint16)),
    "tensor(uint32)": ("UINT32", np.dtype(np.uint32)),
    "tensor(uint64)": ("UINT64", np.dtype(np.uint64)),
    "tensor(bool)": ("BOOL", np.dtype(np.bool_)),
    "tensor(string)": ("BYTES", np.dtype(object)),
}


def session_options() -> Any:
    """One thread per session (the server runs requests in parallel) and quiet logs."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return options


def _dims(shape: Sequence[Any]) -> tuple[int, ...]:
    return tuple(d if isinstance(d, int) and d > 0 else BATCH for d in shape)


def _as_matrix(values: Any) -> np.ndarray[Any, Any]:
    """An output as an array; skl2onnx's ZipMap (a list of {class: probability}) becomes [N, K]."""
    if isinstance(values, list) and values and isinstance(values[0], Mapping):
        keys = list(values[0])
        return np.asarray([[row[k] for k in keys] for row in values], dtype=np.float32)
    return np.asarray(values)


class OnnxRuntime:
    """Runs an ``onnxruntime.InferenceSession`` (whose ``run`` is safe to call from several threads)."""

    def __init__(self, session: Any) -> None:
        self._session = session
        self._inputs = list(session.get_inputs())
        self._outputs = tuple(o.name for o in session.get_outputs())

    def input_specs(self) -> tuple[InputLayout, tuple[TensorSpec, ...]] | None:
        specs = []
        for arg in self._inputs:
            if arg.type not in ONNX_TYPES:
                return None
            specs.append(TensorSpec(arg.name, ONNX_TYPES[arg.type][0], _dims(arg.shape)))
        layout = InputLayout.TENSOR if len(specs) == 1 else InputLayout.TENSORS
        return layout, tuple(specs)

    def output_names(self) -> tuple[str, ...]:
        return self._outputs

    def default_outputs(self) -> tuple[str, ...]:
        return self._outputs

    def predict(self, inputs: ModelInput, outputs: Sequence[str]) -> ModelOutput:
        wanted = requested_outputs(outputs, self._outputs, self._outputs)
        feed = self._feed(inputs)
        with prediction_failed("onnx"):
            results = self._session.run(list(wanted), feed)
        return {name: _as_matrix(values) for name, values in zip(wanted, results, strict=True)}

    def unload(self) -> None:
        self._session = None

    def _feed(self, inputs: ModelInput) -> dict[str, np.ndarray[Any, Any]]:
        if isinstance(inputs, pd.DataFrame):
            named: Mapping[str, Any] = {str(c): inputs[c].to_numpy() for c in inputs.columns}
        elif isinstance(inputs, Mapping):
            named = inputs
        elif len(self._inputs) == 1:
            named = {self._inputs[0].name: inputs}
        else:
            raise BerthError(
                ErrorCode.SIGNATURE_MISMATCH,
                f"this ONNX graph takes inputs {[a.name for a in self._inputs]}, not one array",
            )
        missing = [a.name for a in self._inputs if a.name not in named]
        if missing:
            raise BerthError(ErrorCode.SIGNATURE_MISMATCH, f"missing ONNX inputs {missing}")
        return {arg.name: self._cast(arg, named[arg.name]) for arg in self._inputs}

    @staticmethod
    def _cast(arg: Any, values: Any) -> np.ndarray[Any, Any]:
        array = np.asarray(values)
        dtype = ONNX_TYPES.get(arg.type, (None, None))[1]
        if dtype is not None and array.dtype != dtype:
            try:
                array = array.astype(dtype)
            except (TypeError, ValueError) as exc:
                raise BerthError(
                    ErrorCode.INVALID_TENSOR, f"input {arg.name!r} cannot be read as {arg.type}: {exc}"
                ) from None
        rank = len(arg.shape)
        if array.ndim == 1 and rank == 2 and arg.shape[1] == 1:
            array = array.reshape(-1, 1)  # a column for a graph input of shape [N, 1]
        return array
