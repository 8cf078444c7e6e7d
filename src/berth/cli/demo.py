"""``berth demo`` (what ``make run`` starts): real models trained on shipped data, pushed, served.

- ``bank-marketing``: will a client subscribe a term deposit? A scikit-learn pipeline (one-hot +
  scaling + logistic regression) trained on a pandas DataFrame of the UCI Bank Marketing data
  (CC BY 4.0, Moro, Rita & Cortez; see demo_data/bank-marketing-SOURCE.md), 2008-2009 campaigns,
  so the drifting 2010 campaigns stay for monitoring. Served as columns: no recoding.
- ``bike-demand``: hourly rentals, a LightGBM regressor on the UCI Bike Sharing data (CC BY 4.0,
  Fanaee-T & Gama; see demo_data/bike-sharing-SOURCE.md), in LightGBM's native format.

- installed demo packages (entry points ``berth.demos``: a module with ``prepare(home, say)`` and
  ``try_it(url) -> lines``, optionally ``retrain_triggers(every) -> [trigger JSON]`` and
  ``story(url, every) -> lines``): The Voice (``examples/the_voice``, installed by ``make``) trains
  its feedback classifier, pushes it as ``voice-classifier@champion``, creates the endpoint
  ``feedback-router`` and a trigger that retrains the classifier every N corrections.

Beside the server runs a ``berth worker`` on the same home (`berth.cli.demo_worker`: a child that
dies with the demo), which fires the triggers and runs their jobs.

Training is skipped when the home already holds versions trained on the same data by the same
demo code, so a second ``make run`` starts at once.
"""

from __future__ import annotations

import logging
import socket
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import orjson

from berth.core.entities import Version

if TYPE_CHECKING:
    from berth.core.settings import Settings

DEMOS_GROUP = "berth.demos"


def installed_demos(group: str = DEMOS_GROUP) -> list[Any]:
    """The demo modules installed packages register (one that fails to import is logged and skipped)."""
    found = []
    for entry in entry_points(group=group):
        try:
            found.append(entry.load())
        except Exception:
            logging.getLogger(__name__).exception("demo %r (%s) failed to load", entry.name, entry.value)
    return found


def _port_free(host: str, port: int) -> bool:
    """Whether a server may listen on `port` now. The probe binds as uvicorn does, with
    ``SO_REUSEADDR``: the connections a stopped ``make run`` leaves in TIME_WAIT (a browser tab
    still open) do not make its port look taken, so a restart serves on the same port."""
    from berth.wiring.serve import probe_listen

    try:
        probe_listen(host, port)
    except OSError:
        return False
    return True


def serving_port(host: str, port: int) -> int:
    """`port` when it is free on `host`, else a free one (and says which port was taken)."""
    if _port_free(host, port):
        return port
    with socket.socket() as sock:
        sock.bind((host, 0))
        free: int = sock.getsockname()[1]
    click.echo(f"port {port} is taken; using {free}")
    return free


def _first_row_request(version: Version) -> dict[str, Any]:
    example = version.input_example or {}
    inputs = [
        {**tensor, "shape": [1, *tensor["shape"][1:]], "data": tensor["data"][: _row_width(tensor)]}
        for tensor in example.get("inputs", [])
    ]
    return {"inputs": inputs}


def _row_width(tensor: dict[str, Any]) -> int:
    width = 1
    for dim in tensor["shape"][1:]:
        width *= int(dim)
    return width


def _install_demo_triggers(settings: Settings, demos: list[Any], every: int) -> None:
    from berth.cli.demo_triggers import install_triggers
    from berth.wiring.workspace import open_workspace

    bodies = [
        body
        for module in demos
        if hasattr(module, "retrain_triggers")
        for body in module.retrain_triggers(every)
    ]
    workspace = open_workspace(settings)
    try:
        for name in install_triggers(workspace.jobs, bodies):
            click.echo(f"trigger {name}: every {every} corrections")
    finally:
        workspace.close()


@click.command()
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), envvar="BERTH_HOME")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8080, show_default=True, envvar="BERTH_PORT")
@click.option(
    "--retrain-after",
    type=click.IntRange(1, 1_000_000),
    default=20,
    show_default=True,
    envvar="BERTH_RETRAIN_AFTER",
    help="Retrain The Voice every N analysts' corrections (env BERTH_RETRAIN_AFTER).",
)
def demo(home: Path | None, host: str, port: int, retrain_after: int) -> None:
    """Train and push the demo models (once), then serve them, with a worker that retrains The
    Voice every N corrections, until Ctrl-C."""
    from berth.cli.demo_models import push_demo_models
    from berth.cli.demo_worker import demo_worker
    from berth.core.settings import Settings
    from berth.wiring.serve import serve

    settings = Settings() if home is None else Settings(home=home)
    bank = push_demo_models(settings)
    demos = installed_demos()
    for module in demos:
        module.prepare(settings.home, click.echo)
    _install_demo_triggers(settings, demos, retrain_after)
    port = serving_port(host, port)
    url = f"http://{host}:{port}"
    body = orjson.dumps(_first_row_request(bank)).decode()
    try_it = [line for module in demos for line in module.try_it(url)]
    story = [
        line for module in demos if hasattr(module, "story") for line in module.story(url, retrain_after)
    ]
    with demo_worker(settings.home.resolve()) as worker:
        click.echo(_banner(settings, url, body, try_it, story, worker.pid))
        serve(settings.model_copy(update={"host": host, "port": port}))


def _banner(
    settings: Settings, url: str, body: str, try_it: list[str], story: list[str], worker_pid: int
) -> str:
    return (
        f"\nberth serves the demo models at {url}  (home: {settings.home.resolve()})\n"
        f"  web app:     {url}/ui/\n"
        f"  API docs:    {url}/docs\n"
        f"  models:      curl -s {url}/api/v1/models\n"
        f"  predict:     curl -s -X POST {url}/v2/models/bank-marketing/infer "
        f"-H 'content-type: application/json' -d '{body}'\n"
        + "".join(f"{line}\n" for line in try_it)
        + (
            f"The story, in three lines (a berth worker, pid {worker_pid}, runs the retraining):\n"
            if story
            else ""
        )
        + "".join(f"  {line}\n" for line in story)
        + "Ctrl-C stops it.\n"
    )
