"""Real servers for end-to-end tests: uvicorn in a thread of this process, or `berth serve` as a process."""

from __future__ import annotations

import contextlib
import os
import random
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final

import httpx
import uvicorn
from starlette.types import ASGIApp

from berth.core.settings import Settings
from berth.core.tracing import Tracing
from berth.wiring.server import build_server, create_asgi
from tests.support.process_group import stop_group

_LISTEN_PORTS: Final = range(20_000, 32_768)
"""Where test servers listen: below Linux's ephemeral range (32768-60999), which the outgoing
connections of every process on the machine draw from, so a port picked here cannot be taken
by a client's connection between the pick and the server's bind (port 0 could)."""
_handed_out: set[int] = set()
_chance: Final = random.SystemRandom()  # not the seeded `random`: each test process its own picks


def _this_workers_ports() -> range:
    """The slice of `_LISTEN_PORTS` this pytest-xdist worker alone picks from. Between a pick and
    the server's bind (seconds, while a `berth serve` process imports) another worker could pick
    the same free port; its server would then fail to bind while the first one's health check
    answers for it, and a test would talk to another test's server. Disjoint slices rule that out."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if not worker.startswith("gw") or count <= 1:
        return _LISTEN_PORTS
    index = int(worker.removeprefix("gw"))
    size = len(_LISTEN_PORTS) // count
    start = _LISTEN_PORTS.start + index * size
    return range(start, start + size)


def free_port() -> int:
    """A port no one listens on now, never handed out before in this process, from this test
    worker's own slice; random within it, so runs side by side on one machine rarely meet."""
    ports = _this_workers_ports()
    while True:
        port = _chance.choice(ports)
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port


def wait_ready(url: str, timeout: float = 120.0, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/v2/health/ready", timeout=2).status_code == 200:
                return
        time.sleep(0.05)
    raise TimeoutError(f"{url} not ready after {timeout}s")


@contextlib.contextmanager
def server_in_thread(
    settings: Settings, wrap: Callable[[ASGIApp], ASGIApp] | None = None, *, tracing: Tracing | None = None
) -> Iterator[str]:
    """A real uvicorn server on a free port, in a thread; yields its base URL. `wrap` puts an ASGI
    layer of the test's around the server's (to watch what it sends); `tracing` replaces the
    settings' (an in-memory exporter)."""
    port = free_port()
    app = create_asgi(build_server(settings.model_copy(update={"port": port}), tracing=tracing))
    if wrap is not None:
        app = wrap(app)
    with asgi_in_thread(app, port) as url:
        yield url


@contextlib.contextmanager
def asgi_in_thread(app: ASGIApp, port: int | None = None) -> Iterator[str]:
    """Any ASGI app served by uvicorn on a free port (or `port`), in a thread, once it answers
    ``/v2/health/ready``; yields its base URL."""
    port = port or free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", loop="asyncio"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def berth_executable() -> str:
    return str(Path(sys.executable).with_name("berth"))


@contextlib.contextmanager
def server_process(home: Path, *extra: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """`berth serve` as its own process on a free port; yields its base URL; stopped with SIGTERM."""
    port = free_port()
    argv = [
        berth_executable(),
        "serve",
        "--home",
        str(home),
        "--port",
        str(port),
        "--log-level",
        "warning",
        *([] if "--workers" in extra else ["--workers", "1"]),  # one process unless a test asks for more
        *extra,
    ]
    log = home.parent / f"server-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_ready(url, process=process)
            yield url
        except BaseException:
            sys.stderr.write(log.read_text(errors="replace"))
            raise
        finally:
            if process.poll() is None:
                stop_group(process, grace_s=20)
