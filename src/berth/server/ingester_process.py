"""The monitor process of a server: the journal ingester and the alert rules (see
`berth.engine.monitor_process`).

Each server process starts one; of those sharing a journal folder only one works at a time (the
others wait on its lock). It exits by itself when its server dies (``kill -9`` included), after
ingesting what it can; `stop` asks it to drain and exit.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
from typing import Final

from berth.core.settings import Settings

log = logging.getLogger(__name__)

STOP_TIMEOUT_S: Final = 30.0


class IngesterProcess:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        settings = self._settings
        journal = settings.resolved_journal_dir
        journal.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "berth.engine.monitor_process", "--parent-pid", str(os.getpid())]
        # settings through the environment (the database URL, possibly with a password, stays out of `ps`)
        env = {**os.environ, **settings.as_environment()}
        self._process = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL)

    def stop(self) -> None:
        """Ask the ingester to drain and exit; wait for it (killed after `STOP_TIMEOUT_S`)."""
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
