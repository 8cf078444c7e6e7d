"""Turn what a pusher gives (a model object, a file, a folder) into an artifact to store."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from berth.core.errors import BerthError, ErrorCode
from berth.runtime.flavors.archive import safe_extract, write_zip
from berth.runtime.flavors.base import Packaged
from berth.runtime.flavors.catalog import FlavorCatalog
from berth.runtime.flavors.mlflow_model import is_mlflow_model


def package_object(catalog: FlavorCatalog, obj: Any, folder: Path) -> Packaged:
    """Save the fitted model `obj` into `folder` with the flavor that recognises it."""
    flavor = catalog.for_object(obj)
    folder.mkdir(parents=True, exist_ok=True)
    return flavor.save_object(obj, folder)


def package_file(catalog: FlavorCatalog, path: Path, *, trusted: bool, folder: Path) -> Packaged:
    """Check and package a file pushed as it is, working in `folder` (an empty folder the caller
    removes once the artifact is stored). An MLflow model (a folder with an ``MLmodel``, or a zip
    of one: what a client uploads) gives the model file inside it (`package_mlflow`); a pyfunc
    folder is zipped first."""
    folder.mkdir(parents=True, exist_ok=True)
    if is_mlflow_model(path):
        return package_mlflow(catalog, path, trusted=trusted, folder=folder)
    flavor = catalog.for_file(path)
    if path.is_dir():
        path = write_zip(path, folder / f"{path.name}.zip")
    return flavor.inspect_file(path, trusted=trusted)


def package_mlflow(catalog: FlavorCatalog, path: Path, *, trusted: bool, folder: Path) -> Packaged:
    """The model file of an MLflow model folder (or zip of one, unpacked into `folder` with
    `safe_extract`'s checks), packaged by the berth flavor that serves it, with the inputs of the
    MLflow signature and its input example (`berth.runtime.flavors.mlflow_model`)."""
    from berth.runtime.flavors.mlflow_model import read_mlflow_model
    from berth.runtime.flavors.mlflow_schema import input_example, signature_inputs

    if path.is_dir():
        source = path
    else:
        source = folder / "mlflow"
        source.mkdir()
        safe_extract(path, source)
    model = read_mlflow_model(source)
    flavor = catalog.get(model.flavor)
    staged = model.stage(folder)
    if not flavor.matches_file(staged):
        raise BerthError(
            ErrorCode.ARTIFACT_INVALID,
            f"MLflow model: {model.model_file.name} of its {model.mlflow_flavor} flavor is not a "
            f"{model.flavor} model file berth reads",
        )
    packaged = flavor.inspect_file(staged, trusted=trusted)
    return dataclasses.replace(
        packaged, declared_inputs=signature_inputs(model), input_example=input_example(model)
    )
