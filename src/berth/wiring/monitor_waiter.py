"""A server's records monitor before it works: waits for the journal's ingester lock with nothing but
the standard library loaded, then becomes the monitor, keeping the lock.

Of the monitors sharing a journal folder (one per worker of ``berth serve --workers N``) only the
lock's holder works; the others wait, and take over when it dies. Waiting as the monitor itself
would hold the berth package, the record store and their libraries (about 150 MB) for nothing, so
`berth.server.monitor_supervisor` starts this file by its path, ``python -P monitor_waiter.py
LOCK_FILE PARENT_PID INTERVAL_S MONITOR_COMMAND...`` (by path and with ``-P``: no package is
imported, and this folder is not put on ``sys.path``): about 10 MB while it waits. Once it holds the
lock it replaces itself (``exec``, same process) with ``MONITOR_COMMAND --held-lock-fd FD``; the
lock, held by the open file, passes across. It exits (status 0) without the lock when SIGTERM or
SIGINT arrives, or when its server (PARENT_PID) is gone.

Standard library only: it must not import berth.
"""

from __future__ import annotations

import fcntl
import os
import signal
import sys
import time
from collections.abc import Sequence


def main(argv: Sequence[str]) -> int:
    lock_file, parent_pid, interval_s, monitor = argv[0], int(argv[1]), float(argv[2]), list(argv[3:])
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, _: stopping.append(signum))
    signal.signal(signal.SIGINT, lambda signum, _: stopping.append(signum))
    os.makedirs(os.path.dirname(lock_file), exist_ok=True)
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            pass
        if stopping or os.getppid() != parent_pid:
            return 0
        time.sleep(interval_s)
    if stopping or os.getppid() != parent_pid:
        return 0
    os.set_inheritable(fd, True)
    os.execv(monitor[0], [*monitor, "--held-lock-fd", str(fd)])  # replaces this process, or raises


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
