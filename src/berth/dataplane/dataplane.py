"""The data plane: one transport-neutral place where a request becomes an answer.

resolve the model reference in the in-memory routing table -> check the inputs against the
version's signature -> predict (off the event loop) -> pick the requested outputs. REST and gRPC
both call it; neither knows about models, and it knows nothing about HTTP.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from berth.core.codecs.model_io import conform_inputs, to_output_tensors
from berth.core.entities import Version
from berth.core.errors import BerthError, ErrorCode
from berth.core.tensors import InferenceRequest, InferenceResponse, Tensor
from berth.dataplane.deadlines import Deadlines
from berth.engine.pool import LoadState, ModelPool
from berth.engine.reconciler import Reconciler

SERVER_NAME = "berth"


@dataclass(frozen=True, slots=True)
class ServerInfo:
    name: str
    version: str
    extensions: tuple[str, ...]


class DataPlane:
    def __init__(
        self,
        reconciler: Reconciler,
        pool: ModelPool,
        info: ServerInfo,
        *,
        timeout_s: float | None = None,
        max_elements: int | None = None,
    ) -> None:
        self._reconciler = reconciler
        self._pool = pool
        self.info = info
        self._deadlines = Deadlines(timeout_s) if timeout_s is not None else None
        """Longest a prediction may run (REQUEST_TIMEOUT past it); None: no limit."""
        self._max_elements = max_elements
        """Most elements of all input tensors of one request (PAYLOAD_TOO_LARGE past it)."""

    # -- health and metadata ------------------------------------------------------------------
    def live(self) -> bool:
        return True

    def ready(self) -> bool:
        return self._reconciler.synced

    def resolve(self, model: str, ref: str | None) -> Version:
        return self._reconciler.table.resolve(model, ref)

    def model_ready(self, model: str, ref: str | None) -> bool:
        return self._pool.state(self.resolve(model, ref)) is LoadState.READY

    def model_metadata(self, model: str, ref: str | None) -> dict[str, Any]:
        """OIP model metadata: name, versions, platform (the flavor), inputs and outputs."""
        version = self.resolve(model, ref)
        routes = self._reconciler.table.model(model)
        signature = version.signature
        return {
            "name": model,
            "versions": [str(n) for n in sorted(routes.versions)],
            "platform": version.flavor,
            "inputs": [_spec_json(s.name, s.datatype, s.shape) for s in signature.inputs],
            "outputs": [_spec_json(s.name, s.datatype, s.shape) for s in signature.outputs],
            "parameters": {
                "version": str(version.number),
                "layout": signature.layout.value,
                "default_outputs": list(signature.returned_by_default),
                "aliases": sorted(a for a, n in routes.aliases.items() if n == version.number),
                "state": self._pool.state(version).value,
            },
        }

    # -- model repository (OIP repository extension) ------------------------------------------
    def repository_index(self) -> list[dict[str, str]]:
        """Every version the registry holds, with its state in this server: READY, LOADING,
        UNAVAILABLE (failed to load, `reason` says why) or UNLOADED."""
        states = {
            LoadState.READY: "READY",
            LoadState.LOADING: "LOADING",
            LoadState.FAILED: "UNAVAILABLE",
            LoadState.UNLOADED: "UNLOADED",
        }
        rows: list[dict[str, str]] = []
        for name, routes in sorted(self._reconciler.table.models.items()):
            for number, version in sorted(routes.versions.items()):
                failure = self._pool.failure(version)
                rows.append(
                    {
                        "name": name,
                        "version": str(number),
                        "state": states[self._pool.state(version)],
                        "reason": failure.message if failure else "",
                    }
                )
        return rows

    async def load_model(self, model: str, ref: str | None = None) -> Version:
        """Load (and warm up) the version `ref` names now, instead of on its first request."""
        version = self.resolve(model, ref)
        await self._pool.get(version)
        return version

    async def unload_model(self, model: str, ref: str | None = None) -> Version:
        """Free the version's memory once its requests in flight are answered. A later request
        loads it again."""
        version = self.resolve(model, ref)
        await self._pool.unload((version.model, version.number))
        return version

    # -- inference ----------------------------------------------------------------------------
    async def infer(self, model: str, ref: str | None, request: InferenceRequest) -> InferenceResponse:
        """Answer `request` with the version `ref` names now.

        Transports resolve once on arrival, to answer an unknown name before reading the body; the
        version is resolved again here, in the same step of the event loop as the pool lookup in
        `predict_tensors`, so a request never lands on a version the reconciler has just retired
        (it would load it again, and nothing would unload it)."""
        version = self.resolve(model, ref)
        outputs = await self.predict_tensors(version, request.inputs, _requested_names(request))
        return InferenceResponse(
            model_name=version.model, model_version=str(version.number), outputs=outputs, id=request.id
        )

    async def predict_tensors(
        self, version: Version, inputs: list[Tensor], output_names: Sequence[str] | None
    ) -> list[Tensor]:
        """Validate `inputs` against the version's signature, predict, return the named outputs."""
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
        arrays = conform_inputs(inputs, signature)  # no await from the caller's resolve to the pool
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


def _requested_names(request: InferenceRequest) -> list[str] | None:
    return [o.name for o in request.outputs] if request.outputs else None


def _spec_json(name: str, datatype: str, shape: tuple[int, ...]) -> dict[str, Any]:
    return {"name": name, "datatype": datatype, "shape": list(shape)}
