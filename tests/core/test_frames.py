"""pandas/numpy data <-> tensors, and stored example requests."""

from __future__ import annotations

import numpy as np
import orjson
import pandas as pd
import pytest

from berth.core.codecs.frames import EXAMPLE_ROWS, example_to_request, outputs_to_frame, to_tensors
from berth.core.codecs.model_io import to_model_input
from berth.core.codecs.oip_json import decode_infer_request
from berth.core.errors import BerthError, ErrorCode
from berth.core.signature import Signature
from berth.core.signature_inference import infer_input_specs
from berth.core.tensors import Tensor


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": [30, 40, 50],
            "city": ["a", "b", "c"],
            "score": [0.5, np.nan, 1.5],
            "member": [True, False, True],
            "tier": pd.Categorical(["x", "y", "x"]),
            "visits": pd.array([1, None, 3], dtype="Int64"),
            "obj": pd.Series(["p", "q", "r"], dtype=object),
        }
    )


def test_a_frame_gives_one_column_tensor_each() -> None:
    tensors = to_tensors(frame())
    got = {t.name: (t.datatype, t.shape) for t in tensors}
    assert got == {
        "age": ("INT64", (3,)),
        "city": ("BYTES", (3,)),
        "score": ("FP64", (3,)),
        "member": ("BOOL", (3,)),
        "tier": ("BYTES", (3,)),
        "visits": ("FP64", (3,)),
        "obj": ("BYTES", (3,)),
    }
    assert [t.name for t in tensors] == list(frame().columns)


def test_tensors_match_the_signature_inferred_from_the_same_data() -> None:
    for data in (
        frame(),
        np.zeros((2, 4), np.float32),
        ["hi", "there"],
        {"a": np.zeros(2), "b": np.ones((2, 3))},
    ):
        layout, specs = infer_input_specs(data)
        signature = Signature(inputs=specs, outputs=(), layout=layout)
        to_model_input(to_tensors(data), signature)  # no error


def test_arrays_lists_and_dicts() -> None:
    (array,) = to_tensors(np.arange(6).reshape(2, 3))
    assert (array.name, array.datatype, array.shape) == ("input-0", "INT64", (2, 3))
    (text,) = to_tensors(["a", "b"])
    assert (text.datatype, text.data.dtype) == ("BYTES", object)
    assert [t.name for t in to_tensors({"x": [1.0], "y": [[1, 2]]})] == ["x", "y"]
    (scalar,) = to_tensors(3.0)
    assert scalar.shape == (1,)
    (numbers,) = to_tensors(np.array([1, 2], dtype=object))
    assert numbers.datatype == "INT64"


def test_data_that_cannot_be_sent_is_refused() -> None:
    with pytest.raises(BerthError) as caught:
        to_tensors(pd.DataFrame({"s": ["a", None]}, dtype=object))
    assert caught.value.code is ErrorCode.INVALID_TENSOR
    with pytest.raises(BerthError) as caught:
        to_tensors(pd.DataFrame([[1, 2]], columns=["a", "a"]))
    assert caught.value.code is ErrorCode.INVALID_REQUEST
    with pytest.raises(BerthError) as caught:
        to_tensors(pd.DataFrame({"when": pd.to_datetime(["2024-01-01"])}))
    assert caught.value.code is ErrorCode.UNSUPPORTED_DATATYPE
    with pytest.raises(BerthError) as caught:
        to_tensors(pd.DataFrame({"flag": pd.array([True, None], dtype="boolean")}))
    assert caught.value.code is ErrorCode.INVALID_TENSOR


def tensor(name: str, data: object) -> Tensor:
    array = np.asarray(data)
    return Tensor(name, "FP64", array.shape, array)


def test_outputs_to_frame() -> None:
    result = outputs_to_frame(
        [tensor("label", [1, 0]), tensor("p", [[0.2, 0.8], [0.9, 0.1]]), tensor("r", [[1.5], [2.5]])]
    )
    assert list(result.columns) == ["label", "p_0", "p_1", "r"]
    assert result["p_1"].tolist() == [0.8, 0.1]
    assert result["r"].tolist() == [1.5, 2.5]
    cube = outputs_to_frame([tensor("c", np.zeros((2, 1, 2)))])
    assert list(cube.columns) == ["c_0", "c_1"]
    with pytest.raises(BerthError) as caught:
        outputs_to_frame([tensor("a", [1, 2]), tensor("b", [1])])
    assert caught.value.code is ErrorCode.INVALID_TENSOR


def test_example_requests_keep_the_first_rows_and_decode() -> None:
    big = pd.concat([frame()] * 4, ignore_index=True)
    request = example_to_request(big)
    assert all(i["shape"] == [EXAMPLE_ROWS] for i in request["inputs"])
    score = next(i for i in request["inputs"] if i["name"] == "score")
    assert score["data"][1] == "NaN"
    decoded = decode_infer_request(orjson.dumps(request))
    assert [t.name for t in decoded.inputs] == list(big.columns)
    features = example_to_request(np.full((2, 3), 0.1, dtype=np.float32))
    assert features["inputs"][0]["data"] == [0.1] * 6
    assert example_to_request(["a"])["inputs"][0] == {
        "name": "input-0",
        "datatype": "BYTES",
        "shape": [1],
        "data": ["a"],
    }
