"""The REST API fuzzed from its own OpenAPI document (schemathesis against the in-process ASGI
app, with its lifespan running): no operation ever answers a server error, and the answers
conform to the document. Then random JSON and random OIP-shaped bodies against a real server:
always a 2xx or a 4xx ``{"error", "code"}``, and the server keeps serving.

Every operation is driven by a programmatic Hypothesis loop over `APIOperation.as_strategy`
(valid and invalid data, random model names and the served ones): schemathesis' lazy pytest
integration (`from_fixture`) does not work with pytest 9.2 (it sets `Function._nodeid`).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

import berth
from berth.core.codecs.arrow_tables import ARROW_STREAM_TYPE, PARQUET_TYPE
from berth.core.settings import Settings
from berth.wiring.server import build_server, create_asgi
from tests.conftest import Trained
from tests.e2e.helpers import tensor_request
from tests.support.servers import server_in_thread

MAX_EXAMPLES = 25
CHECKS = [not_a_server_error, content_type_conformance, response_schema_conformance]
FUZZ = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)

# bulk bodies (Arrow IPC, Parquet) are bytes, sent as schemathesis sends any binary body
schemathesis.serializer.alias([ARROW_STREAM_TYPE, PARQUET_TYPE], "application/octet-stream")


# A shard's own server: one worker may run two shards, and an app's lifespan starts only once.
@pytest.fixture(scope="class")
def api_schema(
    tmp_path_factory: pytest.TempPathFactory, lr: Trained, frame_pipeline: Trained
) -> Iterator[Any]:
    home: Path = tmp_path_factory.mktemp("fuzz") / "home"
    berth.push(lr.model, name="lr", home=home, input_example=lr.x[:3])
    berth.push(lr.model, name="lr", home=home, input_example=lr.x[:3], aliases=["production"])
    berth.push(frame_pipeline.model, name="churn", home=home, input_example=frame_pipeline.x.head(3))
    server_settings = Settings(
        home=home, poll_interval_s=0.1, max_body_bytes=100_000, max_upload_bytes=100_000
    )
    app = create_asgi(build_server(server_settings))  # what a server runs: auth layer included
    loaded = schemathesis.openapi.from_asgi("/openapi.json", app)  # starts the app's lifespan
    try:
        yield loaded
    finally:
        asgi.shutdown_lifespans()  # stops the reconciler, the thread pools and the registry


def _fuzz(operation: Any, mode: GenerationMode, path_parameters: dict[str, Any] | None) -> str | None:
    """Run one operation's examples; the failure report, or None when every check passed."""

    @FUZZ
    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
    def run(case: Any) -> None:
        case.call_and_validate(checks=CHECKS)

    try:
        run()
    except FailureGroup as failures:
        return str(failures)
    except Unsatisfiable:
        if mode is GenerationMode.POSITIVE:
            raise
        # an operation without parameters or body has no invalid request to generate
    return None


SHARDS = 4
"""The operations are fuzzed in this many shards, each a class: under ``--dist loadscope`` (`make
unit`) each class runs on a worker of its own (with its own in-process server), so the longest
file of the suite no longer sets its length."""


class _FuzzShard:
    shard: int

    @pytest.mark.timeout(1500)  # valid and invalid data for every operation of a shard: minutes on 2 cores
    def test_no_server_errors_and_conforming_answers(self, api_schema: Any) -> None:
        failures: dict[str, str] = {}
        operations = [result.ok() for result in api_schema.get_all_operations()]
        assert len(operations) > 10
        for operation in operations[self.shard :: SHARDS]:
            runs: list[tuple[GenerationMode, dict[str, Any] | None]] = [
                (GenerationMode.POSITIVE, None),
                (GenerationMode.NEGATIVE, None),
            ]
            if "{name}" in operation.path:  # valid data for a served model reaches past the 404
                runs.append((GenerationMode.POSITIVE, {"name": "lr"}))
            for mode, path_parameters in runs:
                report = _fuzz(operation, mode, path_parameters)
                if report is not None:
                    failures[f"{operation.label} {mode.value} {path_parameters or ''}"] = report
        assert not failures, "\n\n".join(f"== {label}\n{report}" for label, report in failures.items())


class TestOperationsShard0(_FuzzShard):
    shard = 0


class TestOperationsShard1(_FuzzShard):
    shard = 1


class TestOperationsShard2(_FuzzShard):
    shard = 2


class TestOperationsShard3(_FuzzShard):
    shard = 3


# -- random bodies against a real server ----------------------------------------------------------
DATATYPES = [
    "BOOL",
    "UINT8",
    "UINT64",
    "INT8",
    "INT32",
    "INT64",
    "FP16",
    "FP32",
    "FP64",
    "BYTES",
    "fp32",
    "X",
]
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
TENSORS = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["input-0", "plan", "age", "spend", "x", ""]),
        "shape": st.lists(st.integers(min_value=-2, max_value=25), max_size=3) | JSON_VALUES,
        "datatype": st.sampled_from(DATATYPES) | JSON_VALUES,
        "data": st.lists(SCALARS | st.lists(SCALARS, max_size=3), max_size=25) | JSON_VALUES,
    },
    optional={"parameters": JSON_VALUES},
)
OIP_BODIES = st.fixed_dictionaries(
    {"inputs": st.lists(TENSORS, min_size=0, max_size=3)},
    optional={
        "id": JSON_VALUES,
        "outputs": st.lists(
            st.fixed_dictionaries({"name": st.sampled_from(["predict", "predict_proba", "x"])})
        ),
        "parameters": JSON_VALUES,
    },
)
BODIES = (
    OIP_BODIES.map(lambda body: json.dumps(body).encode())
    | JSON_VALUES.map(lambda value: json.dumps(value).encode())
    | st.binary(max_size=64)
)
PATHS = [
    "/v2/models/lr/infer",
    "/v2/models/lr/versions/1/infer",
    "/v2/models/churn/infer",
    "/v1/models/lr:predict",
    "/v1/models/churn:predict",
]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, lr: Trained, frame_pipeline: Trained) -> Iterator[str]:
    home: Path = tmp_path_factory.mktemp("random-bodies") / "home"
    berth.push(lr.model, name="lr", home=home, input_example=lr.x[:3])
    berth.push(frame_pipeline.model, name="churn", home=home, input_example=frame_pipeline.x.head(3))
    with server_in_thread(Settings(home=home, poll_interval_s=0.1, max_body_bytes=100_000)) as url:
        yield url


@pytest.fixture(scope="module")
def client(served: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served, timeout=30) as opened:
        yield opened


@settings(max_examples=300, derandomize=True, deadline=None, database=None)
@given(path=st.sampled_from(PATHS), body=BODIES)
def test_random_bodies_get_an_answer_never_a_server_error(
    client: httpx.Client, path: str, body: bytes
) -> None:
    response = client.post(path, content=body, headers={"content-type": "application/json"})

    assert response.status_code == 200 or 400 <= response.status_code < 500, response.text
    if response.status_code != 200:
        error = response.json()
        assert isinstance(error["error"], str), error
        assert isinstance(error["code"], str), error


def _bulk(table: pa.Table, parquet: bool) -> bytes:
    sink = io.BytesIO()
    if parquet:
        pq.write_table(table, sink)
    else:
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
    return sink.getvalue()


_FEATURES = pa.table({f"f{j}": np.linspace(-1, 1, 4, dtype=np.float32) for j in range(20)})
_CHURN = pa.table({"plan": ["basic", "pro"], "age": pa.array([30, 40]), "spend": [1.5, 2.5]})
BULK_SEEDS = [_bulk(t, parquet) for t in (_FEATURES, _CHURN) for parquet in (False, True)]
DAMAGED = st.builds(
    lambda seed, flips, cut: bytes(
        _flipped(bytearray(seed), flips)[: cut % (len(seed) + 1) if cut is not None else None]
    ),
    st.sampled_from(BULK_SEEDS),
    st.lists(st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255)), max_size=6),
    st.none() | st.integers(min_value=0),
)


def _flipped(body: bytearray, flips: list[tuple[int, int]]) -> bytearray:
    for position, value in flips:
        body[position % len(body)] = value
    return body


@settings(max_examples=200, derandomize=True, deadline=None, database=None)
@given(
    path=st.sampled_from(PATHS[:3]),
    body=DAMAGED | st.binary(max_size=256),
    media=st.sampled_from([ARROW_STREAM_TYPE, PARQUET_TYPE]),
)
def test_random_bulk_bodies_get_an_answer_never_a_server_error(
    client: httpx.Client, path: str, body: bytes, media: str
) -> None:
    response = client.post(path, content=body, headers={"content-type": media})

    assert response.status_code == 200 or 400 <= response.status_code < 500, response.text
    if response.status_code != 200:
        assert isinstance(response.json()["code"], str), response.text


def test_server_alive_after_random_bodies(client: httpx.Client, lr: Trained) -> None:
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").status_code == 200
    answer = client.post("/v2/models/lr/infer", json=tensor_request(lr.x[:2]))
    assert answer.status_code == 200, answer.text
    assert answer.json()["outputs"][0]["data"] == lr.model.predict(lr.x[:2]).tolist()
