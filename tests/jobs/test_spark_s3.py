"""The batch-score job over Parquet in S3 (a real moto S3 server) without Hadoop's S3 connector: on
the real standalone Spark cluster (100,000 rows in four objects, scored as the model scores them in
process, published whole) and in the worker's own process; a bucket the operator did not allow is
refused. One test: the cluster and the S3 server are the session's."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import berth
from berth.control.jobs.batch_score import BATCH_SCORE
from berth.control.jobs.service import JobService
from berth.core.jobs import JobStatus, NewJob
from berth.core.settings import Settings
from berth.storage.sql_jobs import SqlJobStore
from berth.wiring.job_kinds import JobKinds
from berth.wiring.workspace import open_workspace
from tests.conftest import Trained
from tests.jobs.conftest import World
from tests.jobs.test_spark import ROWS, customers
from tests.support.s3 import S3Server
from tests.support.spark import SparkCluster

pytestmark = [pytest.mark.spark, pytest.mark.s3]

OBJECTS = 4


@pytest.fixture
def s3_world(tmp_path: Path, s3_server: S3Server, s3_bucket: str) -> Iterator[World]:
    """A workspace whose batch jobs may reach `s3_bucket` (and only it), on the test S3 server."""
    home = tmp_path / "home"
    settings = Settings(home=home, s3_endpoint_url=s3_server.endpoint_url, batch_s3_allow=f"s3://{s3_bucket}")
    workspace = open_workspace(settings)
    service = JobService(SqlJobStore(workspace.store.engine, retry_base_s=0.0), JobKinds([BATCH_SCORE]))
    try:
        yield World(home, workspace, service)
    finally:
        workspace.close()


def test_the_batch_score_job_scores_parquet_in_s3_on_the_cluster(
    s3_world: World,
    s3_server: S3Server,
    s3_bucket: str,
    spark_cluster: SparkCluster,
    frame_pipeline: Trained,
) -> None:
    world, s3 = s3_world, s3_server.client()
    berth.push(frame_pipeline.model, name="churn", home=world.home, input_example=frame_pipeline.x.head(3))
    frame = customers(ROWS)
    for i, part in enumerate(np.array_split(np.arange(ROWS), OBJECTS)):
        body = io.BytesIO()
        pq.write_table(
            pa.Table.from_pandas(frame.iloc[part], preserve_index=False), body, row_group_size=10_000
        )
        s3.put_object(Bucket=s3_bucket, Key=f"in/customers.parquet/part-{i}.parquet", Body=body.getvalue())
    s3.put_object(Bucket=s3_bucket, Key="in/customers.parquet/_SUCCESS", Body=b"")  # skipped: not data
    foreign = s3_server.new_bucket()  # it exists, and the credentials reach it: the settings do not allow it
    s3.put_object(Bucket=foreign, Key="x.parquet", Body=b"")
    spark = {"model": "churn", "engine": "spark", "spark_master": spark_cluster.master_url}
    jobs = {
        "foreign": world.service.enqueue(NewJob("batch-score", {**spark, "input": f"s3://{foreign}/x.parquet"})),
        "foreign output": world.service.enqueue(NewJob("batch-score", {**spark,
            "input": f"s3://{s3_bucket}/in/customers.parquet", "output": f"s3://{foreign}/y.parquet"})),
        "spark": world.service.enqueue(NewJob("batch-score", {**spark,
            "input": f"s3://{s3_bucket}/in/customers.parquet"})),
        "local": world.service.enqueue(NewJob("batch-score", {"model": "churn", "chunk_rows": 25_000,
            "input": f"s3://{s3_bucket}/in/customers.parquet/part-1.parquet", "output": f"s3://{s3_bucket}/local.csv"})),
    }  # fmt: skip
    with world.worker(lease_s=30.0):
        done = {
            name: world.wait_for(job.id, lambda j: j.status.finished, timeout=240)
            for name, job in jobs.items()
        }

    for name in ("foreign", "foreign output"):
        assert (done[name].status, done[name].attempts) == (JobStatus.FAILED, 1)
        assert (done[name].error or "").startswith("[forbidden]"), done[name].error
    assert done["spark"].status is JobStatus.SUCCEEDED, done["spark"].error
    assert done["spark"].result == {"model": "churn", "version": 1, "rows": ROWS,
        "output": f"s3://{s3_bucket}/in/customers.scored.parquet", "engine": "spark"}  # fmt: skip
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=s3_bucket, Prefix="in/")["Contents"])
    marker = "in/customers.scored.parquet/_SUCCESS"
    parts = [k for k in keys if k.startswith("in/customers.scored.parquet/") and k != marker]
    assert not [k for k in keys if "/." in k]  # the staging folder is gone
    assert json.loads(s3.get_object(Bucket=s3_bucket, Key=marker)["Body"].read())["rows"] == ROWS
    assert all(re.fullmatch(r"in/customers\.scored\.parquet/part-[0-9]{5}\.parquet", k) for k in parts)
    scored = pd.concat(
        [pd.read_parquet(io.BytesIO(s3.get_object(Bucket=s3_bucket, Key=k)["Body"].read())) for k in parts]
    )
    assert list(scored.columns) == [*frame.columns, "prediction_id", "predict"]
    by_customer = scored.set_index("customer").loc[frame["customer"]]
    assert np.array_equal(by_customer["predict"].to_numpy(), frame_pipeline.model.predict(frame))
    ids = scored["prediction_id"]
    assert ids.is_unique
    assert len(ids) == ROWS
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert len({i[:16] for i in ids}) == 1  # one run, one prefix

    assert done["local"].status is JobStatus.SUCCEEDED, done["local"].error
    assert done["local"].result is not None
    assert done["local"].result["rows"] == ROWS // OBJECTS
    local = pd.read_csv(io.BytesIO(s3.get_object(Bucket=s3_bucket, Key="local.csv")["Body"].read()))
    expected = frame.iloc[ROWS // OBJECTS : 2 * ROWS // OBJECTS]
    assert list(local["customer"]) == list(expected["customer"])
    assert np.array_equal(local["predict"].to_numpy(), frame_pipeline.model.predict(expected))
