"""Inputs of tabular models (gradient-boosted trees): one array, or columns as a DataFrame."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from berth.core.signature import BATCH, InputLayout, TensorSpec
from berth.core.tensors import ModelInput

_GENERATED_NAME = "Column_"  # LightGBM's name for the features of an array


def tabular_input(inputs: ModelInput) -> np.ndarray[Any, Any] | pd.DataFrame:
    """An array or a DataFrame: a dict of one tensor is that tensor, a dict of several is columns."""
    if isinstance(inputs, Mapping):
        if len(inputs) == 1:
            return np.asarray(next(iter(inputs.values())))
        return pd.DataFrame({name: np.asarray(values).reshape(-1) for name, values in inputs.items()})
    return inputs


def tabular_input_specs(
    feature_names: list[str] | None, n_features: int
) -> tuple[InputLayout, tuple[TensorSpec, ...]] | None:
    """Named features as float columns, else one [-1, n] float tensor; NaN means "missing"."""
    if feature_names and not all(n.startswith(_GENERATED_NAME) for n in feature_names):
        return InputLayout.COLUMNS, tuple(
            TensorSpec(name, "FP64", (BATCH,), allow_nan=True) for name in feature_names
        )
    if n_features > 0:
        return InputLayout.TENSOR, (TensorSpec("input-0", "FP64", (BATCH, n_features), allow_nan=True),)
    return None
