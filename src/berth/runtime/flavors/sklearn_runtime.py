"""A loaded scikit-learn estimator (or anything with scikit-learn's API) as a berth runtime."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from berth.core.errors import BerthError, ErrorCode
from berth.core.signature import BATCH, InputLayout, TensorSpec
from berth.core.tensors import ModelInput, ModelOutput
from berth.runtime.flavors.failures import prediction_failed
from berth.runtime.flavors.forest_proba import plain_forest
from berth.runtime.flavors.labels import as_output_labels
from berth.runtime.flavors.one_pass import labels_follow_proba, predict_and_proba
from berth.runtime.flavors.outputs import PREDICT, PREDICT_PROBA, TRANSFORM, requested_outputs


def estimator_outputs(estimator: Any) -> tuple[str, ...]:
    """The outputs an estimator offers: predict, predict_proba (classifiers), or transform."""
    names: list[str] = []
    if hasattr(estimator, "predict"):
        names.append(PREDICT)
        if hasattr(estimator, "classes_") and hasattr(estimator, "predict_proba"):
            names.append(PREDICT_PROBA)
    elif hasattr(estimator, "transform"):
        names.append(TRANSFORM)
    return tuple(names)


def _column_datatypes(estimator: Any) -> dict[str, str]:
    """Columns a ColumnTransformer encodes from strings (its encoders learnt string categories)."""
    transformer = estimator
    steps = getattr(estimator, "steps", None)
    if steps:
        transformer = steps[0][1]
    names = [str(n) for n in getattr(transformer, "feature_names_in_", ())]
    found: dict[str, str] = {}
    for _, step, columns in getattr(transformer, "transformers_", ()):
        categories = getattr(step, "categories_", None)
        if categories is None or not isinstance(columns, list | tuple | np.ndarray):
            continue
        for column, cats in zip(columns, categories, strict=False):
            name = names[column] if isinstance(column, int | np.integer) and column < len(names) else column
            if np.asarray(cats).dtype.kind in ("O", "U", "S", "T"):
                found[str(name)] = "BYTES"
    return found


def estimator_input_specs(estimator: Any) -> tuple[InputLayout, tuple[TensorSpec, ...]] | None:
    """Inputs from ``feature_names_in_`` (columns) or ``n_features_in_`` (one tensor); float64 unless
    an encoder shows a column holds strings."""
    names = getattr(estimator, "feature_names_in_", None)
    if names is not None:
        datatypes = _column_datatypes(estimator)
        specs = tuple(TensorSpec(str(n), datatypes.get(str(n), "FP64"), (BATCH,)) for n in names)
        return InputLayout.COLUMNS, specs
    n_features = getattr(estimator, "n_features_in_", None)
    if isinstance(n_features, int | np.integer) and n_features > 0:
        return InputLayout.TENSOR, (TensorSpec("input-0", "FP64", (BATCH, int(n_features))),)
    return None


class EstimatorRuntime:
    """Runs ``predict``/``predict_proba``/``transform`` of a fitted estimator.

    A model fitted on a DataFrame gets a DataFrame (an array of the right width is given the
    fitted column names); a model fitted on arrays gets an array. Labels and probabilities asked
    for together come from one pass where scikit-learn's labels follow its probabilities
    (`berth.runtime.flavors.one_pass`); a forest's trees are called in turn, without joblib
    (`berth.runtime.flavors.forest_proba`).
    """

    def __init__(self, estimator: Any, flavor: str = "sklearn") -> None:
        self._estimator = estimator
        self._flavor = flavor
        self._outputs = estimator_outputs(estimator)
        names = getattr(estimator, "feature_names_in_", None)
        self._columns = [str(n) for n in names] if names is not None else None
        self._one_pass = PREDICT_PROBA in self._outputs and labels_follow_proba(estimator)
        self._forest = plain_forest(estimator)

    def input_specs(self) -> tuple[InputLayout, tuple[TensorSpec, ...]] | None:
        return estimator_input_specs(self._estimator)

    def output_names(self) -> tuple[str, ...]:
        return self._outputs

    def default_outputs(self) -> tuple[str, ...]:
        return self._outputs[:1]

    def predict(self, inputs: ModelInput, outputs: Sequence[str]) -> ModelOutput:
        wanted = requested_outputs(outputs, self._outputs, self.default_outputs())
        data = self._model_input(inputs)
        answer: ModelOutput = {}
        with prediction_failed(self._flavor):
            if self._forest is not None:
                proba = self._forest.proba(data)
                labels = self._forest.labels(proba) if PREDICT in wanted else None
                return _from_proba(wanted, labels, proba)
            both = self._both(wanted, data)
            if both is not None:
                return _from_proba(wanted, *both)
            for name in wanted:
                result = getattr(self._estimator, name)(data)
                if hasattr(result, "toarray") and not isinstance(result, np.ndarray):
                    result = result.toarray()
                answer[name] = as_output_labels(result) if name == PREDICT else np.asarray(result)
        return answer

    def unload(self) -> None:
        self._estimator = None
        self._forest = None

    def _both(self, wanted: Sequence[str], data: Any) -> tuple[Any, Any] | None:
        if not self._one_pass or len(wanted) != 2 or PREDICT not in wanted or PREDICT_PROBA not in wanted:
            return None
        return predict_and_proba(self._estimator, data)

    def _model_input(self, inputs: ModelInput) -> Any:
        if isinstance(inputs, Mapping):
            if self._columns is not None:
                return pd.DataFrame({name: np.asarray(values) for name, values in inputs.items()})
            if len(inputs) != 1:
                raise BerthError(
                    ErrorCode.SIGNATURE_MISMATCH,
                    f"this {self._flavor} model takes one input, got {sorted(inputs)}",
                )
            return next(iter(inputs.values()))
        if isinstance(inputs, pd.DataFrame):
            return inputs if self._columns is not None else inputs.to_numpy()
        if self._columns is not None and inputs.ndim == 2 and inputs.shape[1] == len(self._columns):
            return pd.DataFrame(inputs, columns=self._columns)
        return inputs


def _from_proba(wanted: Sequence[str], labels: Any, proba: Any) -> ModelOutput:
    """The answer of a classifier whose labels and probabilities came from one pass."""
    return {name: as_output_labels(labels) if name == PREDICT else proba for name in wanted}
