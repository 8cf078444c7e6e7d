"""MLflow model folders (an ``MLmodel`` file beside the model's files), served by berth's own runtimes.

berth reads the folder and never imports mlflow. The ``MLmodel`` file lists the model's MLflow
flavors; the first one berth serves names the model file, which is then checked and packaged by a
berth flavor exactly like a file pushed alone (a pickle needs trust; skops types outside berth's
allow-list need trust; the ``skops_trusted_types`` MLflow wrote are not looked at):

======================================  ===========================================  ============
MLflow flavor (or python_function's     the file (``MLmodel`` key)                   berth flavor
``loader_module``)
======================================  ===========================================  ============
``sklearn`` (``mlflow.sklearn``)        ``pickled_model`` (``model_path``):          sklearn
                                        ``model.skops`` or a (cloud)pickle
``xgboost`` (``mlflow.xgboost``)        ``data``: UBJSON or JSON                     xgboost
``lightgbm`` (``mlflow.lightgbm``)      ``data``: a Booster's text model             lightgbm
                                        (the scikit-learn API: skops or pickle)      sklearn
``onnx`` (``mlflow.onnx``)              ``data``: ``model.onnx``                     onnx
======================================  ===========================================  ============

Refused with UNSUPPORTED_FLAVOR, trusted or not: any other flavor, a custom ``python_function``
(``loader_module: mlflow.pyfunc.model``, a cloudpickled ``PythonModel`` that needs mlflow to run:
rewrite it as a berth pyfunc class, or push the model inside it), and a model that ships ``code``
(``code_paths``: modules berth would have to put on the import path).

Reading trusts nothing (the folder may come from an uploaded zip, unpacked by
`berth.runtime.flavors.archive.safe_extract`): ``MLmodel`` is at most `MAX_MLMODEL_BYTES` of YAML
read without anchors or aliases, and every path it names must be a relative path to a regular file
inside the folder (ARTIFACT_INVALID otherwise).
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Final

from berth.core.errors import BerthError, ErrorCode
from berth.runtime.flavors.sniff import head, is_pickle, zip_members

MLMODEL: Final = "MLmodel"
MAX_MLMODEL_BYTES: Final = 1024 * 1024
CUSTOM_PYFUNC: Final = "mlflow.pyfunc.model"

# MLflow flavor -> the MLmodel keys that name its model file, first found wins
_FILE_KEYS: Final[dict[str, tuple[str, ...]]] = {
    "sklearn": ("pickled_model",),
    "xgboost": ("data",),
    "lightgbm": ("data",),
    "onnx": ("data",),
}
_LOADERS: Final = {f"mlflow.{name}": name for name in _FILE_KEYS}
_PYFUNC_KEYS: Final = ("model_path", "data")


@dataclass(frozen=True, slots=True)
class MlflowModel:
    """What berth takes from an MLflow model folder: the model file, the berth flavor that serves
    it, and the ``MLmodel`` entries that describe its inputs."""

    folder: Path
    mlflow_flavor: str
    flavor: str
    model_file: Path
    suffix: str
    """The suffix the model file is staged under for its berth flavor (``.skops``, ``.ubj``, …)."""
    signature_inputs: str | None
    """The signature's ``inputs`` (MLflow's JSON string), when the ``MLmodel`` has one."""
    example_info: Mapping[str, Any] | None
    """``saved_input_example_info``, when the ``MLmodel`` has one."""

    def stage(self, target: Path) -> Path:
        """Copy the model file to `target` (a folder) under the name its berth flavor expects."""
        staged = target / f"model{self.suffix}"
        shutil.copyfile(self.model_file, staged)
        return staged


def _invalid(message: str) -> BerthError:
    return BerthError(ErrorCode.ARTIFACT_INVALID, f"MLflow model: {message}")


def is_mlflow_model(path: Path) -> bool:
    """True for a folder holding an ``MLmodel`` file, or a zip with one at its top."""
    if path.is_dir():
        return (path / MLMODEL).is_file()
    return MLMODEL in zip_members(path)


def inside(root: Path, name: object) -> Path:
    """`root/name` when `name` is a relative path to a regular file whose real path is in `root`."""
    if not isinstance(name, str) or not name or "\\" in name or "\x00" in name:
        raise _invalid(f"{name!r} is not a file name")
    relative = PurePosixPath(name)
    if relative.is_absolute() or ".." in relative.parts or (len(name) > 1 and name[1] == ":"):
        raise _invalid(f"{name!r} is outside the model folder")
    try:
        real = root.joinpath(*relative.parts).resolve(strict=True)
    except FileNotFoundError:
        raise _invalid(f"{name} is missing from the folder") from None
    except (OSError, RuntimeError) as exc:
        raise _invalid(f"{name} cannot be read: {exc}") from None
    if not real.is_relative_to(root):
        raise _invalid(f"{name} is a link that leads out of the folder")
    if not stat.S_ISREG(os.stat(real).st_mode):
        raise _invalid(f"{name} is not a regular file")
    return real


def read_mlmodel(root: Path) -> dict[str, Any]:
    """The ``MLmodel`` of the folder `root` (resolved), parsed as plain YAML data."""
    import yaml

    class _NoAliases(yaml.SafeLoader):
        """YAML without anchors or aliases (MLflow writes none; they can blow a document up)."""

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                raise yaml.YAMLError("aliases are not accepted")
            return super().compose_node(parent, index)

    path = inside(root, MLMODEL)
    if path.stat().st_size > MAX_MLMODEL_BYTES:
        raise _invalid(f"{MLMODEL} is larger than {MAX_MLMODEL_BYTES} bytes")
    try:
        body = yaml.load(path.read_text(encoding="utf-8"), Loader=_NoAliases)  # a SafeLoader
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError) as exc:
        raise _invalid(f"{MLMODEL} is not readable YAML: {type(exc).__name__}: {exc}") from None
    if not isinstance(body, dict) or not isinstance(body.get("flavors"), dict):
        raise _invalid(f"{MLMODEL} has no flavors")
    return body


def _choose(flavors: Mapping[str, Any]) -> tuple[str, Mapping[str, Any], tuple[str, ...]]:
    """(MLflow flavor, its MLmodel entry, the keys naming its file) of the flavor berth serves."""
    for name, keys in _FILE_KEYS.items():
        entry = flavors.get(name)
        if isinstance(entry, dict):
            return name, entry, keys
    pyfunc = flavors.get("python_function")
    loader = pyfunc.get("loader_module") if isinstance(pyfunc, dict) else None
    if isinstance(pyfunc, dict) and loader in _LOADERS:
        return _LOADERS[str(loader)], pyfunc, _PYFUNC_KEYS
    found = ", ".join(sorted(str(f) for f in flavors)) or "none"
    if loader == CUSTOM_PYFUNC:
        reason = (
            "it is a custom python_function model (mlflow.pyfunc.model): a cloudpickled PythonModel "
            "that only mlflow can run. berth serves the models inside such wrappers: push the "
            "scikit-learn, XGBoost, LightGBM or ONNX model itself, or write a berth pyfunc class"
        )
    else:
        reason = f"berth serves {', '.join(_FILE_KEYS)} (and python_function over them); it has {found}"
    names = sorted(str(f) for f in flavors)
    raise BerthError(ErrorCode.UNSUPPORTED_FLAVOR, f"MLflow model: {reason}", mlflow_flavors=names)


def _berth_flavor(mlflow_flavor: str, path: Path) -> tuple[str, str]:
    """(berth flavor, staging suffix) of an MLflow flavor's model file, from its first bytes."""
    is_zip = head(path, 4) == b"PK\x03\x04"
    if mlflow_flavor == "sklearn" or (mlflow_flavor == "lightgbm" and (is_zip or is_pickle(path))):
        return "sklearn", ".skops" if is_zip else ".pkl"
    if mlflow_flavor == "xgboost":
        start = head(path, 2)  # UBJSON follows "{" with a type marker, JSON with a quote or a space
        is_json = start[:1] == b"{" and start[1:2] in (b'"', b" ", b"\n", b"\r", b"\t")
        return "xgboost", ".json" if is_json else ".ubj"
    if mlflow_flavor == "lightgbm":
        return "lightgbm", ".txt"
    return "onnx", ".onnx"


def read_mlflow_model(folder: Path) -> MlflowModel:
    """The model file of the MLflow model folder `folder` and what describes it, checked."""
    try:
        root = folder.resolve(strict=True)
    except (OSError, RuntimeError):
        raise _invalid(f"no folder at {folder}") from None
    body = read_mlmodel(root)
    name, entry, keys = _choose(body["flavors"])
    pyfunc = body["flavors"].get("python_function")
    if entry.get("code") or (isinstance(pyfunc, dict) and pyfunc.get("code")):
        raise BerthError(
            ErrorCode.UNSUPPORTED_FLAVOR,
            "MLflow model: it ships code (code_paths) that loading would import; berth does not put "
            "a model's code on the import path (write a berth pyfunc class for custom code)",
        )
    file_name = next((entry[k] for k in keys if entry.get(k)), None)
    if file_name is None:
        raise _invalid(f"the {name} flavor names no model file ({' or '.join(keys)})")
    model_file = inside(root, file_name)
    flavor, suffix = _berth_flavor(name, model_file)
    signature = body.get("signature")
    inputs = signature.get("inputs") if isinstance(signature, dict) else None
    example = body.get("saved_input_example_info")
    return MlflowModel(
        folder=root,
        mlflow_flavor=name,
        flavor=flavor,
        model_file=model_file,
        suffix=suffix,
        signature_inputs=inputs if isinstance(inputs, str) else None,
        example_info=example if isinstance(example, dict) else None,
    )
