"""Out-of-range and malformed times are a 400 on every route that takes one, never a 500.

One parser (`berth.core.moments`) reads every time a caller gives: query parameters of records,
monitoring, the alert log and the audit trail, and the bodies of exports and feedback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.security.conftest import World

BAD_TIMES: list[Any] = [
    "9999-12-31T23:59:59-14:00",  # past datetime.max once in UTC
    "9999-12-31T23:59:59+14:00",  # representable, but no arithmetic left
    "0001-01-01T00:00:00+01:00",  # before datetime.min once in UTC
    "0000-01-01T00:00:00Z",  # year 0
    "1e30",
    "-1e30",
    "1e308",
    "nan",
    "inf",
    "-62135596800",  # 0001-01-01 as Unix seconds
    "2026-13-01T00:00:00Z",
    "x" * 5000,
]
BAD_JSON_TIMES: list[Any] = [*BAD_TIMES, 1e30, -1e30, 1e300, True, [], {}]

Call = Callable[[httpx.Client, Any], httpx.Response]


def _query(path: str, parameter: str, **extra: str) -> Call:
    return lambda http, value: http.get(path, params={parameter: value, **extra})


def _feedback(http: httpx.Client, value: Any) -> httpx.Response:
    item = {"prediction_id": "p-1", "label": "yes", "observed_at": value}
    return http.post("/api/v1/feedback", json={"feedback": [item]})


def _entity_feedback(http: httpx.Client, value: Any) -> httpx.Response:
    item = {"entity_key": "k", "endpoint": "alpha-model", "label": "yes", "observed_at": value}
    return http.post("/api/v1/feedback", json={"entity_feedback": [item]})


def _export(field: str) -> Call:
    return lambda http, value: http.post(
        "/api/v1/records/exports", json={"endpoint": "alpha-model", field: value}
    )


QUERY_ROUTES: dict[str, Call] = {
    "records start": _query("/api/v1/records", "start", endpoint="alpha-model"),
    "records end": _query("/api/v1/records", "end", endpoint="alpha-model"),
    "monitor start": _query("/api/v1/monitor/alpha-model", "start"),
    "monitor end": _query("/api/v1/monitor/alpha-model", "end"),
    "compare end": _query("/api/v1/monitor/alpha-model/compare", "end", a="alpha-model:1", b="x:1"),
    "alert log start": _query("/api/v1/alerts/events", "start"),
    "alert log end": _query("/api/v1/alerts/events", "end"),
    "audit since": _query("/api/v1/audit", "since"),
    "audit until": _query("/api/v1/audit", "until"),
    "audit export since": _query("/api/v1/audit/export", "since"),
}
BODY_ROUTES: dict[str, Call] = {
    "feedback observed_at": _feedback,
    "entity feedback observed_at": _entity_feedback,
    "export start": _export("start"),
    "export end": _export("end"),
}


@pytest.fixture(scope="module")
def root_http(world: World) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=world.url, timeout=30, headers=world.auth("root")) as client:
        yield client


def _assert_invalid(answer: httpx.Response, value: Any) -> None:
    assert answer.status_code == 400, (value, answer.status_code, answer.text[:300])
    body = answer.json()
    assert body["code"] == "invalid_request"
    assert len(body["error"]) < 1000  # the bad value is not echoed whole


@pytest.mark.parametrize("route", sorted(QUERY_ROUTES))
def test_a_bad_time_in_a_query_is_a_400(root_http: httpx.Client, route: str) -> None:
    for value in BAD_TIMES:
        _assert_invalid(QUERY_ROUTES[route](root_http, value), value)


@pytest.mark.parametrize("route", sorted(BODY_ROUTES))
def test_a_bad_time_in_a_body_is_a_400(root_http: httpx.Client, route: str) -> None:
    for value in BAD_JSON_TIMES:
        _assert_invalid(BODY_ROUTES[route](root_http, value), value)


@pytest.mark.parametrize("route", sorted(QUERY_ROUTES))
def test_good_times_in_every_form_are_taken(root_http: httpx.Client, route: str) -> None:
    """Aware, naive (taken as UTC) and Unix seconds all pass the same parser."""
    for value in ("2026-01-01T00:00:00Z", "2026-01-01T00:00:00", "2026-01-01T02:00:00+02:00", "1767225600"):
        answer = QUERY_ROUTES[route](root_http, value)
        assert answer.status_code == 200, (value, answer.text[:300])
