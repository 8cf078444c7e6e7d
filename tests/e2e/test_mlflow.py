"""MLflow models served by berth, against a real MLflow: folders MLflow wrote, pushed as they are,
and versions copied from a real ``mlflow server``'s Model Registry answer exactly what
``mlflow.pyfunc`` answers on the same rows (computed by MLflow's own environment in this run;
tests/support/mlflow_server.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from click.testing import CliRunner

import berth
from berth.cli.main import cli
from berth.client.mlflow_import import MlflowRegistry, ModelRef, import_version
from berth.client.registry import RemoteRegistry
from berth.core.errors import BerthError, ErrorCode
from berth.core.settings import Settings
from tests.support.mlflow_server import mlflow_server, mlflow_venv, script
from tests.support.servers import server_in_thread

# the first run on a machine builds MLflow's environment (about a minute and a half) in the set-up
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@dataclass(frozen=True)
class Setup:
    berth_url: str
    tracking_uri: str
    rows: dict[str, Any]
    folders: dict[str, Any]
    registry: dict[str, Any]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    work = tmp_path_factory.mktemp("mlflow")
    venv = mlflow_venv()
    with (
        script(venv / "bin" / "python", work, "folders") as saved_folders,  # meanwhile the server starts
        mlflow_server(venv, work) as server,
    ):
        with script(server.python, work, "registry", server.url) as registered:
            logged = registered()
        saved = saved_folders()
        with server_in_thread(Settings(home=work / "home", poll_interval_s=0.1)) as url:
            yield Setup(url, server.url, saved["rows"], saved["models"], logged)


def _predict(url: str, model: str, rows: dict[str, Any], output: str = "predict") -> np.ndarray[Any, Any]:
    """berth's answer over REST: the rows as columns (FP64), or as one FP32 tensor for ONNX."""
    data = np.asarray(rows["data"])
    if model.startswith("onnx"):
        inputs = [{"name": "X", "datatype": "FP32", "shape": list(data.shape), "data": data.ravel().tolist()}]
    else:
        inputs = [
            {"name": name, "datatype": "FP64", "shape": [len(data)], "data": data[:, i].tolist()}
            for i, name in enumerate(rows["columns"])
        ]
    body = {"inputs": inputs, "outputs": [{"name": output}]}
    answer = httpx.post(f"{url}/v2/models/{model}/infer", json=body, timeout=60)
    assert answer.status_code == 200, answer.text
    found = answer.json()["outputs"][0]
    return np.asarray(found["data"]).reshape(found["shape"])


@pytest.mark.parametrize(
    ("kind", "trust"),
    [
        ("sklearn", False),
        ("sklearn-pickle", True),
        ("xgboost", False),
        ("lightgbm", False),
        ("lightgbm-sklearn", True),
    ],
)
def test_an_mlflow_folder_answers_what_mlflow_pyfunc_answers(setup: Setup, kind: str, trust: bool) -> None:
    folder = setup.folders[kind]
    if trust:  # a pickle, or skops types outside berth's allow-list
        with pytest.raises(BerthError) as refused:
            berth.push(folder["folder"], name=f"{kind}-folder", url=setup.berth_url)
        assert refused.value.code is ErrorCode.UNTRUSTED_ARTIFACT
    version = berth.push(folder["folder"], name=f"{kind}-folder", url=setup.berth_url, trust_pickle=trust)

    answer = _predict(setup.berth_url, version.model, setup.rows)

    expected = np.asarray(folder["pyfunc"])
    assert answer.dtype.kind == expected.dtype.kind
    np.testing.assert_array_equal(answer, expected)


def test_an_mlflow_onnx_folder_answers_what_mlflow_pyfunc_answers(setup: Setup) -> None:
    folder = setup.folders["onnx"]
    berth.push(folder["folder"], name="onnx-folder", url=setup.berth_url)

    for output in ("label", "probabilities"):
        answer = _predict(setup.berth_url, "onnx-folder", setup.rows, output)
        expected = np.asarray(folder["pyfunc"][output])
        if output == "probabilities":  # FP32: both sides' JSON carry float32 values
            answer, expected = answer.astype(np.float32), expected.astype(np.float32)
        np.testing.assert_array_equal(answer, expected)


def test_berth_push_dir_takes_the_mlflow_signature_and_example(setup: Setup) -> None:
    result = CliRunner().invoke(
        cli, ["push", setup.folders["sklearn"]["folder"], "--name", "cli-folder", "--url", setup.berth_url]
    )
    assert result.exit_code == 0, result.output

    with closing(RemoteRegistry(setup.berth_url)) as reg:
        version = reg.get_version("cli-folder", "1")

    assert [s.name for s in version.signature.inputs] == setup.rows["columns"]
    assert version.input_example is not None
    assert [i["data"] for i in version.input_example["inputs"]] == [
        [row[i] for row in setup.rows["data"][:3]] for i in range(len(setup.rows["columns"]))
    ]


def test_a_custom_pyfunc_folder_is_refused(setup: Setup) -> None:
    with pytest.raises(BerthError) as refused:
        berth.push(setup.folders["custom"]["folder"], name="custom", url=setup.berth_url, trust_pickle=True)

    assert refused.value.code is ErrorCode.UNSUPPORTED_FLAVOR


def test_berth_import_mlflow_copies_a_registry_version(setup: Setup) -> None:
    logged = setup.registry["sklearn"]
    result = CliRunner().invoke(
        cli,
        [
            *("import", "mlflow", "models:/iris-sklearn@champion", "--tracking-uri", setup.tracking_uri),
            *("--name", "iris", "--url", setup.berth_url),
        ],
    )
    assert result.exit_code == 0, result.output

    with closing(RemoteRegistry(setup.berth_url)) as reg:
        version = reg.get_version("iris", "1")
        model = reg.get_model("iris")
    answer = _predict(setup.berth_url, "iris", setup.rows)

    np.testing.assert_array_equal(answer, np.asarray(logged["pyfunc"]))
    assert version.metadata.params == {"C": "1.0", "max_iter": "500"}
    assert set(version.metadata.metrics) == {"accuracy"}
    assert version.metadata.tags["owner"] == "data-team"
    assert version.metadata.tags["mlflow.model_uri"] == "models:/iris-sklearn/1"
    assert version.metadata.tags["mlflow.run_id"] == logged["run_id"]
    assert version.metadata.docs == "First fit on the full iris set."
    assert model.description == "Iris species, logistic regression"


def test_an_imported_xgboost_version_answers_what_mlflow_pyfunc_answers(setup: Setup, tmp_path: Path) -> None:
    with MlflowRegistry(setup.tracking_uri) as source, closing(RemoteRegistry(setup.berth_url)) as target:
        version = import_version(target, source, ModelRef.parse("models:/iris-xgboost/1"), workdir=tmp_path)

    answer = _predict(setup.berth_url, version.model, setup.rows)

    assert version.flavor == "xgboost"
    np.testing.assert_array_equal(answer, np.asarray(setup.registry["xgboost"]["pyfunc"]))


@pytest.mark.parametrize(
    ("uri", "code"),
    [("models:/iris-sklearn/99", "version_not_found"), ("models:/nobody@champion", "version_not_found")],
)
def test_a_missing_registry_version_is_a_stable_error(setup: Setup, uri: str, code: str) -> None:
    result = CliRunner().invoke(
        cli, ["import", "mlflow", uri, "--tracking-uri", setup.tracking_uri, "--url", setup.berth_url]
    )

    assert isinstance(result.exception, BerthError)
    assert result.exception.code.value == code
