"""One prediction on one version: inputs checked against its signature, the named outputs back."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from berth.core.codecs.model_io import conform_inputs, to_output_tensors
from berth.core.entities import Version
from berth.core.errors import BerthError, ErrorCode
from berth.core.tensors import Tensor
from berth.core.tracing import OFF, Tracing
from berth.dataplane.deadlines import Deadlines
from berth.runtime.pool import ModelPool


class Predictor:
    def __init__(
        self,
        pool: ModelPool,
        *,
        timeout_s: float | None = None,
        max_elements: int | None = None,
        tracing: Tracing = OFF,
    ) -> None:
        self._pool = pool
        self._tracing = tracing
        self._deadlines = Deadlines(timeout_s) if timeout_s is not None else None
        """Longest a prediction may run (REQUEST_TIMEOUT past it); None: no limit."""
        self._max_elements = max_elements
        """Most elements of all input tensors of one request (PAYLOAD_TOO_LARGE past it)."""

    async def predict(
        self, version: Version, inputs: list[Tensor], output_names: Sequence[str] | None
    ) -> list[Tensor]:
        """Validate `inputs` against the version's signature, predict, return the named outputs
        (in a span ``berth.model`` when the request is traced).

        Nothing awaits between the caller's choice of `version` and the pool look-up, so a version
        the reconciler retired meanwhile is never loaded again by a late request."""
        with self._tracing.span("berth.model") as span:
            if span is not None:
                span.set_attributes({"berth.model": version.model, "berth.model_version": version.number})
            return await self._predict(version, inputs, output_names)

    async def _predict(
        self, version: Version, inputs: list[Tensor], output_names: Sequence[str] | None
    ) -> list[Tensor]:
        signature = version.signature
        names = tuple(output_names) if output_names else signature.returned_by_default
        unknown = [n for n in names if n not in signature.output_names]
        if unknown:
            raise BerthError(
                ErrorCode.OUTPUT_NOT_FOUND,
                f"{version.model} v{version.number} has no output {unknown[0]!r}; "
                f"its outputs are {[s.name for s in signature.outputs]}",
            )
        if self._max_elements is not None:
            elements = sum(int(t.data.size) for t in inputs)
            if elements > self._max_elements:
                raise BerthError(
                    ErrorCode.PAYLOAD_TOO_LARGE,
                    f"{elements} input elements, more than the limit of {self._max_elements}",
                    limit=self._max_elements,
                )
        arrays = conform_inputs(inputs, signature)
        rows = next((int(a.shape[0]) for a in arrays if a.ndim), 1)
        loaded = self._pool.ready(version) or await self._pool.get(version)
        task = asyncio.current_task() if self._deadlines is not None else None
        if self._deadlines is None or task is None:
            raw = await loaded.infer(arrays, rows, names)
        else:
            slot = self._deadlines.enter(task)
            try:
                raw = await loaded.infer(arrays, rows, names)
            except asyncio.CancelledError:
                if self._deadlines.leave(task, slot):  # cancelled for its deadline: a timeout
                    raise BerthError(
                        ErrorCode.REQUEST_TIMEOUT,
                        f"{version.model} v{version.number} did not answer within "
                        f"{self._deadlines.timeout_s} s",
                    ) from None
                raise
            except BaseException:
                self._deadlines.leave(task, slot)
                raise
            self._deadlines.leave(task, slot)
        return to_output_tensors(raw, names, signature)
