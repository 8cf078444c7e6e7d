"""A fresh PostgreSQL database per test, on the server at ``BERTH_TEST_POSTGRES_URL``.

Default server: ``postgresql://postgres@127.0.0.1:5432/postgres`` (trust auth). When it cannot be
reached, tests that need it are skipped with the reason, except under ``CI=true``, where that
is a failure: CI must run them.

Use in a suite::

    from tests.support.postgres import fresh_postgres_database

    @pytest.fixture
    def database_url() -> Iterator[str]:
        with fresh_postgres_database() as url:  # skips (or fails under CI) without a server
            yield url

or take the ready-made fixture `postgres_database_url` by importing it into a conftest.
Mark such tests ``@pytest.mark.postgres``.

``fresh_postgres_database(migrated=True)`` gives a database already at berth's newest schema: a copy
(``CREATE DATABASE ... TEMPLATE``, about 0.1 s) of one database per test process that a store
migrated when it first opened it, as any store does with an empty database (about 1 s a test
otherwise). Tests of the migrations themselves take an empty one.
"""

from __future__ import annotations

import atexit
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Final

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from berth.storage.sql_registry import SqlRegistryStore
from tests.support.unavailable import unavailable

DEFAULT_POSTGRES_URL: Final = "postgresql://postgres@127.0.0.1:5432/postgres"
CONNECT_TIMEOUT_S: Final = 3


def postgres_server_url() -> str:
    """The URL of the server's maintenance database (from ``BERTH_TEST_POSTGRES_URL``)."""
    return os.environ.get("BERTH_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL


def require_postgres() -> str:
    """The server URL; skips the calling test when the server is unreachable (fails under CI=true)."""
    url = postgres_server_url()
    reason = _unreachable_reason(url)
    if reason is not None:
        message = f"PostgreSQL at {_safe(url)} is unreachable ({reason}); set BERTH_TEST_POSTGRES_URL"
        unavailable(message, must_run="PostgreSQL tests")
    return url


@contextmanager
def fresh_postgres_database(prefix: str = "berth_test", *, migrated: bool = False) -> Iterator[str]:
    """Create a database (``<prefix>_<random>``), yield its ``postgresql://`` URL, drop it. It is
    empty, or with `migrated` at berth's newest schema."""
    server = require_postgres()
    name = f"{prefix}_{uuid.uuid4().hex[:16]}"
    create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if migrated:
        create += sql.SQL(" TEMPLATE {}").format(sql.Identifier(_migrated_template(server)))
    with _admin_connection(server) as conn:
        conn.execute(create)
    try:
        yield _database_url(server, name)
    finally:
        _drop(server, name)


@pytest.fixture
def postgres_database_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test (its URL), dropped afterwards."""
    with fresh_postgres_database() as url:
        yield url


@cache
def _migrated_template(server: str) -> str:
    """This process's database at the newest schema (dropped when the process exits): copied by
    `fresh_postgres_database(migrated=True)`, so nothing may stay connected to it."""
    name = f"berth_template_{uuid.uuid4().hex[:16]}"
    with _admin_connection(server) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    atexit.register(_drop, server, name)
    SqlRegistryStore(_database_url(server, name)).close()  # a first open migrates; close leaves no connection
    return name


def _database_url(server: str, name: str) -> str:
    return make_url(_libpq_url(server)).set(database=name).render_as_string(hide_password=False)


def _drop(server: str, name: str) -> None:
    with _admin_connection(server) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@cache
def _unreachable_reason(url: str) -> str | None:
    try:
        with _admin_connection(url) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return None


def _admin_connection(url: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(_libpq_url(url), autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)


def _libpq_url(url: str) -> str:
    """The URL without a SQLAlchemy driver suffix (``postgresql+psycopg://`` -> ``postgresql://``)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _safe(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)
