"""A pyfunc model for the end-to-end tests: a linear score and a label, weights kept in a data file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np


class LinearScorer:
    """Answers ``score`` (x @ weights + bias) and ``label`` ("high" when the score is positive)."""

    outputs = ("score", "label")

    def __init__(self, weights: Any = None, bias: float = 0.0) -> None:
        self.weights: Any = None if weights is None else np.asarray(weights, dtype=np.float64)
        self.bias = float(bias)

    def save(self, path: Path) -> None:
        if self.weights is None:
            raise ValueError("an unfitted LinearScorer has nothing to save")
        (path / "weights.json").write_text(json.dumps({"weights": self.weights.tolist(), "bias": self.bias}))

    def load(self, path: Path) -> None:
        stored = json.loads((path / "weights.json").read_text())
        self.weights = np.asarray(stored["weights"], dtype=np.float64)
        self.bias = float(stored["bias"])

    def predict(self, inputs: Any) -> dict[str, Any]:
        score = np.asarray(inputs, dtype=np.float64) @ self.weights + self.bias
        return {"score": score, "label": np.where(score > 0, "high", "low").astype(object)}
