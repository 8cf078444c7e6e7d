"""Bulk bodies (Arrow IPC streams, Parquet) <-> tensors: column mapping, refusals, and garbage
that never fails with anything but a 4xx `BerthError`."""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from berth.core.codecs import arrow_tables
from berth.core.codecs.arrow_tables import (
    decode_arrow_stream,
    decode_parquet,
    encode_arrow_stream,
    read_arrow_answer,
)
from berth.core.errors import BerthError, ErrorCode
from berth.core.signature import InputLayout, Signature, TensorSpec
from berth.core.tensors import Tensor
from tests.support.arrow_bodies import arrow_body, feature_columns, parquet_body

SLOW = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FEATURES = Signature(inputs=(TensorSpec("input-0", "FP32", (-1, 3)),), outputs=())
COLUMNS = Signature(
    inputs=(TensorSpec("plan", "BYTES", (-1,)), TensorSpec("age", "INT64", (-1,))),
    outputs=(),
    layout=InputLayout.COLUMNS,
)
LIMIT = 1_000_000
CLIENT_ERRORS = {
    ErrorCode.INVALID_REQUEST,
    ErrorCode.INVALID_TENSOR,
    ErrorCode.UNSUPPORTED_DATATYPE,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    ErrorCode.SIGNATURE_MISMATCH,
    ErrorCode.PAYLOAD_TOO_LARGE,
    ErrorCode.TOO_MANY_TENSORS,
}


X = np.arange(12, dtype=np.float32).reshape(4, 3)


def test_feature_columns_in_order_make_the_one_input() -> None:
    [tensor] = decode_arrow_stream(arrow_body(feature_columns(X)), FEATURES, max_elements=LIMIT)
    assert tensor.name == "input-0"
    assert tensor.datatype == "FP32"
    np.testing.assert_array_equal(tensor.data, X)


def test_a_fixed_size_list_column_is_the_one_input() -> None:
    table = pa.table({"anything": pa.FixedSizeListArray.from_arrays(pa.array(X.ravel()), 3)})
    [tensor] = decode_arrow_stream(arrow_body(table), FEATURES, max_elements=LIMIT)
    np.testing.assert_array_equal(tensor.data, X)


def test_columns_by_name_in_any_order_and_from_parquet() -> None:
    table = pa.table({"age": pa.array([30, 40], pa.int64()), "plan": pa.array(["basic", "pro"])})
    for body in (arrow_body(table), parquet_body(table)):
        decode = decode_parquet if body.startswith(b"PAR1") else decode_arrow_stream
        kwargs = {"max_bytes": 10**6} if decode is decode_parquet else {}
        plan, age = decode(body, COLUMNS, max_elements=LIMIT, **kwargs)  # type: ignore[operator]
        assert (plan.name, plan.datatype, list(plan.data)) == ("plan", "BYTES", ["basic", "pro"])
        assert (age.name, age.datatype, age.data.tolist()) == ("age", "INT64", [30, 40])


def test_a_dictionary_encoded_parquet_string_column_is_decoded() -> None:
    table = pa.table({"plan": pa.array(["basic", "pro"] * 50), "age": pa.array(range(100), pa.int64())})
    plan, _ = decode_parquet(parquet_body(table), COLUMNS, max_elements=LIMIT, max_bytes=10**6)
    assert list(plan.data[:3]) == ["basic", "pro", "basic"]
    with pytest.raises(BerthError) as caught:
        decode_parquet(parquet_body(table), COLUMNS, max_elements=LIMIT, max_bytes=100)
    assert caught.value.code is ErrorCode.PAYLOAD_TOO_LARGE


@pytest.mark.parametrize(
    ("table", "code"),
    [
        (pa.table({"a": [1.0], "b": [2.0]}), ErrorCode.SIGNATURE_MISMATCH),  # 2 columns, 3 features
        (pa.table({"a": [1.0], "b": [2.0], "c": ["x"]}), ErrorCode.SIGNATURE_MISMATCH),  # text feature
        (pa.table({"a": [1.0], "b": [None], "c": [2.0]}), ErrorCode.UNSUPPORTED_DATATYPE),  # null type
        (
            pa.table(
                {
                    "a": [1.0],
                    "b": [
                        2.0,
                    ],
                    "c": pa.array(
                        [
                            3.0,
                        ]
                    ),
                }
            ).set_column(1, "b", pa.array([None], pa.float64())),
            ErrorCode.INVALID_TENSOR,
        ),  # a null value
        (pa.table({"a": [[1.0, 2.0]]}), ErrorCode.UNSUPPORTED_DATATYPE),  # a nested (variable) list
        (pa.table({"a": [{"x": 1}]}), ErrorCode.UNSUPPORTED_DATATYPE),  # a struct
        (pa.table({"a": pa.array(["x"]).dictionary_encode()}), ErrorCode.UNSUPPORTED_DATATYPE),
        (
            pa.table({"a": [1.0], "a ": [1.0], "b": [1.0]}).rename_columns(["a", "a", "b"]),
            ErrorCode.INVALID_REQUEST,
        ),  # duplicate names
    ],
)
def test_tables_that_do_not_fit_are_refused(table: pa.Table, code: ErrorCode) -> None:
    with pytest.raises(BerthError) as caught:
        decode_arrow_stream(arrow_body(table), FEATURES, max_elements=LIMIT)
    assert caught.value.code is code, caught.value


def test_names_that_are_not_the_signatures_are_a_mismatch() -> None:
    table = pa.table({"plan": ["basic"], "agee": pa.array([1], pa.int64())})
    with pytest.raises(BerthError) as caught:
        decode_arrow_stream(arrow_body(table), COLUMNS, max_elements=LIMIT)
    assert caught.value.code is ErrorCode.SIGNATURE_MISMATCH
    assert "agee" in caught.value.message


def test_compressed_ipc_buffers_are_refused_before_they_expand() -> None:
    body = arrow_body(feature_columns(np.zeros((1000, 3), np.float32)), compression="zstd")
    with pytest.raises(BerthError) as caught:
        decode_arrow_stream(body, FEATURES, max_elements=LIMIT)
    assert caught.value.code is ErrorCode.UNSUPPORTED_MEDIA_TYPE


def test_rows_past_the_element_limit_are_refused_before_conversion() -> None:
    body = arrow_body(feature_columns(np.zeros((100, 3), np.float32)))
    with pytest.raises(BerthError) as caught:
        decode_arrow_stream(body, FEATURES, max_elements=299)
    assert caught.value.code is ErrorCode.PAYLOAD_TOO_LARGE
    with pytest.raises(BerthError) as caught:
        decode_parquet(
            parquet_body(feature_columns(np.zeros((100, 3)))), FEATURES, max_elements=299, max_bytes=10**6
        )
    assert caught.value.code is ErrorCode.PAYLOAD_TOO_LARGE


def test_too_many_columns_or_batches_are_refused_before_per_column_work(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(arrow_tables, "MAX_COLUMNS", 4)
    monkeypatch.setattr(arrow_tables, "MAX_CHUNKS", 2)
    wide = feature_columns(np.zeros((2, 5), np.float32))
    three_batches = pa.concat_tables([feature_columns(X)] * 3)
    sink = io.BytesIO()
    pq.write_table(three_batches, sink, row_group_size=4)

    with pytest.raises(BerthError) as caught:
        decode_arrow_stream(arrow_body(wide), FEATURES, max_elements=LIMIT)
    assert caught.value.code is ErrorCode.TOO_MANY_TENSORS
    with pytest.raises(BerthError) as caught:
        decode_arrow_stream(arrow_body(three_batches), FEATURES, max_elements=LIMIT)
    assert caught.value.code is ErrorCode.INVALID_REQUEST
    with pytest.raises(BerthError) as caught:
        decode_parquet(sink.getvalue(), FEATURES, max_elements=LIMIT, max_bytes=10**6)
    assert caught.value.code is ErrorCode.INVALID_REQUEST
    [tensor] = decode_arrow_stream(
        arrow_body(pa.concat_tables([feature_columns(X)] * 2)), FEATURES, max_elements=LIMIT
    )
    assert tensor.shape == (8, 3)


def test_answers_round_trip_with_their_shapes_and_names() -> None:
    outputs = [
        Tensor("predict", "INT64", (4,), np.array([0, 1, 1, 0])),
        Tensor("predict_proba", "FP64", (4, 2), np.linspace(0, 1, 8).reshape(4, 2)),
        Tensor("label", "BYTES", (4,), np.array(["a", "b", "c", "d"], dtype=object)),
    ]
    back = read_arrow_answer(encode_arrow_stream(outputs))
    assert list(back) == ["predict", "predict_proba", "label"]
    for tensor in outputs:
        np.testing.assert_array_equal(back[tensor.name], tensor.data)
    schema = pa.ipc.open_stream(encode_arrow_stream(outputs)).schema
    assert schema.field("predict_proba").metadata[b"berth.datatype"] == b"FP64"


def refusal(body: bytes, signature: Signature, parquet_file: bool) -> ErrorCode | None:
    """The code a body is refused with (None: it decodes)."""
    try:
        if parquet_file:
            decode_parquet(body, signature, max_elements=LIMIT, max_bytes=10**6)
        else:
            decode_arrow_stream(body, signature, max_elements=LIMIT)
    except BerthError as exc:
        return exc.code
    return None


def only_client_errors(body: bytes) -> None:
    for signature in (FEATURES, COLUMNS):
        for parquet_file in (False, True):
            code = refusal(body, signature, parquet_file)
            assert code is None or code in CLIENT_ERRORS, code


@SLOW
@given(st.binary(max_size=512))
def test_garbage_is_a_client_error(body: bytes) -> None:
    only_client_errors(body)


VALID = [
    arrow_body(feature_columns(X)),
    arrow_body(pa.table({"plan": ["basic", "pro"], "age": pa.array([1, 2], pa.int64())})),
    parquet_body(feature_columns(X)),
    parquet_body(pa.table({"plan": ["basic", "pro"], "age": pa.array([1, 2], pa.int64())})),
]


@SLOW
@given(
    st.sampled_from(VALID),
    st.lists(st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255)), max_size=8),
    st.integers(min_value=0),
)
def test_damaged_and_truncated_bodies_are_client_errors(
    body: bytes, flips: list[tuple[int, int]], cut: int
) -> None:
    damaged = bytearray(body)
    for position, value in flips:
        damaged[position % len(damaged)] = value
    only_client_errors(bytes(damaged))
    only_client_errors(bytes(damaged[: cut % (len(damaged) + 1)]))
