"""``berth worker``: the job runner process; the wiring builds and runs it (`berth.wiring.worker`)."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import Any

import click


@click.command()
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="BERTH_HOME",
    help="Home folder (env BERTH_HOME, default ./.berth).",
)
@click.option(
    "--database-url", default=None, help="Registry database URL (default: SQLite in the home folder)."
)
@click.option("--kinds", help="Comma-separated job kinds to run (default: every kind installed).")
@click.option("--concurrency", type=click.IntRange(1, 64), default=1, show_default=True)
@click.option(
    "--lease",
    "lease_s",
    type=click.FloatRange(1, 3600),
    default=30.0,
    show_default=True,
    help="Seconds a claimed job stays this worker's without a heartbeat (a dead worker's jobs "
    "are requeued after it).",
)
@click.option("--poll", "poll_s", type=click.FloatRange(0.05, 60), default=1.0, show_default=True)
@click.option(
    "--grace",
    "grace_s",
    type=click.FloatRange(0, 3600),
    default=30.0,
    show_default=True,
    help="On SIGTERM/SIGINT, seconds running jobs may take to finish before they are given back.",
)
@click.option(
    "--health-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Serve /v2/health/live and /v2/health/ready (also /healthz, /readyz) on this port, for probes.",
)
@click.option("--log-level", default="info", show_default=True, help="debug, info, warning or error.")
def worker(
    home: Path | None,
    database_url: str | None,
    kinds: str | None,
    concurrency: int,
    lease_s: float,
    poll_s: float,
    grace_s: float,
    health_port: int | None,
    log_level: str,
) -> None:
    """Run background jobs from the registry database until stopped (SIGTERM or SIGINT)."""
    from berth.cli.home import embedded_home
    from berth.core.settings import Settings
    from berth.wiring.worker import WorkerOptions, run_worker

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if database_url is None:
        home = embedded_home(home)
    overrides: dict[str, Any] = {"home": home, "database_url": database_url}
    settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    options = WorkerOptions(
        kinds=tuple(k.strip() for k in kinds.split(",") if k.strip()) if kinds else None,
        concurrency=concurrency,
        lease_s=lease_s,
        poll_s=poll_s,
        grace_s=grace_s,
        health_port=health_port,
    )
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    run_worker(settings, options, stop)
