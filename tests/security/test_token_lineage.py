"""A token minted with a token never outlives it and dies with it; token ids are no oracle.

Through a real server on SQLite and on PostgreSQL: a token created over REST records the token
its caller authenticated with as its parent, its expiry is capped at the parent's, revoking the
parent revokes every descendant (in the database and in every server's access table), and
revoking another principal's token answers exactly like revoking one that does not exist.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update

from berth.core.access import Role
from berth.core.errors import BerthError, ErrorCode
from berth.core.settings import Settings
from berth.storage.schema import api_tokens
from berth.storage.security_store import SqlSecurityStore
from tests.support.postgres import fresh_postgres_database
from tests.support.servers import server_in_thread

ROOT_DAYS = 30


@dataclass(frozen=True)
class TokenWorld:
    url: str
    store: SqlSecurityStore
    tokens: dict[str, str]

    def auth(self, token: str) -> dict[str, str]:
        return {"authorization": f"Bearer {token}"}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def token_world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TokenWorld]:
    with _database(request.param, tmp_path) as database_url:
        settings = Settings(home=tmp_path / "home", database_url=database_url, auth="tokens")
        store = SqlSecurityStore(settings.resolved_database_url)
        try:
            store.create_team("alpha")
            store.create_team("beta")
            store.set_member("alpha", "alice", Role.MAINTAINER)
            store.set_member("beta", "bob", Role.MAINTAINER)
            tokens = {
                name: store.create_token(name, expires_days=ROOT_DAYS, admin=name == "root").secret
                for name in ("root", "alice", "bob")
            }
            with server_in_thread(settings) as url:
                yield TokenWorld(url, store, tokens)
        finally:
            store.close()


def _database(kind: str, tmp_path: Path) -> AbstractContextManager[str]:
    if kind == "postgres":
        return fresh_postgres_database()
    return nullcontext(f"sqlite:///{tmp_path / 'berth.db'}")


def _mint(world: TokenWorld, http: httpx.Client, with_token: str, days: float = 3650) -> dict[str, object]:
    answer = http.post("/api/v1/tokens", json={"expires_days": days}, headers=world.auth(with_token))
    assert answer.status_code == 201, answer.text
    body: dict[str, object] = answer.json()
    return body


def _status(http: httpx.Client, world: TokenWorld, token: str) -> int:
    return http.get("/api/v1/tokens", headers=world.auth(token)).status_code


def _answers_soon(
    http: httpx.Client, world: TokenWorld, token: str, status: int, limit_s: float = 5.0
) -> bool:
    """Whether `token` gets `status` within `limit_s` (servers reload their table every 0.5 s)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if _status(http, world, token) == status:
            return True
        time.sleep(0.05)
    return False


def test_a_minted_token_is_capped_at_its_parent_and_a_root_token_has_none(token_world: TokenWorld) -> None:
    world = token_world
    with httpx.Client(base_url=world.url, timeout=30) as http:
        roots = {t.id: t for t in world.store.list_tokens("alice")}
        (root,) = roots.values()
        assert root.parent_id is None  # made locally (--home): the root of trust

        child = _mint(world, http, world.tokens["alice"])
        assert child["parent_id"] == root.id
        assert datetime.fromisoformat(str(child["expires_at"])) <= root.expires_at
        grandchild = _mint(world, http, str(child["token"]))
        assert grandchild["parent_id"] == child["id"]
        assert datetime.fromisoformat(str(grandchild["expires_at"])) <= root.expires_at

        # a one-minute token (here: two seconds) cannot mint a ten-year one
        short = world.store.create_token("alice", expires_days=3 / 86400).secret
        assert _answers_soon(http, world, short, 200)
        long = _mint(world, http, short)
        assert _status(http, world, str(long["token"])) == 200
        time.sleep(3.1)
        assert _status(http, world, short) == 401
        assert _status(http, world, str(long["token"])) == 401


def test_revoking_a_parent_revokes_its_descendants_everywhere(token_world: TokenWorld) -> None:
    world = token_world
    with httpx.Client(base_url=world.url, timeout=30) as http:
        parent = world.store.create_token("alice", expires_days=1).secret
        assert _answers_soon(http, world, parent, 200)
        child = _mint(world, http, parent)
        grandchild = _mint(world, http, str(child["token"]))
        sibling = _mint(world, http, world.tokens["alice"])  # another lineage: untouched
        parent_id = child["parent_id"]
        assert isinstance(parent_id, int)

        answer = http.delete(f"/api/v1/tokens/{parent_id}", headers=world.auth(str(sibling["token"])))
        assert answer.status_code == 200, answer.text
        for token in (parent, str(child["token"]), str(grandchild["token"])):
            assert _status(http, world, token) == 401
        assert _status(http, world, str(sibling["token"])) == 200
        stored = {t.id: t for t in world.store.list_tokens("alice")}
        assert stored[int(str(grandchild["id"]))].revoked_at is not None  # in the database too


def test_the_access_table_revokes_children_of_a_revoked_parent_whatever_their_rows_say(
    token_world: TokenWorld,
) -> None:
    """A revocation that raced a mint (the child's row says live): the table still refuses it."""
    world = token_world
    with httpx.Client(base_url=world.url, timeout=30) as http:
        parent = world.store.create_token("bob", expires_days=1)
        assert _answers_soon(http, world, parent.secret, 200)
        child = _mint(world, http, parent.secret)
        with world.store.engine.begin() as conn:  # the parent alone, as a racing revocation leaves it
            only_parent = update(api_tokens).where(api_tokens.c.id == parent.token.id)
            conn.execute(only_parent.values(revoked_at=datetime.now(UTC)))
        world.store.create_team("gamma")  # moves the change counter: servers reload
        assert _answers_soon(http, world, str(child["token"]), 401)


def test_a_revoked_parent_mints_nothing(token_world: TokenWorld) -> None:
    world = token_world
    with httpx.Client(base_url=world.url, timeout=30) as http:
        parent = world.store.create_token("bob", expires_days=1)
        assert _answers_soon(http, world, parent.secret, 200)
        child = _mint(world, http, parent.secret)
        world.store.revoke_token(parent.token.id)  # as another server, or the CLI, does it
        assert _answers_soon(http, world, parent.secret, 401)
        assert _status(http, world, str(child["token"])) == 401
        # and in the minting transaction: a revoked parent whose revocation a server has not seen yet
        with pytest.raises(BerthError) as refused:
            world.store.create_token("bob", parent_id=parent.token.id)
        assert refused.value.code is ErrorCode.UNAUTHENTICATED


def test_another_principals_token_id_answers_like_a_missing_one(token_world: TokenWorld) -> None:
    world = token_world
    with httpx.Client(base_url=world.url, timeout=30) as http:
        alices = _mint(world, http, world.tokens["alice"])
        missing = int(str(alices["id"])) + 1000
        answers = []
        for token_id in (alices["id"], missing):
            answer = http.delete(f"/api/v1/tokens/{token_id}", headers=world.auth(world.tokens["bob"]))
            body = answer.json()
            answers.append((answer.status_code, body["code"], body["error"].replace(str(token_id), "N")))
        assert answers[0] == answers[1] == (404, "token_not_found", "token N not found")
        assert _status(http, world, str(alices["token"])) == 200  # and it still works
        own = http.delete(f"/api/v1/tokens/{alices['id']}", headers=world.auth(world.tokens["root"]))
        assert own.status_code == 200  # an admin sees every token
