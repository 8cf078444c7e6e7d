"""Signatures inferred from data: the specs of an input example or of a model's answer.

`as_array` turns any model input or output (an array, a list, a pandas Series, a sparse matrix)
into the numpy array those specs are read from. Apart from `berth.core.signature` so that a
signature (``import berth``, a client reading a version) never loads numpy or pandas.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from berth.core.errors import BerthError, ErrorCode
from berth.core.numpy_types import oip_datatype
from berth.core.signature import BATCH, InputLayout, TensorSpec


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
