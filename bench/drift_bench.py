"""Drift of a million recorded predictions against a reference profile: seconds, printed.

Records are built as the record store keeps them (`TensorsJson` dicts, one row each): an ``x``
tensor FP64 ``[1, 8]`` (8 numeric features), two BYTES ``[1]`` tensors (``segment``,
``channel``: categorical) and a ``predict`` INT64 output. Half the numeric features and one
category are shifted. The timed steps are what an on-demand drift query does once the records are
read: `current_features` (tensors -> columns) and `compute_drift` (inputs and prediction).

    .venv/bin/python bench/drift_bench.py [--records 1000000]
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import numpy as np

from berth.control.monitoring.drift import DriftStatus, compute_drift
from berth.control.monitoring.features import current_features
from berth.control.monitoring.profiling import build_profile

SEGMENTS = np.array(["gold", "silver", "bronze", "none"], dtype=object)
CHANNELS = np.array(["web", "app", "phone"], dtype=object)


def _sample(n: int, rng: np.random.Generator, *, shifted: bool) -> dict[str, Any]:
    x = rng.normal(0.0, 1.0, size=(n, 8))
    if shifted:
        x[:, :4] += 0.5
    channel_p = [0.2, 0.3, 0.5] if shifted else [0.5, 0.3, 0.2]
    return {
        "x": x,
        "segment": rng.choice(SEGMENTS, n, p=[0.1, 0.2, 0.3, 0.4]),
        "channel": rng.choice(CHANNELS, n, p=channel_p),
        "predict": (x[:, 0] > 0).astype(np.int64),
    }


def _records(sample: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    x, segment, channel, predict = (sample[k].tolist() for k in ("x", "segment", "channel", "predict"))
    inputs = [
        {
            "x": {"datatype": "FP64", "shape": [1, 8], "data": row},
            "segment": {"datatype": "BYTES", "shape": [1], "data": [s]},
            "channel": {"datatype": "BYTES", "shape": [1], "data": [c]},
        }
        for row, s, c in zip(x, segment, channel, strict=True)
    ]
    outputs = [{"predict": {"datatype": "INT64", "shape": [1], "data": [p]}} for p in predict]
    return inputs, outputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)

    reference = _sample(100_000, rng, shifted=False)
    started = time.perf_counter()
    profile = build_profile(
        {"x": reference["x"], "segment": reference["segment"], "channel": reference["channel"]},
        outputs={"predict": reference["predict"]},
    )
    profile_s = time.perf_counter() - started

    inputs, outputs = _records(_sample(args.records, rng, shifted=True))
    started = time.perf_counter()
    current_in = current_features(inputs)
    current_out = current_features(outputs)
    features_s = time.perf_counter() - started
    started = time.perf_counter()
    report = compute_drift(profile, current_in, current_out)
    drift_s = time.perf_counter() - started

    drifted = report.dataset.drifted_features
    print(f"load average over 1 minute at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"profile of 100,000 reference rows, 10 features: {profile_s:.2f} s")
    print(f"records: {args.records:,} ({len(profile.inputs)} input features, 1 output)")
    print(f"  current_features (tensors -> columns): {features_s:.2f} s")
    print(f"  compute_drift (inputs + prediction):   {drift_s:.2f} s")
    print(f"  total:                                 {features_s + drift_s:.2f} s")
    print(
        f"  drifted: {drifted} -> dataset {report.dataset.status.value},"
        f" prediction {report.prediction.status.value}"
    )
    expected = {"x[0]", "x[1]", "x[2]", "x[3]", "channel"}
    if set(drifted) != expected or report.dataset.status is not DriftStatus.DRIFTED:
        raise SystemExit(f"unexpected drift verdict: {drifted}")


if __name__ == "__main__":
    main()
