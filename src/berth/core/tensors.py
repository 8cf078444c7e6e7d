"""Transport-neutral inference requests and responses: named numpy tensors.

Codecs (``berth.core.codecs``) turn wire formats (OIP JSON, TF-Serving and MLflow JSON shapes,
later binary tensors and gRPC) into these types and back; the data plane only sees these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

if TYPE_CHECKING:  # a client sends and reads tensors without pandas
    import pandas as pd


@dataclass(frozen=True, slots=True)
class Tensor:
    """A named tensor. `data` already has `shape`; `datatype` is the OIP datatype name."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    data: np.ndarray[Any, Any]
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RequestedOutput:
    """An output the caller asked for, by name, with its OIP parameters (e.g. ``binary_data``)."""

    name: str
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class InferenceRequest:
    """An inference request. `outputs` is None when the caller asked for the model's default outputs."""

    inputs: list[Tensor]
    id: str | None = None
    outputs: list[RequestedOutput] | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    record_rows: int | None = None
    """Most rows the request's prediction record keeps (its first ones); None: every row. Set by
    the transport that reads bulk bodies (``BERTH_RECORD_BULK_ROWS``), never by a caller."""


@dataclass(frozen=True, slots=True)
class InferenceResponse:
    """What a model answered, named by the version that answered it."""

    model_name: str
    model_version: str
    outputs: list[Tensor]
    id: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)


ModelInput: TypeAlias = "np.ndarray[Any, Any] | pd.DataFrame | dict[str, np.ndarray[Any, Any]]"
"""What a runtime's `predict` receives, by signature layout: an array (``tensor``), a DataFrame
(``columns``) or a dict of arrays (``tensors``)."""

ModelOutput = dict[str, np.ndarray[Any, Any]]
"""What a runtime's `predict` returns: output name -> array whose first dimension is the batch."""
