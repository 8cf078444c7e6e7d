"""Loading a version: fetch its artifact, verify its sha256, load it with its flavor, warm it up."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from pathlib import Path

import orjson

from berth.core.codecs.model_io import to_model_input
from berth.core.codecs.oip_json import decode_infer_request
from berth.core.entities import Version
from berth.core.errors import BerthError, ErrorCode
from berth.runtime.batching import BatchingConfig, ObserveRows
from berth.runtime.flavors.base import Runtime
from berth.runtime.flavors.catalog import FlavorCatalog
from berth.runtime.loaded import LoadedVersion
from berth.runtime.preloaded import PreloadedRuntimes
from berth.storage.protocols import ArtifactStore

log = logging.getLogger(__name__)

_DESERIALIZING = threading.Lock()
"""Held while a flavor builds a model from its artifact. Two threads importing one library's modules
for the first time, in different orders (an rf and an lr load both import sklearn's submodules), can
meet in CPython's import deadlock avoidance, which hands one of them a partially initialised module
(``cannot import name 'clone' from partially initialized module 'sklearn.base'``). Deserialising
holds the GIL for most of its time anyway; fetching, verifying and warming up stay concurrent."""

BatchObservers = Callable[[Version], ObserveRows | None]
"""The rows observer of a version's batcher (for metrics), or None."""


class VersionLoader:
    """Turns a registry `Version` into a `LoadedVersion`. Blocking: call it from a worker thread."""

    def __init__(
        self,
        artifacts: ArtifactStore,
        catalog: FlavorCatalog,
        executor: Executor,
        batching: BatchingConfig | None = None,
        batch_observers: BatchObservers | None = None,
        preloaded: PreloadedRuntimes | None = None,
    ) -> None:
        """`preloaded`: runtimes the parent process loaded before forking this worker, taken
        instead of loading their artifact again."""
        self._artifacts = artifacts
        self._preloaded = preloaded
        self._catalog = catalog
        self._executor = executor
        self._batching = batching or BatchingConfig()
        self._batch_observers = batch_observers

    def load(self, version: Version) -> LoadedVersion:
        """Load and warm up `version`; any failure is a MODEL_LOAD_FAILED (or the integrity error)."""
        label = f"{version.model} v{version.number}"
        inherited = self._preloaded.take(version) if self._preloaded is not None else None
        if inherited is not None:  # verified and loaded by the parent; warmed up here, in this worker
            _warm_up(version, inherited, label)
            runtime = inherited
        else:
            with _load_failures(label):
                path = self._artifacts.fetch(version.artifact)  # verifies the sha256 first
            runtime = load_runtime(version, path, self._catalog)
        batching = self._batching.updated(version.runtime_config.get("batching"))
        log.info(
            "loaded %s (%s, sha256 %s%s)",
            label,
            version.flavor,
            version.artifact.sha256[:12],
            ", inherited from the parent process" if inherited is not None else "",
        )
        observer = self._batch_observers(version) if self._batch_observers is not None else None
        return LoadedVersion(version, runtime, self._executor, batching, observer)


def load_runtime(version: Version, path: Path, catalog: FlavorCatalog) -> Runtime:
    """`version`'s runtime from its artifact at `path` (already verified against its sha256), as a
    server loads it: its flavor, the trust the version was pushed with, then a warm-up on its input
    example. Any failure is MODEL_LOAD_FAILED, or UNTRUSTED_ARTIFACT / ARTIFACT_INTEGRITY as raised.
    The server's loader, `berth.load_model` and Spark executors all load through here."""
    label = f"{version.model} v{version.number}"
    with _load_failures(label), _DESERIALIZING:
        runtime = catalog.get(version.flavor).load(
            path, dict(version.runtime_config), trusted=version.trusted
        )
    _warm_up(version, runtime, label)
    return runtime


@contextmanager
def _load_failures(label: str) -> Iterator[None]:
    """Any failure as MODEL_LOAD_FAILED, but for an artifact's integrity and trust errors."""
    try:
        yield
    except BerthError as exc:
        if exc.code in (ErrorCode.ARTIFACT_INTEGRITY, ErrorCode.UNTRUSTED_ARTIFACT):
            raise
        raise BerthError(ErrorCode.MODEL_LOAD_FAILED, f"{label} failed to load: {exc.message}") from exc
    except Exception as exc:  # a flavor's unexpected failure must not take the server down
        raise BerthError(
            ErrorCode.MODEL_LOAD_FAILED, f"{label} failed to load: {type(exc).__name__}: {exc}"
        ) from exc


def _warm_up(version: Version, runtime: Runtime, label: str) -> None:
    """Answer the stored input example once, so the first real request does not pay for lazy set-up."""
    if not version.input_example:
        return
    try:
        request = decode_infer_request(orjson.dumps(version.input_example))
        inputs = to_model_input(request.inputs, version.signature)
        runtime.predict(inputs, version.signature.returned_by_default)
    except Exception as exc:
        runtime.unload()
        message = exc.message if isinstance(exc, BerthError) else f"{type(exc).__name__}: {exc}"
        raise BerthError(
            ErrorCode.MODEL_LOAD_FAILED, f"{label} failed its warm-up on its input example: {message}"
        ) from exc
