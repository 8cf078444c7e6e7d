"""The monitor process of a server: the journal ingester and the alert rules (see
`berth.wiring.monitor_process`), supervised.

Each server process starts one, in a session of its own (signals to the server's process group do
not reach it); of those sharing a journal folder only one works at a time (the others wait on its
lock). It exits by itself when its server dies (``kill -9`` included), after ingesting what it can;
`stop` asks it to drain and exit.

A monitor process that dies while its server lives (killed, out of memory, a crash) is noticed
within `WATCH_INTERVAL_S` and started again after a backoff (doubling from the
``monitor_restart_backoff_s`` setting up to `MAX_BACKOFF_S`, back to the start once a process
has lived `STABLE_S`); each restart is logged and counted (``berth_monitor_restarts_total``).
`down_for` tells readiness how long no monitor process has been running.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Final

from berth.core.settings import Settings
from berth.storage.journal import LOCK_FILE

log = logging.getLogger(__name__)

STOP_TIMEOUT_S: Final = 30.0
WATCH_INTERVAL_S: Final = 0.2
MAX_BACKOFF_S: Final = 60.0
STABLE_S: Final = 60.0
"""A monitor process that lived this long resets the backoff: its next death restarts it quickly."""


class MonitorSupervisor:
    def __init__(
        self, settings: Settings, on_restart: Callable[[str], None] | None = None, *, journal: bool = False
    ) -> None:
        """`on_restart` is called with how the dead process ended: "signal" or "exit". `journal`: the
        process ingests the settings' local journal, so it waits for the journal's lock as
        `berth.wiring.monitor_waiter` before it loads anything (the other workers' monitors wait
        small)."""
        self._settings = settings
        self._journal = journal
        self._process: subprocess.Popen[bytes] | None = None
        self._on_restart = on_restart
        self._started_at = 0.0
        self._down_since: float | None = None
        self._backoff_s = settings.monitor_restart_backoff_s
        self._watch: asyncio.Task[None] | None = None
        self.restarts = 0

    @property
    def pid(self) -> int | None:
        process = self._process
        return None if process is None or process.poll() is not None else process.pid

    def down_for(self) -> float:
        """Seconds since the monitor process died (0 while one runs)."""
        down = self._down_since
        return 0.0 if down is None else time.monotonic() - down

    def start(self) -> None:
        """Start the monitor process, and (from a running event loop) watch it."""
        self._spawn()
        with contextlib.suppress(RuntimeError):  # no running loop: started without a supervisor
            loop = asyncio.get_running_loop()
            self._watch = loop.create_task(self._supervise(), name="berth-monitor-watch")

    def _spawn(self) -> None:
        settings = self._settings
        journal = settings.resolved_journal_dir
        journal.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "berth.wiring.monitor_process", "--parent-pid", str(os.getpid())]
        if self._journal:  # wait for the journal's lock small, then become the monitor (exec)
            interval_s = str(settings.ingest_interval_s)
            argv = [
                sys.executable,
                "-P",
                _waiter(),
                str(journal / LOCK_FILE),
                str(os.getpid()),
                interval_s,
                *argv,
            ]
        # settings through the environment (the database URL, possibly with a password, stays out of `ps`)
        env = {**os.environ, **settings.as_environment()}
        # a session of its own: a signal to the server's process group (Ctrl-C in a terminal,
        # `kill -- -PGID`) reaches the server alone, which stops this process once its requests are
        # drained; otherwise it died at once and was restarted while the server shut down
        self._process = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, start_new_session=True)
        self._started_at = time.monotonic()
        self._down_since = None

    async def _supervise(self) -> None:
        while True:
            await asyncio.sleep(WATCH_INTERVAL_S)
            process = self._process
            if process is None or process.poll() is None:
                continue
            now = time.monotonic()
            self._down_since = now
            if now - self._started_at >= STABLE_S:
                self._backoff_s = self._settings.monitor_restart_backoff_s
            delay = self._backoff_s
            self._backoff_s = min(MAX_BACKOFF_S, max(self._backoff_s * 2, 0.1))
            log.error(
                "the monitor process %d exited (%s): recording and alerts stopped; restarting it in %.1f s",
                process.pid,
                _exit_reason(process.returncode),
                delay,
            )
            await asyncio.sleep(delay)
            try:
                self._spawn()
            except OSError as exc:
                log.error("the monitor process could not be started: %s", exc)
                self._process = process  # still dead: the next turn tries again, later
                continue
            self.restarts += 1
            if self._on_restart is not None:
                self._on_restart("signal" if process.returncode < 0 else "exit")
            log.warning("monitor process restarted: pid %s (restart %d)", self.pid, self.restarts)

    def stop_watching(self) -> None:
        """Stop restarting the monitor process (on the event loop, before `stop`)."""
        watch, self._watch = self._watch, None
        if watch is not None:
            watch.cancel()

    def stop(self) -> None:
        """Ask the ingester to drain and exit; wait for it (killed after `STOP_TIMEOUT_S`). Blocking."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            log.warning("the journal ingester did not stop in %.0f s; killed", STOP_TIMEOUT_S)
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            process.wait()


def _waiter() -> str:
    """The path of `berth.wiring.monitor_waiter`, run as a file: no package imported."""
    spec = importlib.util.find_spec("berth.wiring.monitor_waiter")
    if spec is None or spec.origin is None:
        raise OSError("berth.wiring.monitor_waiter is missing from the installation")
    return spec.origin


def _exit_reason(returncode: int) -> str:
    return f"signal {-returncode}" if returncode < 0 else f"status {returncode}"
