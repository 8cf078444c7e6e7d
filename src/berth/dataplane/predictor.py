"""One prediction on one version: inputs checked against its signature, the named outputs back."""

from __future__ import annotations

from collections.abc import Sequence

from berth.core.codecs.model_io import conform_inputs, to_output_tensors
from berth.core.entities import Version
from berth.core.errors import BerthError, ErrorCode
from berth.core.tensors import Tensor
from berth.engine.pool import ModelPool


class Predictor:
    def __init__(self, pool: ModelPool) -> None:
        self._pool = pool

    async def predict(
        self, version: Version, inputs: list[Tensor], output_names: Sequence[str] | None
    ) -> list[Tensor]:
        """Validate `inputs` against the version's signature, predict, return the named outputs.

        Nothing awaits between the caller's choice of `version` and the pool look-up, so a version
        the reconciler retired meanwhile is never loaded again by a late request."""
        signature = version.signature
        names = tuple(output_names) if output_names else signature.returned_by_default
        unknown = [n for n in names if n not in signature.output_names]
        if unknown:
            raise BerthError(
                ErrorCode.OUTPUT_NOT_FOUND,
                f"{version.model} v{version.number} has no output {unknown[0]!r}; "
                f"its outputs are {[s.name for s in signature.outputs]}",
            )
        arrays = conform_inputs(inputs, signature)
        rows = next((int(a.shape[0]) for a in arrays if a.ndim), 1)
        loaded = self._pool.ready(version) or await self._pool.get(version)
        raw = await loaded.infer(arrays, rows, names)
        return to_output_tensors(raw, names, signature)
