"""Tensors <-> what a runtime receives and returns, checked against the version's signature.

`to_model_input` applies, in this order (first failure wins):

1. names: the request's inputs are exactly the signature's (SIGNATURE_MISMATCH);
2. datatypes: equal, or a cast that keeps the kind of every value (SIGNATURE_MISMATCH otherwise):
   BOOL/integers/floats -> any float (FP64 -> FP32 included; a finite value too large for the
   target is INVALID_TENSOR); BOOL/integers -> any integer whose range holds the values (checked,
   INVALID_TENSOR otherwise: JSON clients send INT64 by default, so "wider only" would refuse
   most INT32 models' callers); anything else (floats -> integers, numbers <-> BYTES, -> BOOL)
   is refused;
3. shapes: same rank, and every dimension that is not -1 in the spec matches (SIGNATURE_MISMATCH);
   in the ``columns`` layout a column may also come as ``[N, 1]``;
4. batch: every input with a dimension agrees on the first one (INVALID_TENSOR); 0 rows is EMPTY_BATCH;
5. NaN: a float input whose spec has ``allow_nan`` False takes only finite values — NaN and
   ±infinity are both NAN_NOT_ALLOWED (``allow_nan`` True admits both).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from berth.core.bounded import duplicates, preview
from berth.core.codecs._arrays import Array, is_text, objects_as_numbers
from berth.core.datatypes import FLOAT_DATATYPES
from berth.core.errors import BerthError, ErrorCode
from berth.core.numpy_types import numpy_dtype, oip_datatype
from berth.core.signature import (
    BATCH,
    InputLayout,
    Signature,
    TensorSpec,
    describe_signature_mismatch,
)
from berth.core.signature_inference import as_array
from berth.core.tensors import ModelInput, ModelOutput, Tensor

_CASTABLE_FROM = {"f": "biuf", "i": "biu", "u": "biu"}
"""Target numpy kind -> the source kinds that may be cast to it."""


def to_model_input(inputs: list[Tensor], signature: Signature) -> ModelInput:
    """What the runtime's ``predict`` receives, by the signature's layout (see the module doc)."""
    return assemble_model_input(conform_inputs(inputs, signature), signature)


def conform_inputs(inputs: list[Tensor], signature: Signature) -> list[Array]:
    """The request's inputs checked against the signature and cast, one array per input in the
    signature's order (see the module doc). Batches are merged at this stage, before assembly."""
    specs = signature.inputs
    by_name = {t.name: t for t in inputs}
    if len(by_name) != len(inputs) or len(by_name) != len(specs) or any(s.name not in by_name for s in specs):
        raise BerthError(ErrorCode.SIGNATURE_MISMATCH, _names_problem(specs, [t.name for t in inputs]))
    columns = signature.layout is InputLayout.COLUMNS
    arrays = [_conform(by_name[spec.name], spec, columns) for spec in specs]
    _check_batch(specs, arrays)
    for spec, array in zip(specs, arrays, strict=True):
        if spec.datatype in FLOAT_DATATYPES and not spec.allow_nan and not np.isfinite(array).all():
            raise BerthError(
                ErrorCode.NAN_NOT_ALLOWED,
                f"input {spec.name!r} holds NaN or infinity, which this model does not accept",
                input=spec.name,
            )
    return arrays


def assemble_model_input(arrays: Sequence[Array], signature: Signature) -> ModelInput:
    """Conformed arrays (one per signature input, in order) as the layout's model input."""
    specs = signature.inputs
    if signature.layout is InputLayout.TENSOR:
        return arrays[0]
    if signature.layout is InputLayout.COLUMNS:
        return pd.DataFrame({spec.name: array for spec, array in zip(specs, arrays, strict=True)}, copy=False)
    return {spec.name: array for spec, array in zip(specs, arrays, strict=True)}


def to_output_tensors(raw: ModelOutput, names: Sequence[str], signature: Signature) -> list[Tensor]:
    """The requested outputs, in order, as tensors; no names -> the signature's default outputs.

    When neither names nor signature outputs are given, every output the model returned is
    answered. Datatypes come from the arrays (strings are BYTES) and 0-d outputs become ``[1]``.
    """
    wanted = tuple(names) or signature.returned_by_default or tuple(raw)
    tensors = []
    for name in wanted:
        if name not in raw:
            raise BerthError(
                ErrorCode.OUTPUT_NOT_FOUND,
                f"the model has no output {name!r}; available outputs: {preview(sorted(raw))}",
                output=name,
            )
        array = _output_array(name, raw[name])
        tensors.append(Tensor(name, _output_datatype(name, array), array.shape, array))
    return tensors


def batch_size(inputs: list[Tensor]) -> int:
    """The first dimension of the first input that has one (1 if all are scalars, 0 if no inputs)."""
    for tensor in inputs:
        if tensor.data.ndim:
            return int(tensor.data.shape[0])
    return 1 if inputs else 0


def _names_problem(specs: Sequence[TensorSpec], got: list[str]) -> str:
    repeated = duplicates(got)
    if repeated:
        return f"duplicate inputs {preview(repeated)} (the model takes {preview(s.name for s in specs)})"
    return describe_signature_mismatch(specs, got)


def _conform(tensor: Tensor, spec: TensorSpec, columns: bool) -> Array:
    array = tensor.data
    target = numpy_dtype(spec.datatype)
    if array.dtype != target:
        array = _cast(tensor, spec, target)
    if columns and array.ndim == 2 and array.shape[1] == 1 and len(spec.shape) == 1:
        array = array.reshape(-1)
    if len(array.shape) != len(spec.shape) or any(
        want != BATCH and want != got for want, got in zip(spec.shape, array.shape, strict=True)
    ):
        raise BerthError(
            ErrorCode.SIGNATURE_MISMATCH,
            f"input {spec.name!r} has shape {preview(array.shape)}; the model takes {list(spec.shape)}"
            " (-1: any size)",
            input=spec.name,
        )
    return array


def _cast(tensor: Tensor, spec: TensorSpec, target: np.dtype[Any]) -> Array:
    array = tensor.data
    source = array.dtype.kind
    if target.kind == "O" and source in "OUST":
        return array.astype(object)
    if source not in _CASTABLE_FROM.get(target.kind, ""):
        raise BerthError(
            ErrorCode.SIGNATURE_MISMATCH,
            f"input {spec.name!r} is {tensor.datatype}; the model takes {spec.datatype}"
            " and that cast could change values",
            input=spec.name,
        )
    if np.can_cast(array.dtype, target, casting="safe"):  # widening (e.g. FP32 -> FP64): nothing to check
        return array.astype(target)
    if target.kind in "iu" and source != "b" and array.size:
        info = np.iinfo(target)
        if int(array.min()) < info.min or int(array.max()) > info.max:
            raise _out_of_range(tensor, spec)
    with np.errstate(over="ignore"):
        cast = array.astype(target)
    if target.kind == "f" and not np.isfinite(cast).all() and (np.isinf(cast) & np.isfinite(array)).any():
        raise _out_of_range(tensor, spec)
    return cast


def _out_of_range(tensor: Tensor, spec: TensorSpec) -> BerthError:
    return BerthError(
        ErrorCode.INVALID_TENSOR,
        f"input {spec.name!r} is {tensor.datatype} with values outside the range of {spec.datatype},"
        " which the model takes",
        input=spec.name,
    )


def _check_batch(specs: Sequence[TensorSpec], arrays: list[Array]) -> None:
    sizes = {spec.name: int(a.shape[0]) for spec, a in zip(specs, arrays, strict=True) if a.ndim}
    distinct = set(sizes.values())
    if len(distinct) > 1:
        raise BerthError(ErrorCode.INVALID_TENSOR, f"inputs disagree on the batch size (first dim): {sizes}")
    if distinct == {0}:
        raise BerthError(ErrorCode.EMPTY_BATCH, "the request has no rows (batch size 0)")


def _output_array(name: str, values: Any) -> Array:
    array = as_array(values)
    if array.ndim == 0:
        array = array.reshape(1)
    if array.dtype.kind == "O" and not is_text(array):
        array = _numeric_objects(name, array)
    return array


def _numeric_objects(name: str, array: Array) -> Array:
    numeric = objects_as_numbers(array)
    if numeric is None:
        kinds = sorted({type(x).__name__ for x in array.flat})
        raise BerthError(
            ErrorCode.PREDICTION_FAILED,
            f"output {name!r} holds {kinds}; outputs must be numbers, booleans or strings",
            output=name,
        )
    return numeric


def _output_datatype(name: str, array: Array) -> str:
    try:
        return oip_datatype(array.dtype)
    except BerthError as exc:
        raise BerthError(exc.code, f"output {name!r}: {exc.message}", output=name) from None
