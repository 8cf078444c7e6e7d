"""`berth serve --workers N` by forking: the models are loaded once, in the parent, and shared.

The parent, before it starts any thread, event loop or connection pool of its own, reads which
versions this server will serve and loads those of fork-safe flavors (`berth.runtime.preloaded`),
freezes its objects out of the cycle collector's reach (`gc.freeze`, so the workers' collections
do not write to the pages they share), binds the REST socket and forks the workers. Each worker
builds its server as a single process does and takes its models from what it inherited: their
memory is the parent's pages, copied only where a worker writes. The parent then only supervises:
a worker that dies is replaced, SIGINT or SIGTERM stops every worker gracefully (SIGKILL after
`stop_timeout_s`), and a worker that fails at start-up (uvicorn's exit status 3: the app, TLS or
the socket is broken and a new one would fail the same way) stops them all.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

STARTUP_FAILURE = 3
"""uvicorn's exit status for a server that could not start (uvicorn.config.STARTUP_FAILURE)."""

_HANDLED = {signal.SIGINT, signal.SIGTERM, signal.SIGCHLD}


def can_fork() -> bool:
    """Whether this platform has what the supervisor needs (Linux: fork and sigwaitinfo)."""
    return hasattr(os, "fork") and hasattr(signal, "sigwaitinfo") and hasattr(signal, "sigtimedwait")


def native_threads() -> int:
    """The threads of this process the kernel knows (Python's and every native library's)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:  # no procfs: Python's own count is what can be known
        return threading.active_count()


def fork_blockers() -> list[str]:
    """Why this process must not fork now: a Python thread besides this one (its locks and state
    would be copied mid-work into every worker). Native pools that handle fork themselves may run:
    OpenBLAS's (stopped before a fork, started again on use) and pyarrow's jemalloc thread; an
    OpenMP pool must not, which is why only fork-safe flavors load here and warm-ups run in the
    workers (`berth.runtime.preloaded`)."""
    if threading.active_count() == 1:
        return []
    names = sorted(t.name for t in threading.enumerate() if t is not threading.current_thread())
    return [f"Python threads running: {', '.join(names)}"]


def supervise(count: int, run_worker: Callable[[], None], *, stop_timeout_s: float = 30.0) -> int:
    """Fork `count` workers that each call `run_worker`, keep that many running until SIGINT or
    SIGTERM, then stop them; returns the exit status for the parent (0, or 1 when a worker failed
    to start)."""
    gc.collect()
    gc.freeze()  # the inherited objects stay out of the workers' collections: shared pages stay shared
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _HANDLED)
    workers: dict[int, int] = {}  # pid -> slot
    status = 0
    deadline: float | None = None  # set once stopping: then SIGKILL for what is left
    killed = False
    try:
        for slot in range(count):
            workers[_fork(run_worker, previous)] = slot
        log.info("started %d workers by fork: %s", count, sorted(workers))
        while workers:
            signo = _next_signal(None if deadline is None or killed else deadline)
            if signo is None:  # the workers did not stop in time
                for pid in workers:
                    log.warning("worker %d did not stop in %.0f s: killed", pid, stop_timeout_s)
                    _signal(pid, signal.SIGKILL)
                killed = True
                continue
            if signo in (signal.SIGINT, signal.SIGTERM) and deadline is None:
                log.info("received %s: stopping %d workers", signal.Signals(signo).name, len(workers))
                deadline = _stop(workers, stop_timeout_s)
            for pid, code in _reaped():
                if pid not in workers:
                    continue
                slot = workers.pop(pid)
                if deadline is not None:
                    continue
                if code == STARTUP_FAILURE:
                    log.error("worker %d failed to start: stopping every worker", pid)
                    status = 1
                    deadline = _stop(workers, stop_timeout_s)
                    continue
                log.warning("worker %d exited (status %d): starting another", pid, code)
                workers[_fork(run_worker, previous)] = slot
    finally:
        for pid in workers:  # the parent itself failed: leave no worker behind
            _signal(pid, signal.SIGKILL)
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    return status


def _next_signal(deadline: float | None) -> int | None:
    """The next of the handled signals (blocked, so waited for here), or None at `deadline`."""
    if deadline is None:
        return signal.sigwaitinfo(_HANDLED).si_signo
    waited = signal.sigtimedwait(_HANDLED, max(deadline - time.monotonic(), 0.0))
    return waited.si_signo if waited is not None else None


def _stop(workers: dict[int, int], timeout_s: float) -> float:
    for pid in workers:
        _signal(pid, signal.SIGTERM)
    return time.monotonic() + timeout_s


def _fork(run_worker: Callable[[], None], mask: set[int | signal.Signals]) -> int:
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:  # the worker: the parent's signal handling undone, then the server; never returns
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        run_worker()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        code = 0
    except BaseException:
        log.exception("worker %d failed", os.getpid())
    finally:
        with contextlib.suppress(Exception):
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _reaped() -> list[tuple[int, int]]:
    """The children that ended since the last call, with their exit status (-N: killed by N)."""
    ended: list[tuple[int, int]] = []
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return ended
        if pid == 0:
            return ended
        ended.append((pid, os.waitstatus_to_exitcode(status)))


def _signal(pid: int, signo: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signo)
