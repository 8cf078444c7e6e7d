"""Registry contract: aliases (set, move, delete) and their history."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from berth.core.entities import AliasEvent
from berth.core.errors import BerthError, ErrorCode
from berth.storage.sql_registry import SqlRegistryStore
from tests.storage.builders import new_version


def _code(call: Callable[[], object]) -> ErrorCode:
    with pytest.raises(BerthError) as caught:
        call()
    return caught.value.code


def _moves(events: list[AliasEvent]) -> list[tuple[str, int | None, int | None, str, str]]:
    return [(e.alias, e.from_version, e.to_version, e.actor, e.reason) for e in events]


@pytest.fixture
def pushed(store: SqlRegistryStore) -> SqlRegistryStore:
    for content in (b"1", b"2", b"3"):
        store.create_version("churn", new_version(content=content))
    return store


def test_set_alias_creates_it(pushed: SqlRegistryStore) -> None:
    before = datetime.now(UTC)

    event = pushed.set_alias("churn", "production", 2, actor="alice", reason="launch")

    assert (event.model, event.alias, event.from_version, event.to_version) == (
        "churn",
        "production",
        None,
        2,
    )
    assert (event.actor, event.reason) == ("alice", "launch")
    assert before <= event.at <= datetime.now(UTC)
    assert pushed.get_model("churn").aliases == {"production": 2}
    assert pushed.alias_history("churn", "production") == [event]


def test_moves_and_rollback_are_recorded(pushed: SqlRegistryStore) -> None:
    pushed.set_alias("churn", "production", 1, actor="alice")
    pushed.set_alias("churn", "production", 3, actor="bob", reason="better auc")
    pushed.set_alias("churn", "production", 1, actor="carol", reason="rollback")

    assert pushed.resolve("churn", "production").number == 1
    assert _moves(pushed.alias_history("churn", "production")) == [
        ("production", None, 1, "alice", ""),
        ("production", 1, 3, "bob", "better auc"),
        ("production", 3, 1, "carol", "rollback"),
    ]


def test_setting_an_alias_to_its_version_changes_nothing(pushed: SqlRegistryStore) -> None:
    pushed.set_alias("churn", "production", 2)
    generation = pushed.generation()

    event = pushed.set_alias("churn", "production", 2, actor="bob")

    assert (event.from_version, event.to_version, event.actor) == (2, 2, "bob")
    assert pushed.generation() == generation
    assert len(pushed.alias_history("churn", "production")) == 1


def test_delete_alias_records_it_and_removes_it(pushed: SqlRegistryStore) -> None:
    pushed.set_alias("churn", "staging", 3)

    event = pushed.delete_alias("churn", "staging", actor="alice", reason="done")

    assert (event.from_version, event.to_version, event.actor, event.reason) == (3, None, "alice", "done")
    assert pushed.get_model("churn").aliases == {}
    assert pushed.get_version("churn", 3).aliases == ()
    assert _code(lambda: pushed.resolve("churn", "staging")) is ErrorCode.ALIAS_NOT_FOUND
    assert _moves(pushed.alias_history("churn", "staging")) == [
        ("staging", None, 3, "", ""),
        ("staging", 3, None, "alice", "done"),
    ]


def test_alias_can_be_set_again_after_deletion(pushed: SqlRegistryStore) -> None:
    pushed.set_alias("churn", "staging", 3)
    pushed.delete_alias("churn", "staging")

    event = pushed.set_alias("churn", "staging", 1)

    assert (event.from_version, event.to_version) == (None, 1)
    assert len(pushed.alias_history("churn", "staging")) == 3


def test_history_of_all_aliases_oldest_first(pushed: SqlRegistryStore) -> None:
    pushed.set_alias("churn", "staging", 3)
    pushed.set_alias("churn", "production", 2)
    pushed.set_alias("churn", "staging", 1)
    pushed.create_version("other", new_version())
    pushed.set_alias("other", "staging", 1)

    assert _moves(pushed.alias_history("churn")) == [
        ("staging", None, 3, "", ""),
        ("production", None, 2, "", ""),
        ("staging", 3, 1, "", ""),
    ]


def test_history_of_a_model_without_aliases_is_empty(pushed: SqlRegistryStore) -> None:
    assert pushed.alias_history("churn") == []


def test_alias_errors(pushed: SqlRegistryStore) -> None:
    assert _code(lambda: pushed.set_alias("nope", "production", 1)) is ErrorCode.MODEL_NOT_FOUND
    assert _code(lambda: pushed.set_alias("churn", "production", 4)) is ErrorCode.VERSION_NOT_FOUND
    assert _code(lambda: pushed.set_alias("churn", "production", "1")) is ErrorCode.INVALID_REQUEST  # type: ignore[arg-type]
    assert _code(lambda: pushed.delete_alias("churn", "production")) is ErrorCode.ALIAS_NOT_FOUND
    assert _code(lambda: pushed.delete_alias("nope", "production")) is ErrorCode.MODEL_NOT_FOUND
    assert _code(lambda: pushed.alias_history("churn", "production")) is ErrorCode.ALIAS_NOT_FOUND
    assert _code(lambda: pushed.alias_history("nope")) is ErrorCode.MODEL_NOT_FOUND
    assert pushed.get_model("churn").aliases == {}


def test_set_alias_to_missing_version_names_it(pushed: SqlRegistryStore) -> None:
    with pytest.raises(BerthError) as caught:
        pushed.set_alias("churn", "production", 9)

    assert caught.value.code is ErrorCode.VERSION_NOT_FOUND
    assert "9" in caught.value.message


@pytest.mark.parametrize("alias", ["latest", "1", "3rd", "", "has space", "-x", "a" * 65, "prod/uction"])
def test_invalid_aliases_are_refused(pushed: SqlRegistryStore, alias: str) -> None:
    assert _code(lambda: pushed.set_alias("churn", alias, 1)) is ErrorCode.INVALID_NAME
    assert _code(lambda: pushed.delete_alias("churn", alias)) is ErrorCode.INVALID_NAME
    assert _code(lambda: pushed.alias_history("churn", alias)) is ErrorCode.INVALID_NAME


def test_aliases_of_different_models_are_separate(pushed: SqlRegistryStore) -> None:
    pushed.create_version("other", new_version())
    pushed.set_alias("churn", "production", 3)
    pushed.set_alias("other", "production", 1)

    assert pushed.resolve("churn", "production").number == 3
    assert pushed.resolve("other", "production").number == 1
