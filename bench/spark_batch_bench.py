"""The batch-score job on a standalone Spark cluster against the single-process job, same rows.

    .venv/bin/python bench/spark_batch_bench.py [--rows 100000] [--master spark://HOST:PORT]

A home with one model (a scikit-learn pipeline: a one-hot category and two scaled numbers into a
logistic regression, the tests' ``frame_pipeline``), one Parquet file of `--rows` customers, and a
`berth worker` (in this process) running two batch-score jobs on it: ``engine: local`` (Parquet in,
CSV out, 10,000 rows per predict call) and ``engine: spark`` on the cluster (Parquet in and out).
Without `--master` a standalone master and one worker (2 cores) are started on loopback, as the tests
start them. Each figure is a job's wall time from its claim to its end, model load and, for Spark,
the application's start included; rows/s is rows over that. The Spark job is also run a second time
(its application start, the executor's Python workers and the model's load paid again: Spark keeps
nothing between jobs). Print-only: the machine is shared and noisy, compare within one run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.support.spark: the cluster

import berth
from berth.core.jobs import Job, JobStatus, NewJob
from berth.core.settings import Settings
from berth.wiring.worker import WorkerOptions, run_worker
from berth.wiring.workspace import open_workspace


def customers(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "customer": [f"c{i}" for i in range(rows)],
            "plan": rng.choice(["basic", "plus", "pro"], size=rows),
            "age": rng.integers(18, 80, size=rows),
            "spend": rng.normal(50, 20, size=rows),
        }
    )


def trained() -> Pipeline:
    frame = customers(300, 7)
    labels = np.where((frame["spend"] > 50) | (frame["plan"] == "pro"), "stay", "churn")
    features = ColumnTransformer(
        [
            ("plan", OneHotEncoder(handle_unknown="ignore"), ["plan"]),
            ("num", StandardScaler(), ["age", "spend"]),
        ]
    )
    return Pipeline([("features", features), ("clf", LogisticRegression(max_iter=1000))]).fit(
        frame[["plan", "age", "spend"]], labels
    )


@contextlib.contextmanager
def cluster(master: str | None, folder: Path) -> Iterator[str]:
    if master:
        yield master
        return
    from tests.support.spark import standalone_cluster

    os.environ.update({"SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable})
    with standalone_cluster(folder) as started:
        yield started.master_url


def run(home: Path, params: dict[str, object]) -> Job:
    workspace = open_workspace(Settings(home=home))
    try:
        job = workspace.jobs.enqueue(NewJob("batch-score", params, max_attempts=1))
        while not (job := workspace.jobs.get_job(job.id)).status.finished:
            time.sleep(0.05)
        return job
    finally:
        workspace.close()


def report(name: str, job: Job, rows: int) -> None:
    if job.status is not JobStatus.SUCCEEDED or job.started_at is None or job.finished_at is None:
        raise SystemExit(f"{name}: {job.status.value} {job.error}")
    seconds = (job.finished_at - job.started_at).total_seconds()
    print(f"| {name} | {rows:,} | {seconds:.1f} | {rows / seconds:,.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--master", help="an existing cluster (default: start one on loopback)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="berth-spark-bench-") as tmp:
        home = Path(tmp) / "home"
        berth.push(
            trained(), name="churn", home=home, input_example=customers(3, 1)[["plan", "age", "spend"]]
        )
        (home / "data").mkdir()
        customers(args.rows, 11).to_parquet(home / "data" / "customers.parquet")
        stop = threading.Event()
        worker = threading.Thread(
            target=run_worker, args=(Settings(home=home), WorkerOptions(poll_s=0.05), stop), daemon=True
        )
        worker.start()
        try:
            with cluster(args.master, Path(tmp)) as master:
                base = {"model": "churn", "input": "data/customers.parquet"}
                print("| job | rows | seconds | rows/s |\n|---|---|---|---|")
                local = run(home, base | {"chunk_rows": 10_000})
                report("single process (engine local)", local, args.rows)
                spark = {"engine": "spark", "spark_master": master}
                report(f"Spark ({master.split('//')[0]}//…, first)", run(home, base | spark), args.rows)
                report("Spark (second)", run(home, base | spark), args.rows)
        finally:
            stop.set()
            worker.join(timeout=60)


if __name__ == "__main__":
    main()
