"""Endpoint store contract (SQLite and PostgreSQL): revisions, history, optimistic concurrency,
the namespace shared with models, and the change counter."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from berth.core.endpoints import EndpointChange, EndpointSpec
from berth.core.errors import BerthError, ErrorCode
from berth.storage.sql_endpoints import SqlEndpointStore
from berth.storage.sql_registry import SqlRegistryStore
from tests.storage.builders import new_version


def _code(call: Callable[[], object]) -> ErrorCode:
    with pytest.raises(BerthError) as caught:
        call()
    return caught.value.code


def _spec(*targets: tuple[str, float]) -> EndpointSpec:
    return EndpointSpec.from_json({"targets": [{"target": t, "weight": w} for t, w in targets]})


def test_create_and_read_back(endpoint_store: SqlEndpointStore) -> None:
    spec = EndpointSpec.from_json(
        {
            "targets": [{"target": "churn@production", "weight": 90}, {"target": "churn:2", "weight": 10}],
            "sticky": {"header": "X-Customer-Id"},
            "shadows": [{"target": "churn:3", "fraction": 0.5}],
            "pipeline": {"pre": [{"type": "select", "columns": ["a"]}]},
        }
    )

    created = endpoint_store.create_endpoint("scoring", spec, team="risk", description="d", actor="alice")

    assert (created.name, created.team, created.description, created.revision) == ("scoring", "risk", "d", 1)
    assert created.updated_by == "alice"
    assert endpoint_store.get_endpoint("scoring").spec == spec
    assert [e.name for e in endpoint_store.list_endpoints()] == ["scoring"]


def test_updates_count_revisions_and_keep_history(endpoint_store: SqlEndpointStore) -> None:
    first, second = _spec(("a@production", 1)), _spec(("a@production", 9), ("a:2", 1))
    endpoint_store.create_endpoint("ep", first, actor="alice", reason="launch")

    updated = endpoint_store.update_endpoint("ep", second, expected_revision=1, actor="bob", reason="ab test")

    assert updated.revision == 2
    assert updated.spec == second
    history = endpoint_store.endpoint_history("ep")
    assert [(e.revision, e.kind, e.actor, e.reason) for e in history] == [
        (1, EndpointChange.CREATE, "alice", "launch"),
        (2, EndpointChange.UPDATE, "bob", "ab test"),
    ]
    assert history[1].spec_before == first
    assert history[1].spec_after == second
    assert history[0].spec_before is None


def test_a_stale_revision_is_a_conflict(endpoint_store: SqlEndpointStore) -> None:
    endpoint_store.create_endpoint("ep", _spec(("a", 1)))
    endpoint_store.update_endpoint("ep", _spec(("b", 1)), expected_revision=1)

    assert _code(lambda: endpoint_store.update_endpoint("ep", _spec(("c", 1)), expected_revision=1)) is (
        ErrorCode.CONFLICT
    )
    assert endpoint_store.get_endpoint("ep").spec == _spec(("b", 1))


def test_concurrent_updates_at_one_revision_let_exactly_one_win(endpoint_store: SqlEndpointStore) -> None:
    endpoint_store.create_endpoint("ep", _spec(("a", 1)))

    def attempt(i: int) -> ErrorCode | None:
        try:
            endpoint_store.update_endpoint("ep", _spec((f"m{i}", 1)), expected_revision=1)
        except BerthError as exc:
            return exc.code
        return None

    with ThreadPoolExecutor(6) as pool:
        outcomes = list(pool.map(attempt, range(6)))

    assert outcomes.count(None) == 1
    assert set(outcomes) - {None} <= {ErrorCode.CONFLICT, ErrorCode.UNAVAILABLE}
    assert endpoint_store.get_endpoint("ep").revision == 2


def test_delete_keeps_the_history(endpoint_store: SqlEndpointStore) -> None:
    endpoint_store.create_endpoint("ep", _spec(("a", 1)))

    event = endpoint_store.delete_endpoint("ep", actor="carol", reason="retired")

    assert (event.kind, event.revision, event.spec_after) == (EndpointChange.DELETE, 2, None)
    assert _code(lambda: endpoint_store.get_endpoint("ep")) is ErrorCode.ENDPOINT_NOT_FOUND
    assert [e.kind for e in endpoint_store.endpoint_history("ep")] == ["create", "delete"]


def test_unknown_and_duplicate_endpoints(endpoint_store: SqlEndpointStore) -> None:
    endpoint_store.create_endpoint("ep", _spec(("a", 1)))

    assert _code(lambda: endpoint_store.create_endpoint("ep", _spec(("a", 1)))) is ErrorCode.ALREADY_EXISTS
    assert _code(lambda: endpoint_store.get_endpoint("nope")) is ErrorCode.ENDPOINT_NOT_FOUND
    assert _code(lambda: endpoint_store.update_endpoint("nope", _spec(("a", 1)))) is (
        ErrorCode.ENDPOINT_NOT_FOUND
    )
    assert _code(lambda: endpoint_store.endpoint_history("nope")) is ErrorCode.ENDPOINT_NOT_FOUND
    assert _code(lambda: endpoint_store.create_endpoint("../x", _spec(("a", 1)))) is ErrorCode.INVALID_NAME


def test_models_and_endpoints_share_one_namespace(
    store: SqlRegistryStore, endpoint_store: SqlEndpointStore
) -> None:
    store.create_version("churn", new_version())
    endpoint_store.create_endpoint("scoring", _spec(("churn", 1)))

    assert _code(lambda: endpoint_store.create_endpoint("churn", _spec(("churn", 1)))) is (
        ErrorCode.ALREADY_EXISTS
    )
    assert _code(lambda: store.create_model("scoring")) is ErrorCode.ALREADY_EXISTS
    assert _code(lambda: store.create_version("scoring", new_version())) is ErrorCode.ALREADY_EXISTS


def test_every_change_moves_the_generation_and_lands_in_the_snapshot(
    store: SqlRegistryStore, endpoint_store: SqlEndpointStore
) -> None:
    start = store.generation()
    endpoint_store.create_endpoint("ep", _spec(("a", 1)))
    after_create = store.generation()
    endpoint_store.update_endpoint("ep", _spec(("b", 1)))
    after_update = store.generation()

    snapshot = store.snapshot()
    endpoint_store.delete_endpoint("ep")

    assert start < after_create < after_update < store.generation()
    assert snapshot.endpoints["ep"].spec == _spec(("b", 1))
    assert "ep" not in store.snapshot().endpoints


def test_an_alias_an_endpoint_routes_to_cannot_be_deleted(
    store: SqlRegistryStore, endpoint_store: SqlEndpointStore
) -> None:
    store.create_version("churn", new_version())
    store.set_alias("churn", "production", 1)
    store.set_alias("churn", "spare", 1)
    endpoint_store.create_endpoint("ep", _spec(("churn@production", 1)))

    with pytest.raises(BerthError) as caught:
        store.delete_alias("churn", "production")
    store.delete_alias("churn", "spare")

    assert caught.value.code is ErrorCode.CONFLICT
    assert "ep" in caught.value.message
    assert store.get_model("churn").aliases == {"production": 1}
