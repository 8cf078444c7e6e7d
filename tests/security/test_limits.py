"""Limits: per-principal rate limits (429 with Retry-After; RESOURCE_EXHAUSTED on gRPC), the tensor
element count, and the prediction timeout.

The rate is one request per 100 s, so no bucket refills while a test runs however slow the machine:
which request is refused does not depend on timing. The refill at the rate and the long-run rate are
checked on a clock the test moves (`test_rate_limiter.py`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
import numpy as np
import pytest

import berth
from berth.core.settings import Settings
from berth.server.grpc.proto import berth_inference_pb2 as pb
from berth.server.grpc.proto import berth_inference_pb2_grpc as pb_grpc
from berth.storage.security_store import SqlSecurityStore
from tests.conftest import Trained
from tests.serving.model_gate import GATE_OPEN
from tests.serving.slow_model import GatedModel
from tests.support.servers import free_port, server_in_thread

RATE = 0.01
BURST = 5
TIMEOUT_S = 5.0
"""Ample for `lr` on a loaded machine; `slow` is held at its gate until the test opens it."""


@dataclass(frozen=True)
class Limited:
    url: str
    grpc_address: str
    tokens: dict[str, str]


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory, lr: Trained) -> Iterator[Limited]:
    home: Path = tmp_path_factory.mktemp("limits") / "home"
    berth.push(lr.model, name="lr", home=home, input_example=lr.x[:2])
    berth.push(GatedModel(), name="slow", home=home, input_example=np.zeros((1, 3)), trust_pickle=True)
    store = SqlSecurityStore(Settings(home=home).resolved_database_url)
    try:
        tokens = {who: store.create_token(who, admin=True).secret for who in ("ann", "ben", "cid")}
    finally:
        store.close()
    grpc_port = free_port()
    settings = Settings(
        home=home,
        auth="tokens",
        grpc_port=grpc_port,
        rate_limit_rps=RATE,
        rate_limit_burst=BURST,
        max_tensor_elements=100,
        request_timeout_s=TIMEOUT_S,
    )
    with server_in_thread(settings) as url:
        yield Limited(url, f"127.0.0.1:{grpc_port}", tokens)


def _body(rows: int, columns: int = 20) -> dict[str, object]:
    return {
        "inputs": [
            {"name": "input-0", "shape": [rows, columns], "datatype": "FP32", "data": [0.5] * rows * columns}
        ]
    }


def test_rate_limit_per_principal(limited: Limited) -> None:
    with httpx.Client(base_url=limited.url, timeout=10) as http:
        ann = {"authorization": f"Bearer {limited.tokens['ann']}"}
        statuses = [http.get("/v2", headers=ann).status_code for _ in range(BURST + 2)]
        assert statuses == [200] * BURST + [429] * 2  # the burst, then nothing until a token is back
        refused = http.post("/v2/models/lr/infer", headers=ann, json=_body(1))
        assert refused.status_code == 429
        assert refused.json()["code"] == "rate_limited"
        assert 1 / RATE - 10 <= int(refused.headers["retry-after"]) <= 1 / RATE  # a token every 100 s
        # another principal has its own bucket
        ben = {"authorization": f"Bearer {limited.tokens['ben']}"}
        assert http.post("/v2/models/lr/infer", headers=ben, json=_body(1)).status_code == 200


def test_rate_limit_on_grpc(limited: Limited) -> None:
    metadata = (("authorization", f"Bearer {limited.tokens['cid']}"),)
    codes = []
    with grpc.insecure_channel(limited.grpc_address) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        for _ in range(BURST + 2):
            try:
                stub.ServerMetadata(pb.ServerMetadataRequest(), metadata=metadata, timeout=10)
                codes.append(grpc.StatusCode.OK)
            except grpc.RpcError as error:
                codes.append(error.code())
                if error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED:
                    trailing = dict(error.trailing_metadata() or ())
                    assert trailing["berth-error-code"] == "rate_limited"
                    assert 1 / RATE - 10 <= int(trailing["retry-after"]) <= 1 / RATE
    assert codes == [grpc.StatusCode.OK] * BURST + [grpc.StatusCode.RESOURCE_EXHAUSTED] * 2


def test_tensor_element_limit_and_prediction_timeout(limited: Limited) -> None:
    ben = {"authorization": f"Bearer {limited.tokens['ben']}"}
    with httpx.Client(base_url=limited.url, timeout=30, headers=ben) as http:
        assert http.post("/v2/models/lr/infer", json=_body(5)).status_code == 200  # 100 elements: the limit
        too_many = http.post("/v2/models/lr/infer", json=_body(6))
        assert (too_many.status_code, too_many.json()["code"]) == (413, "payload_too_large")
        assert "120 input elements" in too_many.json()["error"]
        GATE_OPEN.clear()
        try:
            slow = http.post("/v2/models/slow/infer", json=_body(1, 3))
        finally:
            GATE_OPEN.set()
        assert (slow.status_code, slow.json()["code"]) == (504, "request_timeout")
