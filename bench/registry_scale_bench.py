"""What a registry of many models costs each serving replica: the snapshot a reconciler reads when
the change counter moves, and what a serving group selects from it, on PostgreSQL.

Run: ``.venv/bin/python bench/registry_scale_bench.py [--models 1000,10000] [--versions 3] [--reads 5]``.
Needs the PostgreSQL server at ``BERTH_TEST_POSTGRES_URL``. Models are written in bulk with SQL
(the registry's own tables and columns); prints, per size, the median time to read a snapshot, its
size in memory (pickled), the time a group's scope takes to select its names, and the median time to
read the snapshot a replica of one group reads (its group's share, 1 of 100 groups here).
"""

from __future__ import annotations

import argparse
import pickle
import statistics
import time
import uuid
from datetime import UTC, datetime

from bench_db import fresh_database
from sqlalchemy import insert

from berth.core.entities import SnapshotScope
from berth.runtime.compiled_endpoints import referenced_models
from berth.runtime.serving_scope import ServingScope
from berth.storage.schema import models, versions
from berth.storage.sql_registry import SqlRegistryStore

SIGNATURE = {
    "layout": "columns",
    "inputs": [{"name": f"f{i}", "datatype": "FP32", "shape": [-1]} for i in range(20)],
    "outputs": [{"name": "label", "datatype": "INT64", "shape": [-1]}],
}


def fill(store: SqlRegistryStore, count: int, per_model: int) -> None:
    now = datetime.now(UTC)
    with store.engine.begin() as conn:
        rows = [
            {
                "name": f"model-{i:05d}",
                "uid": uuid.uuid4().hex,
                "team": f"team-{i % 50}",
                "description": "",
                "tags": {},
                "created_at": now,
                "updated_at": now,
                "serving_group": f"group-{i % 100}",
            }
            for i in range(count)
        ]
        conn.execute(insert(models), rows)
        ids = [r.id for r in conn.execute(models.select().with_only_columns(models.c.id))]
        conn.execute(
            insert(versions),
            [
                {
                    "model_id": model_id,
                    "number": n,
                    "flavor": "sklearn",
                    "artifact_sha256": "0" * 64,
                    "artifact_uri": "s3://bucket/x",
                    "artifact_size": 1,
                    "artifact_filename": "m.skops",
                    "signature": SIGNATURE,
                    "runtime_config": {},
                    "input_example": None,
                    "metrics": {"accuracy": 0.91, "f1": 0.88},
                    "params": {"C": 1.0},
                    "feature_importance": {},
                    "docs": "",
                    "training_data": "",
                    "tags": {},
                    "trusted": False,
                    "pushed_by": "bench",
                    "source": "",
                    "created_at": now,
                }
                for model_id in ids
                for n in range(1, per_model + 1)
            ],
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="1000,10000")
    parser.add_argument("--versions", type=int, default=3)
    parser.add_argument("--reads", type=int, default=5)
    args = parser.parse_args()
    for count in (int(x) for x in args.models.split(",")):
        with fresh_database() as url:
            store = SqlRegistryStore(url)
            fill(store, count, args.versions)
            times = []
            for _ in range(args.reads):
                start = time.perf_counter()
                snapshot = store.snapshot()
                times.append(time.perf_counter() - start)
            scoped_times = []
            scope = SnapshotScope(group="group-7", referenced=referenced_models)
            for _ in range(args.reads):
                start = time.perf_counter()
                scoped = store.snapshot(scope)
                scoped_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            selected = ServingScope(group="group-7").select(snapshot)
            select_s = time.perf_counter() - start
            size = len(pickle.dumps(snapshot))
            store.close()
        print(
            f"{count:6d} models x {args.versions} versions: snapshot {statistics.median(times) * 1e3:7.1f} ms"
            f" (median of {args.reads}), {size / 1e6:6.1f} MB pickled; a group's selection"
            f" {select_s * 1e3:5.1f} ms ({len(selected)} names); a group's snapshot"
            f" {statistics.median(scoped_times) * 1e3:7.1f} ms ({len(scoped.versions)} models)"
        )


if __name__ == "__main__":
    main()
