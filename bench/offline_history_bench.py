"""The offline history's reads (`berth.storage.parquet_history`) on a synthetic Parquet history:
the point-in-time join (`as_of`, one export row group of entities against every history row group)
and the materialize job's reduction (`latest`), with their time and the process's peak memory.

    .venv/bin/python bench/offline_history_bench.py [--history-rows 2000000] [--keys 200000] \
        [--entities 10000] [--row-group 100000]

The history has `--keys` customers, each with history-rows / keys rows at random times over a year,
written in row groups of `--row-group`; the entities (a training set's export row group: 10,000
records) ask for random customers at random times. Peak memory (ru_maxrss) is printed after the
history is written and after each read: it grows by a row group and the answer, not the history.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from berth.core.features import parse_view
from berth.storage.parquet_history import HomeParquet, ParquetHistory

YEAR_S = 365 * 86_400
START = datetime(2026, 1, 1, tzinfo=UTC).timestamp()


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--history-rows", type=int, default=2_000_000)
    parser.add_argument("--keys", type=int, default=200_000)
    parser.add_argument("--entities", type=int, default=10_000)
    parser.add_argument("--row-group", type=int, default=100_000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="berth-history-bench-") as folder:
        home = Path(folder)
        (home / "history").mkdir()
        with pq.ParquetWriter(
            home / "history" / "part-0.parquet",
            pa.schema(
                [
                    ("customer_id", pa.string()),
                    ("event_timestamp", pa.timestamp("us", tz="UTC")),
                    ("balance", pa.float64()),
                    ("segment", pa.string()),
                ]
            ),
        ) as writer:
            for start in range(0, args.history_rows, args.row_group):
                n = min(args.row_group, args.history_rows - start)
                keys = rng.integers(0, args.keys, n)
                writer.write_table(
                    pa.table(
                        {
                            "customer_id": pa.array([f"c-{k}" for k in keys]),
                            "event_timestamp": pa.array(
                                ((START + rng.uniform(0, YEAR_S, n)) * 1e6).astype("int64"),
                                pa.timestamp("us", tz="UTC"),
                            ),
                            "balance": rng.normal(1000, 300, n),
                            "segment": pa.array(rng.choice(["retail", "private", "business"], n)),
                        }
                    )
                )
        print(f"history: {args.history_rows:,} rows, {args.keys:,} keys, row groups of {args.row_group:,}")
        print(f"peak memory after writing it: {_peak_mb():.0f} MB")
        view = parse_view(
            {
                "name": "balances",
                "entity": "customer_id",
                "features": {"balance": "float64", "segment": "string"},
                "ttl_s": 90 * 86_400,
                "offline": "history",
            }
        )
        history = ParquetHistory(view, HomeParquet(home, "history"))
        entities = pa.table(
            {
                "key": pa.array([f"c-{k}" for k in rng.integers(0, args.keys, args.entities)]),
                "at": pa.array(
                    ((START + rng.uniform(0, YEAR_S, args.entities)) * 1e6).astype("int64"),
                    pa.timestamp("us", tz="UTC"),
                ),
            }
        )
        began = time.perf_counter()
        found = history.as_of(["balance", "segment"], entities)
        took = time.perf_counter() - began
        share = found.column("balance").null_count / found.num_rows
        print(
            f"as_of: {args.entities:,} entities in {took:.2f} s ({share:.0%} null: no row within the TTL);"
            f" peak memory {_peak_mb():.0f} MB"
        )
        began = time.perf_counter()
        latest = history.latest(START + YEAR_S / 2)
        took = time.perf_counter() - began
        print(f"latest: {latest.num_rows:,} keys in {took:.2f} s; peak memory {_peak_mb():.0f} MB")


if __name__ == "__main__":
    main()
