"""Registry contract: the change counter, snapshots, several stores on one database, migrations."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from berth.core.entities import RegistrySnapshot
from berth.core.errors import BerthError
from berth.storage.db import create_database_engine
from berth.storage.migrate import upgrade_database
from berth.storage.schema import metadata
from berth.storage.sql_registry import SqlRegistryStore
from tests.storage.builders import new_version
from tests.storage.workers import open_and_push


def test_a_fresh_registry_is_at_generation_zero(store: SqlRegistryStore) -> None:
    assert store.generation() == 0
    assert store.snapshot() == RegistrySnapshot(generation=0, versions={}, aliases={})


def test_every_mutation_bumps_the_generation_once(store: SqlRegistryStore) -> None:
    mutations: list[Callable[[], object]] = [
        lambda: store.create_model("churn"),
        lambda: store.update_model("churn", description="x"),
        lambda: store.create_version("churn", new_version()),
        lambda: store.create_version("fraud", new_version()),  # creates the model too: still one change
        lambda: store.update_version_metadata("churn", 1, {"docs": "card"}),
        lambda: store.set_alias("churn", "production", 1),
        lambda: store.create_version("churn", new_version()),
        lambda: store.set_alias("churn", "production", 2),
        lambda: store.delete_alias("churn", "production"),
    ]
    for expected, mutate in enumerate(mutations, start=1):
        mutate()
        assert store.generation() == expected


def test_reads_and_failed_calls_do_not_bump_the_generation(store: SqlRegistryStore) -> None:
    store.create_version("churn", new_version())
    store.set_alias("churn", "production", 1)
    generation = store.generation()
    reads: list[Callable[[], object]] = [
        lambda: store.get_model("churn"),
        lambda: store.list_models(),
        lambda: store.get_version("churn", 1),
        lambda: store.list_versions("churn"),
        lambda: store.resolve("churn", None),
        lambda: store.alias_history("churn"),
        lambda: store.snapshot(),
        lambda: store.generation(),
    ]
    for read in reads:
        read()
    for failing in (
        lambda: store.create_model("churn"),
        lambda: store.set_alias("churn", "staging", 5),
        lambda: store.delete_alias("churn", "staging"),
        lambda: store.update_version_metadata("churn", 1, {"metrics": {"x": "y"}}),
    ):
        with pytest.raises(BerthError):
            failing()

    assert store.generation() == generation


def test_snapshot_holds_every_version_and_alias(store: SqlRegistryStore) -> None:
    store.create_version("churn", new_version(content=b"1"))
    store.create_version("churn", new_version(content=b"2", flavor="onnx"))
    store.create_version("fraud", new_version())
    store.create_model("empty")
    store.set_alias("churn", "production", 1)
    store.set_alias("churn", "staging", 2)
    store.set_alias("fraud", "production", 1)

    snapshot = store.snapshot()

    assert snapshot.generation == store.generation()
    assert snapshot.versions == {
        "churn": {1: store.get_version("churn", 1), 2: store.get_version("churn", 2)},
        "fraud": {1: store.get_version("fraud", 1)},
        "empty": {},
    }
    assert snapshot.aliases == {
        "churn": {"production": 1, "staging": 2},
        "fraud": {"production": 1},
        "empty": {},
    }
    assert snapshot.versions["churn"][2].aliases == ("staging",)


def test_two_stores_on_one_database_see_each_others_writes(database_url: str) -> None:
    first, second = SqlRegistryStore(database_url), SqlRegistryStore(database_url)
    try:
        first.create_version("churn", new_version())
        assert second.get_model("churn").latest_version == 1
        second.set_alias("churn", "production", 1)
        assert first.resolve("churn", None).aliases == ("production",)
        assert first.generation() == second.generation() == 2
        assert first.snapshot() == second.snapshot()
    finally:
        first.close()
        second.close()


def test_opening_again_keeps_the_data_and_migrating_is_idempotent(empty_database_url: str) -> None:
    first = SqlRegistryStore(empty_database_url)
    try:
        first.create_version("churn", new_version())
    finally:
        first.close()
    engine = create_database_engine(empty_database_url)
    try:
        upgrade_database(engine)
        upgrade_database(engine)
        reopened = SqlRegistryStore(engine)
        try:
            assert reopened.get_model("churn").latest_version == 1
            assert reopened.generation() == 1
        finally:
            reopened.close()
        with engine.connect() as conn:  # a store given an engine leaves it open for its owner
            assert "alembic_version" in inspect(conn).get_table_names()
    finally:
        engine.dispose()


def test_the_migrations_create_exactly_the_schema(empty_database_url: str) -> None:
    engine = create_database_engine(empty_database_url)
    try:
        upgrade_database(engine)
        with engine.connect() as conn:
            differences = compare_metadata(MigrationContext.configure(conn), metadata)
    finally:
        engine.dispose()

    assert differences == []


def test_processes_opening_a_fresh_database_at_once_agree(empty_database_url: str) -> None:
    """Three processes migrate the same empty database and push concurrently."""
    with ProcessPoolExecutor(3, mp_context=multiprocessing.get_context("spawn")) as pool:
        results = list(pool.map(open_and_push, [empty_database_url] * 3, [3] * 3))

    assert sorted(n for numbers in results for n in numbers) == list(range(1, 10))
    store = SqlRegistryStore(empty_database_url)
    try:
        assert [v.number for v in store.list_versions("churn")] == list(range(1, 10))
    finally:
        store.close()
