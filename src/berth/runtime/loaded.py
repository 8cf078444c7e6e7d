"""A version loaded in memory, ready to answer: its runtime, its batcher, its requests in flight."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import Executor

from berth.core.codecs.model_io import assemble_model_input
from berth.core.entities import Version
from berth.core.errors import BerthError, ErrorCode
from berth.core.tensors import ModelOutput
from berth.runtime.batching import AdaptiveBatcher, Array, BatchingConfig, ObserveRows
from berth.runtime.flavors.base import Runtime


class LoadedVersion:
    """A version with its runtime. Predictions run in `executor` threads (a slow model never stalls
    the event loop), batched by an `AdaptiveBatcher`; requests in flight are counted so an unload
    can wait for them."""

    def __init__(
        self,
        version: Version,
        runtime: Runtime,
        executor: Executor,
        batching: BatchingConfig,
        observe_rows: ObserveRows | None = None,
    ) -> None:
        self.version = version
        self.runtime = runtime
        self._executor = executor
        self.batcher = AdaptiveBatcher(self._execute, batching, observe_rows)
        self._in_flight = 0
        self._closed = False

    @property
    def key(self) -> tuple[str, int]:
        return (self.version.model, self.version.number)

    async def infer(self, arrays: list[Array], rows: int, outputs: Sequence[str]) -> ModelOutput:
        """Predict `outputs` for conformed input arrays (one per signature input) of `rows` rows."""
        if self._closed:
            raise BerthError(
                ErrorCode.MODEL_NOT_READY,
                f"{self.version.model} v{self.version.number} is being unloaded; retry the request",
            )
        self._in_flight += 1
        try:
            return await self.batcher.submit(arrays, rows, outputs)
        finally:
            self._in_flight -= 1

    async def _execute(self, arrays: list[Array], outputs: tuple[str, ...]) -> ModelOutput:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._predict, arrays, outputs)

    def _predict(self, arrays: list[Array], outputs: tuple[str, ...]) -> ModelOutput:
        try:
            return self.runtime.predict(assemble_model_input(arrays, self.version.signature), outputs)
        except BerthError:
            raise
        except Exception as exc:  # the model's own failure on this input: the caller's to see
            raise BerthError(
                ErrorCode.PREDICTION_FAILED,
                f"{self.version.model} v{self.version.number} could not predict: {type(exc).__name__}: {exc}",
            ) from exc

    async def drain_and_unload(self, timeout_s: float = 30.0) -> None:
        """Refuse new requests, wait (up to `timeout_s`) for those in flight, then free the runtime."""
        self._closed = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self._in_flight and loop.time() < deadline:
            await asyncio.sleep(0.005)
        await loop.run_in_executor(self._executor, self.runtime.unload)
