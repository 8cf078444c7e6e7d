"""The ``Deprecation`` / ``Sunset`` headers of the answers a deprecated thing gives (docs/consumers.md).

The table is precomputed whenever the registry changes (an announcement moves the registry's change
counter, which the reconciler watches): a dict by (model, version), one by (model, alias) and one by
endpoint, each holding the encoded headers. An answer costs one emptiness test while nothing is
deprecated, and at most three look-ups when something is. When several apply (a deprecated version
behind a deprecated endpoint), the one with the earliest sunset is announced.

The same values go out on every transport: REST headers (the fast path, the routes, /v1) and
gRPC trailing metadata.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Final

from berth.core.consumers import Deprecation, DeprecationScope
from berth.core.errors import BerthError
from berth.core.tensors import InferenceResponse
from berth.dataplane.endpoint_inference import ENDPOINT_PARAMETER
from berth.server.answer_headers import RawHeaders

log = logging.getLogger(__name__)

NO_HEADERS: Final[RawHeaders] = []
"""An answer that announces nothing (never changed)."""


class _Notice:
    __slots__ = ("headers", "sunset")

    def __init__(self, deprecation: Deprecation) -> None:
        self.sunset = deprecation.sunset_at
        self.headers: RawHeaders = [(k.encode(), v.encode()) for k, v in deprecation.headers()]


class DeprecationNotices:
    """What this server announces, reloaded when the registry's generation moves."""

    def __init__(
        self,
        load: Callable[[], list[Deprecation]],
        executor: Executor,
        generation: Callable[[], int],
        *,
        refresh_s: float = 0.5,
    ) -> None:
        """`load`: every current deprecation (the store); `generation`: the registry generation the
        server serves now (the reconciler's table), checked every `refresh_s` in memory."""
        self._load = load
        self._executor = executor
        self._generation = generation
        self._refresh_s = refresh_s
        self._seen: int | None = None
        self._versions: dict[tuple[str, str], _Notice] = {}
        self._aliases: dict[tuple[str, str], _Notice] = {}
        self._endpoints: dict[str, _Notice] = {}
        self._any = False
        self._task: asyncio.Task[None] | None = None

    def apply(self, found: list[Deprecation]) -> None:
        """Replace the table (whole: a request reads one table or the other)."""
        versions: dict[tuple[str, str], _Notice] = {}
        aliases: dict[tuple[str, str], _Notice] = {}
        endpoints: dict[str, _Notice] = {}
        for d in found:
            if d.scope is DeprecationScope.VERSION:
                versions[d.resource_name, d.subject] = _Notice(d)
            elif d.scope is DeprecationScope.ALIAS:
                aliases[d.resource_name, d.subject] = _Notice(d)
            else:
                endpoints[d.resource_name] = _Notice(d)
        self._versions, self._aliases, self._endpoints = versions, aliases, endpoints
        self._any = bool(found)

    def headers(self, name: str, ref: str | None, response: InferenceResponse) -> RawHeaders:
        """The deprecation headers of `response`, the answer to a call of `name` at `ref`."""
        if not self._any:
            return NO_HEADERS
        applying = []
        endpoint = response.parameters.get(ENDPOINT_PARAMETER)
        if endpoint is not None:
            applying.append(self._endpoints.get(str(endpoint)))
        elif ref:
            applying.append(self._aliases.get((name, ref)))
        applying.append(self._versions.get((response.model_name, response.model_version)))
        notices = [n for n in applying if n is not None]
        if not notices:
            return NO_HEADERS
        return min(notices, key=lambda n: n.sunset).headers

    # -- keeping it current -----------------------------------------------------------------------
    async def start(self) -> None:
        await self.refresh()
        self._task = asyncio.create_task(self._watch(), name="berth-deprecation-notices")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def refresh(self) -> None:
        """Reload the table now (a change made through this server)."""
        generation = self._generation()
        found = await asyncio.get_running_loop().run_in_executor(self._executor, self._load)
        self.apply(found)
        self._seen = generation

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self._refresh_s)
            if self._generation() == self._seen:
                continue
            try:
                await self.refresh()
            except BerthError as exc:  # the database is away: keep the last table, try again
                log.warning("cannot reload the deprecation notices: %s", exc.message)
            except Exception:
                log.exception("cannot reload the deprecation notices")
