"""Fixtures of the storage contract suite: every registry test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.storage.sql_endpoints import SqlEndpointStore
from berth.storage.sql_entities import SqlEntityStore
from berth.storage.sql_registry import SqlRegistryStore
from tests.support.migrated_sqlite import migrated_sqlite_url
from tests.support.postgres import fresh_postgres_database

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database at the newest schema, as a store leaves an empty one when it first opens it
    (copied from a migrated one: see tests/support): a SQLite file, or a PostgreSQL database."""
    if request.param == "sqlite":
        yield migrated_sqlite_url(tmp_path / "registry" / "berth.db")
    else:
        with fresh_postgres_database(migrated=True) as url:
            yield url


@pytest.fixture(params=BACKENDS)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database, for the tests of the migrations: a SQLite file, or a PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'registry' / 'berth.db'}"
    else:
        with fresh_postgres_database() as url:
            yield url


@pytest.fixture
def store(database_url: str) -> Iterator[SqlRegistryStore]:
    """A registry store on the test's database, closed afterwards."""
    opened = SqlRegistryStore(database_url)
    yield opened
    opened.close()


@pytest.fixture
def endpoint_store(store: SqlRegistryStore) -> SqlEndpointStore:
    """The endpoint store sharing the registry store's database."""
    return SqlEndpointStore(store.engine)


@pytest.fixture
def entity_store(store: SqlRegistryStore) -> SqlEntityStore:
    """The entity-feature store sharing the registry store's database."""
    return SqlEntityStore(store.engine)
