"""The built-in batch-score kind: a CSV of the home folder scored by a registered version, by a worker."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import berth
from berth.core.errors import BerthError, ErrorCode
from berth.core.jobs import JobQuery, JobStatus, NewJob
from berth.storage.batch_data import S3Rules
from tests.conftest import Trained
from tests.jobs.conftest import World


def test_a_csv_is_scored_with_progress(world: World, frame_pipeline: Trained) -> None:
    berth.push(frame_pipeline.model, name="churn", home=world.home, input_example=frame_pipeline.x.head(3))
    data = world.home / "data"
    data.mkdir()
    frame = frame_pipeline.x.head(250).assign(customer=[f"c{i}" for i in range(250)])
    frame.to_csv(data / "customers.csv", index=False)

    job = world.service.enqueue(
        NewJob("batch-score", {"model": "churn", "input": "data/customers.csv", "chunk_rows": 100})
    )
    with world.worker():
        done = world.wait_for(job.id, lambda j: j.status.finished)

    assert done.status is JobStatus.SUCCEEDED, done.error
    assert done.result == {"model": "churn", "version": 1, "rows": 250, "output": "data/customers.scored.csv"}
    assert done.progress_message == "scored 250 of 250 rows"
    scored = pd.read_csv(data / "customers.scored.csv")
    assert list(scored["customer"]) == list(frame["customer"])
    expected = frame_pipeline.model.predict(frame_pipeline.x.head(250))
    assert list(scored.columns) == [*frame.columns, "prediction_id", "predict"]
    assert np.array_equal(scored["predict"].to_numpy(), expected)
    assert scored["prediction_id"].is_unique
    assert scored["prediction_id"].str.fullmatch(r"[0-9a-f]{32}").all()
    assert not list(data.glob(".*partial"))


def test_paths_out_of_the_home_folder_and_unknown_parameters_are_refused(world: World) -> None:
    bad = [
        {"model": "churn", "input": "../outside.csv"},
        {"model": "churn", "input": "/etc/passwd.csv"},
        {"model": "churn", "input": "data/x.txt"},
        {"model": "churn", "input": "data/x.csv", "output": "data/x.csv"},
        {"model": "churn", "input": "data/x.csv", "chunk_rows": 0},
        {"model": "churn", "input": "data/x.csv", "colour": "blue"},
        {"model": "churn", "input": "data/x.csv", "engine": "dask"},
        {"model": "churn", "input": "data/x.csv", "spark_master": "spark://h:7077"},  # engine local
        {"model": "churn", "input": "data/x.csv", "engine": "spark"},  # Parquet only
        {"model": "churn", "input": "data/x.parquet", "engine": "spark", "output": "data/y.csv"},
        {"model": "churn", "input": "data/x.parquet", "engine": "spark", "spark_master": "k8s://h:1"},
        {"model": "churn", "input": "data/x.parquet", "engine": "spark", "spark_master": "spark://h:1 -x"},
        {"model": "churn", "input": "../x.parquet", "engine": "spark"},
        {"input": "data/x.csv"},
        {"model": "churn", "input": "s3://lake/x.parquet", "output": "data/y.csv"},  # both s3://, or neither
        {"model": "churn", "input": "data/x.parquet", "output": "s3://lake/y.csv"},
        {"model": "churn", "input": "s3://lake/x.csv"},  # Parquet only in S3
        {"model": "churn", "input": "s3://lake/a/../x.parquet"},
        {"model": "churn", "input": "s3://Lake:9000/x.parquet"},
        {"model": "churn", "input": "s3://lake/x.parquet?endpoint=evil", "engine": "spark"},
        {
            "model": "churn",
            "input": "s3://lake/x.parquet",
            "output": "s3://lake/x.parquet",
            "engine": "spark",
        },
    ]
    for params in bad:
        with pytest.raises(BerthError) as caught:
            world.service.enqueue(NewJob("batch-score", params))
        assert caught.value.code is ErrorCode.INVALID_JOB_PARAMS, params


def test_s3_locations_are_checked_against_the_operators_allow_list() -> None:
    rules = S3Rules.parse(" s3://lake/scoring , s3://other ", ["s3://lake/scoring/artifacts", "file:///x"])
    assert rules.check("s3://lake/scoring/in/x.parquet", "input", writing=False).key == "scoring/in/x.parquet"
    assert rules.check("s3://other/y.parquet", "output", writing=True).bucket == "other"
    refused = [
        ("s3://lake/scoring2/x.parquet", False),  # a whole path segment, not a string prefix
        ("s3://lake/x.parquet", False),
        ("s3://foreign/scoring/x.parquet", False),
        ("s3://lake/scoring/artifacts/sha256/x.parquet", True),  # never written
        ("s3://lake/scoring", True),  # holds the artifacts
    ]
    for uri, writing in refused:
        with pytest.raises(BerthError) as caught:
            rules.check(uri, "input", writing=writing)
        assert caught.value.code is ErrorCode.FORBIDDEN, uri
    with pytest.raises(BerthError) as caught:
        S3Rules().check("s3://lake/x.parquet", "input", writing=False)  # nothing allowed by default
    assert caught.value.code is ErrorCode.FORBIDDEN


def test_a_missing_input_is_refused_when_enqueued(world: World) -> None:
    for params in (
        {"model": "churn", "input": "nowhere.csv"},
        {"model": "churn", "input": "folder.csv"},  # a folder is not a CSV file
        {"model": "churn", "input": "nowhere.parquet", "engine": "spark"},
    ):
        (world.home / "folder.csv").mkdir(exist_ok=True)
        with pytest.raises(BerthError) as caught:
            world.service.enqueue(NewJob("batch-score", params))
        assert caught.value.code is ErrorCode.JOB_INPUT_NOT_FOUND, params
        assert caught.value.details == {"input": params["input"]}
    assert world.service.list_jobs(JobQuery()) == []


def test_an_input_gone_before_the_job_runs_fails_it_without_retrying(
    world: World, frame_pipeline: Trained
) -> None:
    berth.push(frame_pipeline.model, name="churn", home=world.home)
    (world.home / "gone.csv").write_text("plan,age\nbasic,30\n")
    job = world.service.enqueue(NewJob("batch-score", {"model": "churn", "input": "gone.csv"}))
    (world.home / "gone.csv").unlink()
    with world.worker():
        failed = world.wait_for(job.id, lambda j: j.status.finished)
    assert (failed.status, failed.attempts) == (JobStatus.FAILED, 1)
    assert failed.error is not None
    assert failed.error.startswith("[job_input_not_found]")


def test_rows_the_model_refuses_fail_the_job(world: World, frame_pipeline: Trained) -> None:
    berth.push(frame_pipeline.model, name="churn", home=world.home, input_example=frame_pipeline.x.head(3))
    (world.home / "bad.csv").write_text("plan,age\nbasic,30\n")  # no 'spend' column
    job = world.service.enqueue(NewJob("batch-score", {"model": "churn", "input": "bad.csv"}, max_attempts=1))
    with world.worker():
        failed = world.wait_for(job.id, lambda j: j.status.finished)
    assert failed.status is JobStatus.FAILED
    assert failed.error is not None
    assert "signature_mismatch" in failed.error or "invalid_request" in failed.error
    assert not (world.home / "bad.scored.csv").exists()
