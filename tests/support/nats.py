"""NATS with JetStream for tests: the server at ``BERTH_TEST_NATS_URL`` (default
``nats://127.0.0.1:4222``, the one these machines run), a fresh stream per test, deleted afterwards.

When the server cannot be reached (or has no JetStream), tests that need it are skipped with the
reason, except under ``CI=true``, where that is a failure: CI must run them. Mark such tests
``@pytest.mark.nats``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import Iterator
from functools import cache
from typing import Final

import nats
import nats.errors
import nats.js.errors

from tests.support.unavailable import unavailable

DEFAULT_NATS_URL: Final = "nats://127.0.0.1:4222"
PROBE_TIMEOUT_S: Final = 5.0


def nats_server_url() -> str:
    return os.environ.get("BERTH_TEST_NATS_URL") or DEFAULT_NATS_URL


def require_nats() -> str:
    """The server URL; skips the calling test when it is unreachable (fails under CI=true)."""
    url = nats_server_url()
    reason = _unreachable_reason(url)
    if reason is not None:
        message = f"NATS with JetStream at {url} is unreachable ({reason}); set BERTH_TEST_NATS_URL"
        unavailable(message, must_run="NATS tests")
    return url


@contextlib.contextmanager
def fresh_stream(prefix: str = "BERTH_TEST") -> Iterator[str]:
    """A stream name no one uses (``<prefix>_<random>``); the stream is deleted afterwards."""
    url = require_nats()
    name = f"{prefix}_{uuid.uuid4().hex[:12].upper()}"
    try:
        yield name
    finally:
        asyncio.run(_delete_stream(url, name))


@contextlib.contextmanager
def stream_uri() -> Iterator[str]:
    """A ``nats://host:port/STREAM`` record sink on a fresh stream (deleted afterwards)."""
    with fresh_stream() as name:
        yield f"{nats_server_url().rstrip('/')}/{name}"


async def _delete_stream(url: str, name: str) -> None:
    client = await nats.connect(url, connect_timeout=2, allow_reconnect=False)
    try:
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await client.jetstream().delete_stream(name)
    finally:
        await client.close()


async def _quiet(_: Exception) -> None:
    """nats-py logs each refused attempt with its traceback; the probe says why once."""


@cache
def _unreachable_reason(url: str) -> str | None:
    async def probe() -> None:
        client = await nats.connect(
            url, connect_timeout=2, allow_reconnect=False, max_reconnect_attempts=0, error_cb=_quiet
        )
        try:
            await client.jetstream().account_info()
        finally:
            await client.close()

    try:  # nats-py keeps trying a refused first connection: bound it
        asyncio.run(asyncio.wait_for(probe(), PROBE_TIMEOUT_S))
    except (OSError, TimeoutError, nats.errors.Error) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None
