"""Stopping a test's service started in a process group of its own (``start_new_session=True``)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path


def stop_group(process: subprocess.Popen[bytes], grace_s: float = 15.0) -> None:
    """SIGTERM to the process's whole group, SIGKILL after `grace_s`; returns once it has exited."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def log_tail(path: Path, chars: int = 2000) -> str:
    """The end of a service's log, for a message saying why it did not start."""
    return path.read_text(errors="replace")[-chars:] if path.exists() else ""
