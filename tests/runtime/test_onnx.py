"""The ONNX flavor: graphs from skl2onnx (with ZipMap) and hand-built multi-input graphs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from skl2onnx import to_onnx
from sklearn.linear_model import LinearRegression, LogisticRegression

from berth.core.errors import BerthError, ErrorCode
from berth.core.signature import InputLayout
from berth.runtime.flavors.catalog import FlavorCatalog
from berth.runtime.flavors.onnx import OnnxFlavor
from tests.runtime.helpers import (
    assert_same_answers,
    corrupt_copy,
    predict_in_threads,
    roundtrip,
    truncated_copy,
)


@pytest.fixture(scope="module")
def string_classifier(multiclass_data: Any) -> tuple[LogisticRegression, onnx.ModelProto]:
    x, y = multiclass_data
    model = LogisticRegression(max_iter=500).fit(x, np.array(["a", "b", "c"])[y])
    return model, to_onnx(model, x[:1].astype(np.float32), target_opset=17)


@pytest.fixture(scope="module")
def two_input_graph() -> onnx.ModelProto:
    """sum = a + b, scaled = a * 2, with a symbolic batch dimension."""
    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, ["batch", 2])
    b = helper.make_tensor_value_info("b", TensorProto.FLOAT, ["batch", 2])
    total = helper.make_tensor_value_info("sum", TensorProto.FLOAT, ["batch", 2])
    scaled = helper.make_tensor_value_info("scaled", TensorProto.FLOAT, ["batch", 2])
    two = helper.make_tensor("two", TensorProto.FLOAT, [1], [2.0])
    graph = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["sum"]), helper.make_node("Mul", ["a", "two"], ["scaled"])],
        "two_inputs",
        [a, b],
        [total, scaled],
        initializer=[two],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def test_zipmap_classifier_roundtrip(
    catalog: FlavorCatalog, string_classifier: Any, multiclass_data: Any, tmp_path: Path
) -> None:
    x, _ = multiclass_data
    model, proto = string_classifier
    packaged, runtime = roundtrip(catalog, proto, tmp_path)

    answer = runtime.predict(x, runtime.output_names())  # float64 in: cast to the graph's float32

    assert packaged.flavor == "onnx"
    assert packaged.runtime_config == {
        "format": "onnx",
        "inputs": ["X"],
        "outputs": ["output_label", "output_probability"],
    }
    assert runtime.output_names() == ("output_label", "output_probability")
    assert runtime.default_outputs() == runtime.output_names()
    np.testing.assert_array_equal(answer["output_label"], model.predict(x))
    assert answer["output_probability"].shape == (len(x), 3)
    np.testing.assert_allclose(answer["output_probability"], model.predict_proba(x), atol=1e-5)
    layout, specs = runtime.input_specs()  # type: ignore[misc]
    assert layout is InputLayout.TENSOR
    assert [(s.name, s.datatype, s.shape) for s in specs] == [("X", "FP32", (-1, 6))]


def test_regressor_file_roundtrip(catalog: FlavorCatalog, regression_data: Any, tmp_path: Path) -> None:
    x, y = regression_data
    model = LinearRegression().fit(x, y)
    path = tmp_path / "regressor.onnx"
    path.write_bytes(to_onnx(model, x[:1].astype(np.float32), target_opset=17).SerializeToString())

    flavor = catalog.for_file(path)
    packaged = flavor.inspect_file(path, trusted=False)
    runtime = flavor.load(path, dict(packaged.runtime_config), trusted=False)

    assert flavor.name == "onnx"
    assert not packaged.trusted
    got = runtime.predict(x.astype(np.float32), ["variable"])["variable"]
    np.testing.assert_allclose(got.reshape(-1), model.predict(x), rtol=1e-4, atol=1e-3)


def test_several_inputs_take_a_dict_of_arrays(
    catalog: FlavorCatalog, two_input_graph: Any, tmp_path: Path
) -> None:
    _, runtime = roundtrip(catalog, two_input_graph, tmp_path)
    a = np.array([[1.0, 2.0], [3.0, 4.0]])
    b = np.ones((2, 2), dtype=np.float32)

    answer = runtime.predict({"a": a, "b": b}, ["sum"])
    layout, specs = runtime.input_specs()  # type: ignore[misc]

    assert list(answer) == ["sum"]
    np.testing.assert_array_equal(answer["sum"], a + 1)
    assert layout is InputLayout.TENSORS
    assert [(s.name, s.shape) for s in specs] == [("a", (-1, 2)), ("b", (-1, 2))]
    with pytest.raises(BerthError) as missing:
        runtime.predict({"a": a}, ["sum"])
    assert missing.value.code is ErrorCode.SIGNATURE_MISMATCH


def test_predict_from_four_threads(
    catalog: FlavorCatalog, string_classifier: Any, multiclass_data: Any, tmp_path: Path
) -> None:
    x, _ = multiclass_data
    _, runtime = roundtrip(catalog, string_classifier[1], tmp_path)
    outputs = runtime.output_names()

    assert_same_answers(predict_in_threads(runtime, x, outputs), runtime.predict(x, outputs))


def test_wrong_shape_is_a_prediction_failure(
    catalog: FlavorCatalog, string_classifier: Any, tmp_path: Path
) -> None:
    _, runtime = roundtrip(catalog, string_classifier[1], tmp_path)

    with pytest.raises(BerthError) as failed:
        runtime.predict(np.zeros((2, 3)), ["output_label"])

    assert failed.value.code is ErrorCode.PREDICTION_FAILED


def test_corrupt_and_truncated_files_are_invalid(string_classifier: Any, tmp_path: Path) -> None:
    flavor = OnnxFlavor()
    packaged = flavor.save_object(string_classifier[1], tmp_path)

    for path in (
        corrupt_copy(packaged.path, tmp_path, keep=b"\x08"),
        truncated_copy(packaged.path, tmp_path),
    ):
        with pytest.raises(BerthError) as inspected:
            flavor.inspect_file(path, trusted=False)
        with pytest.raises(BerthError) as loaded:
            flavor.load(path, {}, trusted=False)
        assert inspected.value.code is ErrorCode.ARTIFACT_INVALID
        assert loaded.value.code is ErrorCode.ARTIFACT_INVALID
