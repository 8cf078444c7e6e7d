"""The XGBoost flavor: estimators and boosters in native UBJSON/JSON, labels and probabilities."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from berth.core.errors import BerthError, ErrorCode
from berth.core.signature import InputLayout
from berth.runtime.flavors.catalog import FlavorCatalog
from berth.runtime.flavors.xgboost import XGBoostFlavor
from tests.runtime.helpers import (
    assert_same_answers,
    corrupt_copy,
    predict_in_threads,
    roundtrip,
    truncated_copy,
)


@pytest.fixture(scope="module")
def multiclass_model(multiclass_data: Any) -> xgb.XGBClassifier:
    x, y = multiclass_data
    return xgb.XGBClassifier(n_estimators=8, max_depth=3, random_state=0, n_jobs=1).fit(x, y)


@pytest.fixture(scope="module")
def binary_frame_model(binary_data: Any) -> tuple[xgb.XGBClassifier, pd.DataFrame]:
    x, y = binary_data
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(x.shape[1])])
    return xgb.XGBClassifier(n_estimators=8, max_depth=3, random_state=0, n_jobs=1).fit(frame, y), frame


@pytest.mark.parametrize("objective", ["multi:softprob", "multi:softmax"])
def test_multiclass_roundtrip(
    catalog: FlavorCatalog, multiclass_data: Any, objective: str, tmp_path: Path
) -> None:
    x, y = multiclass_data
    model = xgb.XGBClassifier(n_estimators=8, objective=objective, random_state=0, n_jobs=1).fit(x, y)
    packaged, runtime = roundtrip(catalog, model, tmp_path)

    answer = runtime.predict(x, ["predict", "predict_proba"])

    assert packaged.flavor == "xgboost"
    assert packaged.path.suffix == ".ubj"
    assert packaged.runtime_config == {"format": "ubj", "objective": objective, "classes": [0, 1, 2]}
    assert runtime.output_names() == ("predict", "predict_proba")
    np.testing.assert_array_equal(answer["predict"], model.predict(x))
    np.testing.assert_allclose(answer["predict_proba"], model.predict_proba(x), rtol=1e-5, atol=1e-6)


def test_binary_dataframe_model(catalog: FlavorCatalog, binary_frame_model: Any, tmp_path: Path) -> None:
    model, frame = binary_frame_model
    _, runtime = roundtrip(catalog, model, tmp_path)

    answer = runtime.predict(frame, ["predict", "predict_proba"])
    from_array = runtime.predict(frame.to_numpy(), ["predict"])

    np.testing.assert_array_equal(answer["predict"], model.predict(frame))
    np.testing.assert_allclose(answer["predict_proba"], model.predict_proba(frame), rtol=1e-6)
    np.testing.assert_array_equal(from_array["predict"], model.predict(frame))
    layout, specs = runtime.input_specs()  # type: ignore[misc]
    assert layout is InputLayout.COLUMNS
    assert [s.name for s in specs] == list(frame.columns)
    assert all(s.allow_nan for s in specs)


def test_regressor_and_booster(catalog: FlavorCatalog, regression_data: Any, tmp_path: Path) -> None:
    x, y = regression_data
    regressor = xgb.XGBRegressor(n_estimators=8, random_state=0, n_jobs=1).fit(x, y)
    booster = xgb.train({"nthread": 1, "seed": 0}, xgb.DMatrix(x, label=y), num_boost_round=5)

    reg_packaged, reg_runtime = roundtrip(catalog, regressor, tmp_path / "regressor")
    _, booster_runtime = roundtrip(catalog, booster, tmp_path / "booster")

    assert "classes" not in reg_packaged.runtime_config
    assert reg_runtime.output_names() == ("predict",)
    np.testing.assert_allclose(reg_runtime.predict(x, [])["predict"], regressor.predict(x), rtol=1e-6)
    np.testing.assert_allclose(
        booster_runtime.predict(x, ["predict"])["predict"], booster.predict(xgb.DMatrix(x)), rtol=1e-6
    )
    layout, specs = booster_runtime.input_specs()  # type: ignore[misc]
    assert layout is InputLayout.TENSOR
    assert specs[0].shape == (-1, 4)


def test_nan_is_a_missing_value(catalog: FlavorCatalog, multiclass_model: Any, tmp_path: Path) -> None:
    _, runtime = roundtrip(catalog, multiclass_model, tmp_path)
    x = np.full((2, 6), np.nan)

    answer = runtime.predict(x, ["predict_proba"])

    np.testing.assert_allclose(answer["predict_proba"].sum(axis=1), 1.0, rtol=1e-5)


def test_json_file_pushed_as_is(
    catalog: FlavorCatalog, multiclass_model: Any, multiclass_data: Any, tmp_path: Path
) -> None:
    x, _ = multiclass_data
    path = tmp_path / "model.json"
    multiclass_model.get_booster().save_model(str(path))
    stored = tmp_path / "stored-without-suffix"  # stores are content-addressed: no extension
    stored.write_bytes(path.read_bytes())

    flavor = catalog.for_file(path)
    packaged = flavor.inspect_file(path, trusted=False)
    runtime = flavor.load(stored, dict(packaged.runtime_config), trusted=False)

    assert flavor.name == "xgboost"
    assert packaged.runtime_config == {"format": "json", "objective": "multi:softprob", "classes": [0, 1, 2]}
    np.testing.assert_array_equal(runtime.predict(x, ["predict"])["predict"], multiclass_model.predict(x))


def test_json_that_is_not_a_model_is_not_xgboost(catalog: FlavorCatalog, tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"threshold": 0.5}))

    assert not XGBoostFlavor().matches_file(path)
    with pytest.raises(BerthError) as unknown:
        catalog.for_file(path)
    assert unknown.value.code is ErrorCode.UNSUPPORTED_FLAVOR


def test_predict_from_four_threads(
    catalog: FlavorCatalog, multiclass_model: Any, multiclass_data: Any, tmp_path: Path
) -> None:
    x, _ = multiclass_data
    _, runtime = roundtrip(catalog, multiclass_model, tmp_path)
    outputs = ("predict", "predict_proba")

    assert_same_answers(predict_in_threads(runtime, x, outputs), runtime.predict(x, outputs))


def test_wrong_width_is_a_prediction_failure(
    catalog: FlavorCatalog, multiclass_model: Any, tmp_path: Path
) -> None:
    _, runtime = roundtrip(catalog, multiclass_model, tmp_path)

    with pytest.raises(BerthError) as failed:
        runtime.predict(np.zeros((2, 3)), ["predict"])

    assert failed.value.code is ErrorCode.PREDICTION_FAILED
    assert "Stack trace" not in failed.value.message


def test_corrupt_and_truncated_files_are_invalid(multiclass_model: Any, tmp_path: Path) -> None:
    flavor = XGBoostFlavor()
    packaged = flavor.save_object(multiclass_model, tmp_path)

    for path in (
        corrupt_copy(packaged.path, tmp_path, keep=b"{L\x00"),
        truncated_copy(packaged.path, tmp_path),
    ):
        with pytest.raises(BerthError) as inspected:
            flavor.inspect_file(path, trusted=False)
        with pytest.raises(BerthError) as loaded:
            flavor.load(path, dict(packaged.runtime_config), trusted=False)
        assert inspected.value.code is ErrorCode.ARTIFACT_INVALID
        assert loaded.value.code is ErrorCode.ARTIFACT_INVALID
