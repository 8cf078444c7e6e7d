"""Nothing recorded is lost silently (issue 12, item 10), through a real ``berth serve`` process.

- `kill -9` of the monitor process: the server notices, logs it, restarts it (counted in
  ``berth_monitor_restarts_total``); readiness is off while it stays down past the grace; the
  records answered meanwhile land once it is back.
- a monitor process that hangs (SIGSTOP: alive, doing nothing): the lag, read from the journal
  itself, grows; readiness turns off once the oldest record waits past ``journal_stall_s``; both
  recover when it resumes.
- a full journal disk (a 512 KiB tmpfs in the server's own mount namespace): predictions answer a
  503 ``recording_unavailable`` without a traceback, logged once; readiness is off; both recover
  when the ingester frees the disk.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import grpc
import httpx
import numpy as np
import pytest

import berth
from berth.core.settings import Settings
from berth.server.grpc.proto import berth_inference_pb2 as pb
from berth.server.grpc.proto import berth_inference_pb2_grpc as pb_grpc
from berth.storage.sql_records import SqlRecordStore
from tests.conftest import Trained
from tests.metrics.scrape import scrape, value
from tests.records.helpers import eventually
from tests.support.postgres import fresh_postgres_database
from tests.support.servers import berth_executable, free_port, wait_ready

MONITOR_MODULE = "berth.wiring.monitor_process"
FAST_ENV = {
    "BERTH_JOURNAL_ROTATE_S": "0.3",
    "BERTH_INGEST_INTERVAL_S": "0.05",
    "BERTH_POLL_INTERVAL_S": "0.1",
    "BERTH_LOG_LEVEL": "info",
}


@dataclass(frozen=True)
class Running:
    url: str
    grpc_address: str
    process: subprocess.Popen[bytes]
    log: Path
    store: SqlRecordStore

    def monitor_pid(self) -> int | None:
        """The monitor process this server started (a child running `MONITOR_MODULE`)."""
        for pid in _descendants(self.process.pid):
            with contextlib.suppress(OSError):
                if MONITOR_MODULE in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
                    return pid
        return None

    def ready(self) -> httpx.Response:
        return httpx.get(f"{self.url}/v2/health/ready", timeout=10)

    def grpc_ready(self) -> bool:
        with grpc.insecure_channel(self.grpc_address) as channel:
            stub = pb_grpc.GRPCInferenceServiceStub(channel)
            return bool(stub.ServerReady(pb.ServerReadyRequest(), timeout=10).ready)

    def predict(self, x: np.ndarray[Any, Any], pid: str) -> httpx.Response:
        body = {
            "id": pid,
            "inputs": [
                {"name": "input-0", "shape": list(x.shape), "datatype": "FP32", "data": x.ravel().tolist()}
            ],
        }
        return httpx.post(f"{self.url}/v2/models/lr/infer", json=body, timeout=30)


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        with contextlib.suppress(OSError):
            children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
            found += [int(c) for c in children]
            todo += [int(c) for c in children]
    return found


@contextlib.contextmanager
def running(
    home: Path, env: dict[str, str], *, prefix: tuple[str, ...] = (), database: str | None = None
) -> Iterator[Running]:
    """`berth serve` (one worker) as its own process, optionally run through `prefix`."""
    port, grpc_port = free_port(), free_port()
    argv = [
        *prefix,
        berth_executable(),
        "serve",
        "--home",
        str(home),
        "--port",
        str(port),
        "--grpc-port",
        str(grpc_port),
        "--workers",
        "1",
    ]
    log = home.parent / f"server-{port}.log"
    environment = {**os.environ, **FAST_ENV, **env}
    if database is not None:
        environment["BERTH_DATABASE_URL"] = database
    store = SqlRecordStore(database or Settings(home=home).resolved_database_url)
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env=environment, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process=process)
        yield Running(url, f"127.0.0.1:{grpc_port}", process, log, store)
    except BaseException:
        sys.stderr.write(log.read_text(errors="replace"))
        raise
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGCONT)
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        store.close()


@pytest.fixture
def home(tmp_path: Path, lr: Trained) -> Path:
    home = tmp_path / "home"
    berth.push(lr.model, name="lr", home=home, input_example=lr.x[:3])
    return home


def _recorded(store: SqlRecordStore, ids: list[str]) -> list[str]:
    return [pid for pid in ids if not store.get(pid)]


def bytes_behind(server: Running) -> float:
    return value(scrape(server.url), "berth_record_journal_bytes_behind")


def lag_s(server: Running) -> float:
    return value(scrape(server.url), "berth_record_writer_lag_seconds")


def _kill9_monitor(server: Running, x: np.ndarray[Any, Any]) -> None:
    first = [f"before-{i}" for i in range(3)]
    for pid in first:
        assert server.predict(x, pid).status_code == 200
    assert eventually(lambda: _recorded(server.store, first), lambda missing: not missing) == []
    monitor = server.monitor_pid()
    assert monitor is not None

    os.kill(monitor, signal.SIGKILL)

    # down past the grace: not ready, and says why; predictions are still answered (the journal holds them)
    down = eventually(lambda: server.ready(), lambda r: r.status_code != 200, timeout_s=10)
    assert down.status_code == 400, down.text
    assert any("monitor process" in reason for reason in down.json()["reasons"]), down.text
    assert server.grpc_ready() is False
    meanwhile = [f"meanwhile-{i}" for i in range(6)]
    for pid in meanwhile[:3]:
        assert server.predict(x, pid).status_code == 200
    first = eventually(partial(bytes_behind, server), lambda b: b > 0, timeout_s=10)
    assert first > 0, "the journal's backlog shows while the monitor is down"
    for pid in meanwhile[3:]:
        assert server.predict(x, pid).status_code == 200
    assert eventually(partial(bytes_behind, server), lambda b: b > first, timeout_s=10) > first
    assert server.monitor_pid() is None  # still in its backoff

    # restarted: ready again, what was answered meanwhile lands, the restart was counted and logged
    back = eventually(lambda: server.ready(), lambda r: r.status_code == 200, timeout_s=30)
    assert back.status_code == 200, back.text
    assert server.grpc_ready() is True
    # (found by its command line, which reads empty for an instant while the waiter execs the monitor)
    restarted = eventually(server.monitor_pid, lambda pid: pid is not None, timeout_s=10)
    assert restarted is not None
    assert restarted != monitor
    assert eventually(lambda: _recorded(server.store, meanwhile), lambda missing: not missing) == []
    assert value(scrape(server.url), "berth_monitor_restarts_total", ended_by="signal") == 1
    log = server.log.read_text(errors="replace")
    assert f"the monitor process {monitor} exited (signal 9)" in log
    assert "monitor process restarted" in log


def test_a_killed_monitor_process_is_restarted_and_readiness_says_so(home: Path, lr: Trained) -> None:
    env = {"BERTH_MONITOR_DOWN_GRACE_S": "0.5", "BERTH_MONITOR_RESTART_BACKOFF_S": "12"}
    with running(home, env) as server:
        _kill9_monitor(server, lr.x[:1])


@pytest.mark.postgres
def test_a_killed_monitor_process_is_restarted_on_postgresql(
    tmp_path: Path, lr: Trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {"BERTH_MONITOR_DOWN_GRACE_S": "0.5", "BERTH_MONITOR_RESTART_BACKOFF_S": "12"}
    with fresh_postgres_database() as database:
        home = tmp_path / "home"
        monkeypatch.setenv("BERTH_DATABASE_URL", database)
        berth.push(lr.model, name="lr", home=home, input_example=lr.x[:3])
        with running(home, env, database=database) as server:
            _kill9_monitor(server, lr.x[:1])


def test_a_hung_monitor_shows_as_a_growing_lag_and_turns_readiness_off(home: Path, lr: Trained) -> None:
    x = lr.x[:1]
    with running(home, {"BERTH_JOURNAL_STALL_S": "1.5"}) as server:
        assert server.predict(x, "warm").status_code == 200
        eventually(lambda: server.store.get("warm"), bool)
        monitor = server.monitor_pid()
        assert monitor is not None
        assert eventually(partial(lag_s, server), lambda lag: lag < 1.5) < 1.5

        os.kill(monitor, signal.SIGSTOP)  # alive, holding its lock, ingesting nothing
        try:
            stalled = [f"stalled-{i}" for i in range(8)]
            lags = []
            for pid in stalled:
                assert server.predict(x, pid).status_code == 200
                time.sleep(0.3)
                lags.append(lag_s(server))
            lags.append(eventually(partial(lag_s, server), lambda lag: lag > 1.5, timeout_s=10))
            assert lags == sorted(lags), f"the lag grows while nothing is ingested: {lags}"
            assert lags[-1] > 1.5, f"the lag grows while nothing is ingested: {lags}"
            down = eventually(lambda: server.ready(), lambda r: r.status_code != 200, timeout_s=10)
            assert down.status_code == 400
            assert any("not being ingested" in reason for reason in down.json()["reasons"]), down.text
            assert not server.store.get(stalled[0])
        finally:
            os.kill(monitor, signal.SIGCONT)

        assert eventually(lambda: _recorded(server.store, stalled), lambda missing: not missing) == []
        assert eventually(lambda: server.ready().status_code, lambda code: code == 200) == 200
        assert eventually(partial(lag_s, server), lambda lag: lag < 1.5) < 1.5
        assert server.monitor_pid() == monitor  # hung, not dead: nothing to restart


def _mount_namespace_prefix(journal: Path) -> tuple[str, ...]:
    """A prefix that runs a command in its own mount namespace with `journal` on a 512 KiB tmpfs;
    skipped where this machine cannot make one."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("no unshare(1) here: no private tmpfs for a full journal disk")
    flags = ("--mount",) if os.geteuid() == 0 else ("--mount", "--map-root-user")
    script = 'mount -t tmpfs -o size=512k tmpfs "$0" && exec "$@"'
    probe = subprocess.run([unshare, *flags, "sh", "-c", script, str(journal), "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a private tmpfs here: {probe.stderr.decode(errors='replace')}")
    return (unshare, *flags, "sh", "-c", script, str(journal))


def test_a_full_journal_disk_answers_503_once_logged_and_turns_readiness_off(home: Path, lr: Trained) -> None:
    journal = home.parent / "journal"
    journal.mkdir()
    prefix = _mount_namespace_prefix(journal)
    x = lr.x[:1].repeat(400, axis=0)  # ~60 KB a record: the 512 KiB disk fills in a few requests
    with running(home, {"BERTH_JOURNAL_DIR": str(journal)}, prefix=prefix) as server:
        assert server.predict(x, "fits").status_code == 200
        eventually(lambda: server.store.get("fits"), bool)
        monitor = server.monitor_pid()
        assert monitor is not None
        os.kill(monitor, signal.SIGSTOP)  # nothing leaves the journal: the disk fills up
        try:
            refused: dict[str, httpx.Response] = {}
            answered = []
            for i in range(100):
                answer = server.predict(x, f"filling-{i}")
                if answer.status_code == 200:
                    answered.append(f"filling-{i}")
                else:
                    refused[f"filling-{i}"] = answer
                    if len(refused) == 5:
                        break
            assert len(refused) == 5, "the tmpfs never filled up"
            for answer in refused.values():
                assert answer.status_code == 503, answer.text
                assert answer.json()["code"] == "recording_unavailable"
                assert "full" in answer.json()["error"]
            down = eventually(lambda: server.ready(), lambda r: r.status_code != 200, timeout_s=10)
            assert down.status_code == 400
            assert any("disk is full" in reason for reason in down.json()["reasons"]), down.text
        finally:
            os.kill(monitor, signal.SIGCONT)  # the ingester empties the journal: room again

        assert eventually(lambda: server.ready().status_code, lambda code: code == 200, timeout_s=30) == 200
        assert server.predict(x, "after").status_code == 200
        assert eventually(lambda: _recorded(server.store, [*answered, "after"]), lambda m: not m) == []
        for pid in refused:  # a refused answer is not recorded as answered
            assert not server.store.get(pid)
        log = server.log.read_text(errors="replace")
        assert log.count("the journal's disk is full") == 1, log
        assert "Traceback" not in log, log
        assert "torn or corrupt" not in log, "a refused write is cut back to its last whole line"
        assert "the journal is writable again" in log


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_to_the_process_group_stops_server_and_monitor_without_a_restart(
    home: Path, lr: Trained, signum: signal.Signals
) -> None:
    """Ctrl-C in a terminal (SIGINT) and `kill -- -PGID` (SIGTERM) reach every process of the group:
    the monitor process must not die under its server's feet and be restarted while the server shuts
    down; the server stops it, once its own work is drained."""
    with running(home, {}) as server:
        ids = [f"group-{i}" for i in range(5)]
        for pid in ids:
            assert server.predict(lr.x[:1], pid).status_code == 200
        monitor = eventually(server.monitor_pid, lambda pid: pid is not None, timeout_s=10)
        assert monitor is not None
        port = int(server.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as slow:
            # a request in flight (half its body sent) holds the server's shutdown open
            slow.sendall(b"POST /v2/models/lr/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
            os.killpg(server.process.pid, signum)
            # the monitor process got the signal too: meanwhile the server must not restart it
            assert eventually(lambda: "Shutting down" in server.log.read_text(errors="replace"), bool)
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.process.wait(2)
        assert server.process.wait(30) in (0, -signum, 128 + signum)  # re-raised once stopped
        assert eventually(lambda: Path(f"/proc/{monitor}").exists(), lambda alive: not alive) is False
        assert eventually(lambda: _recorded(server.store, ids), lambda missing: not missing) == []
        log = server.log.read_text(errors="replace")
        assert "exited (" not in log, log
        assert "monitor process restarted" not in log, log
