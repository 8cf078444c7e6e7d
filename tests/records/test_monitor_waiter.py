"""`berth.wiring.monitor_waiter`: a worker's records monitor waits for the journal's lock with
nothing of berth loaded, then becomes the monitor holding it (or leaves when told to)."""

from __future__ import annotations

import ast
import fcntl
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import berth.wiring.monitor_waiter as waiter_module

WAITER = waiter_module.__file__
assert WAITER is not None

# what the waiter becomes: says whether the descriptor it was handed holds the lock (a second open
# file of the same lock cannot take it then), and the arguments it got
BECOMES = textwrap.dedent(
    """
    import fcntl, os, sys
    fd = int(sys.argv[sys.argv.index("--held-lock-fd") + 1])
    other = os.open(sys.argv[1], os.O_RDWR)
    try:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        print("not held")
    except BlockingIOError:
        print("held", sys.argv[2:])
    """
)


def _start(lock: Path) -> subprocess.Popen[str]:
    becomes = [sys.executable, "-c", BECOMES, str(lock), "--parent-pid", str(os.getpid())]
    argv = [sys.executable, "-P", WAITER, str(lock), str(os.getpid()), "0.01", *becomes]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_until_waiting(process: subprocess.Popen[str]) -> None:
    """Until the waiter has started and opened the lock file (its descriptors show it)."""
    while process.poll() is None and not any(_opened_lock(process.pid, fd) for fd in _fds(process.pid)):
        time.sleep(0.01)


def _fds(pid: int) -> list[str]:
    try:
        return os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return []


def _opened_lock(pid: int, fd: str) -> bool:
    try:
        return os.readlink(f"/proc/{pid}/fd/{fd}").endswith("ingester.lock")
    except OSError:  # closed meanwhile
        return False


def test_it_becomes_the_monitor_holding_the_lock_once_the_holder_lets_go(tmp_path: Path) -> None:
    lock = tmp_path / "journal" / "ingester.lock"
    lock.parent.mkdir()
    holder = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
    with _start(lock) as process:
        _wait_until_waiting(process)
        assert process.poll() is None  # waiting while the lock is held
        os.close(holder)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert out.startswith("held "), out
    assert "'--parent-pid'" in out
    assert "'--held-lock-fd'" in out


def test_it_leaves_without_the_lock_on_sigterm(tmp_path: Path) -> None:
    lock = tmp_path / "journal" / "ingester.lock"
    lock.parent.mkdir()
    holder = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        with _start(lock) as process:
            _wait_until_waiting(process)
            process.send_signal(signal.SIGTERM)
            out, _ = process.communicate(timeout=60)
        assert (process.returncode, out) == (0, "")  # it never became the monitor
    finally:
        os.close(holder)


def test_it_imports_nothing_of_berth() -> None:
    """Run by path with ``-P``, it must stay that small: standard library imports only."""
    tree = ast.parse(Path(WAITER).read_text())
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert imported <= sys.stdlib_module_names | {"__future__"}, imported
