"""Nothing lost when a machine dies: records on NATS JetStream, drained by the monitor role.

Real processes: a data-plane replica (``berth serve --role data``) with
``BERTH_RECORD_SINK=nats://127.0.0.1:4222/<fresh stream>`` on a fresh PostgreSQL registry, and two
``berth serve --role monitor`` drainers sharing the stream's durable consumer. Under load from
several clients one drainer is killed with SIGKILL, then the replica is, **and its home (journal
folder included) is deleted**, as a pod's disk goes with the pod; every prediction whose 200
reached a client must then be in the record store exactly once, once the drainers caught up. A
caller that retries with the same prediction id is stored once; a replica whose NATS is unreachable
answers a clear 503 ``recording_unavailable`` (never a 500, never a stall) and says why it is not
ready.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sqlalchemy import text

import berth
from berth.storage.db import create_database_engine
from tests.e2e.helpers import server_pid, tensor_request, wait_for
from tests.support.nats import stream_uri
from tests.support.postgres import fresh_postgres_database
from tests.support.servers import berth_executable, free_port, server_process

pytestmark = [pytest.mark.nats, pytest.mark.postgres, pytest.mark.slow]

CLIENTS = 4
RNG = np.random.default_rng(7)
X = RNG.random((60, 4)).astype(np.float32)
Y = (X[:, 0] > 0.5).astype(int)
BODY = tensor_request(X[:2])


@dataclass(frozen=True)
class Platform:
    env: dict[str, str]
    database_url: str
    root: Path
    monitors: list[str]


@pytest.fixture
def platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Platform]:
    """A PostgreSQL registry with a model, a fresh stream, and two monitor-role drainers on it."""
    with fresh_postgres_database() as database_url, stream_uri() as sink, contextlib.ExitStack() as stack:
        env = {
            "BERTH_DATABASE_URL": database_url,
            "BERTH_ARTIFACT_URI": (tmp_path / "artifacts").resolve().as_uri(),
            "BERTH_RECORD_SINK": sink,
            "BERTH_POLL_INTERVAL_S": "0.2",
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        berth.push(
            LogisticRegression().fit(X, Y), name="churn", home=tmp_path / "pusher", input_example=X[:2]
        )
        monitors = []
        for n in range(2):
            home = tmp_path / f"monitor-{n}" / "home"
            home.parent.mkdir()
            monitors.append(stack.enter_context(server_process(home, "--role", "monitor", env=env)))
        yield Platform(env, database_url, tmp_path, monitors)


@contextlib.contextmanager
def data_replica(
    home: Path, env: dict[str, str], role: str = "data", *, answering: bool = True
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`berth serve --role data` that a test may kill -9 (its own session: nothing else goes with
    it), once it answers a prediction (or, not `answering`, once it is live)."""
    home.parent.mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv = [berth_executable(), "serve", "--home", str(home), "--port", str(port), "--role", role]
    with (home.parent / f"replica-{port}.log").open("wb") as out:
        process = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **env}, start_new_session=True
        )
        url = f"http://127.0.0.1:{port}"
        try:
            if answering:
                wait_for("the replica answers", lambda: _answers(url), timeout=60)
            else:
                wait_for("the process is live", lambda: _live(url, process), timeout=60)
            yield url, process
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(30)


def _live(url: str, process: subprocess.Popen[bytes]) -> bool:
    assert process.poll() is None, "the process exited"
    with contextlib.suppress(httpx.TransportError):
        return httpx.get(f"{url}/v2/health/live", timeout=5).status_code == 200
    return False


def _answers(url: str) -> bool:
    with contextlib.suppress(httpx.TransportError):
        return httpx.post(f"{url}/v2/models/churn/infer", json=BODY, timeout=5).status_code == 200
    return False


def load(url: str, client_no: int, stop: threading.Event, answered: list[str], refused: Counter[int]) -> None:
    """Requests with unique ids until `stop`; every id whose 200 arrived is noted."""
    with httpx.Client(timeout=10) as client:
        i = 0
        while not stop.is_set():
            pid = f"c{client_no}-{i}"
            i += 1
            try:
                response = client.post(f"{url}/v2/models/churn/infer", json={**BODY, "id": pid})
            except httpx.HTTPError:
                refused[0] += 1
                time.sleep(0.01)
                continue
            if response.status_code == 200:
                assert response.json()["id"] == pid
                answered.append(pid)
            else:
                refused[response.status_code] += 1


def stored_counts(database_url: str) -> Counter[str]:
    engine = create_database_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT prediction_id, count(*) FROM prediction_records GROUP BY 1"))
            return Counter({str(pid): int(n) for pid, n in rows})
    finally:
        engine.dispose()


def test_kill9_and_a_lost_disk_lose_no_answered_prediction(platform: Platform) -> None:
    home = platform.root / "replica" / "home"
    answered: list[str] = []
    refused: Counter[int] = Counter()
    stop = threading.Event()
    with data_replica(home, platform.env) as (url, process):
        threads = [
            threading.Thread(target=load, args=(url, n, stop, answered, refused)) for n in range(CLIENTS)
        ]
        for thread in threads:
            thread.start()
        try:
            wait_for("load flows", lambda: len(answered) >= 150, timeout=60)
            # a drainer dies too, maybe between a commit and its acknowledgements: the other one gets
            # what it held after the ack wait, and stores none of it twice
            os.kill(server_pid(platform.monitors[0]), signal.SIGKILL)
            wait_for("load flows on", lambda: len(answered) >= 300, timeout=60)
            os.killpg(process.pid, signal.SIGKILL)  # kill -9 of the replica mid-load ...
            process.wait()
            shutil.rmtree(home)  # ... and its disk is gone, journal folder and all
            time.sleep(0.5)  # the clients see the replica gone
        finally:
            stop.set()
            for thread in threads:
                thread.join(30)
    assert not home.exists()
    assert refused[500] == 0

    def all_drained() -> bool:
        counts = stored_counts(platform.database_url)
        return all(pid in counts for pid in answered)

    wait_for("every answered prediction drained", all_drained, timeout=90, every=0.5)
    time.sleep(2)  # a redelivery would show now
    found = stored_counts(platform.database_url)
    assert [pid for pid in answered if found[pid] != 1] == []  # each exactly once
    assert max(found.values()) == 1  # nothing, answered or not (in flight at the kill), twice
    assert len(answered) >= 300


def test_a_prediction_retried_with_its_id_is_recorded_once(platform: Platform) -> None:
    with data_replica(platform.root / "replica" / "home", platform.env) as (url, _):
        for _ in range(3):  # a client retrying after a timeout it took for a failure
            answer = httpx.post(f"{url}/v2/models/churn/infer", json={**BODY, "id": "retried-1"}, timeout=10)
            assert answer.status_code == 200
        wait_for("the record drained", lambda: stored_counts(platform.database_url)["retried-1"] == 1)
        time.sleep(1.0)

    assert stored_counts(platform.database_url)["retried-1"] == 1


def test_an_unreachable_nats_is_a_clear_503_and_not_ready(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "replica" / "home"
    monkeypatch.delenv("BERTH_DATABASE_URL", raising=False)
    monkeypatch.delenv("BERTH_ARTIFACT_URI", raising=False)
    berth.push(LogisticRegression().fit(X, Y), name="churn", home=home, input_example=X[:2])
    sink = f"nats://127.0.0.1:{free_port()}/NOWHERE"  # nothing listens there
    env = {"BERTH_RECORD_SINK": sink, "BERTH_RECORD_PUBLISH_TIMEOUT_S": "60"}
    with (
        data_replica(home, env, answering=False) as (replica, _),
        data_replica(tmp_path / "monitor" / "home", env, "monitor", answering=False) as (monitor, _),
    ):
        wait_for("churn is loaded", lambda: httpx.get(f"{replica}/v2/models/churn/ready").status_code == 200)
        started = time.monotonic()
        answer = httpx.post(f"{replica}/v2/models/churn/infer", json=BODY, timeout=10)
        took = time.monotonic() - started
        ready = httpx.get(f"{replica}/v2/health/ready")
        monitor_ready = httpx.get(f"{monitor}/readyz")
        monitor_live = httpx.get(f"{monitor}/healthz")

    assert (answer.status_code, answer.json()["code"]) == (503, "recording_unavailable")
    assert "unreachable" in answer.json()["error"]
    assert took < 15.0  # refused at once, not held until the publish timeout (60 s)
    assert ready.status_code == 400  # OIP's "not ready"
    assert any("cannot be recorded" in reason for reason in ready.json()["reasons"])
    assert (monitor_live.status_code, monitor_ready.status_code) == (200, 503)
