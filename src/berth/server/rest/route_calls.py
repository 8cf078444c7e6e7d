"""What the management routers share: blocking store calls off the event loop, and serving a change.

Registry, endpoint and security stores block on the database, so routes run them in the thread
pool. A change made through this server is served before the response (`serve_change`): the
reconciler syncs, and the access table learns who may now call what.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from berth.runtime.reconciler import Reconciler
from berth.server.auth.permissions import request_guard

T = TypeVar("T")


async def in_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`fn(*args, **kwargs)` in the thread pool."""
    return await run_in_threadpool(fn, *args, **kwargs)


async def serve_change(reconciler: Reconciler, request: Request | None) -> None:
    """Route by the change at once; with `request`, reload the access table too (a model's or an
    endpoint's team, or its existence, changed: so does who may call it)."""
    await reconciler.sync()
    if request is not None:
        await request_guard(request).refresh()
