"""The reconciler: keeps this server's routing table in step with the registry, without restarts.

It polls the registry's change counter (a one-row read). When the counter moved, it reads a
snapshot, loads and warms every version that an alias or 'latest' now points at *before* routing
to it, swaps the routing table atomically, then unloads the versions nothing serves any more. A
version that fails to load leaves the reference on the version it served before.

A server of one serving group routes only what its `ServingScope` selects; the routing table names
the group of everything else (``not_served_here``). A model moved away keeps being served here until
a live replica of its new group has it ready (`berth.runtime.serving_scope`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Executor
from functools import partial
from types import MappingProxyType
from typing import TypeVar

from berth.core.entities import RegistrySnapshot, SnapshotScope, Version
from berth.core.errors import BerthError
from berth.runtime.compiled_endpoints import (
    EndpointRoute,
    compile_endpoint,
    pinned_targets,
    referenced_models,
)
from berth.runtime.pool import ModelPool, VersionKey
from berth.runtime.routing import ModelRoutes, RoutingTable
from berth.runtime.serving_scope import (
    EVERYTHING,
    ReadyByGroup,
    ServingScope,
    elsewhere,
    filtered,
    handed_over,
)
from berth.storage.protocols import RegistryStore

log = logging.getLogger(__name__)
T = TypeVar("T")


class Reconciler:
    def __init__(
        self,
        store: RegistryStore,
        pool: ModelPool,
        io_executor: Executor,
        *,
        poll_interval_s: float = 0.5,
        preload: bool = True,
        names_served: Callable[[Mapping[str, str]], None] | None = None,
        scope: ServingScope = EVERYTHING,
        ready_by_group: ReadyByGroup | None = None,
    ) -> None:
        """`names_served`: told the model and endpoint names of every new table, each with what
        tells one life of the name from the next (the metrics drop the series of names that went
        away, or were deleted and made again between two reconciliations). `scope`: what this
        server serves (its group); `ready_by_group`: what live replicas have ready, read while a
        moved model is handed over."""
        self._store = store
        self._pool = pool
        self._io = io_executor
        self._poll_interval_s = poll_interval_s
        self._preload = preload and scope.loads
        self._scope = scope
        self._ready_by_group = ready_by_group
        self._serving: frozenset[str] = frozenset()
        self._table = RoutingTable()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._synced_once = False
        self._dirty = False
        self._wake = asyncio.Event()
        self._names_served = names_served

    @property
    def table(self) -> RoutingTable:
        return self._table

    def current_table(self) -> RoutingTable:
        """The routing table of this moment (for those who hold a function, not the reconciler)."""
        return self._table

    @property
    def synced(self) -> bool:
        """True once the first reconciliation has finished (the server is ready)."""
        return self._synced_once

    async def start(self) -> None:
        """Reconcile once (so the server starts with its models loaded), then keep polling."""
        await self.sync()
        self._task = asyncio.create_task(self._poll_forever(), name="berth-reconciler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def wake(self) -> None:
        """Reconcile now instead of at the next poll (a change notification arrived). Thread-safe
        only through ``loop.call_soon_threadsafe(reconciler.wake)``."""
        self._wake.set()

    async def _poll_forever(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_interval_s)
            self._wake.clear()
            try:
                await self.sync()
            except BerthError as exc:
                log.warning("registry not reachable: %s", exc.message)
            except Exception:
                log.exception("reconciliation failed; retrying")

    async def sync(self, *, force: bool = False) -> None:
        """One reconciliation pass; cheap when nothing changed."""
        async with self._lock:
            generation = await self._call(self._store.generation)
            if generation == self._table.generation and not self._dirty and not force:
                return
            snapshot = await self._call(partial(self._store.snapshot, self._snapshot_scope()))
            kept = await self._kept(snapshot)
            if self._scope.everything:
                await self._apply(snapshot, MappingProxyType({}))
                self._serving = frozenset(snapshot.versions) | frozenset(snapshot.endpoints)
            else:
                serving = self._scope.select(snapshot) | kept
                await self._apply(filtered(snapshot, serving), elsewhere(snapshot, serving))
                self._serving = serving
            self._dirty = self._dirty or bool(kept)  # look again at the next poll
            self._synced_once = True

    def _snapshot_scope(self) -> SnapshotScope | None:
        """What to read of the registry: all of it on one machine; on a replica of a group, that
        group's models, the models its endpoints call and what it still serves while it moves away
        (a snapshot of 10,000 models is read in seconds; a group's share in a fraction of that)."""
        if self._scope.everything:
            return None
        group = self._scope.group if self._scope.loads else None
        return SnapshotScope(group=group, also=self._serving, referenced=referenced_models)

    async def _kept(self, snapshot: RegistrySnapshot) -> frozenset[str]:
        """What moved to another group but is served here until a replica there has it ready."""
        if self._scope.everything:
            return frozenset()
        existing = frozenset(snapshot.versions) | frozenset(snapshot.endpoints)
        leaving = (self._serving & existing) - self._scope.select(snapshot)
        if not leaving or self._ready_by_group is None:
            return frozenset()
        ready = await self._call(self._ready_by_group)
        gone = handed_over(leaving, snapshot, ready)
        for name in sorted(leaving - gone):
            log.info(
                "%s moved to group %s: served here until a replica there has it ready",
                name,
                snapshot.groups.get(name),
            )
        return leaving - gone

    async def _apply(self, snapshot: RegistrySnapshot, others: Mapping[str, str]) -> None:
        old = self._table
        wanted = _wanted(snapshot)
        loaded_ok: set[VersionKey] = set()
        if self._preload:
            versions = _wanted_versions(snapshot, wanted)
            results = await asyncio.gather(
                *(self._pool.get(v) for v in versions.values()), return_exceptions=True
            )
            loaded_ok = {
                key
                for key, result in zip(versions, results, strict=True)
                if not isinstance(result, Exception)
            }
        self._dirty = self._preload and len(loaded_ok) < sum(len(t) for t in wanted.values())

        models: dict[str, ModelRoutes] = {}
        for name, versions_of in snapshot.versions.items():
            previous = old.models.get(name)
            aliases = {
                alias: self._served(
                    name, number, previous.aliases.get(alias) if previous else None, loaded_ok
                )
                for alias, number in snapshot.aliases.get(name, {}).items()
            }
            latest_number = max(versions_of) if versions_of else None
            latest = (
                self._served(name, latest_number, previous.latest if previous else None, loaded_ok)
                if latest_number is not None
                else None
            )
            models[name] = ModelRoutes(
                versions=MappingProxyType(dict(versions_of)), aliases=MappingProxyType(aliases), latest=latest
            )

        routed = RoutingTable(generation=snapshot.generation, models=MappingProxyType(models))
        endpoints = self._endpoint_routes(snapshot, routed, old, loaded_ok)
        table = RoutingTable(snapshot.generation, routed.models, MappingProxyType(endpoints), others)
        served = _served_keys(table)
        self._pool.pin(served)
        self._table = table  # the atomic switch: requests resolve against one table or the other
        if self._names_served is not None:
            self._names_served(served_names(table))
        for key in _served_keys(old) - served:
            await self._pool.unload(key)

    def _endpoint_routes(
        self, snapshot: RegistrySnapshot, routed: RoutingTable, old: RoutingTable, loaded_ok: set[VersionKey]
    ) -> dict[str, EndpointRoute]:
        """Every endpoint compiled against the new model routes. An endpoint whose new state cannot
        serve (a target gone, a pinned version that failed to load) keeps its old state if it had one."""
        routes: dict[str, EndpointRoute] = {}
        for name, endpoint in snapshot.endpoints.items():
            route = compile_endpoint(endpoint, routed.resolve)
            failed = self._preload and any(
                key not in loaded_ok for key in route.versions - _served_keys(routed)
            )
            previous = old.endpoints.get(name)
            if (route.problem is not None or failed) and previous is not None and previous.problem is None:
                if previous.endpoint.revision != endpoint.revision:
                    log.warning(
                        "endpoint %s revision %d cannot serve (%s); revision %d keeps serving",
                        name,
                        endpoint.revision,
                        route.problem or "a version did not load",
                        previous.endpoint.revision,
                    )
                    self._dirty = True
                route = previous
            routes[name] = route
        return routes

    def _served(self, model: str, target: int, before: int | None, loaded_ok: set[VersionKey]) -> int:
        """Route to the new target once it loaded; keep the old one when the new one failed."""
        if not self._preload or (model, target) in loaded_ok or before is None:
            return target
        if before == target:
            return target
        log.warning("%s v%d did not load; %s v%d keeps serving", model, target, model, before)
        return before

    async def _call(self, fn: Callable[[], T]) -> T:
        return await _in_executor(self._io, fn)


def _in_executor(executor: Executor, fn: Callable[[], T]) -> Awaitable[T]:
    return asyncio.get_running_loop().run_in_executor(executor, fn)


def versions_to_load(store: RegistryStore, scope: ServingScope) -> list[Version]:
    """The versions a server of `scope` loads at its first reconciliation (what every alias,
    'latest' and endpoint it serves points at), read now: a parent process pre-loads them before
    it forks its workers (`berth.wiring.prefork`). Blocking."""
    if not scope.loads:
        return []
    if scope.everything:
        snapshot = store.snapshot(None)
    else:
        read = SnapshotScope(group=scope.group, also=frozenset(), referenced=referenced_models)
        whole = store.snapshot(read)
        snapshot = filtered(whole, scope.select(whole))
    return list(_wanted_versions(snapshot, _wanted(snapshot)).values())


def _wanted(snapshot: RegistrySnapshot) -> dict[str, set[VersionKey]]:
    """Per model, the versions its aliases, 'latest' and the endpoints' pinned targets name."""
    wanted = _symbolic_targets(snapshot)
    for ref in pinned_targets(snapshot.endpoints):
        if ref.version in snapshot.versions.get(ref.model, {}):
            wanted.setdefault(ref.model, set()).add((ref.model, ref.version))
    return wanted


def _wanted_versions(
    snapshot: RegistrySnapshot, wanted: Mapping[str, set[VersionKey]]
) -> dict[VersionKey, Version]:
    return {key: snapshot.versions[key[0]][key[1]] for targets in wanted.values() for key in targets}


def _symbolic_targets(snapshot: RegistrySnapshot) -> dict[str, set[VersionKey]]:
    """Per model, the versions its aliases and 'latest' point at in the registry."""
    targets: dict[str, set[VersionKey]] = {}
    for name, versions in snapshot.versions.items():
        keys = {(name, n) for n in snapshot.aliases.get(name, {}).values() if n in versions}
        if versions:
            keys.add((name, max(versions)))
        targets[name] = keys
    return targets


def _served_keys(table: RoutingTable) -> set[VersionKey]:
    keys: set[VersionKey] = set()
    for name, routes in table.models.items():
        keys.update((name, n) for n in routes.aliases.values())
        if routes.latest is not None:
            keys.add((name, routes.latest))
    for route in table.endpoints.values():
        keys.update(route.versions)
    return keys


def served_names(table: RoutingTable) -> dict[str, str]:
    """The model and endpoint names of `table`, each with its identity: an endpoint's creation
    time, so an endpoint deleted and created again between two reconciliations is a new one."""
    names = dict.fromkeys(table.models, "")
    for name, route in table.endpoints.items():
        names[name] = f"{names.get(name, '')}endpoint@{route.endpoint.created_at.isoformat()}"
    return names
