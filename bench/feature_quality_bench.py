"""What monitoring's served-feature quality costs once the records are read: milliseconds, printed.

`FEATURE_SAMPLE` (10,000) records as the record store keeps them, 20 rows each: a BYTES
``customer_id`` tensor (keys of 50,000 customers) in the inputs and 5 FP64 features (10 % null) in
the model's inputs; a store read answered from memory (the real store's round trip is not timed:
the features step's bench measures it). Timed: `feature_quality` (tensors -> columns, null rates,
distinct keys, ages), best and median of the runs.

    .venv/bin/python bench/feature_quality_bench.py [--records 10000] [--runs 5]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Mapping, Sequence

from berth.control.monitoring.feature_quality import ServedView, feature_quality
from berth.core.features import FeatureView, parse_view
from berth.core.records import TensorsJson
from berth.storage.feature_protocols import StoredRow

ROWS = 20
CUSTOMERS = 50_000


def _records(n: int, view: FeatureView, rng: random.Random) -> list[tuple[TensorsJson, TensorsJson]]:
    out = []
    for _ in range(n):
        keys = [f"c-{rng.randrange(CUSTOMERS)}" for _ in range(ROWS)]
        inputs = {"customer_id": {"datatype": "BYTES", "shape": [ROWS], "data": keys}}
        model = {
            f: {
                "datatype": "FP64",
                "shape": [ROWS],
                "data": [rng.random() if rng.random() > 0.1 else None for _ in range(ROWS)],
            }
            for f in view.features
        }
        out.append((inputs, model))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    view = parse_view(
        {
            "name": "p",
            "entity": "customer_id",
            "features": {f"f{i}": "float64" for i in range(5)},
            "ttl_s": 3600,
        }
    )
    rng = random.Random(0)
    records = _records(args.records, view, rng)
    now = time.time()
    rows = {f"c-{i}": StoredRow({}, now - rng.random() * 7200) for i in range(CUSTOMERS)}

    def read(_: FeatureView, keys: Sequence[str]) -> Mapping[str, StoredRow]:
        return {k: rows[k] for k in keys if k in rows}

    served = [ServedView(view, "customer_id", tuple(view.features))]
    times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        [quality] = feature_quality(served, records, read, now)
        times.append((time.perf_counter() - start) * 1000)
    print(
        f"{args.records} records x {ROWS} rows x {len(view.features)} features: "
        f"best {min(times):.0f} ms, median {statistics.median(times):.0f} ms "
        f"(entities read back {quality['freshness']['entities']})"
    )


if __name__ == "__main__":
    main()
