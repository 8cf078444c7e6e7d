"""One small model of every flavor, pushed to one registry and served by one real server: the
answers over OIP /v2 and /v1 equal the answers of the model in this process."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import joblib
import lightgbm as lgb
import numpy as np
import onnxruntime
import pandas as pd
import pytest
import xgboost as xgb
from skl2onnx import to_onnx
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

import berth
from berth.core.settings import Settings
from tests.e2e.helpers import assert_error, infer, tensor_request
from tests.e2e.pyfunc_scorer import LinearScorer
from tests.support.servers import server_in_thread

X, Y = make_classification(n_samples=300, n_features=5, n_informative=3, n_redundant=0, random_state=11)
X = X.astype(np.float32)
ROWS = X[:7]
COLUMNS = ["tenure", "spend", "visits", "age"]
XR, YR = make_regression(n_samples=200, n_features=4, noise=0.5, random_state=12)
FRAME = pd.DataFrame(XR, columns=COLUMNS)
FRAME_ROWS = FRAME.head(6)
TREES: dict[str, Any] = {"n_estimators": 12, "random_state": 0, "n_jobs": 1}


@dataclass(frozen=True)
class Fleet:
    url: str
    models: dict[str, Any]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    folder = tmp_path_factory.mktemp("flavors")
    home = folder / "home"
    models: dict[str, Any] = {
        "sk-skops": LogisticRegression(max_iter=500).fit(X, Y),
        "sk-pickle": RandomForestClassifier(n_estimators=8, max_depth=4, random_state=0).fit(X, Y),
        "xgb": xgb.XGBClassifier(max_depth=3, **TREES).fit(X, Y),
        "lgb-reg": lgb.LGBMRegressor(num_leaves=7, verbose=-1, **TREES).fit(FRAME, YR),
        "lgb-clf": lgb.LGBMClassifier(num_leaves=7, verbose=-1, **TREES).fit(
            FRAME, np.where(YR > 0, "up", "down")
        ),
        "pyfunc": LinearScorer(weights=np.linspace(-1.0, 1.0, X.shape[1]), bias=0.25),
    }
    onnx_graph = to_onnx(models["sk-skops"], X[:1], target_opset=17)
    models["onnx"] = onnx_graph

    berth.push(models["sk-skops"], name="sk-skops", home=home, input_example=X[:3])
    pickled = folder / "forest.joblib"
    joblib.dump(models["sk-pickle"], pickled)
    berth.push(pickled, name="sk-pickle", home=home, input_example=X[:3], trust_pickle=True)
    berth.push(onnx_graph, name="onnx", home=home, input_example=X[:3])
    berth.push(models["xgb"], name="xgb", home=home, input_example=X[:3])
    berth.push(models["lgb-reg"], name="lgb-reg", home=home, input_example=FRAME.head(3))
    berth.push(models["lgb-clf"], name="lgb-clf", home=home, input_example=FRAME.head(3))
    berth.push(models["pyfunc"], name="pyfunc", home=home, input_example=X[:3], trust_pickle=True)

    with server_in_thread(Settings(home=home, poll_interval_s=0.1)) as url:
        yield Fleet(url, models)


def outputs_of(response: httpx.Response) -> dict[str, np.ndarray[Any, Any]]:
    assert response.status_code == 200, response.text
    return {o["name"]: np.asarray(o["data"]).reshape(o["shape"]) for o in response.json()["outputs"]}


def columns_request(frame: pd.DataFrame, **extra: Any) -> dict[str, Any]:
    inputs = [
        {"name": c, "shape": [len(frame)], "datatype": "FP64", "data": frame[c].tolist()}
        for c in frame.columns
    ]
    return {"inputs": inputs, **extra}


def v1_predict(url: str, model: str, body: Any) -> list[Any]:
    response = httpx.post(f"{url}/v1/models/{model}:predict", json=body, timeout=30)
    assert response.status_code == 200, response.text
    predictions: list[Any] = response.json()["predictions"]
    return predictions


PROBA = [{"name": "predict"}, {"name": "predict_proba"}]


@pytest.mark.parametrize("name", ["sk-skops", "sk-pickle", "xgb"])
def test_classifiers_on_a_tensor(fleet: Fleet, name: str) -> None:
    model = fleet.models[name]

    answer = outputs_of(infer(fleet.url, name, tensor_request(ROWS, outputs=PROBA)))

    assert answer["predict"].tolist() == model.predict(ROWS).tolist()
    np.testing.assert_allclose(answer["predict_proba"], model.predict_proba(ROWS), rtol=1e-5, atol=1e-6)
    assert v1_predict(fleet.url, name, {"instances": ROWS.tolist()}) == model.predict(ROWS).tolist()


def test_onnx_graph(fleet: Fleet) -> None:
    session = onnxruntime.InferenceSession(fleet.models["onnx"].SerializeToString())
    names = [o.name for o in session.get_outputs()]
    graph_input = session.get_inputs()[0].name  # the served model's input keeps the graph's name
    labels, probabilities = session.run(names, {graph_input: ROWS})
    if isinstance(probabilities, list):  # skl2onnx's ZipMap: one {class: probability} per row
        probabilities = [list(row.values()) for row in probabilities]

    metadata = httpx.get(f"{fleet.url}/v2/models/onnx").json()
    assert [i["name"] for i in metadata["inputs"]] == [graph_input]
    answer = outputs_of(infer(fleet.url, "onnx", tensor_request(ROWS, name=graph_input)))

    assert set(answer) == set(names)
    assert answer[names[0]].tolist() == labels.tolist()
    np.testing.assert_allclose(answer[names[1]], np.asarray(probabilities), rtol=1e-5, atol=1e-6)
    assert labels.tolist() == fleet.models["sk-skops"].predict(ROWS).tolist()
    v1 = v1_predict(fleet.url, "onnx", {"instances": ROWS.tolist()})
    assert [row[names[0]] for row in v1] == labels.tolist()


def test_lightgbm_regressor_on_columns(fleet: Fleet) -> None:
    model = fleet.models["lgb-reg"]
    expected = model.predict(FRAME_ROWS)

    answer = outputs_of(infer(fleet.url, "lgb-reg", columns_request(FRAME_ROWS)))

    np.testing.assert_allclose(answer["predict"], expected, rtol=1e-9)
    records = {"dataframe_records": FRAME_ROWS.to_dict(orient="records")}
    np.testing.assert_allclose(v1_predict(fleet.url, "lgb-reg", records), expected, rtol=1e-9)


def test_lightgbm_classifier_on_columns(fleet: Fleet) -> None:
    model = fleet.models["lgb-clf"]

    answer = outputs_of(infer(fleet.url, "lgb-clf", columns_request(FRAME_ROWS, outputs=PROBA)))

    assert answer["predict"].tolist() == model.predict(FRAME_ROWS).tolist()
    np.testing.assert_allclose(answer["predict_proba"], model.predict_proba(FRAME_ROWS), rtol=1e-9)
    split = {"dataframe_split": {"columns": COLUMNS, "data": FRAME_ROWS.to_numpy().tolist()}}
    assert v1_predict(fleet.url, "lgb-clf", split) == model.predict(FRAME_ROWS).tolist()


def test_pyfunc_object(fleet: Fleet) -> None:
    expected = fleet.models["pyfunc"].predict(ROWS)

    answer = outputs_of(infer(fleet.url, "pyfunc", tensor_request(ROWS)))

    np.testing.assert_allclose(answer["score"], expected["score"], rtol=1e-6)
    assert answer["label"].tolist() == expected["label"].tolist()
    v1 = v1_predict(fleet.url, "pyfunc", {"instances": ROWS.tolist()})
    assert [row["label"] for row in v1] == expected["label"].tolist()
    np.testing.assert_allclose([row["score"] for row in v1], expected["score"], rtol=1e-6)


def test_tree_models_take_missing_values(fleet: Fleet) -> None:
    rows = ROWS.copy()
    rows[0, 1] = np.nan
    rows[3, 0] = np.nan
    body = {
        "inputs": [
            {
                "name": "input-0",
                "shape": list(rows.shape),
                "datatype": "FP32",
                "data": ["NaN" if np.isnan(v) else float(v) for v in rows.ravel()],
            }
        ],
        "outputs": PROBA,
    }
    answer = outputs_of(infer(fleet.url, "xgb", body))
    assert answer["predict"].tolist() == fleet.models["xgb"].predict(rows).tolist()
    np.testing.assert_allclose(answer["predict_proba"], fleet.models["xgb"].predict_proba(rows), rtol=1e-5)

    frame = FRAME_ROWS.copy()
    frame.iloc[1, 2] = np.nan
    columns = columns_request(frame)
    for tensor in columns["inputs"]:
        tensor["data"] = ["NaN" if pd.isna(v) else v for v in tensor["data"]]
    answer = outputs_of(infer(fleet.url, "lgb-reg", columns))
    np.testing.assert_allclose(answer["predict"], fleet.models["lgb-reg"].predict(frame), rtol=1e-9)

    assert_error(infer(fleet.url, "sk-skops", body), 400, "nan_not_allowed")
