"""An XGBoost Booster as a berth runtime: class labels and probabilities from its objective."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from berth.core.signature import InputLayout, TensorSpec
from berth.core.tensors import ModelInput, ModelOutput
from berth.runtime.flavors.failures import prediction_failed
from berth.runtime.flavors.labels import binary_proba, classifier_answer, labels_array
from berth.runtime.flavors.outputs import PREDICT, PREDICT_PROBA, requested_outputs
from berth.runtime.flavors.tabular import tabular_input, tabular_input_specs

_PROBABILITY_OBJECTIVES = ("binary:logistic", "multi:softprob")
_MARGIN_OBJECTIVES = ("binary:logitraw", "multi:softmax")


def is_classifier_objective(objective: str) -> bool:
    return objective.startswith(("binary:", "multi:"))


def _softmax(margin: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    shifted = np.exp(margin - margin.max(axis=1, keepdims=True))
    return np.asarray(shifted / shifted.sum(axis=1, keepdims=True))


class XGBoostRuntime:
    """Predicts with ``Booster.inplace_predict`` (thread-safe); a classifier's labels are mapped
    back to the labels recorded at push time."""

    handles_nan = True

    def __init__(self, booster: Any, objective: str, classes: Sequence[Any] | None) -> None:
        self._booster = booster
        self._objective = objective
        self._classes = labels_array(classes) if classes is not None else None
        has_proba = self._classes is not None and objective.startswith(
            _PROBABILITY_OBJECTIVES + _MARGIN_OBJECTIVES
        )
        self._outputs = (PREDICT, PREDICT_PROBA) if has_proba else (PREDICT,)

    def input_specs(self) -> tuple[InputLayout, tuple[TensorSpec, ...]] | None:
        names = self._booster.feature_names
        return tabular_input_specs(list(names) if names else None, int(self._booster.num_features()))

    def output_names(self) -> tuple[str, ...]:
        return self._outputs

    def default_outputs(self) -> tuple[str, ...]:
        return (PREDICT,)

    def predict(self, inputs: ModelInput, outputs: Sequence[str]) -> ModelOutput:
        wanted = requested_outputs(outputs, self._outputs, self.default_outputs())
        data = tabular_input(inputs)
        with prediction_failed("xgboost"):
            if self._classes is None:
                return {PREDICT: np.asarray(self._booster.inplace_predict(data))}
            if PREDICT_PROBA not in self._outputs:  # binary:hinge gives the class index
                index = np.asarray(self._booster.inplace_predict(data)).astype(np.int64)
                return {PREDICT: self._classes[index]}
            proba = self._proba(data)
        return classifier_answer(proba, self._classes, wanted)

    def unload(self) -> None:
        self._booster = None

    def _proba(self, data: Any) -> np.ndarray[Any, Any]:
        binary = self._objective.startswith("binary:")
        if self._objective.startswith(_PROBABILITY_OBJECTIVES):
            values = np.asarray(self._booster.inplace_predict(data))
            return binary_proba(values) if binary else values
        margin = np.asarray(self._booster.inplace_predict(data, predict_type="margin"), dtype=np.float64)
        return binary_proba(1.0 / (1.0 + np.exp(-margin))) if binary else _softmax(margin)
