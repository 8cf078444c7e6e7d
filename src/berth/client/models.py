"""``berth.load_model("churn@production", url=...)``: a registered version loaded in this process.

For notebooks and Spark executors: the version is resolved in the registry (a server's management
API with `url`, or the embedded one in `home`), its artifact downloaded into a local cache named by
its sha256 (verified on every use, so executors on one host download it once), and loaded with the
runtime a server uses (`berth.runtime.local_model`). Light to import: the runtime, numpy and pandas
load when a model does.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Final

from berth.client.sdk import open_registry
from berth.core.errors import BerthError, ErrorCode
from berth.core.model_refs import ModelRef

if TYPE_CHECKING:
    from berth.core.entities import Version
    from berth.runtime.local_model import LocalModel

CACHE_ENV: Final = "BERTH_MODEL_CACHE"
"""The environment variable naming the download cache when `cache_dir` is not given."""
DEFAULT_CACHE_BYTES: Final = 20 * 1024**3


def default_cache_dir() -> Path:
    """``$BERTH_MODEL_CACHE``, else ``$XDG_CACHE_HOME/berth/models`` (``~/.cache/berth/models``)."""
    chosen = os.environ.get(CACHE_ENV)
    if chosen:
        return Path(chosen).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "berth" / "models"


def resolve_version(
    model: str, *, url: str | None = None, home: str | Path | None = None, token: str | None = None
) -> Version:
    """The registry's version ``MODEL@ALIAS`` / ``MODEL:VERSION`` / ``MODEL`` names, nothing downloaded."""
    ref = ModelRef.parse(model)
    registry = open_registry(home=home, url=url, token=token)
    try:
        return registry.get_version(ref.name, ref.ref)
    finally:
        registry.close()


def load_model(
    model: str,
    *,
    url: str | None = None,
    home: str | Path | None = None,
    token: str | None = None,
    cache_dir: str | Path | None = None,
    cache_bytes: int = DEFAULT_CACHE_BYTES,
    sha256: str | None = None,
) -> LocalModel:
    """Load ``MODEL@ALIAS``, ``MODEL:VERSION`` or ``MODEL`` (its production alias, else its latest)
    from the registry at `url` (called with `token`, default ``BERTH_TOKEN``) or in `home`.

    The artifact is downloaded into `cache_dir` (default `default_cache_dir`; at most `cache_bytes`,
    least recently used first out) under its sha256 and verified before it is loaded. `sha256`, when
    given, is the artifact the caller expects (a Spark executor loading what its driver resolved):
    another one is ARTIFACT_INTEGRITY. Trust is the server's: a version whose loading unpickles was
    pushed with the audited ``trust_pickle``, or it does not load (UNTRUSTED_ARTIFACT).
    """
    from berth.runtime.local_model import fetch_verified, open_local_model
    from berth.storage.artifact_cache import ArtifactCache

    ref = ModelRef.parse(model)
    cache = ArtifactCache(
        Path(cache_dir) if cache_dir is not None else default_cache_dir(), max_bytes=cache_bytes
    )
    registry = open_registry(home=home, url=url, token=token)
    try:
        version = registry.get_version(ref.name, ref.ref)
        if sha256 is not None and version.artifact.sha256 != sha256:
            raise BerthError(
                ErrorCode.ARTIFACT_INTEGRITY,
                f"{ref} is artifact {version.artifact.sha256}, not the expected {sha256}",
                expected=sha256,
                actual=version.artifact.sha256,
            )
        path = fetch_verified(
            version.artifact.sha256, lambda out: registry.download_artifact(version, out), cache
        )
    finally:
        registry.close()
    return open_local_model(version, path)
