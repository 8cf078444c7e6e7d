"""``berth predict NAME[@ALIAS|:VERSION] --json …``, in-process (``--home``) and on a server (``--url``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner, Result

from berth.cli.main import cli
from berth.core.errors import BerthError, ErrorCode
from berth.core.settings import Settings
from tests.cli.conftest import ModelFiles
from tests.conftest import Trained
from tests.support.servers import server_in_thread


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, model_files: ModelFiles) -> Path:
    """churn v1 (production) and v2 (staging); lr v1 (ONNX)."""
    home = tmp_path_factory.mktemp("predict") / "home"
    for args in (
        [model_files.churn_skops, "--name", "churn", "--alias", "production"],
        [model_files.churn_skops, "--name", "churn", "--alias", "staging"],
        [model_files.lr_onnx, "--name", "lr"],
    ):
        result = run("push", *args, "--home", home)
        assert result.exit_code == 0, result.output
    return home


@pytest.fixture(scope="module")
def url(home: Path) -> Iterator[str]:
    with server_in_thread(Settings(home=home, poll_interval_s=0.1)) as url:
        yield url


@pytest.fixture(params=["home", "url"])
def target(request: pytest.FixtureRequest) -> list[str]:
    """``--home DIR`` or ``--url URL``: every test below runs against both."""
    if request.param == "home":
        return ["--home", str(request.getfixturevalue("home"))]
    return ["--url", request.getfixturevalue("url")]


def run(*args: str | Path, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], input=input)


def predict(target: list[str], model: str, body: Any, input: str | None = None) -> Any:
    text = body if isinstance(body, str) else json.dumps(body)
    result = run("predict", model, "--json", text, *target, input=input)
    assert result.exit_code == 0, result.output + repr(result.exception)
    return json.loads(result.stdout)


def churn_oip(rows: Any) -> dict[str, Any]:
    return {
        "inputs": [
            {"name": "plan", "shape": [len(rows)], "datatype": "BYTES", "data": rows["plan"].tolist()},
            {"name": "age", "shape": [len(rows)], "datatype": "INT64", "data": rows["age"].tolist()},
            {"name": "spend", "shape": [len(rows)], "datatype": "FP64", "data": rows["spend"].tolist()},
        ]
    }


@pytest.mark.parametrize(
    ("model", "version"),
    [("churn", "1"), ("churn@production", "1"), ("churn@staging", "2"), ("churn:2", "2"), ("churn:1", "1")],
)
def test_oip_body_by_name_alias_and_version(
    target: list[str], frame_pipeline: Trained, model: str, version: str
) -> None:
    rows = frame_pipeline.x.head(4)
    answer = predict(target, model, churn_oip(rows))
    assert answer["model_name"] == "churn"
    assert answer["model_version"] == version
    [out] = answer["outputs"]
    assert out["data"] == frame_pipeline.model.predict(rows).tolist()


def test_dataframe_records(target: list[str], frame_pipeline: Trained) -> None:
    rows = frame_pipeline.x.head(3)
    answer = predict(target, "churn@staging", {"dataframe_records": rows.to_dict(orient="records")})
    assert answer == {"predictions": frame_pipeline.model.predict(rows).tolist()}


def test_dataframe_split_from_a_file(target: list[str], frame_pipeline: Trained, tmp_path: Path) -> None:
    rows = frame_pipeline.x.head(2)
    body = tmp_path / "request.json"
    body.write_text(
        json.dumps({"dataframe_split": {"columns": list(rows.columns), "data": rows.values.tolist()}})
    )
    answer = predict(target, "churn:1", f"@{body}")
    assert answer == {"predictions": frame_pipeline.model.predict(rows).tolist()}


def test_instances_from_standard_input(target: list[str], lr: Trained) -> None:
    answer = predict(target, "lr", "-", input=json.dumps({"instances": lr.x[:3].tolist()}))
    rows = answer["predictions"]  # one object per row: the ONNX model has two outputs
    assert [row["output_label"] for row in rows] == lr.model.predict(lr.x[:3]).tolist()
    np.testing.assert_allclose(
        [row["output_probability"] for row in rows], lr.model.predict_proba(lr.x[:3]), rtol=1e-5
    )


def test_onnx_oip_body_by_latest(target: list[str], lr: Trained) -> None:
    x = lr.x[:2]
    body = {"inputs": [{"name": "X", "shape": [2, 20], "datatype": "FP32", "data": x.ravel().tolist()}]}
    answer = predict(target, "lr@latest", body)
    assert answer["model_version"] == "1"
    labels = next(o for o in answer["outputs"] if o["datatype"] == "INT64")
    assert labels["data"] == lr.model.predict(x).tolist()


@pytest.mark.parametrize(
    ("model", "body", "code"),
    [
        ("ghost", {"instances": [[1.0]]}, ErrorCode.MODEL_NOT_FOUND),
        ("churn:9", {"dataframe_records": [{"plan": "pro"}]}, ErrorCode.VERSION_NOT_FOUND),
        ("churn@canary", {"dataframe_records": [{"plan": "pro"}]}, ErrorCode.ALIAS_NOT_FOUND),
        ("churn", "{not json", ErrorCode.INVALID_JSON),
        ("churn", {"dataframe_records": [{"plan": "pro"}]}, ErrorCode.SIGNATURE_MISMATCH),
        (
            "churn",
            {"inputs": [{"name": "plan", "shape": [2], "datatype": "BYTES", "data": ["pro"]}]},
            ErrorCode.INVALID_TENSOR,
        ),
    ],
)
def test_errors_keep_their_code(target: list[str], model: str, body: Any, code: ErrorCode) -> None:
    text = body if isinstance(body, str) else json.dumps(body)
    result = run("predict", model, "--json", text, *target)
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, BerthError), repr(result.exception)
    assert result.exception.code is code


def test_an_endpoint_answers_mlflow_json_like_a_model(target: list[str], frame_pipeline: Trained) -> None:
    """`berth predict ENDPOINT` with TF-Serving/MLflow JSON (the ``/v1`` route on a server)."""
    name = f"churn-endpoint-{target[0].strip('-')}"
    created = run("endpoint", "create", name, "--target", "churn@staging", *target)
    assert created.exit_code == 0, created.output
    rows = frame_pipeline.x.head(3)
    answer = predict(target, name, {"dataframe_records": rows.to_dict(orient="records")})
    assert answer == {"predictions": frame_pipeline.model.predict(rows).tolist()}
    versioned = run("predict", f"{name}:1", "--json", json.dumps({"instances": [["pro", 41, 50.0]]}), *target)
    assert isinstance(versioned.exception, BerthError), versioned.output
    assert versioned.exception.code is ErrorCode.VERSION_NOT_FOUND
    assert "is an endpoint" in versioned.exception.message
    assert run("endpoint", "delete", name, *target).exit_code == 0


def test_predicting_in_process_says_nothing_about_a_server_s_authentication(
    home: Path, frame_pipeline: Trained, caplog: pytest.LogCaptureFixture
) -> None:
    """No server listens for ``--home``: the 'AUTHENTICATION IS OFF' warning is a server's."""
    rows = frame_pipeline.x.head(1)
    body = {"dataframe_records": rows.to_dict(orient="records")}
    with caplog.at_level("WARNING"):
        answer = predict(["--home", str(home)], "churn", body)
    assert answer == {"predictions": frame_pipeline.model.predict(rows).tolist()}
    assert [r.getMessage() for r in caplog.records if "AUTHENTICATION" in r.getMessage()] == []
