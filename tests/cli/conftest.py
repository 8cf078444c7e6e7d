"""Model files the CLI pushes: real artifacts of the shared models, written once per session."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import joblib
import pytest

from berth.control.packaging import package_object
from berth.runtime.flavors.catalog import FlavorCatalog
from tests.conftest import Trained


@dataclass(frozen=True)
class ModelFiles:
    churn_skops: Path  # frame_pipeline: plan/age/spend in, "stay"/"churn" out
    churn_example: Path  # a CSV of three rows of its input
    lr_onnx: Path  # lr as ONNX: one float input "X" of 20 columns
    lr_joblib: Path  # lr as a joblib pickle: needs --trust-pickle


@pytest.fixture(scope="session")
def model_files(tmp_path_factory: pytest.TempPathFactory, frame_pipeline: Trained, lr: Trained) -> ModelFiles:
    from skl2onnx import to_onnx

    folder = tmp_path_factory.mktemp("cli-models")
    catalog = FlavorCatalog()
    skops_file = package_object(catalog, frame_pipeline.model, folder / "churn").path
    example = folder / "churn-example.csv"
    frame_pipeline.x.head(3).to_csv(example, index=False)
    onnx_file = package_object(catalog, to_onnx(lr.model, lr.x[:1]), folder / "lr").path
    pickle_file = folder / "lr.joblib"
    joblib.dump(lr.model, pickle_file)
    return ModelFiles(skops_file, example, onnx_file, pickle_file)
