"""Record exports are jobs owned by their creator, within quotas (issue 12, item 14), through a real
server on SQLite and PostgreSQL.

    team alpha: alice maintainer, dave reader; team beta: bob maintainer; root: platform admin
"""

from __future__ import annotations

import io
import os
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest

from berth.control.jobs.runner import Worker, WorkerConfig
from berth.control.record_export_jobs import EXPORT_KIND
from berth.core.records import PredictionRecord
from berth.core.settings import Settings
from berth.wiring.workspace import open_workspace
from tests.conftest import Trained
from tests.records.builders import ingest
from tests.security.conftest import populate
from tests.support.postgres import fresh_postgres_database
from tests.support.servers import free_port, server_in_thread

DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@dataclass
class Exports:
    url: str
    home: Path
    tokens: dict[str, str]

    def auth(self, who: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.tokens[who]}"}

    def create(self, who: str, **filters: Any) -> httpx.Response:
        return httpx.post(
            f"{self.url}/api/v1/records/exports",
            json=filters or {"model": "alpha-model"},
            headers=self.auth(who),
        )

    def get(self, who: str, path: str = "") -> httpx.Response:
        return httpx.get(f"{self.url}/api/v1/records/exports{path}", headers=self.auth(who))

    def finished(self, who: str, export_id: int) -> dict[str, Any]:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            view: dict[str, Any] = self.get(who, f"/{export_id}").json()
            if view["status"] not in ("queued", "running"):
                return view
            time.sleep(0.1)
        raise AssertionError(f"export {export_id} never finished")

    def files(self) -> list[str]:
        folder = self.home / "exports"
        return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def _records(model: str, n: int) -> list[PredictionRecord]:
    now = datetime.now(UTC)
    return [
        PredictionRecord(
            prediction_id=f"{model}-{i}",
            recorded_at=now - timedelta(seconds=n - i),
            endpoint=model,
            model=model,
            version=1,
            variant="",
            inputs={"input-0": {"datatype": "FP32", "shape": [1, 1], "data": [float(i)]}},
            outputs={"predict": {"datatype": "INT64", "shape": [1], "data": [1]}},
            latency_s=0.001,
        )
        for i in range(n)
    ]


def _database(kind: str) -> AbstractContextManager[str | None]:
    return fresh_postgres_database() if kind == "postgres" else nullcontext(None)


@contextmanager
def _server(home_root: Path, lr: Trained, database: str, **settings: Any) -> Iterator[Exports]:
    with _database(database) as database_url, pytest.MonkeyPatch.context() as env:
        if database_url:
            env.setenv("BERTH_DATABASE_URL", database_url)
        else:  # not another (module-scoped) server's database
            env.delenv("BERTH_DATABASE_URL", raising=False)
        home = home_root / "home"
        resolved_url, tokens = populate(home, lr)
        ingest(resolved_url, _records("alpha-model", 30) + _records("beta-model", 20))
        config = Settings(home=home, poll_interval_s=0.1, auth="tokens", grpc_port=free_port(), **settings)
        with server_in_thread(config) as url:
            yield Exports(url, home, tokens)


@pytest.fixture(scope="module", params=DATABASES)
def exports(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, lr: Trained
) -> Iterator[Exports]:
    with _server(tmp_path_factory.mktemp("exports"), lr, request.param) as server:
        yield server


def test_an_export_is_a_job_its_creator_polls_downloads_and_deletes(exports: Exports) -> None:
    created = exports.create("dave")  # a reader of alpha
    assert created.status_code == 202, created.text
    export_id = created.json()["id"]
    view = exports.finished("dave", export_id)
    assert view["status"] == "succeeded"
    assert view["rows"] == 30
    assert view["created_by"] == "dave"
    download = exports.get("dave", f"/{export_id}/file")
    assert download.status_code == 200
    assert pq.read_table(io.BytesIO(download.content)).num_rows == 30
    assert export_id in [e["id"] for e in exports.get("dave").json()["exports"]]
    files_before = exports.files()
    assert len(files_before) >= 1
    assert all(name.endswith(".parquet") for name in files_before)  # names berth chose, in its folder

    deleted = httpx.delete(f"{exports.url}/api/v1/records/exports/{export_id}", headers=exports.auth("dave"))
    assert deleted.status_code == 200, deleted.text
    assert len(exports.files()) == len(files_before) - 1
    assert exports.get("dave", f"/{export_id}").status_code == 404
    assert export_id not in [e["id"] for e in exports.get("dave").json()["exports"]]


def test_only_the_owner_and_administrators_see_an_export(exports: Exports) -> None:
    export_id = exports.create("alice").json()["id"]
    assert exports.finished("alice", export_id)["status"] == "succeeded"
    for stranger in ("bob", "dave", "erin"):  # another team, the same team, no team: as if it did not exist
        for path in (f"/{export_id}", f"/{export_id}/file"):
            answer = exports.get(stranger, path)
            assert answer.status_code == 404, (stranger, path, answer.text)
            assert answer.json()["code"] == "export_not_found"
        missing = exports.get(stranger, "/99999999")  # the same answer as for an id that exists
        assert (missing.status_code, missing.json()["code"]) == (404, "export_not_found")
        assert export_id not in [e["id"] for e in exports.get(stranger).json()["exports"]]
        gone = httpx.delete(
            f"{exports.url}/api/v1/records/exports/{export_id}", headers=exports.auth(stranger)
        )
        assert gone.status_code == 404
    assert exports.get("alice", f"/{export_id}/file").status_code == 200  # still there
    assert export_id in [e["id"] for e in exports.get("root").json()["exports"]]
    assert exports.get("root", f"/{export_id}/file").status_code == 200


def test_an_export_needs_read_on_what_it_selects(exports: Exports) -> None:
    assert exports.create("bob", model="alpha-model").status_code in (403, 404)
    assert exports.create("erin", model="alpha-model").status_code in (403, 404)
    assert exports.create("dave", model="beta-model").status_code in (403, 404)
    whole = exports.create("alice", include_shadows=True)  # every record of the server: administrators only
    assert whole.status_code == 403
    assert exports.create("root", include_shadows=True).status_code == 202


def test_another_job_id_is_not_an_export(exports: Exports) -> None:
    jobs = httpx.post(
        f"{exports.url}/api/v1/jobs",
        json={"kind": "batch-score", "params": {"model": "alpha-model", "input": "in.csv"}},
        headers=exports.auth("root"),
    )
    assert jobs.status_code == 201, jobs.text
    assert exports.get("root", f"/{jobs.json()['id']}").status_code == 404


# -- quotas and retention ------------------------------------------------------------------------


@pytest.fixture(params=DATABASES)
def queued_only(request: pytest.FixtureRequest, tmp_path: Path, lr: Trained) -> Iterator[Exports]:
    """A server that runs no exports itself (a worker is started by the test), one running at once,
    and a byte quota smaller than any export."""
    with _server(
        tmp_path, lr, request.param, export_worker=False, export_max_running=1, export_max_bytes=600
    ) as s:
        yield s


@contextmanager
def _worker(home: Path) -> Iterator[None]:
    workspace = open_workspace(Settings(home=home, database_url=os.environ.get("BERTH_DATABASE_URL")))
    worker = Worker(
        workspace.jobs.store,
        workspace.jobs.kinds,
        workspace,
        home,
        WorkerConfig("test-worker", kinds=(EXPORT_KIND,), poll_s=0.05, lease_s=5.0, grace_s=5.0),
    )
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)
        workspace.close()


def test_quotas_bound_running_exports_and_bytes_per_principal(queued_only: Exports) -> None:
    first = queued_only.create("alice")
    assert first.status_code == 202
    assert first.json()["status"] == "queued"
    second = queued_only.create("alice")
    assert second.status_code == 429, second.text
    assert second.json()["code"] == "export_quota_exceeded"
    assert queued_only.create("dave").status_code == 202  # another principal has a quota of its own
    assert queued_only.files() == []

    with _worker(queued_only.home):
        view = queued_only.finished("alice", first.json()["id"])
    assert view["status"] == "failed"  # it grew past the 600 bytes of the quota
    assert view["error"] == "export_quota_exceeded"
    assert queued_only.files() == []  # its partial file was deleted
    assert queued_only.get("alice", f"/{first.json()['id']}/file").status_code == 409
    assert queued_only.create("alice").status_code == 202  # nothing runs any more: allowed again


def test_exports_are_deleted_after_the_retention(tmp_path: Path, lr: Trained) -> None:
    with _server(tmp_path, lr, "sqlite", export_retention_h=1 / 3600) as server:
        export_id = server.create("alice").json()["id"]
        assert server.finished("alice", export_id)["status"] == "succeeded"
        assert len(server.files()) == 1
        time.sleep(1.2)
        assert server.get("alice").json()["exports"] == []
        assert server.files() == []
        assert server.get("alice", f"/{export_id}").status_code == 404
