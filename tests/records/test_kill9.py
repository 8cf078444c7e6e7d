"""THE durability test: `kill -9` a serving process under load, restart it, and count. Every
prediction whose 200 response reached the client is in the records exactly once."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import berth
from berth.core.settings import Settings
from berth.storage.sql_records import SqlRecordStore
from tests.conftest import Trained
from tests.records.helpers import all_records, eventually
from tests.support.postgres import fresh_postgres_database
from tests.support.servers import berth_executable, free_port, server_process, wait_ready

LOAD_S = 3.0
CLIENTS = 8


@contextlib.contextmanager
def killable_server(home: Path, env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`berth serve` whose own process (not its group: its ingester lives on) a test may kill -9."""
    port = free_port()
    argv = [berth_executable(), "serve", "--home", str(home), "--port", str(port), "--workers", "1"]
    with (home.parent / f"server-{port}.log").open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **env})
        try:
            url = f"http://127.0.0.1:{port}"
            wait_ready(url, process=process)
            yield url, process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(30)


def load(
    url: str, path: str, body: dict[str, Any], stop: threading.Event, answered: list[str], n: int
) -> None:
    """Send requests with unique ids until `stop`; note every id whose 200 response arrived."""
    with httpx.Client(timeout=10) as client:
        i = 0
        while not stop.is_set():
            pid = f"{path}#{n}-{i}"  # unique across the tests sharing a home
            i += 1
            try:
                response = client.post(f"{url}{path}", json={**body, "id": pid})
            except httpx.HTTPError:
                return  # the server is gone
            if response.status_code == 200:
                assert response.json()["id"] == pid
                answered.append(pid)


def kill_under_load(home: Path, env: dict[str, str], path: str, body: dict[str, Any]) -> list[str]:
    answered: list[str] = []
    stop = threading.Event()
    with killable_server(home, env) as (url, process):
        threads = [
            threading.Thread(target=load, args=(url, path, body, stop, answered, n)) for n in range(CLIENTS)
        ]
        for thread in threads:
            thread.start()
        eventually(lambda: len(answered), lambda n: n >= 200, timeout_s=30)
        time.sleep(LOAD_S)  # load for a while: the journal holds records not yet ingested
        process.kill()  # kill -9, mid-load
        process.wait()
        stop.set()
        for thread in threads:
            thread.join(30)
    return answered


def assert_each_answer_recorded_once(home: Path, env: dict[str, str], url: str, answered: list[str]) -> None:
    store = SqlRecordStore(url)
    try:
        with server_process(home, env=env):  # the restart: its ingester replays the rest
            found = eventually(
                lambda: Counter(r.record.prediction_id for r in all_records(store)),
                lambda ids: all(pid in ids for pid in answered),
                timeout_s=60,
            )
    finally:
        store.close()
    missing = [pid for pid in answered if pid not in found]
    assert missing == []
    assert max(found.values()) == 1  # none twice (ids are unique per test and client)
    assert len(answered) >= 200


@pytest.fixture(scope="module")
def home_models(tmp_path_factory: pytest.TempPathFactory, lr: Trained) -> Path:
    home = tmp_path_factory.mktemp("kill9") / "home"
    berth.push(lr.model, name="lr", home=home, input_example=lr.x[:3], aliases=["production"])
    berth.push(lr.model, name="lr", home=home, input_example=lr.x[:3])
    return home


def rows(lr: Trained) -> dict[str, Any]:
    x = lr.x[:1]
    return {
        "inputs": [
            {"name": "input-0", "shape": list(x.shape), "datatype": "FP32", "data": x.ravel().tolist()}
        ]
    }


def test_kill9_of_a_model_server_loses_no_answered_prediction(home_models: Path, lr: Trained) -> None:
    env = {"BERTH_JOURNAL_ROTATE_S": "30"}  # the live segment is still open at the kill
    answered = kill_under_load(home_models, env, "/v2/models/lr/infer", rows(lr))

    url = Settings(home=home_models).resolved_database_url
    assert_each_answer_recorded_once(home_models, env, url, answered)


def test_kill9_of_an_endpoint_server_loses_no_answered_prediction(home_models: Path, lr: Trained) -> None:
    with server_process(home_models) as url:
        created = httpx.post(
            f"{url}/api/v1/endpoints",
            json={
                "name": "ab",
                "targets": [{"target": "lr:1", "weight": 1}, {"target": "lr:2", "weight": 1}],
            },
        )
        assert created.status_code == 201, created.text
    env: dict[str, str] = {}
    answered = kill_under_load(home_models, env, "/v2/models/ab/infer", rows(lr))

    database = Settings(home=home_models).resolved_database_url
    assert_each_answer_recorded_once(home_models, env, database, answered)


@pytest.mark.postgres
def test_kill9_on_postgresql(tmp_path: Path, lr: Trained) -> None:
    with fresh_postgres_database() as database:
        home = tmp_path / "home"
        env = {"BERTH_DATABASE_URL": database}
        home.mkdir()
        with server_process(home, env=env) as url:
            berth.push(lr.model, name="lr", url=url, input_example=lr.x[:3])
        answered = kill_under_load(home, env, "/v2/models/lr/infer", rows(lr))
        assert_each_answer_recorded_once(home, env, database, answered)
