"""The LightGBM flavor: estimators and boosters as native text models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pytest

from berth.core.errors import BerthError, ErrorCode
from berth.core.signature import InputLayout
from berth.runtime.flavors.catalog import FlavorCatalog
from berth.runtime.flavors.lightgbm import LightGBMFlavor
from tests.runtime.helpers import (
    assert_same_answers,
    corrupt_copy,
    predict_in_threads,
    roundtrip,
    truncated_copy,
)

PARAMS: dict[str, Any] = {"n_estimators": 10, "num_leaves": 7, "random_state": 0, "n_jobs": 1, "verbose": -1}


@pytest.fixture(scope="module")
def string_multiclass(multiclass_data: Any) -> lgb.LGBMClassifier:
    x, y = multiclass_data
    return lgb.LGBMClassifier(**PARAMS).fit(x, np.array(["low", "mid", "high"])[y])


@pytest.fixture(scope="module")
def binary_booster(binary_data: Any) -> lgb.Booster:
    x, y = binary_data
    params = {"objective": "binary", "num_leaves": 7, "verbose": -1, "num_threads": 1, "seed": 0}
    return lgb.train(params, lgb.Dataset(x, label=y), num_boost_round=10)


def test_string_label_classifier_roundtrip(
    catalog: FlavorCatalog, string_multiclass: Any, multiclass_data: Any, tmp_path: Path
) -> None:
    x, _ = multiclass_data
    packaged, runtime = roundtrip(catalog, string_multiclass, tmp_path)

    answer = runtime.predict(x, ["predict", "predict_proba"])

    assert packaged.flavor == "lightgbm"
    assert packaged.path.suffix == ".txt"
    assert packaged.runtime_config == {
        "format": "text",
        "objective": "multiclass",
        "classes": ["high", "low", "mid"],
    }
    assert answer["predict"].dtype == object
    np.testing.assert_array_equal(answer["predict"], string_multiclass.predict(x))
    np.testing.assert_allclose(answer["predict_proba"], string_multiclass.predict_proba(x))
    layout, specs = runtime.input_specs()  # type: ignore[misc]
    assert layout is InputLayout.TENSOR
    assert specs[0].shape == (-1, 6)
    assert specs[0].allow_nan


def test_regressor_roundtrip(catalog: FlavorCatalog, regression_data: Any, tmp_path: Path) -> None:
    x, y = regression_data
    model = lgb.LGBMRegressor(**PARAMS).fit(x, y)
    packaged, runtime = roundtrip(catalog, model, tmp_path)

    assert runtime.output_names() == ("predict",)
    assert "classes" not in packaged.runtime_config
    np.testing.assert_allclose(runtime.predict(x, ["predict"])["predict"], model.predict(x))


def test_raw_binary_file_answers_0_and_1(
    catalog: FlavorCatalog, binary_booster: Any, binary_data: Any, tmp_path: Path
) -> None:
    x, _ = binary_data
    path = tmp_path / "model.txt"
    binary_booster.save_model(str(path))

    flavor = catalog.for_file(path)
    packaged = flavor.inspect_file(path, trusted=False)
    runtime = flavor.load(path, dict(packaged.runtime_config), trusted=False)
    answer = runtime.predict(x, ["predict", "predict_proba"])

    probability = binary_booster.predict(x)
    assert flavor.name == "lightgbm"
    assert packaged.runtime_config == {"format": "text", "objective": "binary"}
    np.testing.assert_array_equal(answer["predict"], (probability > 0.5).astype(int))
    np.testing.assert_allclose(answer["predict_proba"][:, 1], probability)


def test_raw_multiclass_file_answers_the_class_index(
    catalog: FlavorCatalog, string_multiclass: Any, multiclass_data: Any, tmp_path: Path
) -> None:
    x, _ = multiclass_data
    path = tmp_path / "model.txt"
    string_multiclass.booster_.save_model(str(path))

    runtime = LightGBMFlavor().load(path, {}, trusted=False)

    expected = np.argmax(string_multiclass.predict_proba(x), axis=1)
    np.testing.assert_array_equal(runtime.predict(x, ["predict"])["predict"], expected)


def test_nan_is_a_missing_value(catalog: FlavorCatalog, string_multiclass: Any, tmp_path: Path) -> None:
    _, runtime = roundtrip(catalog, string_multiclass, tmp_path)

    answer = runtime.predict(np.full((2, 6), np.nan), ["predict_proba"])

    np.testing.assert_allclose(answer["predict_proba"].sum(axis=1), 1.0)


def test_predict_from_four_threads(
    catalog: FlavorCatalog, string_multiclass: Any, multiclass_data: Any, tmp_path: Path
) -> None:
    x, _ = multiclass_data
    _, runtime = roundtrip(catalog, string_multiclass, tmp_path)
    outputs = ("predict", "predict_proba")

    assert_same_answers(predict_in_threads(runtime, x, outputs), runtime.predict(x, outputs))


def test_wrong_width_is_a_prediction_failure(
    catalog: FlavorCatalog, string_multiclass: Any, tmp_path: Path
) -> None:
    _, runtime = roundtrip(catalog, string_multiclass, tmp_path)

    with pytest.raises(BerthError) as failed:
        runtime.predict(np.zeros((2, 3)), ["predict"])

    assert failed.value.code is ErrorCode.PREDICTION_FAILED


def test_corrupt_and_truncated_files_are_invalid(string_multiclass: Any, tmp_path: Path) -> None:
    flavor = LightGBMFlavor()
    packaged = flavor.save_object(string_multiclass, tmp_path)

    for path in (
        corrupt_copy(packaged.path, tmp_path, keep=b"tree\nversion=v4\n"),
        truncated_copy(packaged.path, tmp_path),
    ):
        with pytest.raises(BerthError) as inspected:
            flavor.inspect_file(path, trusted=False)
        with pytest.raises(BerthError) as loaded:
            flavor.load(path, dict(packaged.runtime_config), trusted=False)
        assert inspected.value.code is ErrorCode.ARTIFACT_INVALID
        assert loaded.value.code is ErrorCode.ARTIFACT_INVALID


def test_text_file_that_is_not_a_model_is_not_lightgbm(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("tree-planting notes\n")

    assert not LightGBMFlavor().matches_file(path)
