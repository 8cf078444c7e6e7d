"""The machine's Redis (``BERTH_TEST_REDIS``, default ``127.0.0.1:6379``) for the feature-view tests:
skipped when it does not answer, a failure under ``CI=true``. Each test keeps its keys under a
prefix of its own and removes them after."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import redis

from tests.support.unavailable import unavailable


def redis_address() -> str:
    return os.environ.get("BERTH_TEST_REDIS", "127.0.0.1:6379")


@contextlib.contextmanager
def redis_prefix() -> Iterator[str]:
    """A fresh key prefix on the machine's Redis; its keys are deleted afterwards."""
    client = redis.Redis.from_url(f"redis://{redis_address()}/0", socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        unavailable(f"no Redis at {redis_address()}: {exc}", must_run="the feature view tests on Redis")
    prefix = f"berth-test-{uuid.uuid4().hex[:12]}"
    try:
        yield prefix
    finally:
        keys = list(client.scan_iter(f"{prefix}:*", count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])
        client.close()
