"""`OnlineFeatures` on the machine's Redis: one read per store and request for all its views, keys
de-duplicated, and each view's latency budget, miss and unavailable declarations."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import pytest

from berth.core.errors import BerthError, ErrorCode
from berth.core.features import FeatureView, parse_view
from berth.runtime.features import OnlineFeatures
from berth.runtime.pipeline.context import FeatureLookup
from berth.storage.feature_protocols import OnlineStore, StoredRow, ViewRead
from berth.storage.feature_sources import FeatureSourceRules
from berth.storage.redis_features import RedisFeatures
from tests.support.redis import redis_address, redis_prefix
from tests.support.servers import free_port


class Watched:
    """A real store, with every read it is asked for kept (and held back while `gate` is unset)."""

    def __init__(self, inner: OnlineStore, gate: asyncio.Event | None = None) -> None:
        self.inner = inner
        self.reads: list[list[tuple[str, list[str]]]] = []
        self.warmed = 0
        self.gate = gate

    async def warm(self) -> None:
        self.warmed += 1
        await self.inner.warm()

    async def read(self, reads: Sequence[ViewRead]) -> list[dict[str, StoredRow]]:
        self.reads.append([(r.view.name, list(r.keys)) for r in reads])
        if self.gate is not None:
            await self.gate.wait()
        return await self.inner.read(reads)

    def write(self, view: FeatureView, rows: Mapping[str, Mapping[str, Any]], at: float) -> int:
        return self.inner.write(view, rows, at)

    def close(self) -> None:
        self.inner.close()

    async def aclose(self) -> None:
        await self.inner.aclose()


class Counts:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], int] = {}

    def rows_(self, view: str, outcome: str, count: int) -> None:
        self.rows[view, outcome] = self.rows.get((view, outcome), 0) + count

    rows_fn = rows_

    def read(self, store: str, seconds: float, ok: bool) -> None:
        pass


@pytest.fixture
def source() -> Iterator[str]:
    with redis_prefix() as prefix:
        yield f"redis://{redis_address()}/0?prefix={prefix}"


def _view(name: str, source: str, **spec: Any) -> FeatureView:
    base = {"entity": "id", "features": {"age": "int64", "score": "float64"}, "source": source}
    return parse_view(base | {"budget_ms": 10_000} | spec, name=name)  # generous: the machine is shared


def _online(views: list[FeatureView], store: Watched, observer: Any = None) -> OnlineFeatures:
    return OnlineFeatures(lambda: views, lambda uri: store, refresh_s=60, observer=observer)


def test_one_read_per_store_for_every_view_with_keys_once(source: str) -> None:
    a, b = _view("a", source), _view("b", source)
    store = Watched(RedisFeatures(source))
    store.write(a, {"k1": {"age": 1, "score": 0.5}, "k2": {"age": 2, "score": 1.5}}, 1e9 * 2)
    store.write(b, {"k1": {"age": 10, "score": 9.5}}, 1e9 * 2)
    online = _online([a, b], store)

    async def run() -> Any:
        try:
            return await online.lookup(
                [FeatureLookup("a", ["k1", "k2", "k3"]), FeatureLookup("b", ["k1", "k3"], ["score"])]
            )
        finally:
            await online.aclose()

    first, second = asyncio.run(run())
    assert store.reads == [[("a", ["k1", "k2", "k3"]), ("b", ["k1", "k3"])]]
    assert first.rows == {"k1": {"age": 1, "score": 0.5}, "k2": {"age": 2, "score": 1.5}, "k3": None}
    assert second.rows == {"k1": {"age": 10, "score": 9.5}, "k3": None}
    assert dict(second.dtypes) == {"score": "float64"}


def _look_up(online: Callable[[], OnlineFeatures], view: str, keys: list[str]) -> Any:
    """One look-up of `view`'s `keys` through a fresh `online()`, closed afterwards."""

    async def run() -> Any:
        features = online()
        try:
            return await features.lookup([FeatureLookup(view, keys)])
        finally:
            await features.aclose()

    return asyncio.run(run())


def test_a_view_past_its_budget_is_unavailable(source: str) -> None:
    defaults = {"age": 0, "score": 0.0}
    fail = _view("fail", source, budget_ms=1)
    fallback = _view("fallback", source, budget_ms=1, on_unavailable="defaults", defaults=defaults)
    counts = Counts()
    observer = type("O", (), {"rows": counts.rows_fn, "read": counts.read})()

    def online() -> OnlineFeatures:
        store = Watched(RedisFeatures(source), gate=asyncio.Event())  # never answers
        return _online([fail, fallback], store, observer)

    with pytest.raises(BerthError) as caught:
        _look_up(online, "fail", ["k1", "k2"])
    assert caught.value.code is ErrorCode.FEATURES_UNAVAILABLE
    (answer,) = _look_up(online, "fallback", ["k1", "k2"])
    assert answer.rows == {"k1": defaults, "k2": defaults}
    assert answer.outcomes == {"k1": "unavailable", "k2": "unavailable"}
    assert answer.written_at == {}  # nothing was read
    assert counts.rows == {("fail", "unavailable"): 2, ("fallback", "unavailable"): 2}


def test_each_key_says_how_its_look_up_went_when_its_value_was_written_and_when_it_was_read(
    source: str,
) -> None:
    view = _view("timed", source, ttl_s=100, on_miss="defaults", defaults={"age": 0, "score": 0.0})
    store = Watched(RedisFeatures(source))
    store.write(view, {"fresh": {"age": 1}}, 1_000_000_050.0)
    store.write(view, {"old": {"age": 2}}, 1_000_000_000.0 - 500)
    clock = iter([1_000_000_100.0])
    online = OnlineFeatures(lambda: [view], lambda uri: store, refresh_s=60, clock=lambda: next(clock))

    async def run() -> Any:
        try:
            return await online.lookup([FeatureLookup("timed", ["fresh", "old", "nobody"])])
        finally:
            await online.aclose()

    (answer,) = asyncio.run(run())
    assert answer.outcomes == {"fresh": "hit", "old": "stale", "nobody": "miss"}
    # the stale value's write time is kept (it says why it was not served); a miss has none
    assert answer.written_at == {"fresh": 1_000_000_050.0, "old": 999_999_500.0}
    assert answer.read_at == 1_000_000_100.0  # the clock when the store answered, once per read
    assert answer.rows == {"fresh": {"age": 1}, "old": view.defaults, "nobody": view.defaults}


def test_a_refused_miss_names_the_key(source: str) -> None:
    view = _view("strict", source, on_miss="refuse")
    store = Watched(RedisFeatures(source))
    store.write(view, {"k1": {"age": 1}}, 2e9)
    online = _online([view], store)

    async def run() -> Any:
        try:
            return await online.lookup([FeatureLookup("strict", ["k1", "nobody"])])
        finally:
            await online.aclose()

    with pytest.raises(BerthError) as caught:
        asyncio.run(run())
    assert caught.value.code is ErrorCode.ENTITY_NOT_FOUND
    assert caught.value.details["key"] == "nobody"


def test_a_source_that_cannot_be_opened_here_is_unavailable_not_the_requests_error() -> None:
    """A view whose server is not (or no longer) one views may reach (`feature_source_allow`): its
    look-ups answer as unavailable, by the view's `on_unavailable`, never with the opener's 403."""
    source = "redis://10.0.0.7:6379/0"
    defaults = {"age": 0, "score": 0.0}
    fail = _view("fail", source)
    fallback = _view("fallback", source, on_unavailable="defaults", defaults=defaults)
    opened: list[str] = []

    def refuse(uri: str) -> OnlineStore:
        opened.append(uri)
        FeatureSourceRules().check(uri, "feature source")  # nothing is allowed: raises FORBIDDEN
        raise AssertionError("unreachable")

    def online() -> OnlineFeatures:
        return OnlineFeatures(lambda: [fail, fallback], refuse, refresh_s=60)

    with pytest.raises(BerthError) as caught:
        _look_up(online, "fail", ["k1"])
    assert caught.value.code is ErrorCode.FEATURES_UNAVAILABLE
    (answer,) = _look_up(online, "fallback", ["k1"])
    assert answer.rows == {"k1": defaults}
    assert answer.outcomes == {"k1": "unavailable"}
    assert opened == [source, source]  # once per server (one per run here)


def test_warm_connects_every_store_before_the_first_read_and_a_store_away_is_left_to_the_requests(
    source: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A server warms its feature stores before it says it is ready: the first request's read,
    bounded by a budget of a few milliseconds, must not also pay for the connection."""
    up = Watched(RedisFeatures(source))
    away_source = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    away = Watched(RedisFeatures(away_source))
    views = [_view("a", source), _view("b", source), _view("gone", away_source, budget_ms=50)]
    stores = {source: up, away_source: away}
    opened: list[str] = []

    def store_for(uri: str) -> OnlineStore:
        opened.append(uri)
        return stores[uri]

    online = OnlineFeatures(lambda: views, store_for, refresh_s=60)

    async def run() -> tuple[Any, BerthError]:
        try:
            await online.warm()
            assert (up.warmed, away.warmed, up.reads) == (1, 1, [])  # each store once, nothing read
            pool = up.inner._client().connection_pool  # type: ignore[attr-defined]
            assert pool._available_connections, "the store's connection is open before any request"
            (answer,) = await online.lookup([FeatureLookup("a", ["k1"])])
            with pytest.raises(BerthError) as caught:
                await online.lookup([FeatureLookup("gone", ["k1"])])
            return answer, caught.value
        finally:
            await online.aclose()

    answer, refused = asyncio.run(run())
    assert sorted(opened) == sorted(stores)  # opened once, by the warm, and reused by the requests
    assert answer.rows == {"k1": None}
    assert refused.code is ErrorCode.FEATURES_UNAVAILABLE
    assert f"feature source {away_source} not reached before serving" in caplog.text


def test_warm_without_views_or_database_does_not_stop_the_server() -> None:
    def broken() -> list[FeatureView]:
        raise BerthError(ErrorCode.UNAVAILABLE, "the database is away")

    def no_store(uri: str) -> OnlineStore:
        raise AssertionError("no store is opened")

    asyncio.run(OnlineFeatures(list, no_store).warm())
    asyncio.run(OnlineFeatures(broken, no_store).warm())
