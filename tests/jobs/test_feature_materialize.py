"""The ``features-materialize`` job, run by a real worker: a view's offline history (Parquet in the
home, or ``s3://`` on the test S3 server) into its online store (the embedded table, the machine's
Redis), each entity's latest row as of a time, within the TTL, with progress per row group."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from berth.control.feature_materialize import FEATURES_MATERIALIZE, check_materializable
from berth.control.jobs.service import JobService
from berth.core.errors import BerthError, ErrorCode
from berth.core.jobs import JobStatus, NewJob
from berth.core.settings import Settings
from berth.storage.sql_jobs import SqlJobStore
from berth.wiring.job_kinds import JobKinds
from berth.wiring.workspace import open_workspace
from tests.jobs.conftest import World
from tests.support.redis import redis_address, redis_prefix
from tests.support.s3 import S3Server

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
AT = pa.timestamp("us", tz="UTC")
ROWS = [  # (key, event time, balance, segment)
    ("c-1", T0 - timedelta(hours=3), 50.0, "a"),
    ("c-1", T0 - timedelta(hours=1), 100.0, "b"),  # c-1's latest as of T0
    ("c-1", T0 + timedelta(hours=1), 999.0, "future"),  # after as_of: not written
    ("c-2", T0 - timedelta(days=3), 20.0, "old"),  # older than the TTL: not written
    ("c-3", T0 - timedelta(minutes=5), None, "no-balance"),
    ("c-4", T0, 40.0, "exact"),
]


def _history() -> pa.Table:
    return pa.table(
        {
            "customer_id": [r[0] for r in ROWS],
            "event_timestamp": pa.array([r[1] for r in ROWS], AT),
            "balance": [r[2] for r in ROWS],
            "segment": [r[3] for r in ROWS],
        }
    )


def _view(source: str, offline: str) -> dict[str, Any]:
    return {
        "name": "balances",
        "entity": "customer_id",
        "features": {"balance": "float64", "segment": "string"},
        "source": source,
        "ttl_s": 86_400,
        "offline": offline,
    }


def _world(home: Path, settings: Settings) -> World:
    workspace = open_workspace(settings)
    service = JobService(
        SqlJobStore(workspace.store.engine, retry_base_s=0.0), JobKinds([FEATURES_MATERIALIZE]), home=home
    )
    return World(home, workspace, service)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    home = tmp_path / "home"
    found = _world(home, Settings(home=home))
    try:
        yield found
    finally:
        found.workspace.close()


@pytest.fixture
def redis_source() -> Iterator[str]:
    with redis_prefix() as prefix:
        yield f"redis://{redis_address()}/0?prefix={prefix}"


def _materialize(world: World, **params: Any) -> dict[str, Any]:
    job = world.service.enqueue(NewJob("features-materialize", {"view": "balances", **params}))
    with world.worker():
        done = world.wait_for(job.id, lambda j: j.status.finished)
    assert done.status is JobStatus.SUCCEEDED, done.error
    result: dict[str, Any] = done.result
    assert done.progress == 1.0
    return result


def _stored(world: World) -> dict[str, Any]:
    found = asyncio.run(world.workspace.features.read("balances", ["c-1", "c-2", "c-3", "c-4", "c-5"]))
    return {k: (dict(r.values), r.updated_at) for k, r in found.items()}


def _write_history(folder: Path) -> None:
    folder.mkdir(parents=True)
    table = _history()
    pq.write_table(table.slice(0, 3), folder / "part-0.parquet", row_group_size=2)
    pq.write_table(table.slice(3), folder / "part-1.parquet", row_group_size=2)


def test_the_embedded_table_gets_each_entitys_latest_values_as_of_a_time(world: World) -> None:
    _write_history(world.home / "offline" / "balances")
    world.workspace.features.create(_view("embedded:", "offline/balances"), team="default")
    result = _materialize(world, as_of=T0.timestamp(), chunk_rows=2)
    assert result == {
        "view": "balances",
        "entities": 3,
        "as_of": T0.isoformat(),
        "source": "embedded:",
    }
    stored = {k: v for k, (v, _) in _stored(world).items()}
    assert stored == {
        "c-1": {"balance": 100.0, "segment": "b"},
        "c-3": {"balance": None, "segment": "no-balance"},
        "c-4": {"balance": 40.0, "segment": "exact"},
    }


def test_redis_gets_them_with_their_event_times_as_write_times(world: World, redis_source: str) -> None:
    _write_history(world.home / "offline" / "balances")
    world.workspace.features.create(_view(redis_source, "offline/balances"), team="default")
    since = (T0 - timedelta(hours=2)).timestamp()
    result = _materialize(world, as_of=T0.timestamp(), since=since)
    assert result["entities"] == 3
    stored = _stored(world)
    assert stored["c-1"] == ({"balance": 100.0, "segment": "b"}, (T0 - timedelta(hours=1)).timestamp())
    assert stored["c-4"] == ({"balance": 40.0, "segment": "exact"}, T0.timestamp())
    assert set(stored) == {"c-1", "c-3", "c-4"}
    # later: the newer row of c-1 (an hour after T0) replaces it
    later = _materialize(world, as_of=(T0 + timedelta(hours=2)).timestamp())
    assert later["entities"] == 3
    assert _stored(world)["c-1"][0] == {"balance": 999.0, "segment": "future"}


@pytest.mark.s3
def test_an_s3_history_in_an_allowed_location_is_read(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    home = tmp_path / "home"
    settings = Settings(
        home=home, s3_endpoint_url=s3_server.endpoint_url, batch_s3_allow=f"s3://{s3_bucket}/features"
    )
    world = _world(home, settings)
    try:
        local = tmp_path / "upload"
        _write_history(local)
        client = s3_server.client()
        for part in sorted(local.iterdir()):
            client.upload_file(str(part), s3_bucket, f"features/balances/{part.name}")
        offline = f"s3://{s3_bucket}/features/balances"
        world.workspace.features.create(_view("embedded:", offline), team="default")
        assert _materialize(world, as_of=T0.timestamp())["entities"] == 3
        assert _stored(world)["c-1"][0] == {"balance": 100.0, "segment": "b"}
        # a location outside the allowed one is refused when the view is declared
        with pytest.raises(BerthError) as caught:
            world.workspace.features.update("balances", {"offline": f"s3://{s3_bucket}/elsewhere/x.parquet"})
        assert caught.value.code is ErrorCode.INVALID_OFFLINE_SOURCE
        assert "batch_s3_allow" in caught.value.message
    finally:
        world.workspace.close()


def test_a_feast_view_and_a_view_without_history_are_refused(world: World) -> None:
    world.workspace.features.create(
        _view("feast+http://127.0.0.1:6566/balances", "offline/none") | {"name": "feast-view"}, team="default"
    )
    with pytest.raises(BerthError, match="feast materialize") as caught:
        check_materializable(world.workspace.features.get("feast-view"))
    assert caught.value.code is ErrorCode.INVALID_REQUEST
    world.workspace.features.create(
        {"name": "plain", "entity": "customer_id", "features": {"balance": "float64"}}, team="default"
    )
    with pytest.raises(BerthError, match="no offline history"):
        check_materializable(world.workspace.features.get("plain"))
    for params in ({"view": "x", "as_of": "yesterday"}, {"view": "x", "colour": 1}, {"as_of": 1.0},
                   {"view": "x", "as_of": 10.0, "since": 20.0}):  # fmt: skip
        with pytest.raises(BerthError) as bad:
            world.service.enqueue(NewJob("features-materialize", params))
        assert bad.value.code is ErrorCode.INVALID_JOB_PARAMS, params
