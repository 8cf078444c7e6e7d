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
"""

from __future__ import annotations

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
def fresh_postgres_database(prefix: str = "berth_test") -> Iterator[str]:
    """Create an empty database (``<prefix>_<random>``), yield its ``postgresql://`` URL, drop it."""
    server = require_postgres()
    name = f"{prefix}_{uuid.uuid4().hex[:16]}"
    with _admin_connection(server) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_url(_libpq_url(server)).set(database=name).render_as_string(hide_password=False)
    finally:
        with _admin_connection(server) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def postgres_database_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test (its URL), dropped afterwards."""
    with fresh_postgres_database() as url:
        yield url


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
