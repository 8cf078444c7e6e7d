"""Every route and every RPC refuses a missing, malformed, invalid, expired or revoked credential.

The routes are read from the app's own route table and the RPCs from the generated service, so a
route or a method added later without a permission declaration fails here (and the app refuses to
start with an undeclared route at all).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from fastapi import APIRouter, FastAPI

from berth.core.settings import Settings
from berth.server.auth.permissions import api_routes, check_routes_declared, public_paths, route_declaration
from berth.server.grpc.auth import PUBLIC
from berth.server.grpc.proto import berth_inference_pb2 as pb
from berth.server.grpc.proto import berth_inference_pb2_grpc as pb_grpc
from berth.server.grpc.service import RPC_ACTIONS
from berth.server.rest.docs_routes import docs_paths
from berth.server.rest.ui_routes import ui_files, ui_paths
from berth.storage.security_store import SqlSecurityStore
from berth.wiring.server import build_server, create_app
from tests.security.conftest import World

PATH_VALUES = {
    "name": "alpha-model",
    "ref": "1",
    "number": "1",
    "alias": "production",
    "team": "alpha",
    "principal": "alice",
    "token_id": "1",
    "table": "customers",
    "view": "customers",
    "key": "c1",
    "job_id": "1",
    "trigger": "nightly",
    "prediction_id": "p1",
    "export_id": "1",
    "scope": "version",
    "subject": "1",
    "message_id": "1",
    "request_id": "1",
}
PUBLIC_PATHS = {"/v2/health/live", "/v2/health/ready", *ui_paths(ui_files()), *docs_paths()}
"""The probes, the web app's static files (its data comes from the API, which checks permissions),
and the API documentation's pages and files (like the OpenAPI document)."""


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    """The app exactly as a server with authentication builds it (not started)."""
    home: Path = tmp_path_factory.mktemp("routes") / "home"
    server = build_server(Settings(home=home, auth="tokens"))
    try:
        yield create_app(server)
    finally:
        assert server.security is not None
        server.security.close()
        server.workspace.close()


def _routes(app: FastAPI) -> list[tuple[str, str, str]]:
    """(method, concrete path, declared path) of every route."""
    found = []
    for declared, route in api_routes(app):
        path = re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: PATH_VALUES[m.group(1)], declared)
        found.extend((method, path, declared) for method in sorted(route.methods or ()))
    return found


@pytest.fixture(scope="module")
def bad_credentials(world: World) -> dict[str, str | None]:
    """Authorization header values that must all be refused 401, with a revoked and an expired token."""
    store = SqlSecurityStore(world.database_url)
    try:
        expired = store.create_token("alice", expires_days=1 / 86400).secret  # one second
        revoked_token = store.create_token("alice")
        store.revoke_token(revoked_token.token.id)
    finally:
        store.close()
    started = time.monotonic()
    while True:  # the server reloads its access table on the change counter: within a second
        answer = httpx.get(f"{world.url}/v2", headers={"authorization": f"Bearer {revoked_token.secret}"})
        if answer.status_code == 401:
            break
        assert time.monotonic() - started < 2.0, "a revoked token still worked after 2 s (refresh: 0.5 s)"
        time.sleep(0.05)
    time.sleep(max(0.0, 1.1 - (time.monotonic() - started)))
    return {
        "missing": None,
        "empty": "",
        "basic scheme": "Basic YWxpY2U6c2VjcmV0",
        "bearer without token": "Bearer",
        "two tokens": f"Bearer {world.tokens['alice']} {world.tokens['bob']}",
        "unknown berth token": "Bearer berth_" + "A" * 43,
        "not a token": "Bearer hello",
        "jwt-shaped garbage": "Bearer aaa.bbb.ccc",
        "expired": f"Bearer {expired}",
        "revoked": f"Bearer {revoked_token.secret}",
        "oversized": "Bearer berth_" + "x" * 10_000,
    }


def test_every_route_declares_a_permission(app: FastAPI) -> None:
    public = {path for path, route in api_routes(app) if route_declaration(route) is None}
    assert public == PUBLIC_PATHS
    assert public_paths(app) >= PUBLIC_PATHS


def test_a_route_without_a_declaration_is_refused(app: FastAPI) -> None:
    router = APIRouter(prefix="/api/v1")

    @router.get("/endpoints")  # what a new route file would add, forgetting its declaration
    async def list_endpoints() -> list[str]:
        return []

    check_routes_declared(app)
    probe = FastAPI()
    for _, route in api_routes(app):
        probe.router.routes.append(route)
    check_routes_declared(probe)
    probe.include_router(router)
    with pytest.raises(RuntimeError, match="/api/v1/endpoints declares 0 permissions"):
        check_routes_declared(probe)


def test_every_route_refuses_bad_credentials(
    app: FastAPI, world: World, bad_credentials: dict[str, str | None]
) -> None:
    routes = _routes(app)
    assert len(routes) >= 30
    failures = []
    with httpx.Client(base_url=world.url, timeout=10) as client:
        for method, path, declared in routes:
            if declared in PUBLIC_PATHS:
                assert client.request(method, path).status_code in (200, 307)  # / and /ui: to /ui/
                continue
            for label, value in bad_credentials.items():
                headers = {} if value is None else {"authorization": value}
                answer = client.request(method, path, headers=headers, content=b"{}")
                body = answer.json()
                if (
                    answer.status_code != 401
                    or body.get("code") != "unauthenticated"
                    or not answer.headers.get("www-authenticate", "").startswith("Bearer ")
                ):
                    failures.append(f"{method} {path} with {label}: {answer.status_code} {body}")
                if label in ("expired", "revoked") and body.get("error") != f"token {label}":
                    failures.append(f"{method} {path} with {label}: reason {body.get('error')!r}")
    assert not failures, "\n".join(failures)


def test_an_unknown_path_is_refused_before_routing(world: World) -> None:
    answer = httpx.get(f"{world.url}/api/v1/does-not-exist")
    assert answer.status_code == 401  # nothing about the route table leaks without credentials


def _grpc_methods() -> set[str]:
    return {name for name in vars(pb_grpc.GRPCInferenceServiceServicer) if not name.startswith("_")}


def test_every_rpc_declares_a_permission() -> None:
    assert set(RPC_ACTIONS) == _grpc_methods()
    assert {m for m, a in RPC_ACTIONS.items() if a == PUBLIC} == {"ServerLive", "ServerReady"}


def test_every_rpc_refuses_bad_credentials(world: World, bad_credentials: dict[str, str | None]) -> None:
    failures = []
    with grpc.insecure_channel(world.grpc_address) as channel:
        for method in sorted(_grpc_methods()):
            request = getattr(pb, f"{method}Request")()
            call = channel.unary_unary(
                f"/inference.GRPCInferenceService/{method}",
                request_serializer=type(request).SerializeToString,
                response_deserializer=lambda raw: raw,
            )
            if RPC_ACTIONS[method] == PUBLIC:
                call(request, timeout=10)
                continue
            for label, value in bad_credentials.items():
                metadata = () if value is None else (("authorization", value),)
                try:
                    call(request, metadata=metadata, timeout=10)
                    failures.append(f"{method} with {label}: answered")
                except grpc.RpcError as error:
                    expected = {grpc.StatusCode.UNAUTHENTICATED}
                    if label == "oversized":  # grpc itself refuses metadata past its 8 KiB soft limit
                        expected.add(grpc.StatusCode.RESOURCE_EXHAUSTED)
                    if error.code() not in expected:
                        failures.append(f"{method} with {label}: {error.code()} {error.details()}")
    assert not failures, "\n".join(failures)


def test_a_valid_token_passes_authentication_everywhere(app: FastAPI, world: World) -> None:
    """The other side: with root's token no route answers 401 (so the refusals above are about the token)."""
    with httpx.Client(base_url=world.url, timeout=30, headers=world.auth("root")) as client:
        for method, path, _ in _routes(app):
            if method in ("DELETE", "PUT", "PATCH", "POST") and "/api/v1/" in path:
                continue  # changes are exercised by the other suites
            answer = client.request(method, path)
            assert answer.status_code not in (401, 403, 500), (method, path, answer.text)
