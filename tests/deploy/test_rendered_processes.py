"""The production overlay's processes, run as the manifests start them: each role's command line and
environment as rendered by ``kubectl kustomize`` (ConfigMap, Secrets, ``$(VAR)`` expansion), on this
machine's PostgreSQL and a real S3 API server instead of the placeholders, and docs/deploy.md steps
6 to 10 against them: the roles refuse the database until the migration Job has run, every probe
answers on its port and path, the first admin token is made as the guide makes it, a model pushed
through the gateway and assigned to `risk` is answered by the risk replica, over REST and over gRPC,
and its record reaches the record store through NATS JetStream and the monitor.

What is changed, and only that: the database URL, the S3 bucket, endpoint and credentials (the
placeholders'), the NATS address of BERTH_RECORD_SINK (this machine's JetStream, a fresh stream),
each process's ports (free ones, on 127.0.0.1, since the pods' 8080 would collide here), the home
folder (a temporary one for the pod's emptyDir), the pod's IP (127.0.0.1) and the API's Service
address in the gateway's BERTH_API_URL.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx
import pytest
import tritonclient.grpc as triton
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import berth
from tests.deploy.kubernetes import (
    KUBERNETES,
    Workload,
    command_line,
    container_environment,
    kubectl,
    render,
    workloads,
)
from tests.support.nats import stream_uri
from tests.support.postgres import fresh_postgres_database
from tests.support.process_group import log_tail
from tests.support.s3 import CREDENTIALS, S3Server
from tests.support.servers import berth_executable, free_port

pytestmark = [pytest.mark.postgres, pytest.mark.s3, pytest.mark.nats, pytest.mark.slow]

START_TIMEOUT_S: Final = 180.0  # a loaded 2-core machine imports the runtime slowly
ROLES: Final = (
    "berth-api",
    "berth-data-default",
    "berth-data-risk",
    "berth-gateway",
    "berth-worker",
    "berth-monitor",
)


@dataclass
class Role:
    name: str
    argv: list[str]
    env: dict[str, str]
    probes: dict[str, str]
    """kind (startup, liveness, readiness) -> URL, on this process's port."""
    url: str
    grpc: str | None
    """host:port of its gRPC port, when it serves one."""
    process: subprocess.Popen[bytes] | None = None


def _replace(argv: list[str], option: str, value: str) -> None:
    if option in argv:
        argv[argv.index(option) + 1] = value


def _role(
    objects: list[dict[str, Any]],
    workload: Workload,
    home: Path,
    database_url: str,
    bucket: str,
    s3: S3Server,
    record_sink: str,
) -> Role:
    (container,) = workload.containers()
    env = container_environment(objects, workload, container)
    env |= {
        "POD_IP": "127.0.0.1",
        "BERTH_DATABASE_URL": database_url,
        "BERTH_HOME": str(home),
        "HOME": str(home),
        "BERTH_ARTIFACT_URI": f"s3://{bucket}/prod",
        "BERTH_S3_ENDPOINT_URL": s3.endpoint_url,
        "BERTH_S3_REGION": CREDENTIALS["AWS_DEFAULT_REGION"],
        **CREDENTIALS,
    }
    assert env["BERTH_RECORD_SINK"].startswith("nats://")
    env["BERTH_RECORD_SINK"] = record_sink
    argv = command_line(container, env)
    port = str(free_port())
    _replace(argv, "--host", "127.0.0.1")
    _replace(argv, "--port", port)
    _replace(argv, "--health-port", port)
    grpc_port = str(free_port())
    grpc = f"127.0.0.1:{grpc_port}" if "--grpc-port" in argv else None
    _replace(argv, "--grpc-port", grpc_port)
    _replace(argv, "--advertise-url", f"http://127.0.0.1:{port}")
    argv[0] = berth_executable()
    probes = {}
    for kind in ("startup", "liveness", "readiness"):
        probe = container.get(f"{kind}Probe")
        if probe is not None:
            named = {p.get("name"): p["containerPort"] for p in container["ports"]}
            assert named.get(probe["httpGet"]["port"], probe["httpGet"]["port"]) in (8080, "8080")
            probes[kind] = f"http://127.0.0.1:{port}{probe['httpGet']['path']}"
    return Role(workload.name, argv, env, probes, f"http://127.0.0.1:{port}", grpc)


def _start(role: Role, log: Path) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("BERTH_", "AWS_"))}
    with log.open("wb") as out:
        role.process = subprocess.Popen(
            role.argv, stdout=out, stderr=subprocess.STDOUT, env=base | role.env, start_new_session=True
        )


def _stop(role: Role) -> None:
    if role.process is not None and role.process.poll() is None:
        os.killpg(role.process.pid, signal.SIGTERM)
        try:
            role.process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(role.process.pid, signal.SIGKILL)
            role.process.wait()


def _wait_ok(role: Role, url: str, log: Path, timeout: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert role.process is not None
        if role.process.poll() is not None:
            pytest.fail(f"{role.name} exited with {role.process.returncode}:\n{log_tail(log, 3000)}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    pytest.fail(f"{role.name}: {url} did not answer 200 in {timeout:.0f} s:\n{log_tail(log, 3000)}")


@pytest.fixture
def platform(tmp_path: Path, s3_server: S3Server) -> Iterator[tuple[dict[str, Role], Role, Path]]:
    objects = render(kubectl(), KUBERNETES / "overlays" / "production")
    by_name = {w.name: w for w in workloads(objects)}
    bucket = s3_server.new_bucket()
    with fresh_postgres_database() as database_url, stream_uri() as sink:

        def role(name: str, home: Path) -> Role:
            return _role(objects, by_name[name], home, database_url, bucket, s3_server, sink)

        roles = {name: role(name, tmp_path / name / "home") for name in ROLES}
        job = role("berth-db-upgrade", tmp_path / "job" / "home")
        try:
            yield roles, job, tmp_path
        finally:
            for role in roles.values():
                _stop(role)


def test_the_production_roles_run_as_rendered_and_serve_through_the_gateway(
    platform: tuple[dict[str, Role], Role, Path],
) -> None:
    roles, job, tmp_path = platform
    api = roles["berth-api"]

    # step 6: before the Job, a role refuses the database (BERTH_MIGRATE_ON_START=false) and exits
    _start(api, tmp_path / "api-early.log")
    assert api.process is not None
    assert api.process.wait(START_TIMEOUT_S) != 0
    assert "berth db upgrade" in (tmp_path / "api-early.log").read_text()

    # the migration Job's command line, then every role, each answering its probes
    migrated = subprocess.run(
        job.argv,
        env={k: v for k, v in os.environ.items() if not k.startswith("BERTH_")} | job.env,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S,
    )
    assert migrated.returncode == 0, migrated.stderr
    gateway = roles["berth-gateway"]
    roles["berth-gateway"].env["BERTH_API_URL"] = api.url  # the Service berth-api:8080 of the cluster
    for role in roles.values():
        _start(role, tmp_path / f"{role.name}.log")
    for role in roles.values():
        for url in role.probes.values():
            _wait_ok(role, url, tmp_path / f"{role.name}.log")

    # step 8: the first admin token, as the guide makes it in an API pod
    made = subprocess.run(
        [
            berth_executable(),
            "token",
            "create",
            "--admin",
            "--description",
            "platform administrator",
            "--home",
            api.env["BERTH_HOME"],
        ],
        env={k: v for k, v in os.environ.items() if not k.startswith(("BERTH_", "AWS_"))} | api.env,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S,
    )
    assert made.returncode == 0, made.stderr
    token = next(word for word in made.stdout.split() if word.startswith("berth_"))
    headers = {"authorization": f"Bearer {token}"}
    # a token made in another process reaches the API's access table on its next reload
    deadline = time.monotonic() + START_TIMEOUT_S
    while httpx.get(f"{gateway.url}/api/v1/models", headers=headers, timeout=30).status_code != 200:
        assert time.monotonic() < deadline, "the API never took the new token"
        time.sleep(0.2)

    # step 10: push through the gateway, assign to risk, predict through the gateway
    x, y = load_iris(return_X_y=True, as_frame=True)
    model = LogisticRegression(max_iter=500).fit(x, y)
    berth.push(
        model,
        name="fraud-scorer",
        input_example=x.head(),
        aliases=["production"],
        url=gateway.url,
        token=token,
    )
    assigned = subprocess.run(
        [
            berth_executable(),
            "group",
            "assign",
            "fraud-scorer",
            "risk",
            "--reason",
            "own capacity for the risk team",
            "--url",
            gateway.url,
            "--token",
            token,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert assigned.returncode == 0, assigned.stderr
    body = {"dataframe_records": x.head(1).to_dict(orient="records")}
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        answer = httpx.post(
            f"{gateway.url}/v1/models/fraud-scorer:predict", json=body, headers=headers, timeout=30
        )
        if answer.status_code == 200 and answer.headers.get("berth-replica") == roles["berth-data-risk"].url:
            break
        assert time.monotonic() < deadline, (
            f"the risk replica never answered: {answer.status_code} {answer.text}"
        )
        time.sleep(0.5)
    assert answer.json()["predictions"] == model.predict(x.head(1)).tolist()
    refused = httpx.post(f"{gateway.url}/v1/models/fraud-scorer:predict", json=body, timeout=30)
    assert refused.status_code == 401  # BERTH_AUTH=tokens: the replica asks the caller for a token
    # no existence oracle through the gateway: without a token, a name that does not exist is a 401 too
    ghost = httpx.post(f"{gateway.url}/v1/models/no-such-model:predict", json=body, timeout=30)
    assert (ghost.status_code, ghost.json()["code"]) == (401, "unauthenticated")
    ghost = httpx.post(
        f"{gateway.url}/v1/models/no-such-model:predict", json=body, headers=headers, timeout=30
    )
    assert (ghost.status_code, ghost.json()["code"]) == (404, "model_not_found")

    # gRPC callers use the same address: the gateway's gRPC port, to the risk replica
    client = triton.InferenceServerClient(url=gateway.grpc or "")
    try:
        metadata = client.get_model_metadata("fraud-scorer", headers=headers)
        assert metadata.name == "fraud-scorer"
        assert client.is_model_ready("fraud-scorer", headers=headers)
        for name in ("fraud-scorer", "no-such-model"):  # anonymous: the same answer for both
            with pytest.raises(triton.InferenceServerException) as anonymous:
                client.get_model_metadata(name)
            assert anonymous.value.status() == "StatusCode.UNAUTHENTICATED"
        with pytest.raises(triton.InferenceServerException) as missing:
            client.get_model_metadata("no-such-model", headers=headers)
        assert missing.value.status() == "StatusCode.NOT_FOUND"
    finally:
        client.close()

    # the answered prediction's record went through NATS to the monitor, and into the records
    prediction_id = answer.headers["berth-prediction-id"]
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        records = httpx.get(
            f"{gateway.url}/api/v1/records", params={"model": "fraud-scorer"}, headers=headers, timeout=30
        ).json()["records"]
        if prediction_id in [r["prediction_id"] for r in records]:
            break
        assert time.monotonic() < deadline, f"the record of {prediction_id} never arrived: {records}"
        time.sleep(0.5)
