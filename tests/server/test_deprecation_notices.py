"""The deprecation headers an answer carries: by version, by alias called, by endpoint; RFC formats."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from berth.core.consumers import (
    Deprecation,
    DeprecationScope,
    parse_deprecation_field,
    parse_sunset_field,
    sunset_field,
)
from berth.core.tensors import InferenceResponse
from berth.server.deprecation_notices import DeprecationNotices

DEPRECATED = datetime(2026, 12, 1, 12, 30, tzinfo=UTC)


def _deprecation(
    name: str, scope: DeprecationScope, subject: str, sunset: datetime, link: str | None = None
) -> Deprecation:
    kind = "endpoint" if scope is DeprecationScope.ENDPOINT else "model"
    return Deprecation(
        resource_kind=kind,
        resource_name=name,
        scope=scope,
        subject=subject,
        deprecated_at=DEPRECATED,
        sunset_at=sunset,
        message="",
        link=link,
        announced_by="alice",
    )


def _answer(version: str, endpoint: str | None = None) -> InferenceResponse:
    parameters = {"endpoint": endpoint, "variant": "a"} if endpoint else {}
    return InferenceResponse(model_name="churn", model_version=version, outputs=[], parameters=parameters)


def _notices(*found: Deprecation) -> DeprecationNotices:
    with ThreadPoolExecutor(1) as pool:
        notices = DeprecationNotices(lambda: list(found), pool, lambda: 0)
    notices.apply(list(found))
    return notices


def test_the_header_values_follow_the_rfcs() -> None:
    headers = dict(
        _deprecation(
            "churn", DeprecationScope.VERSION, "1", datetime(2027, 3, 1, tzinfo=UTC), "https://x.example/a"
        ).headers()
    )
    assert headers == {
        "deprecation": f"@{int(DEPRECATED.timestamp())}",
        "sunset": "Mon, 01 Mar 2027 00:00:00 GMT",
        "link": '<https://x.example/a>; rel="deprecation"',
    }
    assert parse_deprecation_field(headers["deprecation"]) == DEPRECATED
    assert parse_sunset_field(headers["sunset"]) == datetime(2027, 3, 1, tzinfo=UTC)
    assert sunset_field(datetime(2027, 3, 1, 1, 0, 0, 999, tzinfo=UTC)) == "Mon, 01 Mar 2027 01:00:00 GMT"


def test_nothing_deprecated_adds_nothing() -> None:
    assert _notices().headers("churn", "1", _answer("1")) == []


def test_a_version_alias_and_endpoint_each_announce_on_their_own() -> None:
    v1 = datetime(2027, 1, 1, tzinfo=UTC)
    staging = datetime(2028, 1, 1, tzinfo=UTC)
    scoring = datetime(2029, 1, 1, tzinfo=UTC)
    notices = _notices(
        _deprecation("churn", DeprecationScope.VERSION, "1", v1),
        _deprecation("churn", DeprecationScope.ALIAS, "staging", staging),
        _deprecation("scoring", DeprecationScope.ENDPOINT, "", scoring),
    )

    def sunset(name: str, ref: str | None, answer: InferenceResponse) -> datetime | None:
        found = dict(notices.headers(name, ref, answer))
        return parse_sunset_field(found[b"sunset"].decode()) if found else None

    assert sunset("churn", "1", _answer("1")) == v1
    assert sunset("churn", None, _answer("1")) == v1  # the default version is version 1
    assert sunset("churn", "2", _answer("2")) is None
    assert sunset("churn", "staging", _answer("2")) == staging
    assert sunset("churn", "production", _answer("2")) is None
    assert sunset("scoring", None, _answer("2", endpoint="scoring")) == scoring
    assert sunset("scoring", None, _answer("1", endpoint="scoring")) == v1  # the earliest sunset
    assert sunset("other", None, _answer("2", endpoint="other")) is None
