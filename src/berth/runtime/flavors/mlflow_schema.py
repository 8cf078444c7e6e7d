"""An MLflow model's signature inputs and input example, in berth's terms.

Inputs (the ``MLmodel``'s ``signature.inputs``, a JSON string):

- named columns (``{"type": "double", "name": "age"}``) become layout ``columns``; MLflow's
  ``boolean``, ``integer``, ``long``, ``float``, ``double``, ``string`` and ``binary`` map to BOOL,
  INT32, INT64, FP32, FP64, BYTES and BYTES;
- tensors (``{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 4]}}``) become
  one ``tensor`` (``input-0`` when unnamed) or, when several and named, ``tensors``.

A schema berth cannot state (unnamed columns, datetimes, arrays, objects, maps) is left out: the
signature is then inferred as for a file pushed alone (from the example, else from what the model
declares). The outputs are always the berth runtime's own (``predict``, ``predict_proba``, …),
found by running the model.

The input example (``saved_input_example_info``: a ``dataframe`` in ``split`` or ``records``
orient, or an ``ndarray``, plain or as ``{"inputs": …}``) becomes a DataFrame or arrays, given the
signature's datatypes when it is published. An example file over `MAX_EXAMPLE_BYTES` or of another
type is left out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from berth.core.errors import BerthError, ErrorCode
from berth.core.numpy_types import oip_datatype
from berth.core.signature import BATCH, InputLayout, TensorSpec
from berth.runtime.flavors.mlflow_model import MlflowModel, inside

MAX_EXAMPLE_BYTES: Final = 1024 * 1024
MAX_SCHEMA_BYTES: Final = 256 * 1024

COLUMN_TYPES: Final = {
    "boolean": "BOOL",
    "integer": "INT32",
    "long": "INT64",
    "float": "FP32",
    "double": "FP64",
    "string": "BYTES",
    "binary": "BYTES",
}

Inputs = tuple[InputLayout, tuple[TensorSpec, ...]]


def _invalid(message: str) -> BerthError:
    return BerthError(ErrorCode.ARTIFACT_INVALID, f"MLflow model: {message}")


def _tensor(spec: Mapping[str, Any], default_name: str) -> TensorSpec | None:
    tensor = spec.get("tensor-spec")
    if not isinstance(tensor, dict):
        return None
    try:
        datatype = oip_datatype(np.dtype(str(tensor.get("dtype"))))
        shape = tuple(int(d) for d in tensor.get("shape", ()))
    except (TypeError, ValueError, BerthError):
        return None
    name = spec.get("name")
    try:
        return TensorSpec(str(name) if name else default_name, datatype, shape)
    except BerthError:
        return None


def signature_inputs(model: MlflowModel) -> Inputs | None:
    """The inputs the MLflow signature states, or None when it has none berth can state."""
    text = model.signature_inputs
    if text is None or len(text) > MAX_SCHEMA_BYTES:
        return None
    try:
        specs = json.loads(text)
    except (ValueError, RecursionError):
        raise _invalid("signature.inputs is not JSON") from None
    if not isinstance(specs, list) or not specs or not all(isinstance(s, dict) for s in specs):
        return None
    if all(s.get("type") == "tensor" for s in specs):
        tensors = [_tensor(s, f"input-{i}") for i, s in enumerate(specs)]
        if any(t is None for t in tensors) or (len(specs) > 1 and not all(s.get("name") for s in specs)):
            return None
        layout = InputLayout.TENSOR if len(tensors) == 1 else InputLayout.TENSORS
        return layout, tuple(t for t in tensors if t is not None)
    if not all(s.get("name") and s.get("type") in COLUMN_TYPES for s in specs):
        return None
    columns = tuple(TensorSpec(str(s["name"]), COLUMN_TYPES[str(s["type"])], (BATCH,)) for s in specs)
    if len({c.name for c in columns}) != len(columns):
        return None
    return InputLayout.COLUMNS, columns


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise _invalid(f"{path.name} is not JSON") from None


def _frame(body: Any, orient: str) -> pd.DataFrame | None:
    if orient == "split" and isinstance(body, dict) and isinstance(body.get("data"), list):
        columns = body.get("columns")
        return pd.DataFrame(body["data"], columns=columns if isinstance(columns, list) else None)
    if orient == "records" and isinstance(body, list) and all(isinstance(r, dict) for r in body):
        return pd.DataFrame.from_records(body)
    return None


def input_example(model: MlflowModel) -> Any:
    """The model's input example (a DataFrame, an array or a dict of arrays, as JSON gives them:
    `berth.runtime.signatures.typed_example` types it), or None when it has none."""
    info = model.example_info
    if info is None or not info.get("artifact_path"):
        return None
    path = inside(model.folder, info["artifact_path"])
    if path.stat().st_size > MAX_EXAMPLE_BYTES:
        return None
    body = _read_json(path)
    kind = info.get("type")
    try:
        example = _example(body, kind, str(info.get("pandas_orient", "split")))
    except (TypeError, ValueError) as exc:
        raise _invalid(f"{path.name} is not an input example berth reads: {exc}") from None
    if example is None:
        if kind in ("dataframe", "ndarray"):
            raise _invalid(f"{path.name} is not a {kind} example berth reads")
        return None
    return example


def _example(body: Any, kind: Any, orient: str) -> Any:
    if kind == "dataframe":
        return _frame(body, orient)
    if kind == "ndarray":
        if isinstance(body, dict) and "inputs" in body:
            body = body["inputs"]
        if isinstance(body, dict):
            return {str(k): np.asarray(v) for k, v in body.items()}
        return np.asarray(body) if isinstance(body, list) else None
    return None
