"""Running a server process: uvicorn on uvloop and httptools, no access log on the hot path."""

from __future__ import annotations

import contextlib
import errno
import importlib
import logging
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from functools import partial
from typing import Any, Final

import uvicorn
from prometheus_client import values
from starlette.types import ASGIApp

from berth.core.errors import BerthError, ErrorCode
from berth.core.logs import configure_logging
from berth.core.settings import Settings
from berth.runtime.preloaded import PreloadedRuntimes, preload
from berth.runtime.reconciler import versions_to_load
from berth.server.auth.security import check_bind
from berth.server.connection_guard import ConnectionLimits, GuardedProtocol
from berth.server.metrics.exposition import MULTIPROCESS_ENV
from berth.wiring.prefork import STARTUP_FAILURE, can_fork, fork_blockers, native_threads, supervise
from berth.wiring.server import build_server, create_asgi, serving_scope
from berth.wiring.workspace import open_workspace

log = logging.getLogger(__name__)

WORKER_IMPORTS: Final = (
    "uvloop",
    "uvicorn.loops.uvloop",
    "uvicorn.lifespan.on",
    "uvicorn.protocols.websockets.auto",
    "pydantic.v1",  # FastAPI imports it when it builds the routes
    "fastapi.staticfiles",
    "fastapi_offline",
    "berth.wiring.job_kinds",
    "berth.storage.sql_records",
    "berth.storage.sql_jobs",
    "berth.storage.sql_consumers",
    "berth.storage.sql_feature_views",
)
"""Modules a forked worker would import only while it builds its server and starts uvicorn (found
by comparing a worker's ``sys.modules`` with its parent's at the fork): the parent imports them
before forking, so their code and objects are pages the workers share instead of copies each
worker makes (`bench/serve_bench.py --workers 2`: the servers' PSS 325 -> 315 MB, 1.35x -> 1.31x one
worker's 240 MB)."""


def worker_app() -> ASGIApp:
    """The app of one worker process: settings from the ``BERTH_*`` environment the parent set."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    GuardedProtocol.configure(connection_limits(settings))  # this worker's connections
    return create_asgi(build_server(settings))


def serve(settings: Settings) -> None:
    """Serve until interrupted (SIGINT/SIGTERM stop it gracefully).

    With ``workers`` > 1 this process loads the models it will serve (those of fork-safe flavors)
    and forks that many workers on one shared socket (the gRPC port is shared with SO_REUSEPORT),
    which share the models' memory (`berth.wiring.prefork`). With ``fork_workers`` off, or when
    loading started threads that a fork would not carry safely, uvicorn's process manager starts
    fresh interpreters instead, each loading the models it serves.
    """
    configure_logging(settings.log_level, settings.log_format)
    check_ports(settings)  # a port in use fails now, not after every model was loaded
    if settings.role == "monitor":  # records and alert rules; no HTTP but its health endpoints
        from berth.wiring.monitor_process import run_monitor_role

        run_monitor_role(settings)
        return
    if settings.role == "gateway":  # authentication is the replicas' and the API's: nothing to check here
        from berth.wiring.gateway import create_gateway

        uvicorn.Server(uvicorn.Config(create_gateway(settings), **_uvicorn_options(settings))).run()
        return
    check_bind(settings)  # refuse, or warn that authentication is off, once, before any worker starts
    if settings.worker_count > 1:
        os.environ.update(settings.as_environment())
        with shared_metrics_dir():
            forking = settings.fork_workers and can_fork()
            preloaded = preload_for_workers(settings) if forking else None
            if preloaded is not None:
                serve_forked(settings, preloaded)
                return
            uvicorn.run(
                "berth.wiring.serve:worker_app",
                factory=True,
                workers=settings.worker_count,
                **_uvicorn_options(settings),
            )
        return
    app = create_asgi(build_server(settings))
    uvicorn.Server(uvicorn.Config(app, **_uvicorn_options(settings))).run()


def preload_for_workers(settings: Settings) -> PreloadedRuntimes | None:
    """The runtimes the workers will serve at start, loaded here before any worker is forked; None
    when forking would not be safe after loading them (a thread started), so each worker must be a
    fresh interpreter. Runs before this process starts any thread or event loop of its own."""
    threads = native_threads()  # OpenBLAS's and pyarrow's pools of the libraries imported so far
    workspace = open_workspace(settings)
    try:
        versions = versions_to_load(workspace.store, serving_scope(settings)) if settings.preload else []
        preloaded = preload(versions, workspace.artifacts, workspace.catalog)
    finally:
        workspace.close()
    for module in WORKER_IMPORTS:
        importlib.import_module(module)
    problems = fork_blockers()
    if problems:
        log.warning(
            "not forking the workers after loading the models (%s): each worker loads its own",
            "; ".join(problems),
        )
        return None
    log.info(
        "loaded %d of %d versions before forking the workers (native threads %d -> %d)",
        len(preloaded),
        len(versions),
        threads,
        native_threads(),
    )
    return preloaded


def serve_forked(settings: Settings, preloaded: PreloadedRuntimes) -> None:
    """Bind the REST socket, fork ``worker_count`` workers that serve on it, supervise them."""
    # this process imported prometheus-client before the shared folder was named: the workers'
    # metrics must be written there (its multiprocess mode)
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
    sock = uvicorn.Config(worker_app, factory=True, **_uvicorn_options(settings)).bind_socket()
    try:
        status = supervise(settings.worker_count, partial(_forked_worker, settings, preloaded, sock))
    finally:
        sock.close()
    if status:
        raise SystemExit(status)


def _forked_worker(settings: Settings, preloaded: PreloadedRuntimes, sock: socket.socket) -> None:
    """One forked worker: its own server (thread pools, event loop, connections) over the models
    it inherited."""
    configure_logging(settings.log_level, settings.log_format)
    try:
        app = create_asgi(build_server(settings, preloaded=preloaded))
    except Exception:  # as uvicorn's workers: an app that cannot be built stops the run, no restart loop
        log.exception("the worker's server could not be built")
        raise SystemExit(STARTUP_FAILURE) from None
    server = uvicorn.Server(uvicorn.Config(app, **_uvicorn_options(settings)))
    server.run(sockets=[sock])
    if not server.started:
        raise SystemExit(STARTUP_FAILURE)


def check_ports(settings: Settings) -> None:
    """Fail before anything is loaded when the REST port (or the gRPC port, for a role that serves
    it) cannot be listened on: `ADDRESS_IN_USE` when another process has it, `INVALID_REQUEST` for
    an address this machine does not have or a port it may not use."""
    ports = [("REST", settings.port, "--port / BERTH_PORT")]
    if settings.grpc_port is not None and settings.role != "api":
        ports.append(("gRPC", settings.grpc_port, "--grpc-port / BERTH_GRPC_PORT"))
    for name, port, option in ports:
        try:
            probe_listen(settings.host, port)
        except OSError as exc:
            where = f"{settings.host}:{port}"
            if exc.errno == errno.EADDRINUSE:
                raise BerthError(
                    ErrorCode.ADDRESS_IN_USE,
                    f"cannot serve {name} on {where}: the port is in use (another berth serve, or another"
                    f" program?); stop it or pick another port with {option}",
                    host=settings.host,
                    port=port,
                ) from None
            reason = exc.strerror or str(exc)
            raise BerthError(
                ErrorCode.INVALID_REQUEST,
                f"cannot serve {name} on {where}: {reason}",
                host=settings.host,
                port=port,
            ) from None


def probe_listen(host: str, port: int) -> None:
    """Listen on `port` of `host` for a moment, as the servers will (``SO_REUSEADDR``: connections of
    a stopped server in TIME_WAIT do not count), and let go; raises the OSError a server would get."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise OSError(errno.EADDRNOTAVAIL, f"unknown host ({exc.strerror})") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(1)


@contextlib.contextmanager
def shared_metrics_dir() -> Iterator[None]:
    """A fresh folder for this run's metric files, named in the environment the workers inherit
    (prometheus-client's multiprocess mode, docs/metrics.md); removed when the run ends."""
    previous = os.environ.get(MULTIPROCESS_ENV)
    folder = tempfile.mkdtemp(prefix="berth-metrics-")
    os.environ[MULTIPROCESS_ENV] = folder
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(MULTIPROCESS_ENV, None)
        else:
            os.environ[MULTIPROCESS_ENV] = previous
        shutil.rmtree(folder, ignore_errors=True)


def connection_limits(settings: Settings) -> ConnectionLimits:
    return ConnectionLimits(
        max_connections=settings.max_connections,
        header_timeout_s=settings.header_timeout_s,
        body_timeout_s=settings.body_timeout_s,
        upload_timeout_s=settings.upload_timeout_s,
    )


def _uvicorn_options(settings: Settings) -> dict[str, Any]:
    tls: dict[str, Any] = {}
    if settings.tls_cert is not None and settings.tls_key is not None:
        tls = {"ssl_certfile": str(settings.tls_cert), "ssl_keyfile": str(settings.tls_key)}
    return {
        **tls,
        "host": settings.host,
        "port": settings.port,
        "loop": "uvloop",
        # httptools, with read timeouts, a connection cap and JSON 400s (berth.server.connection_guard)
        "http": GuardedProtocol.configure(connection_limits(settings)),
        "access_log": False,  # berth's own access log (BERTH_ACCESS_LOG) is in its request layer
        "log_config": None,  # uvicorn's lines go through berth's handler (text or JSON)
        "log_level": settings.log_level,
        "lifespan": "on",
        "timeout_graceful_shutdown": 10,
    }
