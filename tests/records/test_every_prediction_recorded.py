"""Every answered prediction, on every route and protocol, is recorded and has an id (issue 12, item 11).

The prediction routes are read from the app's own route table (every route declared
``requires(Action.PREDICT, ...)``) and the gRPC service (every method `RPC_ACTIONS` gives
`Action.PREDICT`); each must have a caller in `CALLERS`, so a prediction route added later fails
here until it is shown to record its answers with an id. Each caller answers through a real
``berth serve`` process: OIP JSON and binary on the fast path, to a model and to an endpoint,
TF-Serving JSON (row and column forms) on ``/v1``, gRPC ModelInfer to a model and to an endpoint.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import grpc
import httpx
import numpy as np
import pytest
from fastapi import FastAPI

import berth
from berth.core.access import Action
from berth.core.codecs.oip_binary import HEADER_LENGTH, encode_binary_infer_request
from berth.core.settings import Settings
from berth.core.tensors import InferenceRequest, Tensor
from berth.server.auth.permissions import api_routes, route_declaration, team_from_path
from berth.server.grpc.proto import berth_inference_pb2 as pb
from berth.server.grpc.proto import berth_inference_pb2_grpc as pb_grpc
from berth.server.grpc.service import RPC_ACTIONS
from berth.storage.journal import segments
from berth.storage.sql_records import SqlRecordStore
from berth.wiring.server import build_server, create_app
from tests.conftest import Trained
from tests.records.helpers import eventually
from tests.support.servers import free_port, server_process

ID_HEADER = "berth-prediction-id"
FAST_ENV = {
    "BERTH_JOURNAL_ROTATE_S": "0.3",
    "BERTH_INGEST_INTERVAL_S": "0.05",
    "BERTH_POLL_INTERVAL_S": "0.1",
}


@dataclass(frozen=True)
class Served:
    url: str
    grpc_address: str
    x: np.ndarray[Any, Any]


@dataclass(frozen=True)
class Answered:
    """One answered prediction: its id as the caller saw it, and the name it must be recorded under."""

    how: str
    prediction_id: str
    recorded_as: str


def _oip_json(served: Served, path: str, name: str) -> Answered:
    x = served.x[:2]
    body = {
        "inputs": [
            {"name": "input-0", "shape": list(x.shape), "datatype": "FP32", "data": x.ravel().tolist()}
        ]
    }
    answer = httpx.post(f"{served.url}{path}", json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    pid = answer.headers[ID_HEADER]
    assert answer.json()["id"] == pid  # in the body too: OIP has a place for it
    return Answered(f"OIP JSON {path}", pid, name)


def _oip_binary(served: Served, path: str, name: str) -> Answered:
    x = served.x[:2].astype(np.float32)
    body, header_length = encode_binary_infer_request(
        InferenceRequest([Tensor("input-0", "FP32", x.shape, x)])
    )
    answer = httpx.post(
        f"{served.url}{path}",
        content=body,
        headers={HEADER_LENGTH: str(header_length), "content-type": "application/octet-stream"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return Answered(f"OIP binary {path}", answer.headers[ID_HEADER], name)


def _v1(served: Served, path: str, name: str, body: dict[str, Any]) -> Answered:
    answer = httpx.post(f"{served.url}{path}", json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    return Answered(f"/v1 {path} {sorted(body)}", answer.headers[ID_HEADER], name)


def _v1_shapes(served: Served, path: str, name: str) -> list[Answered]:
    rows = served.x[:2].tolist()
    return [_v1(served, path, name, {"instances": rows}), _v1(served, path, name, {"inputs": rows})]


def _grpc(served: Served, name: str, version: str = "") -> Answered:
    x = served.x[:2]
    tensor = pb.ModelInferRequest.InferInputTensor(
        name="input-0",
        datatype="FP32",
        shape=list(x.shape),
        contents=pb.InferTensorContents(fp32_contents=x.ravel()),
    )
    with grpc.insecure_channel(served.grpc_address) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        response, call = stub.ModelInfer.with_call(
            pb.ModelInferRequest(model_name=name, model_version=version, inputs=[tensor]), timeout=30
        )
    trailing = dict(call.trailing_metadata() or ())
    assert trailing[ID_HEADER] == response.id != ""
    return Answered(f"gRPC ModelInfer {name}:{version}", response.id, name)


CALLERS: dict[str, Callable[[Served], list[Answered]]] = {
    "POST /v2/models/{name}/infer": lambda s: [
        _oip_json(s, "/v2/models/lr/infer", "lr"),
        _oip_binary(s, "/v2/models/lr/infer", "lr"),
        _oip_json(s, "/v2/models/ab/infer", "ab"),  # an endpoint
        _oip_binary(s, "/v2/models/ab/infer", "ab"),
    ],
    "POST /v2/models/{name}/versions/{ref}/infer": lambda s: [
        _oip_json(s, "/v2/models/lr/versions/1/infer", "lr"),
        _oip_binary(s, "/v2/models/lr/versions/production/infer", "lr"),
    ],
    "POST /v1/models/{name}:predict": lambda s: _v1_shapes(s, "/v1/models/lr:predict", "lr"),
    "POST /v1/models/{name}/versions/{ref}:predict": lambda s: _v1_shapes(
        s, "/v1/models/lr/versions/1:predict", "lr"
    ),
    "gRPC ModelInfer": lambda s: [_grpc(s, "lr"), _grpc(s, "lr", "1"), _grpc(s, "ab")],
}
"""How each prediction route is called, by its declaration in the route table or service."""


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    """The app exactly as a server builds it (not started)."""
    home: Path = tmp_path_factory.mktemp("prediction-routes") / "home"
    server = build_server(Settings(home=home, auth="tokens"))
    try:
        yield create_app(server)
    finally:
        assert server.security is not None
        server.security.close()
        server.workspace.close()


def prediction_routes(app: FastAPI) -> set[str]:
    """Every route and RPC that answers a prediction: what requires `Action.PREDICT` on a model or
    endpoint (the predictor role of a team also acknowledges its inbox: not a prediction)."""
    found = set()
    for path, route in api_routes(app):
        declared = route_declaration(route)
        if declared is not None and declared[0] is Action.PREDICT and declared[1] is not team_from_path:
            found |= {f"{method} {path}" for method in route.methods or ()}
    found |= {f"gRPC {method}" for method, action in RPC_ACTIONS.items() if action is Action.PREDICT}
    return found


def test_every_prediction_route_has_a_caller_here(app: FastAPI) -> None:
    """A prediction route added without a caller in `CALLERS` fails: show it records with an id."""
    assert prediction_routes(app) == set(CALLERS)
    service = pb.DESCRIPTOR.services_by_name["GRPCInferenceService"]
    assert {m.name for m in service.methods} <= set(RPC_ACTIONS)  # no unlisted (stream) method


@contextlib.contextmanager
def serving(home: Path, lr: Trained, env: dict[str, str]) -> Iterator[Served]:
    """A ``berth serve`` process with lr:1, 2 and 3 pushed, and endpoint ``ab`` splitting them
    (lr:3 shadows every request)."""
    berth.push(lr.model, name="lr", home=home, input_example=lr.x[:3], aliases=["production"])
    berth.push(lr.model, name="lr", home=home, input_example=lr.x[:3])
    berth.push(lr.model, name="lr", home=home, input_example=lr.x[:3])
    grpc_port = free_port()
    with server_process(home, "--grpc-port", str(grpc_port), env={**os.environ, **FAST_ENV, **env}) as url:
        created = httpx.post(
            f"{url}/api/v1/endpoints",
            json={
                "name": "ab",
                "targets": [{"target": "lr:1", "weight": 1}, {"target": "lr:2", "weight": 1}],
                "shadows": [{"target": "lr:3", "fraction": 1.0}],
            },
            timeout=30,
        )
        assert created.status_code == 201, created.text
        eventually(lambda: httpx.get(f"{url}/v2/models/ab/ready", timeout=5).status_code, lambda c: c != 404)
        yield Served(url, f"127.0.0.1:{grpc_port}", lr.x[:3])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, lr: Trained) -> Iterator[tuple[Served, SqlRecordStore]]:
    home = tmp_path_factory.mktemp("every-prediction") / "home"
    home.mkdir()
    store = SqlRecordStore(Settings(home=home).resolved_database_url)
    try:
        with serving(home, lr, {}) as server:
            yield server, store
    finally:
        store.close()


@pytest.fixture(scope="module")
def unrecorded(tmp_path_factory: pytest.TempPathFactory, lr: Trained) -> Iterator[tuple[Served, Path]]:
    """The same server with recording off (``BERTH_RECORD_PREDICTIONS=false``)."""
    home = tmp_path_factory.mktemp("recording-off") / "home"
    with serving(home, lr, {"BERTH_RECORD_PREDICTIONS": "false"}) as server:
        yield server, home


@pytest.mark.parametrize("route", sorted(CALLERS))
def test_every_answer_is_recorded_with_its_id(served: tuple[Served, SqlRecordStore], route: str) -> None:
    server, store = served
    answered = CALLERS[route](server)

    assert answered
    ids = [a.prediction_id for a in answered]
    assert len(set(ids)) == len(ids), "each answer has an id of its own"
    for answer in answered:
        records = eventually(partial(store.get, answer.prediction_id), bool, timeout_s=30)
        assert records, f"{answer.how}: answered {answer.prediction_id!r}, never recorded"
        [record] = [r.record for r in records if r.record.shadow_of is None]
        assert record.endpoint == answer.recorded_as, answer.how
        assert record.inputs["input-0"]["shape"][0] == 2, answer.how


@pytest.mark.parametrize("route", sorted(CALLERS))
def test_with_recording_off_every_route_answers_with_its_id_and_nothing_is_journaled(
    unrecorded: tuple[Served, Path], route: str
) -> None:
    server, home = unrecorded
    answered = CALLERS[route](server)

    assert answered
    ids = [a.prediction_id for a in answered]
    assert len(set(ids)) == len(ids), "each answer has an id of its own, recorded or not"
    journal = Settings(home=home).resolved_journal_dir
    assert not journal.exists() or segments(journal) == []
    listed = httpx.get(f"{server.url}/api/v1/records", timeout=30)
    assert listed.status_code == 200, listed.text
    assert listed.json()["records"] == []
    ready = httpx.get(f"{server.url}/v2/health/ready", timeout=30)
    assert ready.status_code == 200, ready.text  # no monitor process to wait for
