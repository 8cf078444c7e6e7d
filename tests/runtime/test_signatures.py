"""build_signature: given, from an example, or from what the model declares, for every flavor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from skl2onnx import to_onnx
from sklearn.compose import make_column_transformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from berth.core.errors import BerthError, ErrorCode
from berth.core.signature import InputLayout, Signature, TensorSpec
from berth.runtime.flavors.catalog import FlavorCatalog
from berth.runtime.signatures import build_signature
from tests.runtime.fixtures.pyfunc_model import WeightedSum
from tests.runtime.helpers import roundtrip


def _summary(specs: tuple[TensorSpec, ...]) -> list[tuple[str, str, tuple[int, ...]]]:
    return [(s.name, s.datatype, s.shape) for s in specs]


def test_given_signature_wins(catalog: FlavorCatalog, binary_data: Any, tmp_path: Path) -> None:
    x, y = binary_data
    _, runtime = roundtrip(catalog, LogisticRegression().fit(x, y), tmp_path)
    given = Signature(inputs=(TensorSpec("features", "FP32", (-1, 5)),), outputs=())

    assert build_signature(runtime, example=x[:2], given=given) is given


def test_sklearn_from_declared_inputs(catalog: FlavorCatalog, multiclass_data: Any, tmp_path: Path) -> None:
    x, y = multiclass_data
    _, runtime = roundtrip(catalog, LogisticRegression(max_iter=500).fit(x, y), tmp_path)

    signature = build_signature(runtime)

    assert signature.layout is InputLayout.TENSOR
    assert _summary(signature.inputs) == [("input-0", "FP64", (-1, 6))]
    assert _summary(signature.outputs) == [("predict", "INT64", (-1,)), ("predict_proba", "FP64", (-1, 3))]
    assert signature.default_outputs == ("predict",)
    assert not signature.inputs[0].allow_nan


def test_sklearn_dataframe_with_and_without_example(
    catalog: FlavorCatalog, customers: Any, tmp_path: Path
) -> None:
    frame, churn = customers
    encode = make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore"), ["city"]), remainder="passthrough"
    )
    model = make_pipeline(encode, LogisticRegression(max_iter=1000)).fit(frame, churn)
    _, runtime = roundtrip(catalog, model, tmp_path)

    declared = build_signature(runtime)
    from_example = build_signature(runtime, example=frame.head(3))

    for signature in (declared, from_example):
        assert signature.layout is InputLayout.COLUMNS
        assert [s.name for s in signature.inputs] == ["city", "age", "spend"]
        assert signature.inputs[0].datatype == "BYTES"
        assert _summary(signature.outputs)[0] == ("predict", "BYTES", (-1,))


def test_text_pipeline_needs_an_example(catalog: FlavorCatalog, reviews: Any, tmp_path: Path) -> None:
    texts, labels = reviews
    model = make_pipeline(TfidfVectorizer(), SGDClassifier(random_state=0)).fit(texts, labels)
    _, runtime = roundtrip(catalog, model, tmp_path)

    with pytest.raises(BerthError) as missing:
        build_signature(runtime)
    signature = build_signature(runtime, example=["good value", "hate it"])

    assert missing.value.code is ErrorCode.SIGNATURE_MISMATCH
    assert "example" in missing.value.message
    assert _summary(signature.inputs) == [("input-0", "BYTES", (-1,))]
    assert _summary(signature.outputs) == [("predict", "BYTES", (-1,))]


def test_onnx_from_the_graph(catalog: FlavorCatalog, multiclass_data: Any, tmp_path: Path) -> None:
    x, y = multiclass_data
    proto = to_onnx(LogisticRegression(max_iter=500).fit(x, y), x[:1].astype(np.float32), target_opset=17)
    _, runtime = roundtrip(catalog, proto, tmp_path)

    signature = build_signature(runtime)
    with_example = build_signature(runtime, example=x[:3].astype(np.float32))

    assert _summary(signature.inputs) == [("X", "FP32", (-1, 6))]
    assert _summary(signature.outputs) == [
        ("output_label", "INT64", (-1,)),
        ("output_probability", "FP32", (-1, 3)),
    ]
    assert signature.default_outputs == ("output_label", "output_probability")
    assert _summary(with_example.inputs) == [("X", "FP32", (-1, 6))]  # the graph's own name is kept


@pytest.mark.parametrize("framework", ["xgboost", "lightgbm"])
def test_tree_models_accept_nan(
    catalog: FlavorCatalog, binary_data: Any, framework: str, tmp_path: Path
) -> None:
    x, y = binary_data
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(x.shape[1])])
    model: Any
    if framework == "xgboost":
        model = xgb.XGBClassifier(n_estimators=3, n_jobs=1).fit(frame, y)
    else:
        model = lgb.LGBMClassifier(n_estimators=3, verbose=-1, n_jobs=1).fit(frame, y)
    _, runtime = roundtrip(catalog, model, tmp_path)

    declared = build_signature(runtime)
    from_example = build_signature(runtime, example=frame.head(2))

    for signature in (declared, from_example):
        assert signature.layout is InputLayout.COLUMNS
        assert [s.name for s in signature.inputs] == list(frame.columns)
        assert all(s.allow_nan for s in signature.inputs)
        assert [s.name for s in signature.outputs] == ["predict", "predict_proba"]


def test_pyfunc_needs_an_example(catalog: FlavorCatalog, tmp_path: Path) -> None:
    _, runtime = roundtrip(catalog, WeightedSum([1.0, 2.0]), tmp_path)

    with pytest.raises(BerthError) as missing:
        build_signature(runtime)
    signature = build_signature(runtime, example=np.ones((2, 2)), allow_nan=True)

    assert missing.value.code is ErrorCode.SIGNATURE_MISMATCH
    assert _summary(signature.inputs) == [("input-0", "FP64", (-1, 2))]
    assert signature.inputs[0].allow_nan
    assert _summary(signature.outputs) == [("predict", "FP64", (-1,)), ("total", "FP64", (-1,))]


def test_a_model_that_fails_on_zeros_asks_for_an_example(
    catalog: FlavorCatalog, customers: Any, tmp_path: Path
) -> None:
    frame, churn = customers
    strict = make_column_transformer(
        (OneHotEncoder(handle_unknown="error"), ["city"]), remainder="passthrough"
    )
    _, runtime = roundtrip(
        catalog, make_pipeline(strict, LogisticRegression(max_iter=1000)).fit(frame, churn), tmp_path
    )

    with pytest.raises(BerthError) as failed:
        build_signature(runtime)

    assert failed.value.code is ErrorCode.SIGNATURE_MISMATCH
    assert "example" in failed.value.message
