"""`berth worker` as a real process, with the test job kinds installed through an entry point."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.servers import berth_executable

REPO = Path(__file__).resolve().parents[2]


@dataclass
class WorkerProcess:
    process: subprocess.Popen[bytes]
    log: Path

    def kill(self) -> None:
        """SIGKILL: the worker dies mid-job, as a crashed host would."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM, then wait for the graceful stop; the exit status."""
        os.killpg(self.process.pid, signal.SIGTERM)
        return self.process.wait(timeout)


@contextlib.contextmanager
def worker_process(home: Path, kinds_folder: Path, *extra: str) -> Iterator[WorkerProcess]:
    """``berth worker --home HOME …`` with `kinds_folder` (see `install_test_kinds`) importable."""
    log = home.parent / f"worker-{len(list(home.parent.glob('worker-*.log')))}.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(kinds_folder), str(REPO)])}
    argv = [berth_executable(), "worker", "--home", str(home), "--poll", "0.05", *extra]
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        worker = WorkerProcess(process, log)
        try:
            yield worker
        except BaseException:
            sys.stderr.write(log.read_text(errors="replace"))
            raise
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
