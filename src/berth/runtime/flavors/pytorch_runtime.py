"""A TorchScript module or a torch.export program as a berth runtime, on CPU.

Inputs are the model's tensor arguments, in order (one: layout ``tensor``; several: ``tensors``,
by the argument names); outputs are ``output-0``, ``output-1``, … for a tensor or a tuple of
tensors, all returned by default. A torch.export program declares each input's dtype and shape
(`input_specs`; a dynamic dimension is -1) and inputs are cast to its dtypes; a TorchScript
module declares neither, so its signature comes from the input example.

Threads: a server runs predictions from several threads at once and batches rows, so torch's
intra-op pool is set to one thread the first time a model loads in a process
(`configure_threads`), unless ``BERTH_TORCH_THREADS`` names a count or ``OMP_NUM_THREADS`` is set
(then torch's own choice stands).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from berth.core.errors import BerthError, ErrorCode
from berth.core.signature import BATCH, InputLayout, TensorSpec
from berth.core.tensors import ModelInput, ModelOutput
from berth.runtime.flavors.failures import prediction_failed
from berth.runtime.flavors.outputs import requested_outputs

THREADS_VARIABLE = "BERTH_TORCH_THREADS"

#: torch dtype name -> OIP datatype
TORCH_TO_OIP: dict[str, str] = {
    "float32": "FP32",
    "float64": "FP64",
    "float16": "FP16",
    "int8": "INT8",
    "int16": "INT16",
    "int32": "INT32",
    "int64": "INT64",
    "uint8": "UINT8",
    "bool": "BOOL",
}


@functools.cache
def configure_threads() -> int:
    """Set torch's intra-op threads once per process; the count in use."""
    import torch

    wanted = os.environ.get(THREADS_VARIABLE, "").strip()
    if wanted:
        torch.set_num_threads(max(1, int(wanted)))
    elif not os.environ.get("OMP_NUM_THREADS"):
        torch.set_num_threads(1)
    return int(torch.get_num_threads())


def output_names(count: int) -> tuple[str, ...]:
    return tuple(f"output-{i}" for i in range(count))


def _dtype_name(dtype: Any) -> str:
    return str(dtype).removeprefix("torch.")


def tensor_spec(name: str, dtype: Any, shape: Sequence[Any]) -> TensorSpec | None:
    """An input spec from a torch dtype and a shape whose symbolic dimensions become -1 (None
    when the dtype has no OIP counterpart)."""
    datatype = TORCH_TO_OIP.get(_dtype_name(dtype))
    if datatype is None:
        return None
    return TensorSpec(name, datatype, tuple(d if isinstance(d, int) and d > 0 else BATCH for d in shape))


class TorchRuntime:
    """Calls a module (``ScriptModule.forward`` or an ExportedProgram's ``module()``) under
    ``torch.inference_mode``; both are safe to call from several threads."""

    def __init__(
        self,
        call: Callable[..., Any],
        inputs: Sequence[str],
        outputs: Sequence[str],
        *,
        specs: Sequence[TensorSpec] | None = None,
        dtypes: Sequence[Any] | None = None,
    ) -> None:
        self._call: Callable[..., Any] | None = call
        self._inputs = tuple(inputs)
        self._outputs = tuple(outputs)
        self._specs = tuple(specs) if specs is not None else None
        self._dtypes = tuple(dtypes) if dtypes is not None else (None,) * len(self._inputs)

    def input_specs(self) -> tuple[InputLayout, tuple[TensorSpec, ...]] | None:
        if self._specs is None:
            return None
        layout = InputLayout.TENSOR if len(self._specs) == 1 else InputLayout.TENSORS
        return layout, self._specs

    def output_names(self) -> tuple[str, ...]:
        return self._outputs

    def default_outputs(self) -> tuple[str, ...]:
        return self._outputs

    def predict(self, inputs: ModelInput, outputs: Sequence[str]) -> ModelOutput:
        import torch

        wanted = requested_outputs(outputs, self._outputs, self._outputs)
        arrays = self._arrays(inputs)
        tensors = [_tensor(name, a, d) for name, a, d in zip(self._inputs, arrays, self._dtypes, strict=True)]
        call = self._call
        if call is None:
            raise BerthError(ErrorCode.MODEL_NOT_READY, "the model is unloaded")
        with prediction_failed("torch"), torch.inference_mode():
            result = call(*tensors)
        answer = self._answer(result)
        return {name: answer[name] for name in wanted}

    def unload(self) -> None:
        self._call = None

    def _arrays(self, inputs: ModelInput) -> list[Any]:
        if isinstance(inputs, pd.DataFrame):
            if len(self._inputs) == 1:
                return [inputs.to_numpy()]
            named: Mapping[str, Any] = {str(c): inputs[c].to_numpy() for c in inputs.columns}
        elif isinstance(inputs, Mapping):
            if len(self._inputs) == 1 and len(inputs) == 1:
                return [next(iter(inputs.values()))]
            named = inputs
        elif len(self._inputs) == 1:
            return [inputs]
        else:
            raise BerthError(
                ErrorCode.SIGNATURE_MISMATCH, f"this model takes inputs {list(self._inputs)}, not one array"
            )
        missing = [n for n in self._inputs if n not in named]
        if missing:
            raise BerthError(
                ErrorCode.SIGNATURE_MISMATCH,
                f"missing inputs {missing}; the model takes {list(self._inputs)}",
            )
        return [named[n] for n in self._inputs]

    def _answer(self, result: Any) -> dict[str, np.ndarray[Any, Any]]:
        import torch

        values = list(result) if isinstance(result, tuple | list) else [result]
        if len(values) != len(self._outputs) or not all(isinstance(v, torch.Tensor) for v in values):
            raise BerthError(
                ErrorCode.PREDICTION_FAILED,
                f"the model returned {type(result).__name__}, not {len(self._outputs)} tensor(s)",
            )
        return {name: _array(value) for name, value in zip(self._outputs, values, strict=True)}


def _tensor(name: str, values: Any, dtype: Any) -> Any:
    import torch

    array = np.asarray(values)
    if array.dtype == object:
        raise BerthError(
            ErrorCode.INVALID_TENSOR, f"input {name!r}: a torch model takes numbers, not strings"
        )
    if not array.flags.writeable or not array.flags.c_contiguous:
        array = np.array(array, order="C")  # torch.from_numpy shares memory: a private, writable copy
    try:
        tensor = torch.from_numpy(array)
        return tensor if dtype is None or tensor.dtype == dtype else tensor.to(dtype)
    except (TypeError, RuntimeError) as exc:
        raise BerthError(
            ErrorCode.INVALID_TENSOR, f"input {name!r} cannot be a torch tensor: {exc}"
        ) from None


def _array(tensor: Any) -> np.ndarray[Any, Any]:
    import torch

    value = tensor.detach().cpu()
    if _dtype_name(value.dtype) not in TORCH_TO_OIP:
        value = value.to(torch.float32 if value.is_floating_point() else torch.int64)
    return np.asarray(value.numpy())
