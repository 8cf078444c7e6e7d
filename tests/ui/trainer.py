"""A tiny registered trainer for the browser tests' retrain job (``berth.trainers: ui-tiny``),
installed in a worker process through entry-point metadata written into a folder on its path."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROWS = [[0.0, 0.1], [0.2, 0.0], [0.1, 0.2], [1.0, 0.9], [0.9, 1.1], [1.2, 1.0]]
LABELS = ["low", "low", "low", "high", "high", "high"]


class TinyTrainer:
    """Two features, two classes, a logistic regression: trains in milliseconds."""

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        self.options = dict(options or {})

    def base_data(self) -> tuple[list[Any], list[str]]:
        return [tuple(r) for r in ROWS], list(LABELS)

    def rows_of(self, inputs: Mapping[str, Mapping[str, Any]]) -> list[Any]:
        data = next(iter(inputs.values()))["data"]
        return [tuple(data[i : i + 2]) for i in range(0, len(data), 2)]

    def train(self, base: tuple[list[Any], list[str]], corrections: tuple[list[Any], list[str]]) -> Any:
        from sklearn.linear_model import LogisticRegression

        rows = [*base[0], *corrections[0]]
        return LogisticRegression().fit(self.model_input(rows), [*base[1], *corrections[1]])

    def model_input(self, rows: Sequence[Any]) -> Any:
        return np.asarray(rows, dtype=np.float32)

    def evaluation_data(self) -> tuple[list[Any], list[str]] | None:
        return None

    def describe(self) -> dict[str, Any]:
        return {"params": {"classifier": "LogisticRegression"}, "docs": "# tiny\n\nA test model."}


def install_tiny_trainer(folder: Path) -> Path:
    """A folder with the metadata of a distribution registering `TinyTrainer` as ``ui-tiny``."""
    dist = folder / "berth_ui_trainer-0.0.0.dist-info"
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: berth-ui-trainer\nVersion: 0.0.0\n")
    (dist / "entry_points.txt").write_text("[berth.trainers]\nui-tiny = tests.ui.trainer:TinyTrainer\n")
    return folder
