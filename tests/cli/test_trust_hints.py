"""An artifact refused for want of trust names the switches that give it: ``--trust-pickle`` (CLI)
and ``trust_pickle=True`` (SDK), not a ``trusted=True`` that no caller can pass."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import berth
from berth.cli.main import cli
from berth.core.errors import BerthError, ErrorCode
from tests.cli.conftest import ModelFiles

EXAMPLE = np.array([[0.0, 1.0], [1.0, 0.0]])


def refusal(*args: str | Path) -> str:
    """The message of the UNTRUSTED_ARTIFACT error `berth push ARGS` ends with."""
    result = CliRunner().invoke(cli, ["push", *(str(a) for a in args)])
    assert isinstance(result.exception, BerthError), result.output
    assert result.exception.code is ErrorCode.UNTRUSTED_ARTIFACT
    return result.exception.message


def assert_names_the_switches(message: str) -> None:
    assert "--trust-pickle (CLI) or trust_pickle=True (SDK)" in message, message
    assert "trusted=True" not in message


def knn_kd_tree() -> object:
    """A fitted estimator whose skops file holds types off berth's allow-list."""
    from sklearn.neighbors import KNeighborsClassifier

    return KNeighborsClassifier(algorithm="kd_tree", n_neighbors=1).fit(EXAMPLE, [0, 1])


def test_a_pickle_file(model_files: ModelFiles, tmp_path: Path) -> None:
    message = refusal(model_files.lr_joblib, "--name", "lr", "--home", tmp_path / "home")
    assert "is a pickle" in message
    assert_names_the_switches(message)


def test_a_pyfunc_folder(tmp_path: Path) -> None:
    folder = tmp_path / "doubler"
    folder.mkdir()
    (folder / "berth_pyfunc.json").write_text('{"entry": "model:Doubler"}')
    (folder / "model.py").write_text(
        "class Doubler:\n    def load(self, path):\n        pass\n\n"
        "    def predict(self, inputs):\n        return inputs * 2\n"
    )
    message = refusal(folder, "--name", "doubler", "--home", tmp_path / "home")
    assert "pyfunc" in message
    assert_names_the_switches(message)


def test_a_skops_file_with_types_off_the_allow_list(tmp_path: Path) -> None:
    import skops.io

    path = tmp_path / "knn.skops"
    skops.io.dump(knn_kd_tree(), path)
    message = refusal(path, "--name", "knn", "--home", tmp_path / "home")
    assert "types berth does not load without a maintainer's trust" in message
    assert_names_the_switches(message)


def test_an_object_pushed_with_the_sdk(tmp_path: Path) -> None:
    with pytest.raises(BerthError) as refused:
        berth.push(knn_kd_tree(), name="knn", input_example=EXAMPLE, home=tmp_path / "home")
    assert refused.value.code is ErrorCode.UNTRUSTED_ARTIFACT
    assert_names_the_switches(refused.value.message)
