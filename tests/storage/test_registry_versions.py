"""Registry contract: versions (numbering under concurrency, reads, resolve, metadata updates)."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC

import pytest

from berth.core.entities import ArtifactRef, VersionMetadata
from berth.core.errors import BerthError, ErrorCode
from berth.storage.sql_registry import SqlRegistryStore
from tests.storage.builders import SIGNATURE, artifact, new_version


def _code(call: Callable[[], object]) -> ErrorCode:
    with pytest.raises(BerthError) as caught:
        call()
    return caught.value.code


def test_create_version_stores_everything(store: SqlRegistryStore) -> None:
    pushed = new_version(content=b"v1")

    version = store.create_version("churn", pushed)

    assert version.model == "churn"
    assert version.number == 1
    assert version.flavor == pushed.flavor
    assert version.artifact == pushed.artifact
    assert version.signature == SIGNATURE
    assert version.runtime_config == pushed.runtime_config
    assert version.input_example == pushed.input_example
    assert version.metadata == pushed.metadata
    assert (version.trusted, version.pushed_by, version.source) == (True, "alice", "git:abc123")
    assert version.created_at.tzinfo is UTC
    assert version.aliases == ()
    assert store.get_version("churn", 1) == version


def test_create_version_keeps_a_missing_input_example(store: SqlRegistryStore) -> None:
    version = store.create_version("churn", new_version(input_example=None, metadata=VersionMetadata()))

    assert version.input_example is None
    assert version.metadata == VersionMetadata()


def test_versions_are_numbered_per_model(store: SqlRegistryStore) -> None:
    numbers = [store.create_version("a", new_version()).number for _ in range(3)]
    other = store.create_version("b", new_version()).number

    assert numbers == [1, 2, 3]
    assert other == 1


def test_create_version_creates_the_model_for_its_team(store: SqlRegistryStore) -> None:
    store.create_version("churn", new_version(), team="growth")

    assert store.get_model("churn").team == "growth"


def test_create_version_without_create_model_needs_the_model(store: SqlRegistryStore) -> None:
    assert _code(lambda: store.create_version("churn", new_version(), create_model=False)) is (
        ErrorCode.MODEL_NOT_FOUND
    )

    store.create_model("churn")
    assert store.create_version("churn", new_version(), create_model=False).number == 1


def test_create_version_touches_the_model(store: SqlRegistryStore) -> None:
    created = store.create_model("churn")

    store.create_version("churn", new_version())

    assert store.get_model("churn").updated_at >= created.updated_at


def test_concurrent_pushes_on_one_store_get_numbers_without_gaps(store: SqlRegistryStore) -> None:
    start = threading.Barrier(8)

    def push(i: int) -> int:
        start.wait()
        return store.create_version("churn", new_version(content=f"v{i}".encode())).number

    with ThreadPoolExecutor(8) as pool:
        numbers = list(pool.map(push, range(8)))

    assert sorted(numbers) == list(range(1, 9))
    assert [v.number for v in store.list_versions("churn")] == list(range(1, 9))
    assert store.get_model("churn").latest_version == 8


def test_concurrent_pushes_from_separate_stores_get_numbers_without_gaps(database_url: str) -> None:
    """Eight stores (own engines and pools, as separate processes would have) push at once."""
    stores = [SqlRegistryStore(database_url) for _ in range(8)]
    start = threading.Barrier(8)

    def push(i: int) -> int:
        start.wait()
        return stores[i].create_version("churn", new_version(content=f"v{i}".encode())).number

    try:
        with ThreadPoolExecutor(8) as pool:
            numbers = list(pool.map(push, range(8)))
        assert sorted(numbers) == list(range(1, 9))
        assert stores[0].generation() == 8  # one bump per push; creating the model rides along
    finally:
        for opened in stores:
            opened.close()


def test_get_version_errors(store: SqlRegistryStore) -> None:
    assert _code(lambda: store.get_version("churn", 1)) is ErrorCode.MODEL_NOT_FOUND
    store.create_version("churn", new_version())
    assert _code(lambda: store.get_version("churn", 2)) is ErrorCode.VERSION_NOT_FOUND
    assert _code(lambda: store.get_version("churn", 0)) is ErrorCode.VERSION_NOT_FOUND
    assert _code(lambda: store.get_version("churn", "1")) is ErrorCode.INVALID_REQUEST  # type: ignore[arg-type]
    assert _code(lambda: store.get_version("churn", True)) is ErrorCode.INVALID_REQUEST


def test_version_not_found_message_names_model_and_number(store: SqlRegistryStore) -> None:
    store.create_version("churn", new_version())

    with pytest.raises(BerthError) as caught:
        store.get_version("churn", 7)

    assert "'churn'" in caught.value.message
    assert "7" in caught.value.message


def test_list_versions_oldest_first_with_their_aliases(store: SqlRegistryStore) -> None:
    for content in (b"1", b"2", b"3"):
        store.create_version("churn", new_version(content=content))
    store.set_alias("churn", "production", 2)
    store.set_alias("churn", "champion", 2)
    store.set_alias("churn", "staging", 3)

    versions = store.list_versions("churn")

    assert [(v.number, v.artifact.sha256, v.aliases) for v in versions] == [
        (1, artifact(b"1").sha256, ()),
        (2, artifact(b"2").sha256, ("champion", "production")),
        (3, artifact(b"3").sha256, ("staging",)),
    ]
    assert store.get_version("churn", 2).aliases == ("champion", "production")


def test_list_versions_of_a_model_without_versions_is_empty(store: SqlRegistryStore) -> None:
    store.create_model("churn")

    assert store.list_versions("churn") == []
    assert _code(lambda: store.list_versions("nope")) is ErrorCode.MODEL_NOT_FOUND


@pytest.mark.parametrize(
    "bad",
    [
        {"metadata": VersionMetadata(metrics={"accuracy": math.nan})},
        {"metadata": VersionMetadata(metrics={"accuracy": math.inf})},
        {"metadata": VersionMetadata(metrics={"accuracy": "high"})},  # type: ignore[dict-item]
        {"metadata": VersionMetadata(metrics={"accuracy": True})},
        {"metadata": VersionMetadata(feature_importance={"a": -math.inf})},
        {"metadata": VersionMetadata(params={"alpha": math.nan})},
        {"metadata": VersionMetadata(params={"obj": object()})},
        {"runtime_config": {"threads": math.nan}},
        {"flavor": ""},
    ],
)
def test_unstorable_versions_are_invalid_request(store: SqlRegistryStore, bad: dict[str, object]) -> None:
    assert _code(lambda: store.create_version("churn", new_version(**bad))) is ErrorCode.INVALID_REQUEST
    assert _code(lambda: store.get_model("churn")) is ErrorCode.MODEL_NOT_FOUND  # nothing was written


def test_a_malformed_digest_is_refused(store: SqlRegistryStore) -> None:
    bad = ArtifactRef(sha256="../../etc/passwd", uri="file:///x", size=1, filename="x")

    assert (
        _code(lambda: store.create_version("churn", new_version(artifact=bad)))
        is ErrorCode.ARTIFACT_INTEGRITY
    )


def test_integer_metrics_are_stored_as_floats(store: SqlRegistryStore) -> None:
    version = store.create_version("churn", new_version(metadata=VersionMetadata(metrics={"rows": 10})))

    assert version.metadata.metrics == {"rows": 10.0}
    assert isinstance(version.metadata.metrics["rows"], float)


def test_update_version_metadata_replaces_given_fields(store: SqlRegistryStore) -> None:
    original = store.create_version("churn", new_version())

    updated = store.update_version_metadata(
        "churn", 1, {"metrics": {"auc": 0.8}, "docs": "new card", "training_data": None}
    )

    assert updated.metadata == VersionMetadata(
        metrics={"auc": 0.8},
        params=original.metadata.params,
        feature_importance=original.metadata.feature_importance,
        docs="new card",
        training_data=original.metadata.training_data,
        tags=original.metadata.tags,
    )
    assert store.get_version("churn", 1) == updated
    assert updated.artifact == original.artifact
    assert updated.created_at == original.created_at


def test_update_version_metadata_keeps_aliases_in_the_answer(store: SqlRegistryStore) -> None:
    store.create_version("churn", new_version())
    store.set_alias("churn", "production", 1)

    assert store.update_version_metadata("churn", 1, {"tags": {"a": "b"}}).aliases == ("production",)


@pytest.mark.parametrize(
    "update",
    [
        {"metrics": {"auc": math.nan}},
        {"metrics": {"auc": "0.8"}},
        {"tags": {"a": 1}},
        {"docs": 3},
        {"owner": "bob"},
    ],
)
def test_update_version_metadata_refuses_bad_values(
    store: SqlRegistryStore, update: dict[str, object]
) -> None:
    before = store.create_version("churn", new_version())

    assert _code(lambda: store.update_version_metadata("churn", 1, update)) is ErrorCode.INVALID_REQUEST
    assert store.get_version("churn", 1) == before


def test_update_version_metadata_errors(store: SqlRegistryStore) -> None:
    assert _code(lambda: store.update_version_metadata("churn", 1, {})) is ErrorCode.MODEL_NOT_FOUND
    store.create_model("churn")
    assert _code(lambda: store.update_version_metadata("churn", 1, {})) is ErrorCode.VERSION_NOT_FOUND


@pytest.fixture
def pushed(store: SqlRegistryStore) -> SqlRegistryStore:
    for content in (b"1", b"2", b"3"):
        store.create_version("churn", new_version(content=content))
    return store


def test_resolve_numbers_latest_and_aliases(pushed: SqlRegistryStore) -> None:
    pushed.set_alias("churn", "staging", 2)

    assert pushed.resolve("churn", "1").number == 1
    assert pushed.resolve("churn", "latest").number == 3
    assert pushed.resolve("churn", "staging").number == 2
    assert pushed.resolve("churn", "staging").aliases == ("staging",)


def test_resolve_none_prefers_production_else_latest(pushed: SqlRegistryStore) -> None:
    assert pushed.resolve("churn", None).number == 3

    pushed.set_alias("churn", "production", 1)

    assert pushed.resolve("churn", None).number == 1
    pushed.delete_alias("churn", "production")
    assert pushed.resolve("churn", None).number == 3


def test_resolve_errors(pushed: SqlRegistryStore) -> None:
    assert _code(lambda: pushed.resolve("nope", None)) is ErrorCode.MODEL_NOT_FOUND
    assert _code(lambda: pushed.resolve("churn", "4")) is ErrorCode.VERSION_NOT_FOUND
    assert _code(lambda: pushed.resolve("churn", "0")) is ErrorCode.VERSION_NOT_FOUND
    assert _code(lambda: pushed.resolve("churn", "production")) is ErrorCode.ALIAS_NOT_FOUND
    assert _code(lambda: pushed.resolve("churn", "not an alias!")) is ErrorCode.INVALID_NAME
    assert _code(lambda: pushed.resolve("churn", "-1")) is ErrorCode.INVALID_NAME
    assert _code(lambda: pushed.resolve("churn", "²")) is ErrorCode.INVALID_NAME


def test_resolve_on_a_model_without_versions(store: SqlRegistryStore) -> None:
    store.create_model("churn")

    assert _code(lambda: store.resolve("churn", None)) is ErrorCode.VERSION_NOT_FOUND
    assert _code(lambda: store.resolve("churn", "latest")) is ErrorCode.VERSION_NOT_FOUND


def test_resolve_alias_not_found_message(pushed: SqlRegistryStore) -> None:
    with pytest.raises(BerthError) as caught:
        pushed.resolve("churn", "champion")

    assert "'champion'" in caught.value.message
    assert "'churn'" in caught.value.message


def test_a_version_lands_only_in_a_model_of_the_expected_team(store: SqlRegistryStore) -> None:
    """The team a push was authorized for is checked where the version is appended: a model of
    another team is not found (no version, no alias), whoever created it and whenever."""
    store.create_model("taken", team="alpha")
    refused = _code(
        lambda: store.create_version(
            "taken", new_version(), team="beta", expected_team="beta", aliases=("prod",)
        )
    )
    assert refused is ErrorCode.MODEL_NOT_FOUND
    assert store.list_versions("taken") == []
    assert store.alias_history("taken") == []
    made = store.create_version("fresh", new_version(), team="beta", expected_team="beta", aliases=("prod",))
    assert (made.number, store.get_model("fresh").team) == (1, "beta")
    assert store.resolve("fresh", "prod").number == 1


def test_concurrent_pushes_of_two_teams_to_one_new_name_land_in_one_team(store: SqlRegistryStore) -> None:
    """Two teams push a new model of the same name at once: one creates it; the other's version is
    refused, never appended to the winner's model."""
    barrier = threading.Barrier(2)

    def push(team: str) -> str:
        barrier.wait()
        try:
            store.create_version("contested", new_version(), team=team, expected_team=team, aliases=(team,))
        except BerthError as exc:
            return exc.code.value
        return "created"

    with ThreadPoolExecutor(2) as pool:
        outcomes = dict(zip(("alpha", "beta"), pool.map(push, ["alpha", "beta"]), strict=True))
    winner = store.get_model("contested").team
    loser = "beta" if winner == "alpha" else "alpha"
    assert (outcomes[winner], outcomes[loser]) == ("created", "model_not_found")
    assert [v.number for v in store.list_versions("contested")] == [1]
    assert [e.alias for e in store.alias_history("contested")] == [winner]
