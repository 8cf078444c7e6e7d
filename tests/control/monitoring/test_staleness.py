"""Staleness: the age of a version and of its data."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from berth.control.monitoring.profiling import build_profile
from berth.control.monitoring.staleness import staleness
from berth.core.entities import ArtifactRef, Version, VersionMetadata
from berth.core.signature import Signature, TensorSpec

NOW = datetime(2025, 1, 31, tzinfo=UTC)
VERSION = Version(
    model="churn",
    number=3,
    flavor="sklearn",
    artifact=ArtifactRef(sha256="0" * 64, uri="file:///x", size=1, filename="m.skops"),
    signature=Signature(
        inputs=(TensorSpec("input-0", "FP64", (-1, 2)),), outputs=(TensorSpec("predict", "INT64", (-1,)),)
    ),
    runtime_config={},
    input_example=None,
    metadata=VersionMetadata(),
    trusted=False,
    pushed_by="",
    source="",
    created_at=NOW - timedelta(days=30),
)


@pytest.mark.parametrize(
    ("training_data", "expected"),
    [
        ("2024-12-01", datetime(2024, 12, 1, tzinfo=UTC)),
        ("2024-12-01T06:00:00Z s3://b/train.parquet", datetime(2024, 12, 1, 6, tzinfo=UTC)),
    ],
)
def test_the_data_date_comes_from_the_metadata(training_data: str, expected: datetime) -> None:
    version = replace(VERSION, metadata=VersionMetadata(training_data=training_data))

    result = staleness(version, now=NOW)

    assert result.version_age_s == 30 * 86_400
    assert (result.data_as_of, result.data_source) == (expected, "training_data")
    assert result.data_age_s == (NOW - expected).total_seconds()


def test_else_from_the_profile_else_unknown() -> None:
    profile = replace(build_profile({"x": [1.0, 2.0]}), built_at=NOW - timedelta(days=40))

    from_profile = staleness(
        replace(VERSION, metadata=VersionMetadata(training_data="s3://b/t")), profile, now=NOW
    )
    unknown = staleness(VERSION, now=NOW)

    assert (from_profile.data_source, from_profile.data_age_s) == ("profile", 40 * 86_400)
    assert (unknown.data_as_of, unknown.data_age_s, unknown.data_source) == (None, None, None)
    assert unknown.to_json()["version_age_s"] == 30 * 86_400
