"""The scikit-learn flavor: skops round trips, trust rules for pickles and skops types, runtimes."""

from __future__ import annotations

import pathlib
import pickle
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
import skops.io
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import make_column_transformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, Ridge, SGDClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from berth.control.packaging import package_file
from berth.core.errors import BerthError, ErrorCode
from berth.core.signature import InputLayout
from berth.runtime.flavors.catalog import FlavorCatalog
from berth.runtime.flavors.sklearn import SklearnFlavor
from tests.runtime.helpers import (
    assert_same_answers,
    corrupt_copy,
    predict_in_threads,
    roundtrip,
    truncated_copy,
)


class Doubler(BaseEstimator, TransformerMixin):  # type: ignore[misc]
    """A custom transformer: a type skops (and berth) do not trust by default."""

    def fit(self, x: Any, y: Any = None) -> Doubler:
        self.n_features_in_ = np.asarray(x).shape[1]
        return self

    def transform(self, x: Any) -> Any:
        return np.asarray(x) * 2.0


class TouchOnUnpickle:
    """Unpickling this creates a file: proof that detection never unpickles."""

    def __init__(self, sentinel: Path) -> None:
        self.sentinel = sentinel

    def __reduce__(self) -> tuple[Any, ...]:
        return (pathlib.Path.touch, (self.sentinel,))


@pytest.fixture(scope="module")
def multiclass_model(multiclass_data: Any) -> LogisticRegression:
    x, y = multiclass_data
    return LogisticRegression(max_iter=500).fit(x, y)


@pytest.fixture(scope="module")
def string_label_forest(binary_data: Any) -> RandomForestClassifier:
    x, y = binary_data
    labels = np.where(y == 1, "yes", "no")
    return RandomForestClassifier(n_estimators=10, random_state=0).fit(x, labels)


@pytest.fixture(scope="module")
def customer_pipeline(customers: Any) -> Pipeline:
    frame, churn = customers
    encode = make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore"), ["city"]), (StandardScaler(), ["age", "spend"])
    )
    return make_pipeline(encode, LogisticRegression()).fit(frame, churn)


@pytest.fixture(scope="module")
def text_pipeline(reviews: Any) -> Pipeline:
    texts, labels = reviews
    return make_pipeline(TfidfVectorizer(), SGDClassifier(loss="log_loss", random_state=0)).fit(texts, labels)


def test_classifier_roundtrip_gives_labels_and_probabilities(
    catalog: FlavorCatalog, multiclass_model: Any, multiclass_data: Any, tmp_path: Path
) -> None:
    x, _ = multiclass_data
    packaged, runtime = roundtrip(catalog, multiclass_model, tmp_path)

    assert packaged.flavor == "sklearn"
    assert packaged.path.suffix == ".skops"
    assert packaged.runtime_config == {"format": "skops", "skops_types": [], "classes": [0, 1, 2]}
    assert not packaged.trusted
    assert runtime.output_names() == ("predict", "predict_proba")
    assert runtime.default_outputs() == ("predict",)
    answer = runtime.predict(x, ["predict", "predict_proba"])
    np.testing.assert_array_equal(answer["predict"], multiclass_model.predict(x))
    np.testing.assert_allclose(answer["predict_proba"], multiclass_model.predict_proba(x))
    layout, specs = runtime.input_specs()  # type: ignore[misc]
    assert layout is InputLayout.TENSOR
    assert [(s.name, s.datatype, s.shape) for s in specs] == [("input-0", "FP64", (-1, 6))]


def test_string_labels_come_back_as_object_arrays(
    catalog: FlavorCatalog, string_label_forest: Any, binary_data: Any, tmp_path: Path
) -> None:
    x, _ = binary_data
    packaged, runtime = roundtrip(catalog, string_label_forest, tmp_path)

    labels = runtime.predict(x, ["predict"])["predict"]
    assert labels.dtype == object
    np.testing.assert_array_equal(labels, string_label_forest.predict(x))
    assert packaged.runtime_config["classes"] == ["no", "yes"]


def test_regressor_and_transformer_outputs(
    catalog: FlavorCatalog, regression_data: Any, tmp_path: Path
) -> None:
    x, y = regression_data
    regressor = Ridge().fit(x, y)
    scaler = StandardScaler().fit(x)

    _, reg_runtime = roundtrip(catalog, regressor, tmp_path / "ridge")
    _, scale_runtime = roundtrip(catalog, scaler, tmp_path / "scaler")

    assert reg_runtime.output_names() == ("predict",)
    np.testing.assert_allclose(reg_runtime.predict(x, [])["predict"], regressor.predict(x))
    assert scale_runtime.output_names() == ("transform",)
    np.testing.assert_allclose(scale_runtime.predict(x, ["transform"])["transform"], scaler.transform(x))


def test_dataframe_pipeline_with_string_categories(
    catalog: FlavorCatalog, customer_pipeline: Any, customers: Any, tmp_path: Path
) -> None:
    frame, _ = customers
    packaged, runtime = roundtrip(catalog, customer_pipeline, tmp_path)

    answer = runtime.predict(frame, ["predict", "predict_proba"])
    np.testing.assert_array_equal(answer["predict"], customer_pipeline.predict(frame))
    np.testing.assert_allclose(answer["predict_proba"], customer_pipeline.predict_proba(frame))
    assert packaged.runtime_config["classes"] == ["churn", "stay"]
    layout, specs = runtime.input_specs()  # type: ignore[misc]
    assert layout is InputLayout.COLUMNS
    assert [(s.name, s.datatype) for s in specs] == [("city", "BYTES"), ("age", "FP64"), ("spend", "FP64")]


def test_dataframe_model_accepts_an_array_of_its_width(
    catalog: FlavorCatalog, multiclass_data: Any, tmp_path: Path
) -> None:
    x, y = multiclass_data
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(x.shape[1])])
    model = LogisticRegression(max_iter=500).fit(frame, y)
    _, runtime = roundtrip(catalog, model, tmp_path)

    np.testing.assert_array_equal(runtime.predict(x, ["predict"])["predict"], model.predict(frame))
    by_column = {name: frame[name].to_numpy() for name in frame.columns}
    np.testing.assert_array_equal(runtime.predict(by_column, ["predict"])["predict"], model.predict(frame))


def test_text_pipeline_takes_a_1d_array_of_strings(
    catalog: FlavorCatalog, text_pipeline: Any, reviews: Any, tmp_path: Path
) -> None:
    texts, _ = reviews
    _, runtime = roundtrip(catalog, text_pipeline, tmp_path)

    answer = runtime.predict(
        np.asarray(["good value", "hate it"], dtype=object), ["predict", "predict_proba"]
    )
    np.testing.assert_array_equal(answer["predict"], ["pos", "neg"])
    np.testing.assert_allclose(
        runtime.predict(texts, ["predict_proba"])["predict_proba"], text_pipeline.predict_proba(texts)
    )
    assert runtime.input_specs() is None


def test_predict_from_four_threads(
    catalog: FlavorCatalog, customer_pipeline: Any, customers: Any, tmp_path: Path
) -> None:
    frame, _ = customers
    _, runtime = roundtrip(catalog, customer_pipeline, tmp_path)
    expected = runtime.predict(frame, ["predict", "predict_proba"])

    assert_same_answers(predict_in_threads(runtime, frame, ("predict", "predict_proba")), expected)


def test_unknown_output_and_bad_input(catalog: FlavorCatalog, multiclass_model: Any, tmp_path: Path) -> None:
    _, runtime = roundtrip(catalog, multiclass_model, tmp_path)

    with pytest.raises(BerthError) as unknown:
        runtime.predict(np.zeros((2, 6)), ["decision"])
    with pytest.raises(BerthError) as failed:
        runtime.predict(np.zeros((2, 3)), ["predict"])

    assert unknown.value.code is ErrorCode.OUTPUT_NOT_FOUND
    assert failed.value.code is ErrorCode.PREDICTION_FAILED
    assert "features" in failed.value.message


def test_pickle_is_refused_without_trust_and_loaded_with_it(
    catalog: FlavorCatalog, multiclass_model: Any, multiclass_data: Any, tmp_path: Path
) -> None:
    x, _ = multiclass_data
    path = tmp_path / "model.joblib"
    joblib.dump(multiclass_model, path)
    flavor = catalog.for_file(path)

    with pytest.raises(BerthError) as refused:
        flavor.inspect_file(path, trusted=False)
    packaged = flavor.inspect_file(path, trusted=True)
    with pytest.raises(BerthError) as refused_load:
        flavor.load(path, dict(packaged.runtime_config), trusted=False)
    runtime = flavor.load(path, dict(packaged.runtime_config), trusted=True)

    assert flavor.name == "sklearn"
    assert refused.value.code is ErrorCode.UNTRUSTED_ARTIFACT
    assert refused_load.value.code is ErrorCode.UNTRUSTED_ARTIFACT
    assert packaged.trusted
    assert packaged.runtime_config["format"] == "pickle"
    np.testing.assert_array_equal(runtime.predict(x, ["predict"])["predict"], multiclass_model.predict(x))


def test_pickle_detection_never_unpickles(catalog: FlavorCatalog, tmp_path: Path) -> None:
    sentinel = tmp_path / "unpickled"
    path = tmp_path / "model.bin"  # no pickle extension: found by its opcode
    path.write_bytes(pickle.dumps(TouchOnUnpickle(sentinel), protocol=5))

    flavor = catalog.for_file(path)
    with pytest.raises(BerthError) as refused:
        flavor.inspect_file(path, trusted=False)

    assert flavor.name == "sklearn"
    assert refused.value.code is ErrorCode.UNTRUSTED_ARTIFACT
    assert not sentinel.exists()


def test_custom_skops_type_needs_trust(catalog: FlavorCatalog, multiclass_data: Any, tmp_path: Path) -> None:
    x, y = multiclass_data
    model = make_pipeline(Doubler(), LogisticRegression(max_iter=500)).fit(x, y)
    path = tmp_path / "custom.skops"
    skops.io.dump(model, path)
    flavor = catalog.for_file(path)

    with pytest.raises(BerthError) as refused:
        flavor.inspect_file(path, trusted=False)
    with pytest.raises(BerthError) as refused_load:
        flavor.load(path, {"format": "skops"}, trusted=False)
    packaged = flavor.inspect_file(path, trusted=True)
    runtime = flavor.load(path, dict(packaged.runtime_config), trusted=True)

    custom = f"{__name__}.Doubler"
    assert refused.value.code is ErrorCode.UNTRUSTED_ARTIFACT
    assert custom in refused.value.message
    assert refused_load.value.code is ErrorCode.UNTRUSTED_ARTIFACT
    assert packaged.trusted
    assert packaged.runtime_config["skops_types"] == [custom]
    np.testing.assert_array_equal(runtime.predict(x, ["predict"])["predict"], model.predict(x))


def test_saving_an_object_with_a_custom_type_records_it(
    catalog: FlavorCatalog, multiclass_data: Any, tmp_path: Path
) -> None:
    x, y = multiclass_data
    model = make_pipeline(Doubler(), LogisticRegression(max_iter=500)).fit(x, y)

    packaged = SklearnFlavor().save_object(model, tmp_path)

    assert packaged.trusted
    assert packaged.runtime_config["skops_types"] == [f"{__name__}.Doubler"]


def test_corrupt_and_truncated_skops_files_are_invalid(
    catalog: FlavorCatalog, multiclass_model: Any, tmp_path: Path
) -> None:
    packaged = SklearnFlavor().save_object(multiclass_model, tmp_path)
    flavor = SklearnFlavor()
    damaged = [
        corrupt_copy(packaged.path, tmp_path),
        corrupt_copy(packaged.path, tmp_path, keep=b"PK\x03\x04", name="zip-header"),
        truncated_copy(packaged.path, tmp_path),
    ]

    for path in damaged:
        with pytest.raises(BerthError) as inspected:
            flavor.inspect_file(path, trusted=False)
        with pytest.raises(BerthError) as loaded:
            flavor.load(path, dict(packaged.runtime_config), trusted=False)
        assert inspected.value.code is ErrorCode.ARTIFACT_INVALID, path
        assert loaded.value.code is ErrorCode.ARTIFACT_INVALID, path


def test_unfitted_estimators_are_not_packaged(catalog: FlavorCatalog) -> None:
    with pytest.raises(BerthError) as refused:
        catalog.for_object(LogisticRegression())

    assert refused.value.code is ErrorCode.UNSUPPORTED_FLAVOR


def test_load_from_a_stored_copy_without_suffix_or_config(
    catalog: FlavorCatalog, multiclass_model: Any, multiclass_data: Any, tmp_path: Path
) -> None:
    x, _ = multiclass_data
    path = tmp_path / "model.skops"
    skops.io.dump(multiclass_model, path)
    stored = tmp_path / "0123abcd"  # a content-addressed store keeps no extension
    stored.write_bytes(path.read_bytes())

    packaged = package_file(catalog, path, trusted=False, folder=tmp_path / "out")
    runtime = SklearnFlavor().load(stored, {}, trusted=False)

    assert packaged.runtime_config["format"] == "skops"
    np.testing.assert_array_equal(runtime.predict(x, ["predict"])["predict"], multiclass_model.predict(x))
