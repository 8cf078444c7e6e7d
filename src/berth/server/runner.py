"""Running a server process: uvicorn on uvloop and httptools, no access log on the hot path."""

from __future__ import annotations

import logging
import os
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from berth.core.settings import Settings
from berth.server.app import build_server, create_asgi
from berth.server.security import check_bind


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)


def worker_app() -> ASGIApp:
    """The app of one worker process: settings from the ``BERTH_*`` environment the parent set."""
    settings = Settings()
    configure_logging(settings.log_level)
    return create_asgi(build_server(settings))


def serve(settings: Settings) -> None:
    """Serve until interrupted (SIGINT/SIGTERM stop it gracefully).

    With ``workers`` > 1, uvicorn's process manager starts that many workers on one shared socket
    (the gRPC port is shared with SO_REUSEPORT); each worker loads the models it serves.
    """
    configure_logging(settings.log_level)
    if settings.worker_count > 1:
        check_bind(settings)  # refuse before starting workers (each checks again)
        os.environ.update(settings.as_environment())
        uvicorn.run(
            "berth.server.runner:worker_app",
            factory=True,
            workers=settings.worker_count,
            **_uvicorn_options(settings),
        )
        return
    app = create_asgi(build_server(settings))
    uvicorn.Server(uvicorn.Config(app, **_uvicorn_options(settings))).run()


def _uvicorn_options(settings: Settings) -> dict[str, Any]:
    tls: dict[str, Any] = {}
    if settings.tls_cert is not None and settings.tls_key is not None:
        tls = {"ssl_certfile": str(settings.tls_cert), "ssl_keyfile": str(settings.tls_key)}
    return {
        **tls,
        "host": settings.host,
        "port": settings.port,
        "loop": "uvloop",
        "http": "httptools",
        "access_log": False,
        "log_level": settings.log_level,
        "lifespan": "on",
        "timeout_graceful_shutdown": 10,
    }
