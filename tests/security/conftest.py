"""A real berth server with authentication on (API tokens), gRPC, two teams and their principals.

    team alpha: model 'alpha-model'; alice maintainer, dave reader
    team beta:  model 'beta-model';  bob maintainer, carol predictor
    root: platform admin; erin: no team at all

Tokens are created in the database the way `berth token create --home` does, before the server
starts; the server reads them into its in-memory access table.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import berth
from berth.core.access import Role
from berth.core.settings import Settings
from berth.storage.security_store import SqlSecurityStore
from tests.conftest import Trained
from tests.support.postgres import fresh_postgres_database
from tests.support.servers import free_port, server_in_thread

PRINCIPALS = ("root", "alice", "dave", "bob", "carol", "erin")


@dataclass(frozen=True)
class World:
    url: str
    grpc_address: str
    home: Path
    database_url: str
    tokens: dict[str, str]
    x: list[list[float]]

    def auth(self, who: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.tokens[who]}"}

    def infer_body(self) -> dict[str, object]:
        return {"inputs": [{"name": "input-0", "shape": [1, 20], "datatype": "FP32", "data": self.x[0]}]}


def populate(home: Path, lr: Trained, database_url: str | None = None) -> tuple[str, dict[str, str]]:
    berth.push(lr.model, name="alpha-model", home=home, input_example=lr.x[:3], team="alpha")
    (home / "in.csv").write_text("f0\n0.5\n")  # the batch-score jobs' input (checked when enqueued)
    berth.push(
        lr.model, name="beta-model", home=home, input_example=lr.x[:3], team="beta", aliases=["production"]
    )
    # without a URL, the settings' own (BERTH_DATABASE_URL, where a test set it, else the home's SQLite)
    settings = Settings(home=home) if database_url is None else Settings(home=home, database_url=database_url)
    database_url = settings.resolved_database_url
    store = SqlSecurityStore(database_url)
    try:
        store.set_member("alpha", "alice", Role.MAINTAINER)
        store.set_member("alpha", "dave", Role.READER)
        store.set_member("beta", "bob", Role.MAINTAINER)
        store.set_member("beta", "carol", Role.PREDICTOR)
        tokens = {name: store.create_token(name, admin=name == "root").secret for name in PRINCIPALS}
    finally:
        store.close()
    return database_url, tokens


@pytest.fixture(scope="package")
def world(tmp_path_factory: pytest.TempPathFactory, lr: Trained) -> Iterator[World]:
    home = tmp_path_factory.mktemp("secure") / "home"
    database_url, tokens = populate(home, lr)
    grpc_port = free_port()
    settings = Settings(home=home, poll_interval_s=0.1, auth="tokens", grpc_port=grpc_port)
    with server_in_thread(settings) as url:
        yield World(url, f"127.0.0.1:{grpc_port}", home, database_url, tokens, lr.x[:3].tolist())


@pytest.fixture(scope="package")
def postgres_world(tmp_path_factory: pytest.TempPathFactory, lr: Trained) -> Iterator[World]:
    """The same world with its registry and security tables on a fresh PostgreSQL database."""
    with fresh_postgres_database() as pg_url, pytest.MonkeyPatch.context() as env:
        env.setenv("BERTH_DATABASE_URL", pg_url)  # for the pushes, which read the settings
        home = tmp_path_factory.mktemp("secure-pg") / "home"
        database_url, tokens = populate(home, lr, pg_url)
        grpc_port = free_port()
        settings = Settings(
            home=home, database_url=pg_url, poll_interval_s=0.1, auth="tokens", grpc_port=grpc_port
        )
        with server_in_thread(settings) as url:
            yield World(url, f"127.0.0.1:{grpc_port}", home, database_url, tokens, lr.x[:3].tolist())


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_world(request: pytest.FixtureRequest) -> World:
    """`world`, then `postgres_world`: for tests whose rules live in storage."""
    name = "world" if request.param == "sqlite" else "postgres_world"
    found: World = request.getfixturevalue(name)
    return found
