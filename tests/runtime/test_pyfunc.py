"""The pyfunc flavor: code + data packaged as a zip, loaded only when trusted."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from berth.control.packaging import package_file
from berth.core.errors import BerthError, ErrorCode
from berth.runtime.flavors.catalog import FlavorCatalog
from berth.runtime.flavors.pyfunc import PyfuncFlavor
from tests.runtime.fixtures.pyfunc_model import Echo, WeightedSum
from tests.runtime.helpers import (
    assert_same_answers,
    corrupt_copy,
    predict_in_threads,
    roundtrip,
    truncated_copy,
)

X = np.arange(12, dtype=np.float64).reshape(4, 3)


def _write_folder(folder: Path) -> Path:
    """A multi-file pyfunc folder whose modules import each other relatively."""
    folder.mkdir()
    (folder / "berth_pyfunc.json").write_text(json.dumps({"entry": "model:Doubler"}))
    (folder / "helpers.py").write_text("def double(x):\n    return x * 2\n")
    (folder / "model.py").write_text(
        "from .helpers import double\n\n\n"
        "class Doubler:\n"
        "    def load(self, path):\n"
        "        self.offset = float((path / 'offset.txt').read_text())\n\n"
        "    def predict(self, inputs):\n"
        "        return double(inputs) + self.offset\n"
    )
    (folder / "offset.txt").write_text("1.5")
    return folder


def test_object_roundtrip_with_data_files(catalog: FlavorCatalog, tmp_path: Path) -> None:
    model = WeightedSum([1.0, 2.0, 3.0])
    packaged, runtime = roundtrip(catalog, model, tmp_path)

    answer = runtime.predict(X, ["predict", "total"])

    assert packaged.flavor == "pyfunc"
    assert packaged.trusted
    assert packaged.path.suffix == ".zip"
    assert packaged.runtime_config == {"entry": "pyfunc_model:WeightedSum"}
    assert runtime.output_names() == ("predict", "total")
    assert runtime.input_specs() is None
    np.testing.assert_allclose(answer["predict"], model.predict(X)["predict"])
    np.testing.assert_allclose(answer["total"], X.sum(axis=1))


def test_bare_array_is_the_predict_output(catalog: FlavorCatalog, tmp_path: Path) -> None:
    _, runtime = roundtrip(catalog, Echo(), tmp_path)

    assert runtime.output_names() == ("predict",)
    np.testing.assert_array_equal(runtime.predict(X, [])["predict"], X)


def test_untrusted_pyfunc_is_refused(tmp_path: Path) -> None:
    flavor = PyfuncFlavor()
    packaged = flavor.save_object(WeightedSum([1.0, 1.0, 1.0]), tmp_path)

    with pytest.raises(BerthError) as inspected:
        flavor.inspect_file(packaged.path, trusted=False)
    with pytest.raises(BerthError) as loaded:
        flavor.load(packaged.path, dict(packaged.runtime_config), trusted=False)

    assert inspected.value.code is ErrorCode.UNTRUSTED_ARTIFACT
    assert loaded.value.code is ErrorCode.UNTRUSTED_ARTIFACT


def test_folder_is_zipped_and_imports_relatively(catalog: FlavorCatalog, tmp_path: Path) -> None:
    folder = _write_folder(tmp_path / "doubler")
    path_before = list(sys.path)

    packaged = package_file(catalog, folder, trusted=True, folder=tmp_path / "out")
    runtime = catalog.get("pyfunc").load(packaged.path, dict(packaged.runtime_config), trusted=True)

    assert packaged.path == tmp_path / "out" / "doubler.zip"
    np.testing.assert_allclose(runtime.predict(X, ["predict"])["predict"], X * 2 + 1.5)
    assert sys.path == path_before


def test_unload_forgets_the_code_and_the_folder(tmp_path: Path) -> None:
    flavor = PyfuncFlavor()
    packaged = flavor.save_object(WeightedSum([1.0, 1.0, 1.0]), tmp_path)
    before = set(sys.modules)

    runtime = flavor.load(packaged.path, dict(packaged.runtime_config), trusted=True)
    added = set(sys.modules) - before
    runtime.unload()

    assert added
    assert all(name.startswith("berth_pyfunc_") for name in added)
    assert not added & set(sys.modules)


def test_two_loads_of_one_artifact_do_not_collide(tmp_path: Path) -> None:
    flavor = PyfuncFlavor()
    packaged = flavor.save_object(WeightedSum([1.0, 0.0, 0.0]), tmp_path)

    first = flavor.load(packaged.path, {}, trusted=True)
    second = flavor.load(packaged.path, {}, trusted=True)
    first.unload()

    np.testing.assert_allclose(second.predict(X, ["predict"])["predict"], X[:, 0])


def test_predict_from_four_threads(catalog: FlavorCatalog, tmp_path: Path) -> None:
    _, runtime = roundtrip(catalog, WeightedSum([0.5, 0.5, 0.5]), tmp_path)

    assert_same_answers(predict_in_threads(runtime, X, ("predict",)), runtime.predict(X, ["predict"]))


def test_errors_in_predict_are_prediction_failures(catalog: FlavorCatalog, tmp_path: Path) -> None:
    _, runtime = roundtrip(catalog, WeightedSum([1.0, 2.0, 3.0]), tmp_path)

    with pytest.raises(BerthError) as failed:
        runtime.predict(np.zeros((2, 5)), ["predict"])

    assert failed.value.code is ErrorCode.PREDICTION_FAILED


def test_a_class_in_main_is_refused(tmp_path: Path) -> None:
    scripted = type("Scripted", (Echo,), {"__module__": "__main__"})

    with pytest.raises(BerthError) as refused:
        PyfuncFlavor().save_object(scripted(), tmp_path)

    assert refused.value.code is ErrorCode.ARTIFACT_INVALID
    assert "module" in refused.value.message


def test_missing_entry_module_is_invalid(catalog: FlavorCatalog, tmp_path: Path) -> None:
    folder = _write_folder(tmp_path / "broken")
    (folder / "model.py").unlink()

    with pytest.raises(BerthError) as invalid:
        package_file(catalog, folder, trusted=True, folder=tmp_path / "out")

    assert invalid.value.code is ErrorCode.ARTIFACT_INVALID


def test_corrupt_and_truncated_archives_are_invalid(tmp_path: Path) -> None:
    flavor = PyfuncFlavor()
    packaged = flavor.save_object(WeightedSum([1.0, 1.0, 1.0]), tmp_path)

    for path in (
        corrupt_copy(packaged.path, tmp_path, keep=b"PK\x03\x04"),
        truncated_copy(packaged.path, tmp_path),
    ):
        with pytest.raises(BerthError) as inspected:
            flavor.inspect_file(path, trusted=True)
        with pytest.raises(BerthError) as loaded:
            flavor.load(path, {}, trusted=True)
        assert inspected.value.code is ErrorCode.ARTIFACT_INVALID
        assert loaded.value.code is ErrorCode.ARTIFACT_INVALID
