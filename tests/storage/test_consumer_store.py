"""Consumer store contract (SQLite and PostgreSQL): usage adds up, deprecations hang off identities."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from berth.core.audit import AuditQuery
from berth.core.consumers import DeprecationScope, UsageCount
from berth.core.endpoints import EndpointSpec
from berth.core.errors import BerthError, ErrorCode
from berth.storage.audit_store import SqlAuditStore
from berth.storage.queries import now
from berth.storage.sql_consumers import SqlConsumerStore
from berth.storage.sql_endpoints import SqlEndpointStore
from berth.storage.sql_registry import SqlRegistryStore
from tests.storage.builders import new_version

SUNSET = datetime(2031, 3, 1, tzinfo=UTC)


@pytest.fixture
def consumers(store: SqlRegistryStore) -> SqlConsumerStore:
    store.create_model("churn", team="risk")
    store.create_version("churn", new_version(), team="risk")
    store.create_version("churn", new_version(), team="risk")
    store.set_alias("churn", "staging", 2)
    return SqlConsumerStore(store.engine)


def _code(call: Callable[[], object]) -> ErrorCode:
    with pytest.raises(BerthError) as caught:
        call()
    return caught.value.code


def _count(
    principal: str = "bob", *, version: int = 1, calls: int = 1, errors: int = 0, at: datetime | None = None
) -> UsageCount:
    at = at or now()
    return UsageCount(
        "churn", "churn", version, principal, "growth", at.date().isoformat(), calls, errors, at
    )


def test_flushes_of_the_same_key_add_up_and_keep_the_latest_call(consumers: SqlConsumerStore) -> None:
    early, late = now() - timedelta(seconds=30), now()
    consumers.add_usage([_count(calls=3, errors=1, at=late)])
    consumers.add_usage([_count(calls=4, at=early)])  # a slower replica flushes an older count later

    (bob,) = consumers.consumers("model", "churn")

    assert (bob.team, bob.principal, bob.calls, bob.errors, bob.calls_30d) == ("growth", "bob", 7, 1, 7)
    assert bob.last_at == late
    assert [(v.model, v.version, v.calls) for v in bob.versions] == [("churn", 1, 7)]


def test_one_batch_may_repeat_a_key(consumers: SqlConsumerStore) -> None:
    consumers.add_usage([_count(calls=2), _count(calls=5)])

    assert consumers.consumers("model", "churn")[0].calls == 7


def test_concurrent_flushes_lose_nothing(consumers: SqlConsumerStore) -> None:
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: consumers.add_usage([_count(calls=1), _count("carol", calls=2)]), range(40)))

    found = {c.principal: c.calls for c in consumers.consumers("model", "churn")}
    assert found == {"bob": 40, "carol": 80}


def test_consumers_are_grouped_by_team_and_principal_most_calls_first(consumers: SqlConsumerStore) -> None:
    consumers.add_usage(
        [
            _count("bob", version=1, calls=2),
            _count("bob", version=2, calls=3),
            _count("carol", calls=10),
            UsageCount("churn", "churn", 1, "dave", "", now().date().isoformat(), 1, 0, now()),
        ]
    )

    found = consumers.consumers("model", "churn")

    assert [(c.principal, c.team, c.calls, c.calls_30d) for c in found] == [
        ("carol", "growth", 10, 10),
        ("bob", "growth", 5, 5),
        ("dave", "", 1, 1),
    ]
    assert [v.version for v in found[1].versions] == [1, 2]
    later = consumers.consumers("model", "churn", now=now() + timedelta(days=31))
    assert [(c.calls, c.calls_30d) for c in later] == [(10, 0), (5, 0), (1, 0)]


def test_calls_from_before_the_name_was_created_are_not_its_own(consumers: SqlConsumerStore) -> None:
    consumers.add_usage([_count("carol", calls=10, at=now() - timedelta(days=2)), _count("bob")])

    assert [c.principal for c in consumers.consumers("model", "churn")] == ["bob"]


def test_consumers_of_something_missing_are_not_found(consumers: SqlConsumerStore) -> None:
    assert _code(lambda: consumers.consumers("model", "nobody")) is ErrorCode.MODEL_NOT_FOUND
    assert _code(lambda: consumers.consumers("endpoint", "nobody")) is ErrorCode.ENDPOINT_NOT_FOUND
    assert _code(lambda: consumers.consumers("team", "churn")) is ErrorCode.INVALID_REQUEST


def test_a_deprecation_is_announced_changed_and_withdrawn_with_audit(
    store: SqlRegistryStore, consumers: SqlConsumerStore
) -> None:
    generation = store.generation()
    made = consumers.announce(
        "model", "churn", DeprecationScope.VERSION, "1", sunset_at=SUNSET, message="use 2", actor="alice"
    )
    assert (made.scope, made.subject, made.sunset_at, made.message) == ("version", "1", SUNSET, "use 2")
    assert store.generation() > generation  # servers reload their notices

    later = SUNSET + timedelta(days=30)
    consumers.announce(
        "model", "churn", DeprecationScope.VERSION, "1", sunset_at=later, link="https://wiki.example/churn"
    )
    (found,) = consumers.deprecations("model", "churn")
    assert (found.sunset_at, found.link, found.message) == (later, "https://wiki.example/churn", "")
    assert consumers.all_deprecations() == [found]

    assert consumers.withdraw("model", "churn", DeprecationScope.VERSION, "1") == found
    assert consumers.deprecations("model", "churn") == []
    gone = lambda: consumers.withdraw("model", "churn", DeprecationScope.VERSION, "1")  # noqa: E731
    assert _code(gone) is ErrorCode.DEPRECATION_NOT_FOUND

    events = SqlAuditStore(store.engine).query(AuditQuery(resource_name="churn"))
    actions = [e.action for e in events if e.action.startswith("deprecation.")]
    assert actions == ["deprecation.announce", "deprecation.announce", "deprecation.withdraw"]


@pytest.mark.parametrize(
    ("kind", "scope", "subject", "code"),
    [
        ("model", DeprecationScope.VERSION, "3", ErrorCode.VERSION_NOT_FOUND),
        ("model", DeprecationScope.VERSION, "0", ErrorCode.INVALID_REQUEST),
        ("model", DeprecationScope.VERSION, "x", ErrorCode.INVALID_REQUEST),
        ("model", DeprecationScope.ALIAS, "production", ErrorCode.ALIAS_NOT_FOUND),
        ("model", DeprecationScope.ALIAS, "../x", ErrorCode.INVALID_REQUEST),
        ("model", DeprecationScope.ENDPOINT, "", ErrorCode.INVALID_REQUEST),
        ("endpoint", DeprecationScope.ENDPOINT, "", ErrorCode.ENDPOINT_NOT_FOUND),
        ("endpoint", DeprecationScope.VERSION, "1", ErrorCode.INVALID_REQUEST),
    ],
)
def test_only_what_exists_is_deprecated(
    consumers: SqlConsumerStore, kind: str, scope: DeprecationScope, subject: str, code: ErrorCode
) -> None:
    assert _code(lambda: consumers.announce(kind, "churn", scope, subject, sunset_at=SUNSET)) is code


@pytest.mark.parametrize(
    "link",
    [
        "javascript:alert(1)",
        "https://x.example/a b",
        'https://x.example/">',
        "/relative",
        "https://é.example",
    ],
)
def test_a_link_is_an_absolute_web_address_a_header_can_carry(consumers: SqlConsumerStore, link: str) -> None:
    announce = lambda: consumers.announce(  # noqa: E731
        "model", "churn", DeprecationScope.ALIAS, "staging", sunset_at=SUNSET, link=link
    )
    assert _code(announce) is ErrorCode.INVALID_REQUEST


def test_the_sunset_comes_after_the_deprecation(consumers: SqlConsumerStore) -> None:
    past = now() - timedelta(days=1)
    announce = lambda: consumers.announce("model", "churn", DeprecationScope.ALIAS, "staging", sunset_at=past)  # noqa: E731
    assert _code(announce) is ErrorCode.INVALID_REQUEST


def test_a_recreated_name_does_not_inherit_a_deprecation(
    store: SqlRegistryStore, consumers: SqlConsumerStore
) -> None:
    endpoints = SqlEndpointStore(store.engine)
    spec = EndpointSpec.from_json({"targets": [{"target": "churn:1", "weight": 1}]})
    endpoints.create_endpoint("scoring", spec, team="risk")
    consumers.announce("endpoint", "scoring", DeprecationScope.ENDPOINT, "", sunset_at=SUNSET)
    assert [d.scope for d in consumers.all_deprecations()] == ["endpoint"]

    endpoints.delete_endpoint("scoring")
    endpoints.create_endpoint("scoring", spec, team="risk")

    assert consumers.deprecations("endpoint", "scoring") == []
    assert consumers.all_deprecations() == []


def test_the_consumers_view_marks_calls_to_what_is_deprecated(consumers: SqlConsumerStore) -> None:
    consumers.add_usage([_count("bob", calls=4), _count("carol", version=2, calls=1)])
    tomorrow = now() + timedelta(days=1)
    consumers.add_usage([_count("bob", calls=2, at=tomorrow)])
    consumers.announce(
        "model", "churn", DeprecationScope.VERSION, "1", sunset_at=SUNSET, deprecated_at=tomorrow
    )

    found = {c.principal: c for c in consumers.consumers("model", "churn")}

    bob, carol = found["bob"], found["carol"]
    assert (bob.calls, bob.deprecated_calls) == (6, 2)  # since the day it was announced
    assert [(v.version, v.deprecated) for v in bob.versions] == [(1, True)]
    assert (carol.deprecated_calls, carol.versions[0].deprecated) == (0, False)
