"""Running a server process: uvicorn on uvloop and httptools, no access log on the hot path."""

from __future__ import annotations

import logging

import uvicorn

from berth.core.settings import Settings
from berth.server.app import build_server, create_asgi


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)


def serve(settings: Settings) -> None:
    """Serve until interrupted (SIGINT/SIGTERM stop it gracefully)."""
    configure_logging(settings.log_level)
    app = create_asgi(build_server(settings))
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level=settings.log_level,
        lifespan="on",
        timeout_graceful_shutdown=10,
    )
    uvicorn.Server(config).run()
