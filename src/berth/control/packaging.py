"""Turn what a pusher gives (a model object, a file, a folder) into an artifact to store."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from berth.runtime.flavors.archive import write_zip
from berth.runtime.flavors.base import Packaged
from berth.runtime.flavors.catalog import FlavorCatalog


def package_object(catalog: FlavorCatalog, obj: Any, folder: Path) -> Packaged:
    """Save the fitted model `obj` into `folder` with the flavor that recognises it."""
    flavor = catalog.for_object(obj)
    folder.mkdir(parents=True, exist_ok=True)
    return flavor.save_object(obj, folder)


def package_file(
    catalog: FlavorCatalog, path: Path, *, trusted: bool, folder: Path | None = None
) -> Packaged:
    """Check and package a file pushed as it is. A folder artifact (pyfunc) is zipped first, into
    `folder` (a new temporary folder when None; the caller removes it once stored)."""
    flavor = catalog.for_file(path)
    if path.is_dir():
        target = folder if folder is not None else Path(tempfile.mkdtemp(prefix="berth-package-"))
        target.mkdir(parents=True, exist_ok=True)
        path = write_zip(path, target / f"{path.name}.zip")
    return flavor.inspect_file(path, trusted=trusted)
