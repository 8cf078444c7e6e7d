"""Where pipeline steps get their data and code while serving.

`RegistryEntities` reads entity features from the registry database (in the I/O threads, one query
per request and look-up step); `PooledCustomSteps` serves custom steps from pushed pyfunc packages
through the model pool, so they are loaded, warmed, pinned and unloaded like any version, and run
in the prediction threads (user code never runs on the event loop).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from typing import Any

import pandas as pd

from berth.core.endpoints import TargetRef
from berth.core.entities import Version
from berth.core.errors import BerthError, ErrorCode
from berth.runtime.flavors.pyfunc_runtime import PyfuncRuntime
from berth.runtime.pipeline.context import CustomFunction
from berth.runtime.pool import ModelPool
from berth.storage.protocols import EntityStore


class RegistryEntities:
    def __init__(self, store: EntityStore, io_executor: Executor) -> None:
        self._store = store
        self._io = io_executor

    async def lookup(self, table: str, keys: Sequence[str]) -> Mapping[str, Mapping[str, Any]]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._io, self._store.get_entities, table, list(keys))


class PooledCustomSteps:
    def __init__(
        self, resolve: Callable[[str, str | None], Version], pool: ModelPool, executor: Executor
    ) -> None:
        self._resolve = resolve
        self._pool = pool
        self._executor = executor

    async def get(self, ref: str) -> CustomFunction:
        target = TargetRef.parse(ref)
        version = self._resolve(target.model, target.reference)
        loaded = self._pool.ready(version) or await self._pool.get(version)
        runtime = loaded.runtime
        if not isinstance(runtime, PyfuncRuntime):
            raise BerthError(
                ErrorCode.PIPELINE_STEP_FAILED, f"custom step {ref!r} is a {version.flavor} model, not pyfunc"
            )
        function = runtime.step_function()
        executor = self._executor

        async def run(frame: pd.DataFrame) -> Any:
            return await asyncio.get_running_loop().run_in_executor(executor, function, frame)

        return run
