"""The model pool: versions loaded in this process, loaded once on demand, unloaded when unused.

Loads run in a worker thread (single-flight: concurrent requests for a version share one load).
A failed load is remembered for `retry_after_s`, so a broken artifact costs one attempt, not one
per request. When more than `max_loaded` versions are in memory, the least recently used one that
no symbolic reference serves (not pinned) is drained and unloaded.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Iterable
from concurrent.futures import Executor
from dataclasses import dataclass
from enum import StrEnum

from berth.core.entities import Version
from berth.core.errors import BerthError
from berth.runtime.loaded import LoadedVersion
from berth.runtime.loader import VersionLoader

log = logging.getLogger(__name__)

VersionKey = tuple[str, int]


class LoadState(StrEnum):
    UNLOADED = "unloaded"
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class _Failure:
    error: BerthError
    at: float


class ModelPool:
    def __init__(
        self,
        loader: VersionLoader,
        load_executor: Executor,
        *,
        max_loaded: int = 64,
        retry_after_s: float = 30.0,
    ) -> None:
        self._loader = loader
        self._load_executor = load_executor
        self._max_loaded = max_loaded
        self._retry_after_s = retry_after_s
        self._loaded: OrderedDict[VersionKey, LoadedVersion] = OrderedDict()
        self._loading: dict[VersionKey, asyncio.Future[LoadedVersion]] = {}
        self._failed: dict[VersionKey, _Failure] = {}
        self._pinned: frozenset[VersionKey] = frozenset()

    def ready(self, version: Version) -> LoadedVersion | None:
        """The loaded version, if it is loaded and the same artifact (no waiting, no loading)."""
        key = (version.model, version.number)
        loaded = self._loaded.get(key)
        if loaded is None or loaded.version.artifact.sha256 != version.artifact.sha256:
            return None
        self._loaded.move_to_end(key)
        return loaded

    async def get(self, version: Version) -> LoadedVersion:
        """The loaded version, loading it first when needed; MODEL_LOAD_FAILED when it cannot load."""
        loaded = self.ready(version)
        if loaded is not None:
            return loaded
        key = (version.model, version.number)
        failure = self._failed.get(key)
        if failure is not None and time.monotonic() - failure.at < self._retry_after_s:
            raise failure.error
        pending = self._loading.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._load(version))
            self._loading[key] = pending
        return await asyncio.shield(pending)

    async def _load(self, version: Version) -> LoadedVersion:
        key = (version.model, version.number)
        loop = asyncio.get_running_loop()
        try:
            loaded = await loop.run_in_executor(self._load_executor, self._loader.load, version)
        except BerthError as exc:
            log.warning("could not load %s v%d: %s", version.model, version.number, exc.message)
            self._failed[key] = _Failure(exc, time.monotonic())
            raise
        finally:
            self._loading.pop(key, None)
        self._failed.pop(key, None)
        previous = self._loaded.pop(key, None)
        self._loaded[key] = loaded
        if previous is not None:
            await previous.drain_and_unload()
        await self._evict()
        return loaded

    def state(self, version: Version) -> LoadState:
        key = (version.model, version.number)
        if self.ready(version) is not None:
            return LoadState.READY
        if key in self._loading:
            return LoadState.LOADING
        if key in self._failed:
            return LoadState.FAILED
        return LoadState.UNLOADED

    def failure(self, version: Version) -> BerthError | None:
        failure = self._failed.get((version.model, version.number))
        return failure.error if failure else None

    def pin(self, keys: Iterable[VersionKey]) -> None:
        """Versions that symbolic references serve: never evicted."""
        self._pinned = frozenset(keys)

    def loaded_keys(self) -> list[VersionKey]:
        return list(self._loaded)

    def state_counts(self) -> dict[LoadState, int]:
        """How many versions are ready (loaded), loading and failed."""
        return {
            LoadState.READY: len(self._loaded),
            LoadState.LOADING: len(self._loading),
            LoadState.FAILED: len(self._failed),
        }

    def queued_requests(self) -> dict[VersionKey, int]:
        """Requests waiting for the next batch, per loaded version."""
        return {key: loaded.batcher.queued_requests for key, loaded in self._loaded.items()}

    async def unload(self, key: VersionKey) -> None:
        loaded = self._loaded.pop(key, None)
        if loaded is not None:
            log.info("unloading %s v%d", *key)
            await loaded.drain_and_unload()

    async def _evict(self) -> None:
        while len(self._loaded) > self._max_loaded:
            victim = next((k for k in self._loaded if k not in self._pinned), None)
            if victim is None:
                return
            await self.unload(victim)

    async def close(self) -> None:
        for key in list(self._loaded):
            await self.unload(key)
        for pending in list(self._loading.values()):
            pending.cancel()

    def describe(self) -> list[dict[str, object]]:
        """What is loaded and what failed, for the status API."""
        rows: list[dict[str, object]] = [
            {"model": k[0], "version": k[1], "state": LoadState.READY.value} for k in self._loaded
        ]
        rows += [{"model": k[0], "version": k[1], "state": LoadState.LOADING.value} for k in self._loading]
        rows += [
            {"model": k[0], "version": k[1], "state": LoadState.FAILED.value, "error": f.error.to_dict()}
            for k, f in self._failed.items()
        ]
        return rows
