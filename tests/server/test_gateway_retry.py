"""The gateway and a replica that let a name go after the gateway's last look at the heartbeats.

In a move between groups the old replica unloads a model once the new group has it ready; until
the gateway's next refresh it may still send that model's requests to the old replica, which
answers ``not_served_here`` without running them. The gateway then tries the next replica (and,
when none is left, reads the heartbeats again at once), so the caller sees the prediction, never
the 404. A 404 of any other kind is the caller's answer, passed through as the replica sent it.

The replicas here are real HTTP servers that answer as a berth replica does (its error bodies,
made by berth's own error responses); the gateway is berth's, on a real registry database.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import berth
from berth.core.errors import BerthError, ErrorCode
from berth.core.serving_groups import ReplicaStatus, Role
from berth.core.settings import Settings
from berth.server.rest.errors import error_response
from berth.storage.sql_serving_groups import SqlServingGroups
from berth.wiring.gateway import create_gateway
from berth.wiring.implementations import open_database
from tests.support.servers import asgi_in_thread

BODY = {"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [0.5, 1.5]}]}


@dataclass
class Replica:
    """Answers inference with `answer`; counts the calls."""

    answer: Response
    calls: list[str] = field(default_factory=list)
    url: str = ""


@contextlib.contextmanager
def replica(answer: Response) -> Iterator[Replica]:
    state = Replica(answer)

    async def infer(request: Request) -> Response:
        state.calls.append(request.url.path)
        return state.answer

    async def ready(_: Request) -> Response:
        return JSONResponse({"ready": True})

    app = Starlette(
        routes=[
            Route("/v2/models/{name}/infer", infer, methods=["POST"]),
            Route("/v2/health/ready", ready),
        ]
    )
    with asgi_in_thread(app) as url:
        state.url = url
        yield state


def heartbeat(groups: SqlServingGroups, replica_id: str, group: str, url: str) -> None:
    now = datetime.now(UTC)
    groups.heartbeat(
        ReplicaStatus(
            replica_id=replica_id,
            role=Role.DATA,
            group=group,
            url=url,
            started_at=now,
            heartbeat_at=now,
            ready=frozenset({"mover"}),
        )
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    x = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [1.0, 1.0]], dtype=np.float32)
    berth.push(LogisticRegression().fit(x, [0, 1, 0, 1]), name="mover", home=tmp_path, input_example=x)
    return tmp_path


def gateway_with(home: Path, *replicas: tuple[str, Replica]) -> contextlib.AbstractContextManager[str]:
    """The gateway, after each (group, replica) sent a heartbeat saying it has "mover" ready; the
    model stays assigned to the default group."""
    settings = Settings(home=home, role="gateway", poll_interval_s=3600, replica_ttl_s=3600)
    groups = SqlServingGroups(open_database(settings.resolved_database_url, migrate=True).engine)
    for index, (group, state) in enumerate(replicas):
        heartbeat(groups, f"replica-{index}", group, state.url)
    return asgi_in_thread(create_gateway(settings))


def test_a_replica_that_let_the_name_go_is_skipped(home: Path) -> None:
    gone = error_response(
        BerthError(ErrorCode.NOT_SERVED_HERE, "served by 'risk'", model="mover", group="risk")
    )
    with (
        replica(gone) as old,
        replica(JSONResponse({"model_name": "mover", "outputs": []})) as new,
        gateway_with(home, ("default", old), ("risk", new)) as gateway,
    ):
        first = httpx.post(f"{gateway}/v2/models/mover/infer", json=BODY)
        second = httpx.post(f"{gateway}/v2/models/mover/infer", json=BODY)

    assert first.status_code == second.status_code == 200, first.text
    assert first.headers["berth-replica"] == second.headers["berth-replica"] == new.url
    assert len(old.calls) == 1, "until its next heartbeat, the old replica is not asked again"
    assert len(new.calls) == 2


def test_a_replica_ready_since_the_last_poll_is_found_at_once(home: Path) -> None:
    """The move's real order: the new group's replica reports the model ready after the gateway's
    last poll, then the old one lets it go; the gateway reads the registry again at once."""
    gone = error_response(
        BerthError(ErrorCode.NOT_SERVED_HERE, "served by 'risk'", model="mover", group="risk")
    )
    with (
        replica(gone) as old,
        replica(JSONResponse({"model_name": "mover", "outputs": []})) as new,
        gateway_with(home, ("default", old)) as gateway,
    ):
        settings = Settings(home=home)
        groups = SqlServingGroups(open_database(settings.resolved_database_url, migrate=False).engine)
        heartbeat(groups, "replica-new", "risk", new.url)
        answers = [httpx.post(f"{gateway}/v2/models/mover/infer", json=BODY) for _ in range(3)]

    assert [a.status_code for a in answers] == [200, 200, 200], answers[0].text
    assert {a.headers["berth-replica"] for a in answers} == {new.url}
    assert len(old.calls) == 1


def test_every_replica_letting_it_go_is_a_503_not_a_404(home: Path) -> None:
    gone = error_response(BerthError(ErrorCode.NOT_SERVED_HERE, "served by 'x'", model="mover", group="x"))
    with replica(gone) as old, gateway_with(home, ("default", old)) as gateway:
        answer = httpx.post(f"{gateway}/v2/models/mover/infer", json=BODY)

    assert answer.status_code == 503
    assert answer.json()["code"] == ErrorCode.NO_SERVING_REPLICA.value


def test_another_404_is_the_callers_answer(home: Path) -> None:
    missing = error_response(BerthError(ErrorCode.MODEL_NOT_FOUND, "no version 9", model="mover"))
    with (
        replica(missing) as first,
        replica(JSONResponse({"model_name": "mover"})) as second,
        gateway_with(home, ("default", first), ("default", second)) as gateway,
    ):
        answers = [httpx.post(f"{gateway}/v2/models/mover/infer", json=BODY) for _ in range(2)]

    by_replica = {a.headers["berth-replica"]: a for a in answers}
    assert set(by_replica) == {first.url, second.url}, "turns go round both replicas"
    refused = by_replica[first.url]
    assert refused.status_code == 404
    assert refused.json()["code"] == ErrorCode.MODEL_NOT_FOUND.value
    assert refused.headers["content-length"] == str(len(refused.content))
    assert len(first.calls) == len(second.calls) == 1


def test_a_name_no_replica_serves_is_answered_after_a_replica_authenticated_the_caller(home: Path) -> None:
    """No existence oracle: an anonymous caller gets the replica's 401 for a name that exists and for
    one that does not, never the gateway's own model_not_found or no_serving_replica."""
    refusing = error_response(BerthError(ErrorCode.UNAUTHENTICATED, "missing credentials"))
    with replica(refusing) as guard, gateway_with(home, ("risk", guard)) as gateway:
        # "mover" is in group default, which has no replica here; "ghost" does not exist
        answers = [httpx.post(f"{gateway}/v2/models/{n}/infer", json=BODY) for n in ("mover", "ghost")]

    assert [(a.status_code, a.json()["code"]) for a in answers] == [(401, "unauthenticated")] * 2
    assert guard.calls == ["/v2/models/mover/infer", "/v2/models/ghost/infer"]


def test_a_caller_a_replica_let_through_gets_the_gateways_own_answer(home: Path) -> None:
    elsewhere = error_response(
        BerthError(ErrorCode.NOT_SERVED_HERE, "served by 'default'", model="mover", group="default")
    )
    missing = error_response(BerthError(ErrorCode.MODEL_NOT_FOUND, "no model 'ghost'", model="ghost"))
    with replica(elsewhere) as other, gateway_with(home, ("risk", other)) as gateway:
        unserved = httpx.post(f"{gateway}/v2/models/mover/infer", json=BODY)
        other.answer = missing
        ghost = httpx.post(f"{gateway}/v2/models/ghost/infer", json=BODY)

    assert (unserved.status_code, unserved.json()["code"]) == (503, "no_serving_replica")
    assert unserved.json()["details"] == {"model": "mover", "group": "default"}
    assert (ghost.status_code, ghost.json()["code"]) == (404, "model_not_found")


def test_a_name_is_decoded_once_as_a_replica_decodes_it(home: Path) -> None:
    """``%256dover`` is the name ``%6dover`` (decoded once), not ``mover``: the gateway routes by the
    path as sent and passes it on as sent, so a replica reads the name a direct call gives it."""
    with (
        replica(JSONResponse({"model_name": "mover"})) as only,
        gateway_with(home, ("default", only)) as gateway,
    ):
        plain = httpx.post(f"{gateway}/v2/models/%6dover/infer", json=BODY)  # %6d is "m": mover
        twice = httpx.post(f"{gateway}/v2/models/%256dover/infer", json=BODY)

    assert plain.status_code == twice.status_code == 200
    assert only.calls == ["/v2/models/mover/infer", "/v2/models/%6dover/infer"]
