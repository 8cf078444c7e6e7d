"""Downloading an export streams it from the export store, a chunk at a time, on every store: a folder
of the home (``file://``) and S3-compatible object storage (``s3://``, a real S3 API server). The
server's own ASGI messages are watched: the body leaves in chunks of at most `CHUNK_BYTES`, never as
one whole file in memory. The remote client writes what it receives to disk as it comes."""

from __future__ import annotations

import io
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import berth
from berth.control.record_exports import CHUNK_BYTES
from berth.core.settings import Settings
from tests.records.builders import ingest, record
from tests.support.s3 import S3Server
from tests.support.servers import server_in_thread

ROWS = 2500


class BodyChunks:
    """An ASGI layer noting the size of each body message of the downloads (paths ending in /file)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.sizes: list[int] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].endswith("/file"):
            await self.app(scope, receive, send)
            return

        async def noting(message: Message) -> None:
            if message["type"] == "http.response.body" and message.get("body"):
                self.sizes.append(len(message["body"]))
            await send(message)

        await self.app(scope, receive, noting)


def _settings(request: pytest.FixtureRequest, home: Path) -> Settings:
    if request.param == "file":
        return Settings(home=home, poll_interval_s=0.1)
    server: S3Server = request.getfixturevalue("s3_server")
    return Settings(
        home=home,
        poll_interval_s=0.1,
        artifact_uri=f"s3://{server.new_bucket()}/berth",
        s3_endpoint_url=server.endpoint_url,
    )


@pytest.fixture(params=["file", pytest.param("s3", marks=pytest.mark.s3)])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, BodyChunks]]:
    settings = _settings(request, tmp_path / "home")
    settings.home.mkdir(parents=True)
    noise = [secrets.token_urlsafe(1200) for _ in range(ROWS)]  # incompressible: a file of a few MiB
    ingest(settings.resolved_database_url, [record(n, text=noise[n]) for n in range(ROWS)])
    layers: list[BodyChunks] = []

    def watch(app: ASGIApp) -> ASGIApp:
        layers.append(BodyChunks(app))
        return layers[0]

    with server_in_thread(settings, wrap=watch) as url:
        yield url, layers[0]


def _succeeded(url: str) -> dict[str, object]:
    answer = httpx.post(f"{url}/api/v1/records/exports", json={"endpoint": "router"}, timeout=30)
    assert answer.status_code == 202, answer.text
    deadline = time.monotonic() + 60
    view: dict[str, object] = answer.json()
    while view["status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.1)
        view = httpx.get(f"{url}/api/v1/records/exports/{view['id']}").json()
    assert view["status"] == "succeeded", view
    return view


def test_a_download_leaves_the_server_in_chunks(served: tuple[str, BodyChunks]) -> None:
    url, chunks = served
    view = _succeeded(url)
    size = int(str(view["bytes"]))
    assert size > 2 * CHUNK_BYTES  # else a chunk or two would be the whole file

    download = httpx.get(f"{url}/api/v1/records/exports/{view['id']}/file", timeout=60)

    assert download.status_code == 200
    assert download.headers["content-type"] == "application/vnd.apache.parquet"
    assert download.headers["content-disposition"] == f'attachment; filename="records-{view["id"]}.parquet"'
    assert int(download.headers["content-length"]) == size == len(download.content)
    assert download.headers["berth-export-rows"] == str(ROWS)
    assert pq.read_table(io.BytesIO(download.content)).num_rows == ROWS
    assert sum(chunks.sizes) == size
    assert len(chunks.sizes) >= 3
    assert max(chunks.sizes) <= CHUNK_BYTES


def test_the_client_downloads_to_a_file(served: tuple[str, BodyChunks], tmp_path: Path) -> None:
    url, _ = served
    out = tmp_path / "records.parquet"

    client = berth.records(url=url)
    try:
        written = client.export(out, endpoint="router")
    finally:
        client.close()

    assert written["bytes"] == out.stat().st_size
    assert written["rows"] == ROWS
    assert pq.read_table(out).num_rows == ROWS
