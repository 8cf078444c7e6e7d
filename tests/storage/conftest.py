"""Fixtures of the storage contract suite: every registry test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.storage.sql_endpoints import SqlEndpointStore
from berth.storage.sql_entities import SqlEntityStore
from berth.storage.sql_registry import SqlRegistryStore
from tests.support.postgres import fresh_postgres_database


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a fresh SQLite file, or a fresh PostgreSQL database."""
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
