"""Consumers and deprecations on a real server with authentication on (docs/consumers.md).

Team beta is granted predict on team alpha's model and calls it over REST (the fast path and the
/v1 routes) and gRPC; alpha sees beta's principal among its consumers, beta may not read them.
Alpha deprecates version 1: beta's answers from it carry ``Deprecation`` / ``Sunset`` / ``Link``
(REST headers, gRPC metadata), the SDK warns and the CLI says so on stderr; answers from version 2
carry nothing.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from click.testing import CliRunner

import berth
from berth.cli.main import cli
from berth.core.settings import Settings
from berth.server.grpc.proto import berth_inference_pb2 as pb
from berth.server.grpc.proto import berth_inference_pb2_grpc as pb_grpc
from tests.conftest import Trained
from tests.records.helpers import eventually
from tests.security.conftest import World, populate
from tests.support.servers import berth_executable, free_port, server_in_thread

SUNSET = datetime(2031, 3, 1, tzinfo=UTC)
HTTP_DATE = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$")
LINK = "https://wiki.example/alpha-v2"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, lr: Trained) -> Iterator[World]:
    """The security suite's teams, alpha-model with versions 1 and 2 (alias 'staging' on 2) and a
    grant of it to team beta; usage flushed every 0.1 s."""
    home = tmp_path_factory.mktemp("consumers") / "home"
    database_url, tokens = populate(home, lr)
    berth.push(
        lr.model, name="alpha-model", home=home, input_example=lr.x[:3], team="alpha", aliases=["staging"]
    )
    grpc_port = free_port()
    settings = Settings(home=home, poll_interval_s=0.1, auth="tokens", grpc_port=grpc_port, usage_flush_s=0.1)
    with server_in_thread(settings) as url:
        found = World(url, f"127.0.0.1:{grpc_port}", home, database_url, tokens, lr.x[:3].tolist())
        granted = httpx.put(f"{url}/api/v1/grants/alpha-model/beta", headers=found.auth("root"))
        assert granted.status_code == 200, granted.text
        yield found


@pytest.fixture
def http(world: World) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=world.url, timeout=30) as client:
        yield client


def _infer(http: httpx.Client, world: World, who: str, ref: str | None) -> httpx.Response:
    path = "/v2/models/alpha-model" + (f"/versions/{ref}" if ref else "") + "/infer"
    answer = http.post(path, headers=world.auth(who), json=world.infer_body())
    assert answer.status_code == 200, answer.text
    return answer


def _v1(http: httpx.Client, world: World, who: str, ref: str) -> httpx.Response:
    answer = http.post(
        f"/v1/models/alpha-model/versions/{ref}:predict",
        headers=world.auth(who),
        json={"instances": world.x[:1]},
    )
    assert answer.status_code == 200, answer.text
    return answer


def _grpc(world: World, who: str, version: str) -> dict[str, str]:
    tensor = pb.ModelInferRequest.InferInputTensor(
        name="input-0",
        datatype="FP32",
        shape=[1, 20],
        contents=pb.InferTensorContents(fp32_contents=world.x[0]),
    )
    with grpc.insecure_channel(world.grpc_address) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        _, call = stub.ModelInfer.with_call(
            pb.ModelInferRequest(model_name="alpha-model", model_version=version, inputs=[tensor]),
            metadata=[("authorization", f"Bearer {world.tokens[who]}")],
            timeout=30,
        )
    return {k: v for k, v in call.trailing_metadata() or () if isinstance(v, str)}


def _consumers(http: httpx.Client, world: World, who: str = "alice") -> dict[str, Any]:
    answer = http.get("/api/v1/models/alpha-model/consumers", headers=world.auth(who))
    assert answer.status_code == 200, answer.text
    return {c["principal"]: c for c in answer.json()}


def _deprecation_headers(answer: httpx.Response) -> tuple[datetime, datetime, str | None]:
    deprecation, sunset = answer.headers["deprecation"], answer.headers["sunset"]
    assert re.fullmatch(r"@\d+", deprecation), deprecation  # RFC 9745: a structured-field date
    assert HTTP_DATE.match(sunset), sunset  # RFC 8594: an HTTP-date
    return (
        datetime.fromtimestamp(int(deprecation[1:]), UTC),
        parsedate_to_datetime(sunset),
        answer.headers.get("link"),
    )


def test_the_owner_sees_who_calls_its_model_and_another_team_does_not(
    http: httpx.Client, world: World
) -> None:
    for _ in range(3):
        _infer(http, world, "carol", "1")  # the fast path
    _v1(http, world, "carol", "1")  # a FastAPI route
    _grpc(world, "carol", "1")
    _infer(http, world, "alice", "2")

    found = eventually(
        lambda: _consumers(http, world),
        lambda c: c.get("carol", {}).get("calls", 0) >= 5 and "alice" in c,
    )

    carol, alice = found["carol"], found["alice"]
    assert (carol["team"], carol["calls"], carol["calls_30d"], carol["errors"]) == ("beta", 5, 5, 0)
    assert [(v["model"], v["version"]) for v in carol["versions"]] == [("alpha-model", 1)]
    assert datetime.fromisoformat(carol["last_at"]) <= datetime.now(UTC)
    assert (alice["team"], [v["version"] for v in alice["versions"]]) == ("alpha", [2])
    # a reader of alpha may read them; the grantee's maintainer and a stranger get what any READ
    # they lack gets
    assert http.get("/api/v1/models/alpha-model/consumers", headers=world.auth("dave")).status_code == 200
    as_bob = http.get("/api/v1/models/alpha-model/consumers", headers=world.auth("bob"))
    as_erin = http.get("/api/v1/models/alpha-model/consumers", headers=world.auth("erin"))
    assert (as_bob.status_code, as_bob.json()["code"]) == (403, "forbidden")
    assert (as_erin.status_code, as_erin.json()["code"]) == (404, "model_not_found")
    missing = http.get("/api/v1/models/nobody/consumers", headers=world.auth("erin"))
    assert (missing.status_code, sorted(missing.json())) == (404, sorted(as_erin.json()))
    # the SDK reads the same
    sdk = berth.consumers(url=world.url, token=world.tokens["alice"])
    try:
        assert {c["principal"]: c["team"] for c in sdk.consumers("alpha-model")}["carol"] == "beta"
    finally:
        sdk.close()


def test_deprecated_answers_carry_the_headers_metadata_and_warnings(http: httpx.Client, world: World) -> None:
    before = int(time.time())
    announced = http.post(
        "/api/v1/models/alpha-model/deprecations",
        headers=world.auth("alice"),
        json={"scope": "version", "subject": "1", "sunset": "2031-03-01", "message": "use 2", "link": LINK},
    )
    assert announced.status_code == 201, announced.text
    try:
        since, sunset, link = _deprecation_headers(_infer(http, world, "carol", "1"))
        assert before <= since.timestamp() <= time.time()
        assert (sunset, link) == (SUNSET, f'<{LINK}>; rel="deprecation"')
        assert _deprecation_headers(_v1(http, world, "carol", "1"))[1] == SUNSET
        for answer in (
            _infer(http, world, "carol", "2"),
            _infer(http, world, "carol", None),
            _v1(http, world, "carol", "2"),
        ):
            assert "deprecation" not in answer.headers
            assert "sunset" not in answer.headers
        trailing = _grpc(world, "carol", "1")
        assert trailing["deprecation"] == f"@{int(since.timestamp())}"
        assert parsedate_to_datetime(trailing["sunset"]) == SUNSET
        assert "deprecation" not in _grpc(world, "carol", "2")
        # the SDK warns (once per call site), answers from version 2 do not
        with berth.Client(world.url, token=world.tokens["carol"]) as client:
            with pytest.warns(berth.BerthDeprecationWarning, match=f"2031-03-01; see {LINK}"):
                client.predict("alpha-model", [world.x[0]], version=1)
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                client.predict("alpha-model", [world.x[0]], version=2)
        # the CLI says so on stderr
        cli_run = subprocess.run(
            [
                berth_executable(),
                "predict",
                "alpha-model:1",
                "--json",
                f'{{"instances": [{world.x[0]}]}}',
                "--url",
                world.url,
            ],
            env={**os.environ, "BERTH_TOKEN": world.tokens["carol"]},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert cli_run.returncode == 0, cli_run.stderr
        assert "warning: POST /v1/models/alpha-model/versions/1:predict" in cli_run.stderr
        assert "goes away on 2031-03-01" in cli_run.stderr
        # the owner sees who still calls it
        carol = eventually(lambda: _consumers(http, world)["carol"], lambda c: c["deprecated_calls"] >= 4)
        assert carol["deprecated_calls"] >= 4
        assert carol["versions"][0]["deprecated"] is True
    finally:
        http.delete("/api/v1/models/alpha-model/deprecations/version/1", headers=world.auth("alice"))
    assert "deprecation" not in _infer(http, world, "carol", "1").headers


def test_an_alias_and_an_endpoint_are_deprecated_on_their_own(http: httpx.Client, world: World) -> None:
    as_alice = world.auth("alice")
    made = http.post(
        "/api/v1/models/alpha-model/deprecations",
        headers=as_alice,
        json={"scope": "alias", "subject": "staging", "sunset": "2030-01-01T00:00:00Z"},
    )
    assert made.status_code == 201, made.text
    spec = {"name": "alpha-scoring", "team": "alpha", "targets": [{"target": "alpha-model:2"}]}
    assert http.post("/api/v1/endpoints", headers=as_alice, json=spec).status_code == 201
    try:
        assert http.put("/api/v1/grants/alpha-scoring/beta", headers=world.auth("root")).status_code == 200
        staged = _infer(http, world, "carol", "staging")
        assert _deprecation_headers(staged)[1:] == (datetime(2030, 1, 1, tzinfo=UTC), None)
        assert "deprecation" not in _infer(http, world, "carol", "2").headers  # the same version, by number
        body = world.infer_body()
        plain = http.post("/v2/models/alpha-scoring/infer", headers=world.auth("carol"), json=body)
        assert plain.status_code == 200
        assert "deprecation" not in plain.headers
        ended = http.post(
            "/api/v1/endpoints/alpha-scoring/deprecations", headers=as_alice, json={"sunset": "2029-06-01"}
        )
        assert ended.status_code == 201, ended.text
        called = http.post("/v2/models/alpha-scoring/infer", headers=world.auth("carol"), json=body)
        assert _deprecation_headers(called)[1] == datetime(2029, 6, 1, tzinfo=UTC)
        # consumers read the deprecations; a stranger does not see them
        listed = http.get("/api/v1/models/alpha-model/deprecations", headers=world.auth("carol"))
        assert [(d["scope"], d["subject"]) for d in listed.json()] == [("alias", "staging")]
        assert (
            http.get("/api/v1/models/alpha-model/deprecations", headers=world.auth("erin")).status_code == 404
        )
        audit = http.get(
            "/api/v1/audit", params={"action": "deprecation.announce"}, headers=world.auth("root")
        ).json()
        assert {(e["resource_type"], e["resource_name"], e["actor"]) for e in audit} >= {
            ("model", "alpha-model", "alice"),
            ("endpoint", "alpha-scoring", "alice"),
        }
    finally:
        http.delete("/api/v1/models/alpha-model/deprecations/alias/staging", headers=as_alice)
        http.delete("/api/v1/endpoints/alpha-scoring", headers=as_alice)


@pytest.mark.parametrize(
    ("who", "status"),
    [("bob", 403), ("carol", 403), ("dave", 403), ("erin", 404)],
)
def test_only_a_maintainer_of_the_owner_team_deprecates(
    http: httpx.Client, world: World, who: str, status: int
) -> None:
    body = {"scope": "version", "subject": "1", "sunset": "2031-03-01"}
    answer = http.post("/api/v1/models/alpha-model/deprecations", headers=world.auth(who), json=body)
    withdraw = http.delete("/api/v1/models/alpha-model/deprecations/version/1", headers=world.auth(who))
    assert (answer.status_code, withdraw.status_code) == (status, status)


@pytest.mark.parametrize(
    "body",
    [
        {"scope": "version", "subject": "9", "sunset": "2031-03-01"},
        {"scope": "version", "subject": "1", "sunset": "yesterday"},
        {"scope": "version", "subject": "1", "sunset": "2001-01-01"},
        {"scope": "version", "subject": "1", "sunset": "2031-03-01", "link": "javascript:alert(1)"},
        {"scope": "endpoint", "subject": "", "sunset": "2031-03-01"},
        {"scope": "version", "subject": "1"},
    ],
)
def test_a_bad_announcement_is_a_client_error(http: httpx.Client, world: World, body: dict[str, str]) -> None:
    answer = http.post("/api/v1/models/alpha-model/deprecations", headers=world.auth("alice"), json=body)
    assert 400 <= answer.status_code < 500, answer.text
    assert "code" in answer.json()


def test_the_cli_and_sdk_read_and_announce(world: World, tmp_path: Path) -> None:
    env = {"BERTH_TOKEN": world.tokens["alice"]}
    runner = CliRunner()
    shown = runner.invoke(cli, ["models", "consumers", "alpha-model", "--url", world.url], env=env)
    assert shown.exit_code == 0, shown.output
    assert shown.output.split()[:8] == [
        "TEAM",
        "PRINCIPAL",
        "CALLS",
        "CALLS_30D",
        "ERRORS",
        "LAST_CALL",
        "VERSIONS",
        "SINCE_DEPRECATION",
    ]
    made = runner.invoke(
        cli,
        [
            "models",
            "deprecate",
            "alpha-model",
            "--alias",
            "staging",
            "--sunset",
            "2032-01-01",
            "--url",
            world.url,
        ],
        env=env,
    )
    assert made.exit_code == 0, made.output
    assert "Sunset: Thu, 01 Jan 2032 00:00:00 GMT" in made.output
    sdk = berth.consumers(url=world.url, token=world.tokens["alice"])
    try:
        assert [d["subject"] for d in sdk.deprecations("alpha-model")] == ["staging"]
        assert sdk.withdraw("alpha-model", alias="staging")["sunset_at"].startswith("2032-01-01")
        assert sdk.deprecations("alpha-model") == []
    finally:
        sdk.close()
    as_bob = berth.consumers(url=world.url, token=world.tokens["bob"])
    try:
        with pytest.raises(berth.BerthError) as refused:
            as_bob.consumers("alpha-model")
        assert refused.value.code is berth.ErrorCode.FORBIDDEN
    finally:
        as_bob.close()
