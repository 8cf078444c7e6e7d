"""The ``berth worker`` that ``berth demo`` runs beside its server, as a child that dies with it.

The demo's retrain trigger needs a worker: the demo starts one on its home and stops it when it
exits (SIGTERM, then SIGKILL after a grace period). A demo killed outright (``kill -9``, a closed
terminal) runs no exit code, so on Linux the child also asks the kernel for a signal when its
parent dies (``prctl(PR_SET_PDEATHSIG, SIGTERM)``, made between fork and exec); elsewhere only the
exit path stops it. A worker that finds its parent gone already (the demo died before the request
was made) exits at once.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

PR_SET_PDEATHSIG = 1
"""``prctl`` option: the signal the calling process gets when its parent thread dies (Linux)."""

GRACE_S = 5.0
"""Seconds a stopping demo worker lets a running job go on before giving it back to the queue."""


def worker_argv(home: Path) -> list[str]:
    """``berth worker`` on `home`, with this interpreter (the demo's environment)."""
    return [
        sys.executable,
        "-c",
        "from berth.cli.main import main; main()",
        "worker",
        "--home",
        str(home),
        "--grace",
        str(GRACE_S),
    ]


def die_with_parent() -> Callable[[], None]:
    """What the child runs between fork and exec: SIGTERM when this process dies (Linux), exit at
    once if it has died already. libc is looked up here, in the parent: the child of a process
    with threads should only call what is already loaded."""
    parent = os.getpid()
    prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None

    def in_child() -> None:
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)

    return in_child


@contextlib.contextmanager
def demo_worker(home: Path, *, stop_timeout_s: float = GRACE_S + 10.0) -> Iterator[subprocess.Popen[bytes]]:
    """A ``berth worker`` on `home` while the block runs (its output goes to the demo's terminal);
    stopped on the way out, however the block ends."""
    process = subprocess.Popen(worker_argv(home), preexec_fn=die_with_parent())
    try:
        yield process
    finally:
        stop(process, stop_timeout_s)


def stop(process: subprocess.Popen[bytes], timeout_s: float) -> None:
    """SIGTERM (the worker gives its jobs back), SIGKILL when it is not gone within `timeout_s`."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
