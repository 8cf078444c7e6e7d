"""Models a parent process deserialized before it forked its workers (`berth serve --workers N`).

The parent loads the versions the server will serve once; each forked worker inherits them as
copy-on-write pages and takes its runtime from here instead of loading the artifact again. Only the
flavors that declare ``fork_safe = True`` are pre-loaded: loading them starts no native thread pool
(OpenMP's is not fork-safe: a child of a parent that ran an OpenMP region can hang in its first
one). Warm-ups run in the workers, never in the parent, since a prediction may start such a pool.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

import orjson

from berth.core.entities import Version
from berth.runtime.flavors.base import Runtime
from berth.runtime.flavors.catalog import FlavorCatalog
from berth.storage.protocols import ArtifactStore

log = logging.getLogger(__name__)

PreloadKey = tuple[str, str, bytes, bool]
"""An artifact's sha256 with what its flavor was given to load it: its flavor, its runtime
configuration and its trust (two versions of one artifact may be loaded differently)."""


def preload_key(version: Version) -> PreloadKey:
    config = orjson.dumps(dict(version.runtime_config), option=orjson.OPT_SORT_KEYS)
    return (version.artifact.sha256, version.flavor, config, version.trusted)


def fork_safe(catalog: FlavorCatalog, flavor: str) -> bool:
    """Whether `flavor` declares that its `load` starts no native thread pool (a flavor that does
    not say is not: it loads in each worker)."""
    try:
        found = catalog.get(flavor)
    except Exception:  # an unknown flavor: the worker reports it, as without pre-loading
        return False
    return getattr(found, "fork_safe", False) is True


@dataclass(slots=True)
class PreloadedRuntimes:
    """Runtimes by `preload_key`. A worker takes each one once: after that its version is loaded
    (or unloaded) by its own pool, and a later load of the same artifact reads it again."""

    runtimes: dict[PreloadKey, Runtime] = field(default_factory=dict)

    def take(self, version: Version) -> Runtime | None:
        return self.runtimes.pop(preload_key(version), None)

    def __len__(self) -> int:
        return len(self.runtimes)


def preload(
    versions: Iterable[Version], artifacts: ArtifactStore, catalog: FlavorCatalog
) -> PreloadedRuntimes:
    """Fetch (sha256 verified), and load with their fork-safe flavors, `versions`. A version that
    fails is left out: each worker loads it as without pre-loading and reports what went wrong."""
    preloaded = PreloadedRuntimes()
    for version in versions:
        key = preload_key(version)
        if key in preloaded.runtimes or not fork_safe(catalog, version.flavor):
            continue
        try:
            path = artifacts.fetch(version.artifact)
            runtime = catalog.get(version.flavor).load(
                path, dict(version.runtime_config), trusted=version.trusted
            )
        except Exception as exc:
            log.info("%s v%d not pre-loaded (%s): the workers load it", version.model, version.number, exc)
            continue
        preloaded.runtimes[key] = runtime
    return preloaded
