"""MLflow model folders written the way MLflow 3.17 writes them (the ``MLmodel`` file, the model
file, the input example), without MLflow: for the tests of what berth reads and refuses. The
folders MLflow itself writes are tested against a real MLflow (tests/e2e/test_mlflow.py)."""

from __future__ import annotations

import json
import pickle
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd
import skops.io
import yaml

COLUMN_TYPES = {"float64": "double", "int64": "long", "float32": "float", "object": "string"}


def mlmodel(
    model_file: str = "model.skops",
    *,
    serialization: str = "skops",
    columns: pd.DataFrame | None = None,
    example: bool = True,
) -> dict[str, Any]:
    """An ``MLmodel`` body for a scikit-learn model (python_function over mlflow.sklearn)."""
    body: dict[str, Any] = {
        "flavors": {
            "python_function": {
                "env": {"conda": "conda.yaml", "virtualenv": "python_env.yaml"},
                "loader_module": "mlflow.sklearn",
                "model_path": model_file,
                "predict_fn": "predict",
                "python_version": "3.11.7",
            },
            "sklearn": {
                "code": None,
                "pickled_model": model_file,
                "serialization_format": serialization,
                "sklearn_version": "1.9.1",
                "skops_trusted_types": None,
            },
        },
        "mlflow_version": "3.17.2",
        "model_uuid": "0123456789abcdef0123456789abcdef",
    }
    if columns is not None:
        inputs = [
            {"type": COLUMN_TYPES[str(t)], "name": str(n), "required": True}
            for n, t in columns.dtypes.items()
        ]
        body["signature"] = {
            "inputs": json.dumps(inputs),
            "outputs": json.dumps([{"type": "long", "required": True}]),
            "params": None,
        }
        if example:
            body["saved_input_example_info"] = {
                "artifact_path": "input_example.json",
                "pandas_orient": "split",
                "serving_input_path": "serving_input_example.json",
                "type": "dataframe",
            }
    return body


def write_folder(
    folder: Path, model: Any, example: pd.DataFrame | None = None, *, pickled: bool = False
) -> Path:
    """An MLflow folder for the fitted scikit-learn `model` (skops, or a pickle), with `example`'s
    columns as its signature and its rows as its input example."""
    folder.mkdir(parents=True)
    name = "model.pkl" if pickled else "model.skops"
    if pickled:
        (folder / name).write_bytes(pickle.dumps(model))
    else:
        skops.io.dump(model, folder / name)
    body = mlmodel(name, serialization="cloudpickle" if pickled else "skops", columns=example)
    write_mlmodel(folder, body)
    if example is not None:
        split = {"columns": list(example.columns), "data": example.to_numpy().tolist()}
        (folder / "input_example.json").write_text(json.dumps(split))
    (folder / "requirements.txt").write_text("mlflow==3.17.2\nscikit-learn==1.9.1\n")
    return folder


def write_mlmodel(folder: Path, body: dict[str, Any]) -> None:
    (folder / "MLmodel").write_text(yaml.safe_dump(body, sort_keys=False))


def zip_folder(folder: Path, archive: Path, extra: dict[str, bytes] | None = None) -> Path:
    """`folder`'s files in a zip (as the client uploads a folder), plus `extra` members as given."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                out.write(path, path.relative_to(folder).as_posix())
        for name, data in (extra or {}).items():
            out.writestr(name, data)
    return archive
