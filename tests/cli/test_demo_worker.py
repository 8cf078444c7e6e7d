"""The ``berth worker`` that ``berth demo`` runs is a child that dies with the demo: stopped (and
gone) when the demo leaves, and gone when the demo is killed outright (``kill -9``: no exit code
runs; the kernel's parent-death signal stops it)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")

DEMO = """
import sys
from pathlib import Path
from berth.cli.demo_worker import demo_worker

with demo_worker(Path(sys.argv[1])) as worker:
    print(worker.pid, flush=True)
    sys.stdin.readline()  # the demo serves until its input closes (or it is killed)
print("worker exited", worker.returncode, flush=True)
"""


@contextmanager
def demo_with_worker(home: Path) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """A process that runs the demo's worker as `berth demo` does; with the worker's pid."""
    demo = subprocess.Popen(
        [sys.executable, "-c", DEMO, str(home)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # the worker's log too: it says when it runs
        text=True,
        start_new_session=True,
    )
    with demo:
        try:
            assert demo.stdout is not None
            worker = int(demo.stdout.readline())
            for line in demo.stdout:  # "worker HOST:PID:…: kinds …, concurrency 1": it is up
                if "concurrency" in line:
                    break
            yield demo, worker
        finally:
            if demo.poll() is None:
                demo.kill()
            demo.wait(30)


def _alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie waiting for its reaper does not)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return "\nState:\tZ" not in status


def _wait_gone(pid: int, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while _alive(pid):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            raise AssertionError(f"the demo's worker {pid} outlived the demo")
        time.sleep(0.05)


def _is_the_worker(pid: int) -> bool:
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    return b"worker" in argv and b"--home" in argv


def test_the_worker_dies_with_a_demo_killed_outright(tmp_path: Path) -> None:
    with demo_with_worker(tmp_path / "home") as (demo, worker):
        assert _is_the_worker(worker)
        assert _alive(worker)
        demo.send_signal(signal.SIGKILL)
        demo.wait(30)
        _wait_gone(worker)


def test_a_demo_that_leaves_stops_its_worker_gracefully(tmp_path: Path) -> None:
    with demo_with_worker(tmp_path / "home") as (demo, worker):
        assert _is_the_worker(worker)
        out, _ = demo.communicate("\n", timeout=120)
        assert demo.returncode == 0
        assert out.strip().endswith("worker exited 0")  # SIGTERM: it gave its jobs back and left
        assert not _alive(worker)
