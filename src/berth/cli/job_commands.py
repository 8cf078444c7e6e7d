"""``berth job …`` and ``berth trigger …``: background jobs and their triggers from the command line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from berth.cli.home import chosen_home
from berth.cli.options import cli_token, echo_json, echo_table, parse_pairs, read_json_arg, target_options
from berth.client.jobs import Jobs, open_jobs
from berth.client.sdk import current_user
from berth.core.errors import BerthError, ErrorCode
from berth.core.jobs import JobStatus

BAR_WIDTH = 30
_PARAM_HELP = "KEY=VALUE (VALUE as JSON when it parses; repeatable)."


@contextmanager
def jobs_client(home: Path | None, url: str | None) -> Iterator[Jobs]:
    home = chosen_home(home, url)
    client = open_jobs(home=home, url=url, token=cli_token())
    try:
        yield client
    finally:
        client.close()


def _param_value(text: str) -> Any:
    """A ``--param`` value: JSON when it parses (numbers, lists, true), else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def progress_bar(fraction: float) -> str:
    filled = round(max(0.0, min(fraction, 1.0)) * BAR_WIDTH)
    return f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {fraction * 100:5.1f}%"


def _line(job: dict[str, Any]) -> dict[str, Any]:
    return job | {"progress": f"{job['progress'] * 100:.0f}%", "created_at": job["created_at"][:19]}


@click.group()
def job() -> None:
    """Background jobs: enqueue, follow, cancel (``berth worker`` runs them)."""


@job.command("run")
@click.argument("kind")
@click.option("--param", "params", multiple=True, help=_PARAM_HELP)
@click.option("--params", "params_json", help="All parameters as a JSON object (inline, @file or -).")
@click.option("--priority", type=int, default=0, show_default=True, help="Higher runs first.")
@click.option("--max-attempts", type=int, default=3, show_default=True)
@click.option("--reason", default="")
@target_options
def run_job(
    kind: str,
    params: tuple[str, ...],
    params_json: str | None,
    priority: int,
    max_attempts: int,
    reason: str,
    home: Path | None,
    url: str | None,
) -> None:
    """Enqueue a job of KIND (e.g. batch-score); prints its id."""
    values: dict[str, Any] = {}
    if params_json:
        loaded = read_json_arg(params_json)
        if not isinstance(loaded, dict):
            raise click.BadParameter("--params must be a JSON object", param_hint="--params")
        values.update(loaded)
    values.update({k: _param_value(v) for k, v in parse_pairs(params, "--param").items()})
    with jobs_client(home, url) as client:
        try:
            queued = client.enqueue(
                kind,
                values,
                priority=priority,
                max_attempts=max_attempts,
                actor=current_user(),
                reason=reason,
            )
        except BerthError as exc:
            raise _with_hint(exc, values) from None
    click.echo(f"job {queued['id']} queued ({queued['kind']})")


def _with_hint(error: BerthError, values: dict[str, Any]) -> BerthError:
    """A job input missing from the home but here, in the current folder: say to copy it there."""
    given = values.get("input")
    if error.code is not ErrorCode.JOB_INPUT_NOT_FOUND or not isinstance(given, str):
        return error
    if not Path(given).exists():
        return error
    return BerthError(
        error.code,
        f"{error.message}; {given!r} is in this folder: copy it into the home folder first",
        **error.details,
    )


@job.command("list")
@click.option("--status", type=click.Choice([s.value for s in JobStatus]))
@click.option("--kind")
@click.option("--trigger")
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@target_options
def list_jobs(
    status: str | None,
    kind: str | None,
    trigger: str | None,
    limit: int,
    as_json: bool,
    home: Path | None,
    url: str | None,
) -> None:
    """List jobs, newest first."""
    with jobs_client(home, url) as client:
        found = client.list_jobs(status=status, kind=kind, trigger=trigger, limit=limit)
    if as_json:
        echo_json(found)
        return
    echo_table([_line(j) for j in found], ["id", "kind", "status", "progress", "trigger", "created_at"])


@job.command("show")
@click.argument("job_id", type=click.IntRange(1))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@target_options
def show(job_id: int, as_json: bool, home: Path | None, url: str | None) -> None:
    """One job: status, a progress bar, its result or error."""
    with jobs_client(home, url) as client:
        found = client.get(job_id)
    if as_json:
        echo_json(found)
        return
    click.echo(
        f"job {found['id']} {found['kind']}: {found['status']} (attempt {found['attempts']} of "
        f"{found['max_attempts']})"
    )
    click.echo(f"progress {progress_bar(found['progress'])} {found['progress_message']}".rstrip())
    click.echo(f"params   {json.dumps(found['params'])}")
    if found["claimed_by"]:
        click.echo(f"worker   {found['claimed_by']}")
    if found["result"] is not None:
        click.echo(f"result   {json.dumps(found['result'])}")
    if found["error"]:
        click.echo(f"error    {found['error']}")


@job.command("cancel")
@click.argument("job_id", type=click.IntRange(1))
@target_options
def cancel(job_id: int, home: Path | None, url: str | None) -> None:
    """Cancel a queued or running job."""
    with jobs_client(home, url) as client:
        found = client.cancel(job_id)
    click.echo(f"job {found['id']} {found['status']}")


@click.group()
def trigger() -> None:
    """Triggers: enqueue a job kind on demand, on a schedule, on corrections or on an alert."""


@trigger.command("add")
@click.argument("name")
@click.argument("kind")
@click.option("--param", "params", multiple=True, help=_PARAM_HELP)
@click.option("--every", "every_s", type=click.IntRange(1), help="Fire every so many seconds.")
@click.option("--on-corrections", help="ENDPOINT=N: fire when N new corrections arrived for ENDPOINT.")
@click.option("--on-alert", help="Fire when this alert rule fires.")
@click.option("--disabled", is_flag=True, help="Add it disabled.")
@target_options
def add(
    name: str,
    kind: str,
    params: tuple[str, ...],
    every_s: int | None,
    on_corrections: str | None,
    on_alert: str | None,
    disabled: bool,
    home: Path | None,
    url: str | None,
) -> None:
    """Add trigger NAME that enqueues jobs of KIND."""
    body: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "params": {k: _param_value(v) for k, v in parse_pairs(params, "--param").items()},
        "enabled": not disabled,
    }
    if every_s is not None:
        body["every_s"] = every_s
    if on_corrections:
        endpoint, sep, count = on_corrections.rpartition("=")
        if not sep or not endpoint or not count.isdigit():
            raise click.BadParameter("expected ENDPOINT=N", param_hint="--on-corrections")
        body |= {"corrections_endpoint": endpoint, "corrections_count": int(count)}
    if on_alert:
        body["alert_rule"] = on_alert
    with jobs_client(home, url) as client:
        added = client.add_trigger(body, actor=current_user())
    click.echo(f"trigger {added['name']} added ({added['kind']})")


@trigger.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@target_options
def list_triggers(as_json: bool, home: Path | None, url: str | None) -> None:
    """List triggers."""
    with jobs_client(home, url) as client:
        found = client.list_triggers()
    if as_json:
        echo_json(found)
        return
    rows = [t | {"when": _when(t), "last_fired_at": (t["last_fired_at"] or "")[:19]} for t in found]
    echo_table(rows, ["name", "kind", "enabled", "when", "last_fired_at"])


def _when(t: dict[str, Any]) -> str:
    parts = []
    if t["every_s"]:
        parts.append(f"every {t['every_s']}s")
    if t["corrections_endpoint"]:
        parts.append(f"{t['corrections_count']} corrections of {t['corrections_endpoint']}")
    if t["alert_rule"]:
        parts.append(f"alert {t['alert_rule']}")
    return ", ".join(parts) or "on demand"


@trigger.command("enable")
@click.argument("name")
@target_options
def enable(name: str, home: Path | None, url: str | None) -> None:
    """Enable a trigger."""
    with jobs_client(home, url) as client:
        client.set_trigger_enabled(name, True)
    click.echo(f"trigger {name} enabled")


@trigger.command("disable")
@click.argument("name")
@target_options
def disable(name: str, home: Path | None, url: str | None) -> None:
    """Disable a trigger (it fires no more until enabled)."""
    with jobs_client(home, url) as client:
        client.set_trigger_enabled(name, False)
    click.echo(f"trigger {name} disabled")


@trigger.command("delete")
@click.argument("name")
@target_options
def delete(name: str, home: Path | None, url: str | None) -> None:
    """Delete a trigger (the jobs it enqueued stay)."""
    with jobs_client(home, url) as client:
        client.delete_trigger(name)
    click.echo(f"trigger {name} deleted")


@trigger.command("fire")
@click.argument("name")
@click.option("--reason", default="")
@target_options
def fire(name: str, reason: str, home: Path | None, url: str | None) -> None:
    """Fire a trigger now; prints the job it enqueued."""
    with jobs_client(home, url) as client:
        queued = client.fire_trigger(name, reason, actor=current_user())
    click.echo(f"job {queued['id']} queued ({queued['kind']})")
