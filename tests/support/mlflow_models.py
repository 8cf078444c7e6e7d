"""Run by MLflow's own Python (tests/support/mlflow.py), never imported by the tests: log and register
models in a tracking server, save model folders, and write what ``mlflow.pyfunc`` predicts.

    python mlflow_models.py folders OUT
    python mlflow_models.py registry OUT TRACKING_URI

``folders`` saves model folders and writes OUT/folders.json: the rows predicted on (iris, as a
DataFrame: columns and data) and, for each model, its folder and ``mlflow.pyfunc``'s predictions.
``registry`` logs and registers models in the tracking server and writes OUT/registry.json: for
each, its ``models:/`` URI, its run and ``mlflow.pyfunc``'s predictions of the registered version.
The two run at the same time (the first needs no server).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import lightgbm as lgb
import mlflow
import numpy as np
import xgboost as xgb
from mlflow import MlflowClient
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression


class Echo(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
    """A custom python_function model: cloudpickled code, which berth refuses."""

    def predict(self, context: Any, model_input: Any) -> Any:
        return model_input


def _data() -> tuple[Any, Any]:
    x, y = load_iris(return_X_y=True, as_frame=True)
    return x, y


def _predicted(uri: str, rows: Any) -> Any:
    predicted = mlflow.pyfunc.load_model(uri).predict(rows)
    if isinstance(predicted, dict):  # onnx: outputs by name
        return {k: np.asarray(v).tolist() for k, v in predicted.items()}
    return np.asarray(predicted).tolist()


def _sklearn(x: Any, y: Any) -> Any:
    return LogisticRegression(max_iter=500).fit(x, y)


def _xgboost(x: Any, y: Any) -> Any:
    return xgb.XGBClassifier(n_estimators=6, max_depth=3, random_state=0, n_jobs=1).fit(x, y)


def folders(out: Path) -> dict[str, Any]:
    x, y = _data()
    example = x.head(3)
    models: dict[str, Any] = {}

    def record(key: str, save: Any, rows: Any) -> None:
        folder = out / key
        save(str(folder))
        models[key] = {"folder": str(folder), "pyfunc": _predicted(str(folder), rows)}

    record("sklearn", lambda f: mlflow.sklearn.save_model(_sklearn(x, y), f, input_example=example), x)
    forest = RandomForestClassifier(n_estimators=8, max_depth=4, random_state=0).fit(x, y)
    record(  # pickled (cloudpickle): needs trust
        "sklearn-pickle",
        lambda f: mlflow.sklearn.save_model(
            forest, f, input_example=example, serialization_format="cloudpickle"
        ),
        x,
    )
    record("xgboost", lambda f: mlflow.xgboost.save_model(_xgboost(x, y), f, input_example=example), x)
    trees = lgb.train({"objective": "regression", "verbose": -1, "num_threads": 1}, lgb.Dataset(x, y), 8)
    record("lightgbm", lambda f: mlflow.lightgbm.save_model(trees, f, input_example=example), x)
    classifier = lgb.LGBMClassifier(n_estimators=8, num_leaves=7, verbose=-1, n_jobs=1).fit(x, y)
    record(  # the scikit-learn API: MLflow 3 saves it with skops, LightGBM's types need trust
        "lightgbm-sklearn", lambda f: mlflow.lightgbm.save_model(classifier, f, input_example=example), x
    )
    plain = LogisticRegression(max_iter=500).fit(x.to_numpy(), y)  # fitted on an array: a tensor input
    graph = convert_sklearn(
        plain, initial_types=[("X", FloatTensorType([None, 4]))], options={id(plain): {"zipmap": False}}
    )
    values = x.to_numpy(dtype=np.float32)
    record("onnx", lambda f: mlflow.onnx.save_model(graph, f, input_example=values[:3]), values)
    mlflow.pyfunc.save_model(str(out / "custom"), python_model=Echo())
    models["custom"] = {"folder": str(out / "custom")}
    return {"rows": {"columns": list(x.columns), "data": x.to_numpy().tolist()}, "models": models}


def registry(tracking_uri: str) -> dict[str, Any]:
    mlflow.set_tracking_uri(tracking_uri)
    client = MlflowClient()
    x, y = _data()
    example = x.head(3)
    model = _sklearn(x, y)
    with mlflow.start_run() as run:  # scikit-learn (skops, MLflow 3's default) in a run
        mlflow.log_params({"C": 1.0, "max_iter": 500})
        mlflow.log_metric("accuracy", float(model.score(x, y)))
        mlflow.sklearn.log_model(
            model, name="model", input_example=example, registered_model_name="iris-sklearn"
        )
    client.update_registered_model("iris-sklearn", description="Iris species, logistic regression")
    client.update_model_version("iris-sklearn", "1", description="First fit on the full iris set.")
    client.set_model_version_tag("iris-sklearn", "1", "owner", "data-team")
    client.set_registered_model_alias("iris-sklearn", "champion", "1")
    mlflow.xgboost.log_model(
        _xgboost(x, y), name="model", input_example=example, registered_model_name="iris-xgboost"
    )
    return {
        "sklearn": {
            "uri": "models:/iris-sklearn/1",
            "run_id": run.info.run_id,
            "pyfunc": _predicted("models:/iris-sklearn@champion", x),
        },
        "xgboost": {"uri": "models:/iris-xgboost/1", "pyfunc": _predicted("models:/iris-xgboost/1", x)},
    }


def main(argv: list[str]) -> None:
    out = Path(argv[1])
    if argv[0] == "folders":
        (out / "folders.json").write_text(json.dumps(folders(out)))
    else:
        (out / "registry.json").write_text(json.dumps(registry(argv[2])))


if __name__ == "__main__":
    main(sys.argv[1:])
