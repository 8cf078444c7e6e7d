"""Record exports shared by replicas that share no disk: two `berth serve` processes, each with a home
of its own, on one PostgreSQL database and one S3 bucket (a real S3 API server). An export asked of
one server is made by the other's export worker, then downloaded, listed, scrubbed by erasure and
deleted through either; nothing of it is kept on either server's disk."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest

from tests.e2e.helpers import wait_for
from tests.records.builders import ingest, record
from tests.support.postgres import fresh_postgres_database
from tests.support.s3 import S3Server
from tests.support.servers import server_process

pytestmark = [pytest.mark.postgres, pytest.mark.s3, pytest.mark.slow]

EXPORTS = "/api/v1/records/exports"


@dataclass(frozen=True)
class Replicas:
    maker: str
    """Runs the export worker."""
    other: str
    """Runs none: every export it is asked for is made by `maker`."""
    homes: list[Path]
    bucket: str
    client: Any

    def keys(self) -> list[str]:
        return [o["Key"] for o in self.client.list_objects_v2(Bucket=self.bucket).get("Contents", [])]


@pytest.fixture
def replicas(s3_server: S3Server, tmp_path: Path) -> Iterator[Replicas]:
    bucket = s3_server.new_bucket()
    env = {
        "BERTH_ARTIFACT_URI": f"s3://{bucket}/berth",
        "BERTH_S3_ENDPOINT_URL": s3_server.endpoint_url,
        "BERTH_S3_SSE": "AES256",
        "BERTH_POLL_INTERVAL_S": "0.1",
    }
    homes = [tmp_path / name / "home" for name in ("maker", "other")]
    with fresh_postgres_database() as database_url, contextlib.ExitStack() as stack:
        for home in homes:
            home.parent.mkdir()
        no_worker = env | {"BERTH_EXPORT_WORKER": "false"}
        maker = stack.enter_context(server_process(homes[0], "--database-url", database_url, env=env))
        other = stack.enter_context(server_process(homes[1], "--database-url", database_url, env=no_worker))
        ingest(database_url, [record(n, entity=f"cust-{n % 3}") for n in range(30)])
        yield Replicas(maker, other, homes, bucket, s3_server.client())


def _finished(url: str, export_id: int) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        view: dict[str, Any] = httpx.get(f"{url}{EXPORTS}/{export_id}").json()
        return None if view["status"] in ("queued", "running") else view

    return wait_for(f"export {export_id}", done, timeout=60)


def _entities(url: str, export_id: int) -> list[str]:
    download = httpx.get(f"{url}{EXPORTS}/{export_id}/file", timeout=60)
    assert download.status_code == 200, download.text
    assert int(download.headers["content-length"]) == len(download.content)
    keys: list[str] = pq.read_table(io.BytesIO(download.content)).column("entity_key").to_pylist()
    return keys


def test_an_export_made_by_one_replica_is_served_scrubbed_and_deleted_by_the_other(
    replicas: Replicas,
) -> None:
    asked = httpx.post(f"{replicas.other}{EXPORTS}", json={"endpoint": "router"}, timeout=30)
    assert asked.status_code == 202, asked.text
    export_id = asked.json()["id"]

    view = _finished(replicas.other, export_id)  # made by the maker's worker: the other runs none
    assert (view["status"], view["rows"]) == ("succeeded", 30), view
    [key] = replicas.keys()
    assert key.startswith("berth/exports/")  # under the artifacts' prefix
    assert key.endswith(".parquet")
    assert replicas.client.head_object(Bucket=replicas.bucket, Key=key)["ServerSideEncryption"] == "AES256"
    for url in (replicas.other, replicas.maker):
        assert sorted(_entities(url, export_id)) == sorted(f"cust-{n % 3}" for n in range(30))
        listed = httpx.get(f"{url}{EXPORTS}").json()["exports"]
        assert [(e["id"], e["bytes"]) for e in listed] == [(export_id, view["bytes"])]
    on_disk = [p for home in replicas.homes for p in home.rglob("*") if p.is_file() and ".parquet" in p.name]
    assert on_disk == []  # neither server keeps it, nor a spool of it

    erased = httpx.delete(f"{replicas.other}/api/v1/records", params={"entity_key": "cust-1"}, timeout=60)
    assert erased.status_code == 200, erased.text
    assert (erased.json()["records"], erased.json()["export_rows"]) == (10, 10)
    assert sorted(set(_entities(replicas.maker, export_id))) == ["cust-0", "cust-2"]

    deleted = httpx.delete(f"{replicas.maker}{EXPORTS}/{export_id}")
    assert deleted.status_code == 200, deleted.text
    assert replicas.keys() == []
    for url in (replicas.other, replicas.maker):
        assert httpx.get(f"{url}{EXPORTS}/{export_id}/file").status_code == 404
        assert httpx.get(f"{url}{EXPORTS}").json()["exports"] == []
