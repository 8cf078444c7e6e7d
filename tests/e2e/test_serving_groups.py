"""Serving groups on many processes: an API role, a data-plane replica per group, and the gateway
that is the callers' one address, on one PostgreSQL registry and one artifact folder.

Each replica loads only its group's models and names the group of the others; the gateway sends
each request to a replica that has the model ready; a model moved to another group under load is
loaded there before it is let go here, so no request fails; a group without a replica is a clear 503.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import grpc
import httpx
import numpy as np
import pytest
import tritonclient.grpc as triton
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

import berth
from tests.e2e.helpers import infer, tensor_request, wait_for
from tests.support.postgres import fresh_postgres_database
from tests.support.servers import free_port, server_process

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

X, Y = make_classification(n_samples=200, n_features=4, n_informative=3, n_redundant=0, random_state=5)
X = X.astype(np.float32)
BODY = tensor_request(X[:3])


@dataclass(frozen=True)
class Platform:
    api: str
    default: str
    risk: str
    gateway: str
    gateway_grpc: str
    """host:port of the gateway's gRPC port."""
    env: dict[str, str]


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """One platform for the module (four processes take a while to start); each test its own models."""
    tmp_path = tmp_path_factory.mktemp("platform")
    with fresh_postgres_database() as database_url, contextlib.ExitStack() as stack:
        env = {
            "BERTH_DATABASE_URL": database_url,
            "BERTH_ARTIFACT_URI": (tmp_path / "artifacts").resolve().as_uri(),
            "BERTH_POLL_INTERVAL_S": "0.1",
            "BERTH_HEARTBEAT_INTERVAL_S": "0.2",
            "BERTH_REPLICA_TTL_S": "3",
        }

        def start(name: str, *args: str) -> str:
            home = tmp_path / name / "home"
            home.parent.mkdir()
            return stack.enter_context(server_process(home, *args, env=env))

        api = start("api", "--role", "api")
        default = start("default", "--role", "data", "--grpc-port", str(free_port()))
        risk = start("risk", "--role", "data", "--group", "risk", "--grpc-port", str(free_port()))
        gateway_grpc = free_port()
        gateway = start("gateway", "--role", "gateway", "--grpc-port", str(gateway_grpc))
        yield Platform(api, default, risk, gateway, f"127.0.0.1:{gateway_grpc}", env)


def _answers(url: str, name: str) -> bool:
    return infer(url, name, BODY).status_code == 200


def _assign(api: str, name: str, group: str) -> None:
    answer = httpx.put(f"{api}/api/v1/groups/assignments/{name}", json={"group": group, "reason": "test"})
    assert answer.status_code == 200, answer.text


def test_each_replica_serves_its_group_and_the_gateway_routes_by_group(platform: Platform) -> None:
    scorer = LogisticRegression().fit(X, Y)
    berth.push(scorer, name="churn", url=platform.api, input_example=X[:2])
    berth.push(scorer, name="fraud", url=platform.api, input_example=X[:2])
    _assign(platform.api, "fraud", "risk")

    wait_for("risk serves fraud", partial(_answers, platform.risk, "fraud"))
    wait_for("default serves churn", partial(_answers, platform.default, "churn"))
    elsewhere = infer(platform.default, "fraud", BODY)
    assert elsewhere.status_code == 404
    assert elsewhere.json()["code"] == "not_served_here"
    assert elsewhere.json()["details"]["group"] == "risk"
    assert infer(platform.risk, "churn", BODY).json()["code"] == "not_served_here"
    assert infer(platform.api, "churn", BODY).json()["code"] == "not_served_here"  # the API loads nothing

    for name in ("churn", "fraud"):
        wait_for(f"the gateway routes {name}", partial(_answers, platform.gateway, name))
        routed = infer(platform.gateway, name, BODY)
        assert routed.headers["berth-replica"] == (platform.risk if name == "fraud" else platform.default)
        answer = routed.json()
        assert answer["outputs"][0]["data"] == scorer.predict(X[:3]).tolist()
    missing = infer(platform.gateway, "no-such-model", BODY)
    assert (missing.status_code, missing.json()["code"]) == (404, "model_not_found")

    groups = httpx.get(f"{platform.api}/api/v1/groups").json()
    assert {(a["name"], a["group"]) for a in groups["assignments"]} >= {
        ("churn", "default"),
        ("fraud", "risk"),
    }
    assert {r["group"] for r in groups["replicas"]} == {"default", "risk"}
    audit = httpx.get(f"{platform.api}/api/v1/audit", params={"action": "group.", "resource_name": "fraud"})
    assert [(e["before"], e["after"]["group"]) for e in audit.json()] == [({"group": "default"}, "risk")]
    refused = httpx.put(f"{platform.api}/api/v1/groups/assignments/fraud", json={"group": "Not A Label"})
    assert (refused.status_code, refused.json()["code"]) == (400, "invalid_name")


def _grpc_answers(target: str, name: str) -> bool:
    try:
        _grpc_infer(target, name)
    except triton.InferenceServerException:
        return False
    return True


def _grpc_infer(target: str, name: str) -> list[int]:
    """A prediction of `name` through Triton's own gRPC client."""
    client = triton.InferenceServerClient(url=target)
    try:
        tensor = triton.InferInput("input-0", list(X[:3].shape), "FP32")
        tensor.set_data_from_numpy(X[:3])
        answer = client.infer(name, [tensor])
        labels = answer.as_numpy(answer.get_response().outputs[0].name)
    finally:
        client.close()
    assert labels is not None
    return list(labels.tolist())


def test_grpc_callers_use_the_gateway_too(platform: Platform) -> None:
    scorer = LogisticRegression().fit(X, Y)
    berth.push(scorer, name="fraud-grpc", url=platform.api, input_example=X[:2])
    _assign(platform.api, "fraud-grpc", "risk")
    wait_for("the gateway routes fraud-grpc", partial(_answers, platform.gateway, "fraud-grpc"))
    wait_for("risk serves fraud-grpc", partial(_answers, platform.risk, "fraud-grpc"))
    wait_for(  # the handover is over: only risk answers for it now
        "default lets fraud-grpc go",
        lambda: infer(platform.default, "fraud-grpc", BODY).status_code == 404,
    )

    # the gateway learns that default let it go from default's next heartbeat; until then a call
    # may find no replica of the group it last knew (UNAVAILABLE): wait for that view, as for REST
    wait_for("gRPC routes fraud-grpc", partial(_grpc_answers, platform.gateway_grpc, "fraud-grpc"))
    assert _grpc_infer(platform.gateway_grpc, "fraud-grpc") == scorer.predict(X[:3]).tolist()

    client = triton.InferenceServerClient(url=platform.gateway_grpc)
    try:
        assert client.is_server_live()
        assert client.is_server_ready()
        assert client.is_model_ready("fraud-grpc")
        assert client.get_model_metadata("fraud-grpc").name == "fraud-grpc"
        indexed = {m.name for m in client.get_model_repository_index().models}
        assert "fraud-grpc" in indexed
        with pytest.raises(triton.InferenceServerException) as missing:
            client.is_model_ready("no-such-model")
        assert missing.value.status() == "StatusCode.NOT_FOUND"
    finally:
        client.close()

    with grpc.insecure_channel(platform.gateway_grpc) as channel:  # the answer names its replica
        ready = channel.unary_unary("/inference.GRPCInferenceService/ModelReady")
        request = triton.service_pb2.ModelReadyRequest(name="fraud-grpc").SerializeToString()
        _, call = ready.with_call(request)
        assert dict(call.trailing_metadata())["berth-replica"] == platform.risk


def test_a_model_moved_under_load_fails_no_request(platform: Platform) -> None:
    berth.push(LogisticRegression().fit(X, Y), name="mover", url=platform.api, input_example=X[:2])
    wait_for("the gateway routes mover", partial(_answers, platform.gateway, "mover"))
    failures: list[str] = []
    answered = 0
    stop = threading.Event()

    def load() -> None:
        nonlocal answered
        with httpx.Client(base_url=platform.gateway, timeout=30) as client:
            while not stop.is_set():
                response = client.post("/v2/models/mover/infer", json=BODY)
                if response.status_code == 200:
                    answered += 1
                else:
                    failures.append(response.text)

    threads = [threading.Thread(target=load) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        wait_for("requests flow", lambda: answered > 20)
        _assign(platform.api, "mover", "risk")
        wait_for("risk serves mover", partial(_answers, platform.risk, "mover"))
        wait_for(
            "default lets mover go",
            lambda: infer(platform.default, "mover", BODY).status_code == 404,
        )
        before = answered
        wait_for("requests still flow", lambda: answered > before + 20)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert failures == []


def test_a_model_whose_groups_last_replica_stopped_is_a_clear_503(platform: Platform, tmp_path: Path) -> None:
    berth.push(LogisticRegression().fit(X, Y), name="orphan", url=platform.api, input_example=X[:2])
    wait_for("the gateway routes orphan", partial(_answers, platform.gateway, "orphan"))
    home = tmp_path / "temp" / "home"
    home.parent.mkdir()
    with server_process(home, "--role", "data", "--group", "temp", env=platform.env) as temp:
        _assign(platform.api, "orphan", "temp")
        wait_for("temp serves orphan", partial(_answers, temp, "orphan"))
        wait_for("default lets orphan go", lambda: infer(platform.default, "orphan", BODY).status_code == 404)
        assert _answers(platform.gateway, "orphan")

    answer = wait_for(
        "the gateway gives up on orphan",
        lambda: (r := infer(platform.gateway, "orphan", BODY)).status_code == 503 and r,
    )

    assert answer.json()["code"] == "no_serving_replica"
    assert answer.json()["details"]["group"] == "temp"
