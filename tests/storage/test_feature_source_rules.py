"""The servers feature views may reach (`Settings.feature_source_allow`): a team maintainer cannot
point berth at a host and port the operator did not list, at create, at serving or on `put`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.core.errors import BerthError, ErrorCode
from berth.storage.feature_sources import FeatureSourceRules
from berth.wiring.workspace import open_workspace
from tests.support.money_platform import money_platform
from tests.support.redis import redis_address, redis_prefix
from tests.support.servers import server_in_thread

RULES = FeatureSourceRules.parse(
    "redis://cache.bank.internal:6379, feast+http://Feast.Internal, feast+flight://127.0.0.1:8815"
)


def code_of(uri: str, rules: FeatureSourceRules = RULES) -> ErrorCode | None:
    try:
        rules.check(uri, "feature source")
    except BerthError as exc:
        return exc.code
    return None


@pytest.mark.parametrize(
    "uri",
    [
        "redis://cache.bank.internal:6379/0?prefix=p",
        "redis://cache.bank.internal/0",  # the default port, 6379
        "redis://CACHE.bank.internal:6379/2",
        "redis://:secret@cache.bank.internal:6379/0",
        "feast+http://feast.internal:6566/profile",  # every port of that host
        "feast+http://feast.internal/profile",
        "feast+flight://127.0.0.1:8815/v?project=p",
        "embedded:",  # not a server: not judged here
        "profiles/history.parquet",
        "s3://bucket/prefix",  # the batch jobs' allow-list judges it
    ],
)
def test_listed_servers_and_other_places_pass(uri: str) -> None:
    assert code_of(uri) is None


@pytest.mark.parametrize(
    "uri",
    [
        "redis://cache.bank.internal:6380/0",  # another port
        "redis://10.0.0.7:6379/0",
        "redis://cache.bank.internal.evil.example:6379/0",
        "redis://cache.bank.internal:6379@169.254.169.254:6379/0",  # the host is after the @
        "feast+https://feast.internal/profile",  # another scheme to the same host
        "redis://feast.internal:6566/0",
        "feast+flight://127.0.0.1:8816/v?project=p",
        "feast+flight://localhost:8815/v?project=p",  # names are compared, not resolved
    ],
)
def test_other_servers_are_forbidden(uri: str) -> None:
    assert code_of(uri) is ErrorCode.FORBIDDEN


@pytest.mark.parametrize(
    "uri", ["redis://:6379/0", "feast+flight://127.0.0.1/v?project=p", "redis://cache.bank.internal:99999/0"]
)
def test_a_source_without_a_host_or_port_to_judge_is_invalid(uri: str) -> None:
    assert code_of(uri) is ErrorCode.INVALID_REQUEST


def test_nothing_is_reachable_by_default() -> None:
    assert code_of("redis://127.0.0.1:6379/0", FeatureSourceRules()) is ErrorCode.FORBIDDEN
    assert code_of("embedded:", FeatureSourceRules()) is None


@pytest.mark.parametrize(
    "entry", ["http://h:1", "redis://h:1/0", "redis://", "cache.internal:6379", "redis://h:port"]
)
def test_a_malformed_setting_is_refused(entry: str) -> None:
    with pytest.raises(ValueError, match="feature_source_allow"):
        FeatureSourceRules.parse(entry)


@given(st.text(max_size=200))
def test_any_text_is_judged_without_an_unexpected_error(uri: str) -> None:
    assert code_of(uri) in (None, ErrorCode.FORBIDDEN, ErrorCode.INVALID_REQUEST)


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    settings, tokens = money_platform(tmp_path / "home", seed=3)
    allowed = settings.model_copy(update={"feature_source_allow": f"redis://{redis_address()}"})
    with server_in_thread(allowed) as url:
        yield url, tokens


def view(source: str, **extra: object) -> dict[str, object]:
    return {
        "entity": "customer_id",
        "features": {"age": "float64"},
        "source": source,
        "team": "alpha",
        **extra,
    }


def test_a_maintainer_cannot_make_a_view_reach_an_unlisted_server(
    platform: tuple[str, dict[str, str]],
) -> None:
    url, tokens = platform
    alice = {"authorization": f"Bearer {tokens['alice']}"}
    for name, source in [
        ("internal", "redis://10.0.0.7:6379/0"),
        ("metadata", "feast+http://169.254.169.254/v"),
    ]:
        refused = httpx.post(
            f"{url}/api/v1/features/views", json={"name": name, **view(source)}, headers=alice, timeout=30
        )
        assert refused.status_code == 403, refused.text
        assert refused.json()["code"] == "forbidden"
        assert "feature_source_allow" in refused.json()["error"]
    offline = view("embedded:", offline="feast+flight://10.0.0.7:8815/v?project=p")
    refused = httpx.post(
        f"{url}/api/v1/features/views", json={"name": "history", **offline}, headers=alice, timeout=30
    )
    assert refused.status_code == 403, refused.text
    listed = httpx.get(f"{url}/api/v1/features/views", headers=alice, timeout=30).json()
    assert [v["name"] for v in listed] == []
    with redis_prefix() as prefix:
        made = httpx.post(
            f"{url}/api/v1/features/views",
            json={"name": "profile", **view(f"redis://{redis_address()}/0?prefix={prefix}")},
            headers=alice,
            timeout=30,
        )
        assert made.status_code == 201, made.text


def test_a_view_whose_server_was_unlisted_since_reaches_it_no_more(tmp_path: Path) -> None:
    """The rule is checked where a source is opened (serving, put, materialize), not only at create."""
    settings, _ = money_platform(tmp_path / "home", seed=4)
    with redis_prefix() as prefix:
        source = f"redis://{redis_address()}/0?prefix={prefix}"
        before = open_workspace(
            settings.model_copy(update={"feature_source_allow": f"redis://{redis_address()}"})
        )
        try:
            before.features.create({"name": "profile", **view(source)}, team="alpha")
            assert before.features.put("profile", {"c-1": {"age": 41.0}}) == 1
        finally:
            before.close()
        after = open_workspace(settings.model_copy(update={"feature_source_allow": ""}))
        try:
            with pytest.raises(BerthError) as put:
                after.features.put("profile", {"c-1": {"age": 42.0}})
            assert put.value.code is ErrorCode.FORBIDDEN
            with pytest.raises(BerthError) as served:
                after.feature_stores()(source)  # what a server's features step opens
            assert served.value.code is ErrorCode.FORBIDDEN
        finally:
            after.close()
