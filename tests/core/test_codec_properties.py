"""Properties of the codecs: decoders never fail with anything but BerthError, and round trips hold."""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import orjson
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from berth.core.codecs.model_io import to_model_input
from berth.core.codecs.oip_json import (
    decode_infer_request,
    decode_infer_response,
    encode_infer_request,
    encode_infer_response,
)
from berth.core.codecs.v1_json import decode_v1_request
from berth.core.datatypes import DATATYPES
from berth.core.errors import BerthError
from berth.core.numpy_types import OIP_TO_NUMPY
from berth.core.signature import InputLayout, Signature, TensorSpec
from berth.core.tensors import InferenceRequest, InferenceResponse, RequestedOutput, Tensor

SLOW = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

ANY_SIGNATURES = [
    Signature(inputs=(TensorSpec("x", "FP32", (-1, 2)),), outputs=()),
    Signature(
        inputs=(TensorSpec("a", "INT64", (-1,)), TensorSpec("b", "BYTES", (-1,))),
        outputs=(),
        layout=InputLayout.COLUMNS,
    ),
    Signature(
        inputs=(TensorSpec("a", "BOOL", (-1, 2)), TensorSpec("b", "UINT8", (-1,))),
        outputs=(),
        layout=InputLayout.TENSORS,
    ),
]

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
    | st.sampled_from(["NaN", "Infinity", "-Infinity"])
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=30,
)


def only_berth_errors(body: bytes) -> None:
    """Every decoder answers a value or a BerthError, never another exception."""
    for decode in (decode_infer_request, decode_infer_response):
        with contextlib.suppress(BerthError):
            decode(body)
    for signature in ANY_SIGNATURES:
        with contextlib.suppress(BerthError):
            to_model_input(decode_v1_request(body, signature).inputs, signature)


@SLOW
@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_berth_errors(body: bytes) -> None:
    only_berth_errors(body)


@SLOW
@given(json_values)
def test_arbitrary_json_raises_only_berth_errors(value: Any) -> None:
    only_berth_errors(orjson.dumps(value))


def wrong_tensors() -> st.SearchStrategy[dict[str, Any]]:
    datatypes = st.sampled_from(sorted(DATATYPES)) | json_values
    shapes = st.lists(st.integers(min_value=-2, max_value=4), max_size=4) | json_values
    regular = st.builds(
        lambda dtype, shape, fill: np.full(shape, fill).tolist(),
        st.sampled_from([np.float64, np.int64, np.bool_]),
        st.lists(st.integers(min_value=0, max_value=3), max_size=3).map(tuple),
        st.integers(min_value=0, max_value=1),
    )
    fields = {
        "name": st.sampled_from(["x", "a", "b", ""]) | json_values,
        "shape": shapes,
        "datatype": datatypes,
        "data": st.lists(json_scalars, max_size=8) | regular | json_values,
        "parameters": st.none() | st.just({"content_type": "base64"}) | json_values,
    }
    return st.fixed_dictionaries({}, optional=fields)


wrong_requests = st.fixed_dictionaries(
    {"inputs": st.lists(wrong_tensors(), max_size=3)},
    optional={
        "id": json_values,
        "parameters": json_values,
        "outputs": st.lists(st.fixed_dictionaries({"name": json_values}), max_size=2) | json_values,
        "model_name": st.just("m") | json_values,
        "model_version": json_values,
    },
)


@SLOW
@given(wrong_requests)
def test_structured_but_wrong_requests_raise_only_berth_errors(doc: dict[str, Any]) -> None:
    only_berth_errors(orjson.dumps(doc))
    only_berth_errors(orjson.dumps({**doc, "outputs": doc["inputs"], "model_name": "m"}))


# -- round trips ----------------------------------------------------------------------------------

shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)


@st.composite
def tensors(draw: st.DrawFn, name: str = "t") -> Tensor:
    datatype = draw(st.sampled_from(sorted(DATATYPES)))
    shape = draw(shapes)
    if datatype == "BYTES":
        values = draw(
            st.lists(st.text(max_size=5), min_size=int(np.prod(shape)), max_size=int(np.prod(shape)))
        )
        data = np.array(values, dtype=object).reshape(shape)
    else:
        data = draw(hnp.arrays(OIP_TO_NUMPY[datatype], shape))
    return Tensor(name, datatype, shape, data)


def same_tensor(got: Tensor, want: Tensor) -> None:
    assert (got.name, got.datatype, got.shape) == (want.name, want.datatype, want.shape)
    assert got.data.dtype == want.data.dtype
    if want.datatype == "BYTES":
        assert got.data.tolist() == want.data.tolist()
    else:
        np.testing.assert_array_equal(got.data, want.data)  # NaN == NaN here


@SLOW
@given(st.lists(tensors(), min_size=1, max_size=3), st.none() | st.text(max_size=5))
def test_requests_round_trip(inputs: list[Tensor], request_id: str | None) -> None:
    inputs = [Tensor(f"in{i}", t.datatype, t.shape, t.data) for i, t in enumerate(inputs)]
    request = InferenceRequest(inputs, id=request_id, outputs=[RequestedOutput("y")], parameters={"p": 1})
    back = decode_infer_request(encode_infer_request(request))
    for got, want in zip(back.inputs, inputs, strict=True):
        same_tensor(got, want)
    assert (back.id, back.outputs, back.parameters) == (request.id, request.outputs, request.parameters)


@SLOW
@given(st.lists(tensors(), max_size=3))
def test_responses_round_trip(outputs: list[Tensor]) -> None:
    outputs = [Tensor(f"out{i}", t.datatype, t.shape, t.data) for i, t in enumerate(outputs)]
    back = decode_infer_response(encode_infer_response(InferenceResponse("m", "2", outputs, id="r")))
    assert (back.model_name, back.model_version, back.id) == ("m", "2", "r")
    for got, want in zip(back.outputs, outputs, strict=True):
        same_tensor(got, want)


@SLOW
@given(
    st.sampled_from(sorted(DATATYPES - {"BYTES"})),
    st.integers(min_value=1, max_value=5),
    st.integers(min_value=1, max_value=4),
    st.booleans(),
    st.data(),
)
def test_valid_requests_reach_the_model_unchanged(
    datatype: str, rows: int, width: int, nested: bool, draw: st.DataObject
) -> None:
    data = draw.draw(
        hnp.arrays(
            OIP_TO_NUMPY[datatype],
            (rows, width),
            elements={"allow_nan": False, "allow_infinity": False} if datatype.startswith("FP") else None,
        )
    )
    values = data.tolist() if nested else data.reshape(-1).tolist()
    body = orjson.dumps(
        {"inputs": [{"name": "x", "datatype": datatype, "shape": [rows, width], "data": values}]}
    )
    signature = Signature(inputs=(TensorSpec("x", datatype, (-1, width)),), outputs=())
    received = to_model_input(decode_infer_request(body).inputs, signature)
    assert isinstance(received, np.ndarray)
    assert received.dtype == data.dtype
    np.testing.assert_array_equal(received, data)


TABLE = Signature(
    inputs=(
        TensorSpec("age", "INT64", (-1,)),
        TensorSpec("city", "BYTES", (-1,)),
        TensorSpec("score", "FP64", (-1,), allow_nan=True),
    ),
    outputs=(),
    layout=InputLayout.COLUMNS,
)
table_rows = st.lists(
    st.tuples(
        st.integers(min_value=-(2**63), max_value=2**63 - 1),
        st.text(max_size=6),
        st.floats(allow_infinity=False) | st.none(),
    ),
    min_size=1,
    max_size=6,
)


@SLOW
@given(table_rows)
def test_v1_table_formats_equal_the_oip_request(rows: list[tuple[int, str, float | None]]) -> None:
    columns = {name: [row[i] for row in rows] for i, name in enumerate(["age", "city", "score"])}
    oip = {
        "inputs": [
            {"name": "age", "datatype": "INT64", "shape": [len(rows)], "data": columns["age"]},
            {"name": "city", "datatype": "BYTES", "shape": [len(rows)], "data": columns["city"]},
            {"name": "score", "datatype": "FP64", "shape": [len(rows)], "data": columns["score"]},
        ]
    }
    want = to_model_input(decode_infer_request(orjson.dumps(oip)).inputs, TABLE)
    records = [dict(zip(["age", "city", "score"], row, strict=True)) for row in rows]
    bodies = [
        {"instances": records},
        {"instances": [list(row) for row in rows]},
        {"inputs": columns},
        {"dataframe_split": {"columns": ["age", "city", "score"], "data": [list(row) for row in rows]}},
        {
            "dataframe_split": {
                "columns": ["score", "age", "city"],
                "data": [[r[2], r[0], r[1]] for r in rows],
            }
        },
        {"dataframe_records": records},
    ]
    for doc in bodies:
        got = to_model_input(decode_v1_request(orjson.dumps(doc), TABLE).inputs, TABLE)
        assert isinstance(got, pd.DataFrame)
        pd.testing.assert_frame_equal(got, want)  # type: ignore[arg-type]


@SLOW
@given(
    hnp.arrays(
        np.float32,
        hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=5),
        elements={"allow_nan": False, "allow_infinity": False},
    )
)
def test_v1_tensor_formats_equal_the_oip_request(data: np.ndarray) -> None:
    signature = Signature(inputs=(TensorSpec("x", "FP32", (-1, data.shape[1])),), outputs=())
    rows = data.tolist()
    oip = {"inputs": [{"name": "x", "datatype": "FP32", "shape": list(data.shape), "data": rows}]}
    want = decode_infer_request(orjson.dumps(oip)).inputs
    for doc in (
        {"instances": rows},
        {"instances": [{"x": r} for r in rows]},
        {"inputs": rows},
        {"inputs": {"x": rows}},
        {"dataframe_split": {"data": rows}},
        {"dataframe_records": [{f"c{j}": v for j, v in enumerate(r)} for r in rows]},
    ):
        got = decode_v1_request(orjson.dumps(doc), signature).inputs
        assert len(got) == 1
        same_tensor(got[0], want[0])
        np.testing.assert_array_equal(to_model_input(got, signature), data)
