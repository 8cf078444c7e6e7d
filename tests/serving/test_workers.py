"""Several worker processes share the REST and gRPC ports of one `berth serve`."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import httpx
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

import berth
from tests.conftest import Trained
from tests.support.servers import free_port, server_process

T = TypeVar("T")


@pytest.mark.slow
def test_two_workers_answer_rest_and_grpc(tmp_path: Path, lr: Trained) -> None:
    home = tmp_path / "home"
    berth.push(lr.model, name="lr", home=home, input_example=lr.x[:2])
    grpc_port = free_port()
    with server_process(home, "--workers", "2", "--grpc-port", str(grpc_port)) as url:
        x = lr.x[:3]
        body = {
            "inputs": [{"name": "input-0", "shape": [3, 20], "datatype": "FP32", "data": x.ravel().tolist()}]
        }
        assert len(_worker_pids(home)) == 2
        for _ in range(20):  # new connections, spread over the workers by the kernel
            with httpx.Client(base_url=url, timeout=30) as fresh:
                answer = fresh.post("/v2/models/lr/infer", json=body)
            assert answer.status_code == 200, answer.text
            assert answer.json()["outputs"][0]["data"] == lr.model.predict(x).tolist()
        triton = grpcclient.InferenceServerClient(f"127.0.0.1:{grpc_port}")
        try:
            tensor = grpcclient.InferInput("input-0", [3, 20], "FP32")
            tensor.set_data_from_numpy(x.astype(np.float32))
            result = triton.infer("lr", [tensor])
            assert result.as_numpy("predict").tolist() == lr.model.predict(x).tolist()
        finally:
            triton.close()
    assert os.environ.get("BERTH_WORKERS") is None  # the test's environment was not touched


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/smaps_rollup").exists(), reason="reads Linux's /proc")
def test_forked_workers_share_the_preloaded_models(tmp_path: Path, lr: Trained) -> None:
    home = tmp_path / "home"
    forest = RandomForestClassifier(n_estimators=30, max_depth=8, random_state=0).fit(lr.x, lr.y)
    berth.push(lr.model, name="lr", home=home, input_example=lr.x[:2])
    berth.push(forest, name="rf", home=home, input_example=lr.x[:2])
    late = LogisticRegression(C=0.01, max_iter=1000).fit(lr.x, lr.y[::-1])
    x = lr.x[:16]
    with server_process(home, "--workers", "1") as _:
        single = _server_pid(home)
        single_pss = _pss_kb(single)
    with server_process(home, "--workers", "2") as url:
        parent = _server_pid(home)
        workers = _worker_pids(home)
        assert len(workers) == 2
        everything = [parent, *workers, *(p for w in workers for p in _children(w))]
        for worker in workers:  # the other worker stopped: this one accepts every connection
            with _only(worker, workers):
                _assert_answers(url, "lr", x, lr.model.predict(x))
                _assert_answers(url, "rf", x, forest.predict(x))
        workers_pss = sum(_pss_kb(w) for w in workers)
        assert workers_pss < 2 * single_pss, (workers_pss, single_pss)  # loaded once, not per worker
        # each worker starts a records monitor; one works, the other waits for the journal's lock
        # with nothing loaded (no record store, no numpy)
        assert _wait_for(lambda: _monitors_loaded(workers), [True, False]) == [True, False]

        berth.push(late, name="late", home=home, input_example=lr.x[:2])  # published after the fork
        for worker in workers:
            with _only(worker, workers):
                _wait_answers(url, "late", x, late.predict(x))

        os.kill(workers[0], signal.SIGKILL)  # a worker that dies is replaced by a new fork
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            now = _worker_pids(home)
            if len(now) == 2 and workers[0] not in now:
                break
            time.sleep(0.05)
        replaced = _worker_pids(home)
        assert len(replaced) == 2, replaced
        assert workers[0] not in replaced
        new = next(w for w in replaced if w not in workers)
        with _only(new, replaced):
            _wait_answers(url, "rf", x, forest.predict(x))
        assert _wait_for(lambda: _monitors_loaded(replaced), [True, False]) == [True, False]  # one took over
        everything += [new, *_children(new)]

        os.kill(parent, signal.SIGTERM)  # the parent alone: it stops its workers
        deadline = time.monotonic() + 60
        while any(_alive(p) for p in everything) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [p for p in everything if _alive(p)] == []


@pytest.mark.slow
def test_workers_as_fresh_interpreters_when_forking_is_off(tmp_path: Path, lr: Trained) -> None:
    home = tmp_path / "home"
    berth.push(lr.model, name="lr", home=home, input_example=lr.x[:2])
    with server_process(home, "--workers", "2", env={"BERTH_FORK_WORKERS": "false"}) as url:
        _assert_answers(url, "lr", lr.x[:4], lr.model.predict(lr.x[:4]))
        parent = _server_pid(home)
        spawned = [c for c in _children(parent) if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]
        assert len(spawned) == 2  # uvicorn's process manager: each worker imports and loads itself


def _assert_answers(url: str, model: str, x: np.ndarray, expected: np.ndarray) -> None:
    for _ in range(3):  # new connections each time
        with httpx.Client(base_url=url, timeout=30) as fresh:
            answer = fresh.post(f"/v2/models/{model}/infer", json=_body(x))
        assert answer.status_code == 200, answer.text
        assert answer.json()["outputs"][0]["data"] == expected.tolist()


def _wait_answers(url: str, model: str, x: np.ndarray, expected: np.ndarray) -> None:
    """Until this worker's reconciler has the model (polling the registry), then its answers."""
    deadline = time.monotonic() + 60
    while True:
        with httpx.Client(base_url=url, timeout=30) as fresh:
            answer = fresh.post(f"/v2/models/{model}/infer", json=_body(x))
        if answer.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert answer.status_code == 200, answer.text
    assert answer.json()["outputs"][0]["data"] == expected.tolist()


def _body(x: np.ndarray) -> dict[str, object]:
    return {
        "inputs": [
            {"name": "input-0", "shape": list(x.shape), "datatype": "FP32", "data": x.ravel().tolist()}
        ]
    }


@contextlib.contextmanager
def _only(worker: int, workers: list[int]) -> Iterator[None]:
    """Every other worker stopped (SIGSTOP) meanwhile, so `worker` accepts every new connection."""
    others = [w for w in workers if w != worker]
    for other in others:
        os.kill(other, signal.SIGSTOP)
    try:
        yield
    finally:
        for other in others:
            os.kill(other, signal.SIGCONT)


def _monitors_loaded(workers: list[int]) -> list[bool]:
    """For each records monitor of `workers`, whether it has loaded the record store (maps
    SQLAlchemy's and numpy's compiled modules); the loaded first."""
    loaded = []
    for worker in workers:
        for child in _children(worker):
            with contextlib.suppress(OSError):
                if b"berth.wiring.monitor_process" in Path(f"/proc/{child}/cmdline").read_bytes():
                    maps = Path(f"/proc/{child}/maps").read_text()
                    loaded.append("sqlalchemy" in maps and "numpy" in maps)
    return sorted(loaded, reverse=True)


def _wait_for(read: Callable[[], T], wanted: T, timeout_s: float = 60.0) -> T:
    """`read()` until it gives `wanted` or `timeout_s` passes; its last value."""
    deadline = time.monotonic() + timeout_s
    while (value := read()) != wanted and time.monotonic() < deadline:
        time.sleep(0.1)
    return value


def _pss_kb(pid: int) -> int:
    rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    return int(rollup.split("\nPss:")[1].split()[0])


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _serve_pid(home: Path) -> int | None:
    """The `berth serve` process of `home` (not one of the workers it forked, which share its
    command line)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _serves(int(entry.name), home):
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if not _serves(parent, home):
                return int(entry.name)
    return None


def _server_pid(home: Path) -> int:
    pid = _serve_pid(home)
    assert pid is not None
    return pid


def _serves(pid: int, home: Path) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"serve" in argv and str(home).encode() in argv


def _worker_pids(home: Path) -> list[int]:
    """The worker processes of the `berth serve` of `home`: its children but the records' monitor."""
    parent = _serve_pid(home)
    if parent is None:
        return []
    return [c for c in _children(parent) if _serves(c, home)]
