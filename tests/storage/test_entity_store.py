"""Entity-feature store contract (SQLite and PostgreSQL): upsert, batched look-up, deletion."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from berth.core.errors import BerthError, ErrorCode
from berth.storage.sql_entities import SqlEntityStore


def _code(call: Callable[[], object]) -> ErrorCode:
    with pytest.raises(BerthError) as caught:
        call()
    return caught.value.code


def test_put_then_get_only_the_keys_that_exist(entity_store: SqlEntityStore) -> None:
    written = entity_store.put_entities(
        "customers", {"c1": {"age": 41, "segment": "gold"}, "c2": {"age": 23, "segment": None}}
    )

    assert written == 2
    assert entity_store.get_entities("customers", ["c2", "c1", "c9"]) == {
        "c1": {"age": 41, "segment": "gold"},
        "c2": {"age": 23, "segment": None},
    }
    assert entity_store.get_entities("accounts", ["c1"]) == {}


def test_put_replaces_the_features_of_a_key(entity_store: SqlEntityStore) -> None:
    entity_store.put_entities("customers", {"c1": {"age": 41}})
    entity_store.put_entities("customers", {"c1": {"age": 42, "balance": 10.5}})

    assert entity_store.get_entities("customers", ["c1"]) == {"c1": {"age": 42, "balance": 10.5}}


def test_many_keys_are_read_in_one_call(entity_store: SqlEntityStore) -> None:
    entity_store.put_entities("customers", {f"c{i}": {"i": i} for i in range(1200)})

    found = entity_store.get_entities("customers", [f"c{i}" for i in range(0, 1300, 1)])

    assert len(found) == 1200
    assert found["c1199"] == {"i": 1199}
    assert entity_store.entity_tables() == {"customers": 1200}


def test_delete_entity(entity_store: SqlEntityStore) -> None:
    entity_store.put_entities("customers", {"c1": {"age": 41}})

    assert entity_store.delete_entity("customers", "c1") is True
    assert entity_store.delete_entity("customers", "c1") is False
    assert entity_store.get_entities("customers", ["c1"]) == {}


@pytest.mark.parametrize(
    ("table", "rows", "code"),
    [
        ("../etc", {"k": {}}, ErrorCode.INVALID_NAME),
        ("customers", {"": {"a": 1}}, ErrorCode.INVALID_REQUEST),
        ("customers", {"k": ["not", "an", "object"]}, ErrorCode.INVALID_REQUEST),
        ("customers", {"k": {"a": float("nan")}}, ErrorCode.INVALID_REQUEST),
        ("customers", {"k": {"a": {"nested": 1}}}, ErrorCode.INVALID_REQUEST),
        ("customers", {"x" * 300: {"a": 1}}, ErrorCode.INVALID_REQUEST),
    ],
)
def test_bad_entities_are_refused(
    entity_store: SqlEntityStore, table: str, rows: dict[str, object], code: ErrorCode
) -> None:
    assert _code(lambda: entity_store.put_entities(table, rows)) is code  # type: ignore[arg-type]
    assert entity_store.entity_tables() == {}
