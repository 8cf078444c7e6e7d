"""Records and labelled predictions as the record store keeps them, built from frames and arrays."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from berth.core.codecs.frames import to_tensors
from berth.core.codecs.oip_json import tensor_json
from berth.core.records import LabelledPrediction, TensorsJson


def tensors_of(data: Any) -> TensorsJson:
    """The `TensorsJson` a record keeps for a request made of `data` (a DataFrame, an array...)."""
    found: TensorsJson = {}
    for tensor in to_tensors(data):
        entry = tensor_json(tensor)
        values = entry["data"]
        found[tensor.name] = {
            "datatype": entry["datatype"],
            "shape": entry["shape"],
            "data": values.tolist() if isinstance(values, np.ndarray) else list(values),
        }
    return found


def records_of(frame: pd.DataFrame, rows_per_record: int = 1) -> list[TensorsJson]:
    """One record per `rows_per_record` rows of `frame`, as the server records requests."""
    return [tensors_of(frame.iloc[i : i + rows_per_record]) for i in range(0, len(frame), rows_per_record)]


def labelled(
    predicted: Sequence[Any],
    truth: Sequence[Any],
    *,
    variant: str = "a",
    version: int = 1,
    at: datetime = datetime(2024, 1, 1, tzinfo=UTC),
    probabilities: Sequence[Sequence[float]] | None = None,
    regression: bool = False,
) -> list[LabelledPrediction]:
    """Labelled predictions with one output ``predict`` (and ``predict_proba`` when given)."""
    items = []
    for i, (p, t) in enumerate(zip(predicted, truth, strict=True)):
        if regression:
            outputs: TensorsJson = {"predict": {"datatype": "FP64", "shape": [1], "data": [float(p)]}}
        else:
            datatype = "BYTES" if isinstance(p, str) else "INT64"
            outputs = {"predict": {"datatype": datatype, "shape": [1], "data": [p]}}
        if probabilities is not None:
            row = [float(x) for x in probabilities[i]]
            outputs["predict_proba"] = {"datatype": "FP64", "shape": [1, len(row)], "data": row}
        items.append(
            LabelledPrediction(
                prediction_id=f"{variant}-{version}-{i}",
                recorded_at=at,
                endpoint="e",
                model="m",
                version=version,
                variant=variant,
                outputs=outputs,
                latency_s=0.001,
                label=None if regression else str(t),
                value=float(t) if regression else None,
            )
        )
    return items
