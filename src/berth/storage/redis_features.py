"""The ``redis://host:port/db`` feature source: the online store at scale.

Layout: one string per entity and view, key ``{prefix}:{view}:{entity key}`` (prefix ``berth`` by
default, ``?prefix=`` in the URI; view names hold no ``:``), value the JSON object
``{"t": unix seconds of the write, "v": {feature: value}}``. A read of any number of views and
keys is one ``MGET`` (one round trip); a write is one pipelined ``MSET`` per chunk. Values never
expire in Redis: a view's TTL is checked when serving, so a stale value is seen (and counted) as
stale rather than silently missing.

redis-py (the ``redis`` extra) is imported by nothing above `berth.storage` but the wiring.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit, urlunsplit

import orjson
import redis
import redis.asyncio as aioredis

from berth.core.errors import BerthError, ErrorCode
from berth.core.features import FeatureView
from berth.storage.feature_protocols import StoredRow, ViewRead

_WRITE_CHUNK: Final = 1000
_CONNECT_TIMEOUT_S: Final = 2.0


def redis_key(prefix: str, view: str, key: str) -> str:
    return f"{prefix}:{view}:{key}"


class RedisFeatures:
    """Feature values in Redis; one client per event loop for reads, a blocking one for writes."""

    def __init__(self, uri: str) -> None:
        parts = urlsplit(uri)
        query = parse_qs(parts.query)
        self._prefix = query.get("prefix", ["berth"])[0]
        self._url = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        self._clients: dict[asyncio.AbstractEventLoop, aioredis.Redis] = {}
        self._sync: redis.Redis | None = None

    def _client(self) -> aioredis.Redis:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = aioredis.Redis.from_url(self._url, socket_connect_timeout=_CONNECT_TIMEOUT_S)
            self._clients[loop] = client
        return client

    async def read(self, reads: Sequence[ViewRead]) -> list[dict[str, StoredRow]]:
        names = [redis_key(self._prefix, r.view.name, k) for r in reads for k in r.keys]
        if not names:
            return [{} for _ in reads]
        with _unavailable():
            values = await self._client().mget(names)
        answers: list[dict[str, StoredRow]] = []
        at = 0
        for r in reads:
            found: dict[str, StoredRow] = {}
            for key, raw in zip(r.keys, values[at : at + len(r.keys)], strict=True):
                if raw is not None:
                    doc = orjson.loads(raw)
                    found[key] = StoredRow(doc.get("v") or {}, doc.get("t"))
            at += len(r.keys)
            answers.append(found)
        return answers

    async def warm(self) -> None:
        with _unavailable():
            await self._client().ping()

    def write(
        self, view: FeatureView, rows: Mapping[str, Mapping[str, Any]], at: float | Mapping[str, float]
    ) -> int:
        if self._sync is None:
            self._sync = redis.Redis.from_url(self._url, socket_connect_timeout=_CONNECT_TIMEOUT_S)
        items = [
            (
                redis_key(self._prefix, view.name, key),
                orjson.dumps({"t": at if isinstance(at, float | int) else at[key], "v": dict(values)}),
            )
            for key, values in rows.items()
        ]
        with _unavailable():
            for start in range(0, len(items), _WRITE_CHUNK):
                self._sync.mset(dict(items[start : start + _WRITE_CHUNK]))
        return len(items)

    def close(self) -> None:
        if self._sync is not None:
            self._sync.close()
            self._sync = None

    async def aclose(self) -> None:
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()


@contextmanager
def _unavailable() -> Iterator[None]:
    """A Redis error as FEATURES_UNAVAILABLE (on a read, the view's `on_unavailable` decides)."""
    try:
        yield
    except redis.RedisError as exc:
        raise BerthError(ErrorCode.FEATURES_UNAVAILABLE, f"redis: {exc}") from exc
