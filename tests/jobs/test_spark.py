"""Batch scoring on a real standalone Spark cluster (a master and a worker the fixture starts on
loopback): `berth.spark_udf` and the batch-score job with ``engine: spark``, each on 100,000 rows,
answering what the model answers in process. One cluster for the module; the tests are few on
purpose (a Spark application takes seconds to start)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import berth
from berth.core.jobs import JobStatus, NewJob
from berth.core.settings import Settings
from tests.conftest import Trained
from tests.jobs.conftest import World
from tests.support.servers import server_in_thread
from tests.support.spark import SparkCluster

pytestmark = pytest.mark.spark

ROWS = 100_000


def customers(rows: int, seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "customer": [f"c{i}" for i in range(rows)],
            "plan": rng.choice(["basic", "plus", "pro"], size=rows),
            "age": rng.integers(18, 80, size=rows),
            "spend": rng.normal(50, 20, size=rows),
        }
    )


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return customers(ROWS)


@pytest.fixture
def session(spark_cluster: SparkCluster) -> Iterator[object]:
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master(spark_cluster.master_url)
        .appName("berth-tests")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    try:
        yield spark
    finally:
        spark.stop()


def test_spark_udf_scores_like_the_model_in_process(
    session: object, frame: pd.DataFrame, frame_pipeline: Trained, tmp_path: Path
) -> None:
    from pyspark.sql import SparkSession
    from pyspark.sql.functions import col, struct

    assert isinstance(session, SparkSession)
    home = tmp_path / "home"
    berth.push(frame_pipeline.model, name="churn", home=home, input_example=frame_pipeline.x.head(3),
               aliases=["production"])  # fmt: skip
    with server_in_thread(Settings(home=home, poll_interval_s=0.1)) as url:
        cache = tmp_path / "cache"
        label = berth.spark_udf(session, "churn@production", url=url, cache_dir=cache)
        both = berth.spark_udf(session, "churn@production", url=url, cache_dir=cache,
                               outputs=["predict", "predict_proba"])  # fmt: skip
        data = session.createDataFrame(frame).repartition(4)
        inputs = [col(n) for n in ("plan", "age", "spend")]
        scored = data.select(
            "customer", label(*inputs).alias("label"), both(struct(*inputs)).alias("both")
        ).toPandas()
        local = berth.load_model("churn@production", url=url, cache_dir=cache)

    by_customer = scored.set_index("customer").loc[frame["customer"]]
    expected = frame_pipeline.model.predict(frame[["plan", "age", "spend"]])
    assert len(scored) == ROWS
    assert np.array_equal(by_customer["label"].to_numpy(), expected)
    assert np.array_equal(local.predict(frame)["predict"].to_numpy(), expected)
    probabilities = pd.DataFrame(list(by_customer["both"]))
    assert list(probabilities.columns) == ["predict", "predict_proba_0", "predict_proba_1"]
    assert np.array_equal(probabilities["predict"].to_numpy(), expected)
    assert np.allclose(
        probabilities[["predict_proba_0", "predict_proba_1"]].to_numpy(),
        frame_pipeline.model.predict_proba(frame[["plan", "age", "spend"]]),
    )
    assert [p.name for p in (cache / "sha256").glob("*/*")] == [local.sha256]  # downloaded once, by sha256


def test_the_batch_score_job_runs_on_the_cluster(
    world: World, spark_cluster: SparkCluster, frame: pd.DataFrame, frame_pipeline: Trained
) -> None:
    berth.push(frame_pipeline.model, name="churn", home=world.home, input_example=frame_pipeline.x.head(3))
    (world.home / "data").mkdir()
    frame.to_parquet(world.home / "data" / "customers.parquet")
    params = {"model": "churn", "input": "data/customers.parquet", "engine": "spark",
              "spark_master": spark_cluster.master_url}  # fmt: skip
    job = world.service.enqueue(NewJob("batch-score", params))
    with world.worker(lease_s=30.0):
        done = world.wait_for(job.id, lambda j: j.status.finished, timeout=240)

    assert done.status is JobStatus.SUCCEEDED, done.error
    assert done.result == {"model": "churn", "version": 1, "rows": ROWS,
                           "output": "data/customers.scored.parquet", "engine": "spark"}  # fmt: skip
    scored = pd.read_parquet(world.home / "data" / "customers.scored.parquet")
    assert list(scored.columns) == [*frame.columns, "prediction_id", "predict"]
    by_customer = scored.set_index("customer").loc[frame["customer"]]
    assert np.array_equal(by_customer["predict"].to_numpy(), frame_pipeline.model.predict(frame))
    ids = scored["prediction_id"]
    assert ids.is_unique
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert len({i[:16] for i in ids}) == 1  # one run, one prefix
    assert not list((world.home / "data").glob(".*"))  # no partial output left
