"""MLflow model folders pushed as they are: the model file inside is packaged by berth's own flavor,
the MLflow signature and example become berth's, and what berth cannot serve safely is refused.
(Folders MLflow itself writes, and their predictions against mlflow.pyfunc: tests/e2e/test_mlflow.py.)"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

import berth
from berth.core.errors import BerthError, ErrorCode
from tests.support.mlflow_folders import mlmodel, write_folder, write_mlmodel

COLUMNS = ["tenure", "spend", "visits"]


@pytest.fixture(scope="module")
def fitted() -> tuple[LogisticRegression, pd.DataFrame]:
    x, y = make_classification(n_samples=120, n_features=3, n_informative=3, n_redundant=0, random_state=3)
    frame = pd.DataFrame(x, columns=COLUMNS)
    return LogisticRegression(max_iter=300).fit(frame, y), frame


def _refused(folder: Path, home: Path, code: ErrorCode, **push: Any) -> BerthError:
    with pytest.raises(BerthError) as refused:
        berth.push(folder, name="refused", home=home, **push)
    assert refused.value.code is code, refused.value.message
    return refused.value


def test_a_skops_folder_is_served_by_berth_sklearn_with_its_signature_and_example(
    fitted: tuple[Any, pd.DataFrame], tmp_path: Path
) -> None:
    model, frame = fitted
    folder = write_folder(tmp_path / "churn", model, frame.head(3))

    version = berth.push(folder, name="churn", home=tmp_path / "home")

    assert (version.flavor, version.trusted) == ("sklearn", False)
    assert version.signature.layout.value == "columns"
    assert [(s.name, s.datatype) for s in version.signature.inputs] == [(c, "FP64") for c in COLUMNS]
    assert version.signature.returned_by_default == ("predict",)
    example = version.input_example
    assert example is not None
    assert example["parameters"]["content_type"] == "pd"
    assert [i["data"] for i in example["inputs"]] == [frame[c].head(3).tolist() for c in COLUMNS]


def test_a_pickled_model_needs_trust(fitted: tuple[Any, pd.DataFrame], tmp_path: Path) -> None:
    model, frame = fitted
    folder = write_folder(tmp_path / "pickled", model, frame.head(3), pickled=True)

    _refused(folder, tmp_path / "home", ErrorCode.UNTRUSTED_ARTIFACT)
    version = berth.push(folder, name="pickled", home=tmp_path / "home", trust_pickle=True)

    assert (version.flavor, version.trusted) == ("sklearn", True)


def test_the_pushs_own_example_wins(fitted: tuple[Any, pd.DataFrame], tmp_path: Path) -> None:
    model, frame = fitted
    folder = write_folder(tmp_path / "own", model, frame.head(3))

    version = berth.push(folder, name="own", home=tmp_path / "home", input_example=frame.tail(2))

    assert version.input_example is not None
    assert version.input_example["inputs"][0]["data"] == frame["tenure"].tail(2).tolist()


def test_a_signature_berth_cannot_state_falls_back_to_the_models_own(
    fitted: tuple[Any, pd.DataFrame], tmp_path: Path
) -> None:
    model, frame = fitted
    folder = write_folder(tmp_path / "dates", model)
    body = mlmodel(columns=frame, example=False)
    body["signature"]["inputs"] = json.dumps([{"type": "datetime", "name": "when", "required": True}])
    write_mlmodel(folder, body)

    version = berth.push(folder, name="dates", home=tmp_path / "home")

    assert [s.name for s in version.signature.inputs] == COLUMNS  # feature_names_in_


def test_an_example_that_does_not_fit_the_signature_is_refused(
    fitted: tuple[Any, pd.DataFrame], tmp_path: Path
) -> None:
    model, frame = fitted
    folder = write_folder(tmp_path / "misfit", model, frame.head(3))
    (folder / "input_example.json").write_text(json.dumps({"columns": ["other"], "data": [[1.0]]}))

    _refused(folder, tmp_path / "home", ErrorCode.SIGNATURE_MISMATCH)


@pytest.mark.parametrize(
    ("flavors", "words"),
    [
        (  # a cloudpickled PythonModel: only mlflow runs it
            {"python_function": {"loader_module": "mlflow.pyfunc.model", "python_model": "python_model.pkl"}},
            "custom python_function",
        ),
        ({"pytorch": {"model_data": "data"}}, "pytorch"),
        ({"sklearn": {"pickled_model": "model.skops", "code": "code"}}, "code_paths"),
    ],
)
def test_what_berth_does_not_serve_is_refused_even_trusted(
    fitted: tuple[Any, pd.DataFrame], tmp_path: Path, flavors: dict[str, Any], words: str
) -> None:
    folder = write_folder(tmp_path / "other", fitted[0])
    write_mlmodel(folder, {"flavors": flavors})

    refused = _refused(folder, tmp_path / "home", ErrorCode.UNSUPPORTED_FLAVOR, trust_pickle=True)

    assert words in refused.message


@pytest.mark.parametrize("name", ["../outside.skops", "/etc/passwd", "link.skops", "sub"])
def test_a_model_file_outside_the_folder_or_not_a_file_is_refused(
    fitted: tuple[Any, pd.DataFrame], tmp_path: Path, name: str
) -> None:
    folder = write_folder(tmp_path / "escape", fitted[0])
    (tmp_path / "outside.skops").write_bytes((folder / "model.skops").read_bytes())
    os.symlink(tmp_path / "outside.skops", folder / "link.skops")
    (folder / "sub").mkdir()
    write_mlmodel(folder, mlmodel(name))

    _refused(folder, tmp_path / "home", ErrorCode.ARTIFACT_INVALID, trust_pickle=True)


@pytest.mark.parametrize(
    "text",
    [
        "a: &a [1, 2]\nb: [*a, *a]\nflavors: {}\n",  # aliases (the billion laughs' tool)
        "- just a list\n",
        "flavors: [unclosed\n",
        "flavors:\n  x: " + "y" * (1024 * 1024) + "\n",
        "flavors: " + "[" * 50_000 + "]" * 50_000 + "\n",
    ],
    ids=["aliases", "not-a-mapping", "not-yaml", "too-large", "deep"],
)
def test_a_hostile_mlmodel_is_refused(fitted: tuple[Any, pd.DataFrame], tmp_path: Path, text: str) -> None:
    folder = write_folder(tmp_path / "yaml", fitted[0])
    (folder / "MLmodel").write_text(text)

    _refused(folder, tmp_path / "home", ErrorCode.ARTIFACT_INVALID)


@pytest.mark.parametrize("where", ["signature", "example"])
def test_deeply_nested_json_is_refused(fitted: tuple[Any, pd.DataFrame], tmp_path: Path, where: str) -> None:
    model, frame = fitted
    folder = write_folder(tmp_path / "deep", model, frame.head(3))
    deep = "[" * 100_000 + "]" * 100_000
    if where == "signature":
        body = mlmodel(columns=frame)
        body["signature"]["inputs"] = deep
        write_mlmodel(folder, body)
    else:
        (folder / "input_example.json").write_text(deep)

    _refused(folder, tmp_path / "home", ErrorCode.ARTIFACT_INVALID)


def test_an_ndarray_example_takes_the_tensor_signature(tmp_path: Path) -> None:
    x, y = make_classification(n_samples=80, n_features=4, random_state=5)
    folder = write_folder(tmp_path / "tensor", LogisticRegression(max_iter=300).fit(x, y))
    body = mlmodel()
    spec = {"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 4]}}
    body["signature"] = {"inputs": json.dumps([spec]), "outputs": None, "params": None}
    body["saved_input_example_info"] = {"artifact_path": "input_example.json", "type": "ndarray"}
    write_mlmodel(folder, body)
    (folder / "input_example.json").write_text(json.dumps(np.round(x[:2], 3).tolist()))

    version = berth.push(folder, name="tensor", home=tmp_path / "home")

    spec_in = version.signature.inputs[0]
    assert (version.signature.layout.value, spec_in.datatype, spec_in.shape) == ("tensor", "FP32", (-1, 4))
    assert version.input_example is not None
    assert version.input_example["inputs"][0]["datatype"] == "FP32"


def test_entries_of_another_shape_are_passed_over(fitted: tuple[Any, pd.DataFrame], tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "odd", fitted[0])
    (folder / "MLmodel").write_text(
        "flavors:\n  python_function: just text\n  sklearn: {pickled_model: model.skops}\nsignature: 3\n"
    )

    assert berth.push(folder, name="odd", home=tmp_path / "home").flavor == "sklearn"
