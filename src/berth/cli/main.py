"""The ``berth`` command. Errors are printed as ``error [code]: message``, with an exit status that
says what kind of error it was (`berth.cli.exit_codes`: not found, refused, unreachable...).

Building the command tree imports every command module, so each keeps to click and the thin
clients at import time; what runs a command in this process (the server, the runtime, pandas, the
embedded registry behind ``--home``) is imported inside the command that needs it. That keeps
``berth --help`` and every ``--url`` command from paying for the platform
(``tests/client/test_import_cost.py``).
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path
from typing import Any

import click

from berth._version import __version__
from berth.cli.access_commands import access
from berth.cli.catalog_commands import catalog, endpoint_visibility, model_contact, model_visibility
from berth.cli.consumer_commands import add_consumer_commands
from berth.cli.db_commands import db
from berth.cli.demo import demo
from berth.cli.endpoint_commands import endpoint, entities
from berth.cli.exit_codes import INTERRUPTED, exit_status
from berth.cli.feature_commands import features
from berth.cli.group_commands import group
from berth.cli.home import embedded_home, init
from berth.cli.image_commands import image
from berth.cli.import_commands import import_group
from berth.cli.inbox_commands import inbox
from berth.cli.job_commands import job, trigger
from berth.cli.monitor_commands import alert, monitor
from berth.cli.predict_command import predict
from berth.cli.record_commands import feedback, records
from berth.cli.registry_commands import alias, models, push
from berth.cli.security_commands import audit, team, token
from berth.cli.worker_command import worker
from berth.client.transport import BerthDeprecationWarning
from berth.core.errors import BerthError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="berth")
def cli() -> None:
    """berth: push a trained model once; every team calls it as a service."""


@cli.command()
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="BERTH_HOME",
    help="Home folder (env BERTH_HOME; default ./.berth, which must be there: berth init).",
)
@click.option("--host", default=None, help="Address to bind (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="REST port (default 8080).")
@click.option(
    "--grpc-port", type=int, default=None, help="gRPC port (Open Inference Protocol V2; default: no gRPC)."
)
@click.option(
    "--database-url", default=None, help="Registry database URL (default: SQLite in the home folder)."
)
@click.option(
    "--workers",
    type=click.IntRange(0, 64),
    default=None,
    help="Server processes sharing the ports (default 1; 0: one per CPU core, at most 4).",
)
@click.option("--log-level", default=None, help="debug, info, warning or error.")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default=None,
    help="text (default) or json: one JSON object per line, with the request id (docs/metrics.md).",
)
@click.option(
    "--auth",
    default=None,
    help="off, tokens, oidc or tokens,oidc (env BERTH_AUTH; default off, loopback only).",
)
@click.option(
    "--role",
    type=click.Choice(["all", "data", "api", "gateway", "monitor"]),
    default=None,
    help="all (default: one machine), data (inference for one serving group), api (management API"
    " and web app), gateway (the one address callers use) or monitor (records into the record store,"
    " alert rules; health endpoints on --port); docs/scaling.md.",
)
@click.option(
    "--group", default=None, help="The serving group whose models to load (role data: default 'default')."
)
@click.option(
    "--advertise-url", default=None, help="Where the gateway reaches this replica (default http://host:port)."
)
@click.option(
    "--advertise-grpc",
    default=None,
    help="host:port where the gateway reaches this replica's gRPC port (default: advertise-url's host"
    " and --grpc-port).",
)
@click.option(
    "--model-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Serve the one model in this folder (berth-model.json + its artifact; KServe's /mnt/models):"
    " no registry database, no management API; docs/image.md.",
)
@click.option(
    "--model-name",
    default=None,
    help="With --model-dir: serve the model under this name, not its manifest's (KServe calls it by"
    " the InferenceService's name).",
)
@click.option(
    "--trust-pickle",
    is_flag=True,
    help="With --model-dir: serve a model whose manifest says it needs trust (runs code on load).",
)
def serve(
    home: Path | None,
    host: str | None,
    port: int | None,
    grpc_port: int | None,
    database_url: str | None,
    workers: int | None,
    log_level: str | None,
    log_format: str | None,
    auth: str | None,
    role: str | None,
    group: str | None,
    advertise_url: str | None,
    advertise_grpc: str | None,
    model_dir: Path | None,
    model_name: str | None,
    trust_pickle: bool,
) -> None:
    """Serve every model in the registry over REST (Open Inference Protocol V2 and /api/v1), and over
    gRPC (Open Inference Protocol V2) with --grpc-port. With --role and --group, one role of a
    platform on many machines (docs/scaling.md)."""
    from berth.core.settings import Settings
    from berth.wiring.serve import serve as run_server

    if model_dir is None and database_url is None and (role or os.environ.get("BERTH_ROLE")) != "gateway":
        home = embedded_home(home)  # serves a registry that is there, or one named: never a new ./.berth
    overrides: dict[str, Any] = {
        "home": home,
        "host": host,
        "port": port,
        "grpc_port": grpc_port,
        "database_url": database_url,
        "workers": workers,
        "log_level": log_level,
        "log_format": log_format,
        "auth": auth,
        "role": role,
        "serving_group": group,
        "advertise_url": advertise_url,
        "advertise_grpc": advertise_grpc,
    }
    settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    if model_dir is not None:
        from berth.wiring.model_dir import serve_model_dir

        serve_model_dir(settings, model_dir, trust=trust_pickle, name=model_name)
        return
    if trust_pickle or model_name is not None:
        raise click.UsageError("--trust-pickle and --model-name go with --model-dir")
    run_server(settings)


cli.add_command(init)
cli.add_command(push)
cli.add_command(models)
models.add_command(model_visibility)
models.add_command(model_contact)
endpoint.add_command(endpoint_visibility)
cli.add_command(catalog)
cli.add_command(alias)
cli.add_command(predict)
cli.add_command(demo)
cli.add_command(endpoint)
cli.add_command(inbox)
cli.add_command(entities)
cli.add_command(features)
cli.add_command(token)
cli.add_command(team)
cli.add_command(audit)
cli.add_command(access)
cli.add_command(worker)
cli.add_command(job)
cli.add_command(trigger)
cli.add_command(records)
cli.add_command(feedback)
cli.add_command(monitor)
cli.add_command(alert)
cli.add_command(group)
cli.add_command(db)
cli.add_command(image)
cli.add_command(import_group)
add_consumer_commands(models, endpoint=False)
add_consumer_commands(endpoint, endpoint=True)


_python_show_warning = warnings.showwarning


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    """A deprecated model's warning as one line on stderr (others as Python shows them)."""
    if issubclass(category, BerthDeprecationWarning):
        click.echo(f"warning: {message}", err=True)
        return
    _python_show_warning(message, category, filename, lineno, file, line)


def main() -> None:
    warnings.showwarning = _show_warning
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except BerthError as exc:
        click.echo(f"error [{exc.code.value}]: {exc.message}", err=True)
        sys.exit(exit_status(exc.code))
