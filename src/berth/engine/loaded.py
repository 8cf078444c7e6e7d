"""A version loaded in memory, ready to answer."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

from berth.core.entities import Version
from berth.core.errors import BerthError, ErrorCode
from berth.core.tensors import ModelInput, ModelOutput
from berth.engine.flavors.base import Runtime


@dataclass(eq=False)
class LoadedVersion:
    """A version with its runtime. Counts requests in flight so an unload can wait for them."""

    version: Version
    runtime: Runtime
    executor: Executor
    _in_flight: int = 0
    _closed: bool = False

    @property
    def key(self) -> tuple[str, int]:
        return (self.version.model, self.version.number)

    async def predict(self, inputs: ModelInput, outputs: Sequence[str]) -> ModelOutput:
        """Run the model off the event loop, so a slow model never stalls other requests."""
        self._enter()
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self.executor, self._predict, inputs, outputs)
        finally:
            self._leave()

    def _predict(self, inputs: ModelInput, outputs: Sequence[str]) -> ModelOutput:
        try:
            return self.runtime.predict(inputs, outputs)
        except BerthError:
            raise
        except Exception as exc:  # the model's own failure on this input: the caller's to see
            raise BerthError(
                ErrorCode.PREDICTION_FAILED,
                f"{self.version.model} v{self.version.number} could not predict: {type(exc).__name__}: {exc}",
            ) from exc

    def _enter(self) -> None:
        if self._closed:
            raise BerthError(
                ErrorCode.MODEL_NOT_READY,
                f"{self.version.model} v{self.version.number} is being unloaded; retry the request",
            )
        self._in_flight += 1

    def _leave(self) -> None:
        self._in_flight -= 1

    async def drain_and_unload(self, timeout_s: float = 30.0) -> None:
        """Refuse new requests, wait (up to `timeout_s`) for those in flight, then free the runtime."""
        self._closed = True
        deadline = asyncio.get_running_loop().time() + timeout_s
        while self._in_flight and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        await asyncio.get_running_loop().run_in_executor(self.executor, self.runtime.unload)
