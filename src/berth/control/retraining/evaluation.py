"""Accuracy of the champion (loaded as a server loads it) and of the challenger (the fitted object)
on the same rows."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from berth.control.jobs.context import JobWorkspace
from berth.core.entities import Version
from berth.core.training import Trainer
from berth.runtime.loader import VersionLoader
from berth.runtime.signatures import model_input


def accuracy(predicted: Any, truth: Sequence[str]) -> float:
    if not truth:
        return 0.0
    labels = np.asarray([str(p) for p in np.asarray(predicted, dtype=object).ravel()], dtype=object)
    return float(np.mean(labels == np.asarray(truth, dtype=object)))


def version_accuracy(
    workspace: JobWorkspace, version: Version, trainer: Trainer, rows: Sequence[Any], truth: Sequence[str]
) -> float:
    """`version` loaded from its artifact (verified, its flavor, its warm-up) and asked to predict."""
    if not rows:
        return 0.0
    with ThreadPoolExecutor(1, thread_name_prefix="berth-retrain-eval") as executor:
        loaded = VersionLoader(workspace.artifacts, workspace.catalog, executor).load(version)
    try:
        inputs = model_input(trainer.model_input(rows), version.signature.layout)
        return accuracy(loaded.runtime.predict(inputs, ("predict",))["predict"], truth)
    finally:
        loaded.runtime.unload()


def model_accuracy(model: Any, trainer: Trainer, rows: Sequence[Any], truth: Sequence[str]) -> float:
    if not rows:
        return 0.0
    return accuracy(model.predict(trainer.model_input(rows)), truth)
