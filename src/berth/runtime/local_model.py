"""A registered version loaded in this process, without a server: `LocalModel`.

What `berth.load_model` answers in a notebook, and what a Spark executor scores with. The artifact
is verified against the version's sha256 before anything reads it (`fetch_verified`: a cache by
sha256, so an executor that already holds it does not download it again), then loaded exactly as a
server loads it (`berth.runtime.loader.load_runtime`: its flavor, the trust it was pushed with — a
pickle loads only when the version was pushed with the audited ``trust_pickle`` — and its warm-up).
`predict` takes what `berth.Client.predict` takes and answers the same DataFrame, through the same
signature checks as a request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from berth.core.entities import Version
from berth.core.errors import BerthError, ErrorCode
from berth.core.signature import InputLayout, Signature
from berth.runtime.flavors.catalog import FlavorCatalog
from berth.runtime.loader import load_runtime
from berth.storage.artifact_cache import ArtifactCache
from berth.storage.artifacts import file_sha256

if TYPE_CHECKING:
    import pandas as pd

    from berth.core.tensors import Tensor
    from berth.runtime.flavors.base import Runtime

Download = Callable[[Path], object]
"""Writes the artifact's bytes to the file it is given (e.g. `Registry.download_artifact`)."""


class LocalModel:
    """One version, loaded: ``model.predict(df)`` answers a DataFrame with a column per output.

    `predict` may be called from several threads; `close` frees the model (also on ``with``)."""

    def __init__(self, version: Version, runtime: Runtime) -> None:
        self._version = version
        self._runtime = runtime
        self._closed = threading.Event()

    @property
    def name(self) -> str:
        return self._version.model

    @property
    def version(self) -> int:
        return self._version.number

    @property
    def signature(self) -> Signature:
        return self._version.signature

    @property
    def sha256(self) -> str:
        """The sha256 of the artifact this model was loaded from (verified before loading)."""
        return self._version.artifact.sha256

    @property
    def registry_version(self) -> Version:
        """The registry's record of this version (flavor, metadata, aliases when it was resolved)."""
        return self._version

    def predict(self, data: Any, outputs: Sequence[str] | None = None) -> pd.DataFrame:
        """Predict on a DataFrame (its columns named like the model's inputs; others are ignored), a
        dict of arrays, or an array (its columns taken as the inputs in the signature's order when the
        model takes columns). `outputs` names the outputs wanted (default: the model's default
        outputs); an output of several columns is spread over ``name_0 … name_k``, as
        `berth.Client.predict` answers."""
        from berth.core.codecs.frames import outputs_to_frame
        from berth.core.codecs.model_io import to_model_input, to_output_tensors

        if self._closed.is_set():
            raise BerthError(ErrorCode.MODEL_NOT_READY, f"{self.name} v{self.version} was closed")
        signature = self.signature
        wanted = tuple(outputs or ()) or signature.returned_by_default
        model_input = to_model_input(self._tensors(data), signature)
        raw = self._runtime.predict(model_input, wanted)
        return outputs_to_frame(_texts(to_output_tensors(raw, wanted, signature)))

    def close(self) -> None:
        if not self._closed.is_set():
            self._closed.set()
            self._runtime.unload()

    def __enter__(self) -> LocalModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LocalModel({self.name!r}, version={self.version}, flavor={self._version.flavor!r})"

    def _tensors(self, data: Any) -> list[Tensor]:
        import numpy as np
        import pandas as pd

        from berth.core.codecs.frames import to_tensors

        specs = self.signature.inputs
        names = [s.name for s in specs]
        if isinstance(data, pd.DataFrame):
            if all(n in data.columns for n in names):
                data = data[names]
            return to_tensors(data)
        if isinstance(data, dict):
            return to_tensors(data)
        tensors = to_tensors(data)
        array = tensors[0].data
        if len(specs) == 1:
            return [_renamed(tensors[0], names[0])]
        if self.signature.layout is InputLayout.COLUMNS and array.ndim == 2 and array.shape[1] == len(specs):
            return to_tensors({name: np.ascontiguousarray(array[:, i]) for i, name in enumerate(names)})
        return tensors


def fetch_verified(digest: str, download: Download, cache: ArtifactCache) -> Path:
    """The artifact whose bytes hash to `digest`: the cached copy (verified again on every hit), else
    downloaded into the cache and verified before it is admitted (ARTIFACT_INTEGRITY otherwise)."""
    cached = cache.hit(digest)
    if cached is not None:
        return cached
    with cache.incoming() as (temp, file):
        file.close()
        download(temp)
        actual = file_sha256(temp)
        if actual != digest:
            raise BerthError(
                ErrorCode.ARTIFACT_INTEGRITY,
                f"artifact {digest} arrived corrupt: its bytes hash to {actual}",
                expected=digest,
                actual=actual,
            )
        return cache.admit(temp, digest)


def open_local_model(version: Version, path: Path, catalog: FlavorCatalog | None = None) -> LocalModel:
    """`version` loaded from the artifact at `path`, whose sha256 is checked first."""
    actual = file_sha256(path)
    if actual != version.artifact.sha256:
        raise BerthError(
            ErrorCode.ARTIFACT_INTEGRITY,
            f"the artifact of {version.model} v{version.number} hashes to {actual}, not"
            f" {version.artifact.sha256}",
            expected=version.artifact.sha256,
            actual=actual,
        )
    return LocalModel(version, load_runtime(version, path, catalog or FlavorCatalog()))


def _renamed(tensor: Tensor, name: str) -> Tensor:
    from dataclasses import replace

    return replace(tensor, name=name)


def _texts(tensors: list[Tensor]) -> list[Tensor]:
    """BYTES outputs as text (labels a model answers as bytes), as the batch job writes them."""
    from dataclasses import replace

    import numpy as np

    out = []
    for tensor in tensors:
        data = tensor.data
        if data.dtype.kind == "S" or (
            data.dtype.kind == "O" and any(isinstance(v, bytes) for v in data.flat)
        ):
            data = np.vectorize(_text, otypes=[object])(data)
            tensor = replace(tensor, data=data)
        out.append(tensor)
    return out


def _text(value: Any) -> Any:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
