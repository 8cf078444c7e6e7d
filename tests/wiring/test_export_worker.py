"""The server's export worker stops when its server does, not at its next poll."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from berth.core.settings import Settings
from berth.wiring.export_worker import ExportWorker
from berth.wiring.workspace import open_workspace


def test_stop_wakes_the_worker_out_of_its_poll_wait(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    workspace = open_workspace(settings)
    try:
        worker = ExportWorker(workspace, settings.home, poll_s=3600.0)  # it would sleep an hour
        before = set(threading.enumerate())
        worker.start()
        [thread] = set(threading.enumerate()) - before
        started = time.monotonic()
        worker.stop()  # joins for up to 30 s; asleep, the worker would wake only after lease_s / 3 (10 s)
        took = time.monotonic() - started

        assert not thread.is_alive()
        assert took < 5.0, f"stop waited {took:.1f} s for the worker's poll"
    finally:
        workspace.close()
