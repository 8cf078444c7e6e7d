"""A LightGBM Booster as a berth runtime."""

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


def is_classifier_objective(objective: str) -> bool:
    """binary, multiclass and multiclassova objectives classify; the rest predict a number."""
    return objective.startswith(("binary", "multiclass"))


class LightGBMRuntime:
    """Predicts with ``Booster.predict`` on one thread; a classifier's labels are the ones recorded
    at push time, else 0/1 (binary, threshold 0.5) or the class index (multiclass)."""

    handles_nan = True

    def __init__(self, booster: Any, objective: str, classes: Sequence[Any] | None) -> None:
        self._booster = booster
        self._classifier = is_classifier_objective(objective)
        n_classes = max(int(booster.params.get("num_class", 1)), 2) if self._classifier else 0
        self._classes = labels_array(classes if classes else range(n_classes)) if self._classifier else None
        self._outputs = (PREDICT, PREDICT_PROBA) if self._classifier else (PREDICT,)

    def input_specs(self) -> tuple[InputLayout, tuple[TensorSpec, ...]] | None:
        names = [str(n) for n in self._booster.feature_name()]
        return tabular_input_specs(names, int(self._booster.num_feature()))

    def output_names(self) -> tuple[str, ...]:
        return self._outputs

    def default_outputs(self) -> tuple[str, ...]:
        return (PREDICT,)

    def predict(self, inputs: ModelInput, outputs: Sequence[str]) -> ModelOutput:
        wanted = requested_outputs(outputs, self._outputs, self.default_outputs())
        data = tabular_input(inputs)
        with prediction_failed("lightgbm"):
            values = np.asarray(self._booster.predict(data, num_threads=1))
        if self._classes is None:
            return {PREDICT: values}
        proba = binary_proba(values) if values.ndim == 1 else values
        return classifier_answer(proba, self._classes, wanted)

    def unload(self) -> None:
        self._booster = None
