"""A serving replica's heartbeat: every `interval_s`, what it serves and where, into the registry
database (`berth.storage.sql_serving_groups`), for the gateway to route by and for the replicas of
another group to hand a moved model over. The row goes when the replica stops; a crashed replica's
row ages out (`Settings.replica_ttl_s`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import UTC, datetime

from berth.core.serving_groups import ReplicaStatus, Role
from berth.runtime.routing import RoutingTable
from berth.storage.sql_serving_groups import SqlServingGroups

log = logging.getLogger(__name__)


def new_replica_id() -> str:
    return f"{socket.gethostname()[:40]}-{os.getpid()}-{secrets.token_hex(3)}"


def ready_names(table: RoutingTable) -> frozenset[str]:
    """What a routing table answers for: its models, and its endpoints that can serve."""
    return frozenset(table.models) | frozenset(n for n, r in table.endpoints.items() if r.problem is None)


class ReplicaHeartbeat:
    def __init__(
        self,
        groups: SqlServingGroups,
        table: Callable[[], RoutingTable],
        io_executor: Executor,
        *,
        role: Role,
        group: str | None,
        url: str,
        grpc_url: str | None = None,
        interval_s: float,
        ready: Callable[[], bool],
    ) -> None:
        self._groups = groups
        self._table = table
        self._io = io_executor
        self._role = role
        self._group = group
        self._url = url
        self._grpc_url = grpc_url
        self._interval_s = interval_s
        self._ready = ready
        self.replica_id = new_replica_id()
        self._started_at = datetime.now(UTC)
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def poke(self) -> None:
        """Beat now, not at the next interval (what this replica serves changed). On the event loop."""
        self._wake.set()

    def status(self) -> ReplicaStatus:
        return ReplicaStatus(
            replica_id=self.replica_id,
            role=self._role,
            group=self._group,
            url=self._url,
            grpc_url=self._grpc_url,
            started_at=self._started_at,
            heartbeat_at=datetime.now(UTC),
            ready=ready_names(self._table()) if self._ready() else frozenset(),
        )

    async def start(self) -> None:
        await self.beat()
        self._task = asyncio.create_task(self._beat_forever(), name="berth-heartbeat")

    async def beat(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._io, self._groups.heartbeat, self.status())

    async def stop(self) -> None:
        """Stop beating and remove this replica's row (the gateway stops sending requests here)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await asyncio.get_running_loop().run_in_executor(self._io, self._groups.forget, self.replica_id)
        except Exception:
            log.warning("could not remove replica %s from the registry; it ages out", self.replica_id)

    async def _beat_forever(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval_s)
            self._wake.clear()
            try:
                await self.beat()
            except Exception as exc:
                log.warning("heartbeat failed (%s); retrying", exc)
