"""``berth endpoint …`` and ``berth entities …``: endpoints and entity features from the command line."""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from berth.cli.home import chosen_home
from berth.cli.options import cli_token, echo_json, echo_table, read_json_arg, target_options, token_option
from berth.client.endpoints import Endpoints, open_endpoints
from berth.client.sdk import current_user
from berth.core.errors import BerthError, ErrorCode


@contextmanager
def endpoints(home: Path | None, url: str | None) -> Iterator[Endpoints]:
    home = chosen_home(home, url)
    client = open_endpoints(home=home, url=url, token=cli_token())
    try:
        yield client
    finally:
        client.close()


def _weights(pairs: tuple[str, ...]) -> dict[str, float]:
    """``TARGET=WEIGHT`` pairs (the weight defaults to 1)."""
    weights: dict[str, float] = {}
    for pair in pairs:
        target, sep, weight = pair.rpartition("=")
        if not sep:
            target, weight = pair, "1"
        try:
            weights[target] = float(weight)
        except ValueError:
            raise click.BadParameter(f"{pair!r}: the weight after '=' must be a number") from None
    return weights


def _summary(endpoint: dict[str, Any]) -> str:
    targets = ", ".join(f"{t['target']}={t['weight']:g}" for t in endpoint.get("targets", []))
    text = f"endpoint {endpoint['name']} revision {endpoint['revision']}: {targets}"
    canary = endpoint.get("canary")
    if canary:
        text += f"; canary {canary['target']} at {canary['weight']:g}%"
    shadows = endpoint.get("shadows")
    if shadows:
        text += "; shadows " + ", ".join(s["target"] for s in shadows)
    return text


@click.group()
def endpoint() -> None:
    """Endpoints: what callers call; traffic between versions, pipelines, canaries, rollback."""


@endpoint.command("create")
@click.argument("name")
@click.option(
    "--target", "targets", multiple=True, help="TARGET[=WEIGHT], e.g. churn@production=90 (repeatable)."
)
@click.option("--spec", "spec_json", help="The whole spec as JSON (inline or @file): targets, sticky, ….")
@click.option("--sticky-header", help="Header holding the sticky key (e.g. x-customer-id).")
@click.option("--sticky-field", help="Request parameter or one-row input holding the sticky key.")
@click.option("--shadow", "shadows", multiple=True, help="A shadow target (repeatable).")
@click.option(
    "--pipeline", "pipeline_json", help="Pipeline JSON (inline or @file): {'pre': [...], 'post': [...]}."
)
@click.option("--team", default="default", show_default=True)
@click.option("--description", default="")
@click.option("--reason", default="")
@target_options
def create(
    name: str,
    targets: tuple[str, ...],
    spec_json: str | None,
    sticky_header: str | None,
    sticky_field: str | None,
    shadows: tuple[str, ...],
    pipeline_json: str | None,
    team: str,
    description: str,
    reason: str,
    home: Path | None,
    url: str | None,
) -> None:
    """Create endpoint NAME from --target options (or a whole --spec)."""
    spec: dict[str, Any] = dict(read_json_arg(spec_json)) if spec_json else {}
    if targets:
        spec["targets"] = [{"target": t, "weight": w} for t, w in _weights(targets).items()]
    if sticky_header or sticky_field:
        spec["sticky"] = {k: v for k, v in (("header", sticky_header), ("field", sticky_field)) if v}
    if shadows:
        spec["shadows"] = [{"target": s} for s in shadows]
    if pipeline_json:
        spec["pipeline"] = read_json_arg(pipeline_json)
    if "targets" not in spec:
        raise click.UsageError("give at least one --target (or a --spec with targets)")
    with endpoints(home, url) as client:
        created = client.create(
            name, spec, team=team, description=description, actor=current_user(), reason=reason
        )
    click.echo(_summary(created))


@endpoint.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@target_options
def list_endpoints(as_json: bool, home: Path | None, url: str | None) -> None:
    """List endpoints."""
    with endpoints(home, url) as client:
        found = client.list_all()
    if as_json:
        echo_json(found)
        return
    rows = [
        {
            "name": e["name"],
            "team": e["team"],
            "revision": e["revision"],
            "targets": ", ".join(f"{t['target']}={t['weight']:g}" for t in e["targets"]),
            "canary": (e.get("canary") or {}).get("target", ""),
        }
        for e in found
    ]
    echo_table(rows, ["name", "team", "revision", "targets", "canary"])


@endpoint.command("show")
@click.argument("name")
@target_options
def show(name: str, home: Path | None, url: str | None) -> None:
    """Show an endpoint as JSON (with what the server serves for it, given --url)."""
    with endpoints(home, url) as client:
        echo_json(client.get(name))


@endpoint.command("set")
@click.argument("name")
@click.option("--spec", "spec_json", required=True, help="The new spec as JSON (inline or @file).")
@click.option("--revision", type=int, help="Refuse unless the endpoint is still at this revision.")
@click.option("--reason", default="")
@target_options
def set_spec(
    name: str, spec_json: str, revision: int | None, reason: str, home: Path | None, url: str | None
) -> None:
    """Replace an endpoint's spec (a new revision; roll it back with `berth endpoint rollback`)."""
    with endpoints(home, url) as client:
        changed = client.replace(
            name, read_json_arg(spec_json), expected_revision=revision, actor=current_user(), reason=reason
        )
    click.echo(_summary(changed))


@endpoint.command("weights")
@click.argument("name")
@click.argument("weights", nargs=-1, required=True)
@click.option("--reason", default="")
@target_options
def weights(name: str, weights: tuple[str, ...], reason: str, home: Path | None, url: str | None) -> None:
    """Set target weights: TARGET=WEIGHT … (a new target is added)."""
    with endpoints(home, url) as client:
        changed = client.set_weights(name, _weights(weights), actor=current_user(), reason=reason)
    click.echo(_summary(changed))


@endpoint.command("canary")
@click.argument("name")
@click.argument("target")
@click.option("--steps", default="5,25,50", show_default=True, help="Percentages, increasing.")
@click.option("--interval", "interval_s", type=float, default=60.0, show_default=True, help="Seconds a step.")
@click.option("--min-requests", type=int, default=100, show_default=True, help="Answers to judge a step.")
@click.option("--max-error-rate-increase", type=float, default=0.02, show_default=True)
@click.option("--max-latency-ratio", type=float, default=2.0, show_default=True)
@click.option("--reason", default="")
@target_options
def canary(
    name: str,
    target: str,
    steps: str,
    interval_s: float,
    min_requests: int,
    max_error_rate_increase: float,
    max_latency_ratio: float,
    reason: str,
    home: Path | None,
    url: str | None,
) -> None:
    """Start a canary: TARGET gets the first step's share, raised while healthy, rolled back if not."""
    try:
        percentages = [float(s) for s in steps.split(",") if s.strip()]
    except ValueError:
        raise click.BadParameter(f"--steps {steps!r}: comma-separated numbers") from None
    policy = {
        "target": target,
        "steps": percentages,
        "interval_s": interval_s,
        "min_requests": min_requests,
        "max_error_rate_increase": max_error_rate_increase,
        "max_latency_ratio": max_latency_ratio,
    }
    with endpoints(home, url) as client:
        changed = client.start_canary(name, policy, actor=current_user(), reason=reason)
    click.echo(_summary(changed))


@endpoint.command("promote")
@click.argument("name")
@click.option("--reason", default="")
@target_options
def promote(name: str, reason: str, home: Path | None, url: str | None) -> None:
    """Make the canary the only target now."""
    with endpoints(home, url) as client:
        click.echo(_summary(client.promote(name, actor=current_user(), reason=reason)))


@endpoint.command("rollback")
@click.argument("name")
@click.option("--reason", default="")
@target_options
def rollback(name: str, reason: str, home: Path | None, url: str | None) -> None:
    """Undo the newest change: a running canary is removed, else the previous spec comes back."""
    with endpoints(home, url) as client:
        click.echo(_summary(client.rollback(name, actor=current_user(), reason=reason)))


@endpoint.command("delete")
@click.argument("name")
@click.option("--reason", default="")
@target_options
def delete(name: str, reason: str, home: Path | None, url: str | None) -> None:
    """Delete an endpoint (its history stays)."""
    with endpoints(home, url) as client:
        client.delete(name, actor=current_user(), reason=reason)
    click.echo(f"deleted endpoint {name}")


@endpoint.command("history")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (with the spec before and after).")
@target_options
def history(name: str, as_json: bool, home: Path | None, url: str | None) -> None:
    """Every change of an endpoint, oldest first."""
    with endpoints(home, url) as client:
        events = client.history(name)
    if as_json:
        echo_json(events)
        return
    echo_table(
        [{k: e[k] for k in ("revision", "kind", "actor", "at", "reason")} for e in events],
        ["revision", "kind", "actor", "at", "reason"],
    )


@endpoint.command("stats")
@click.argument("name")
@click.option("--window", "window_s", type=float, default=60.0, show_default=True, help="Recent window, s.")
@click.option("--url", envvar="BERTH_URL", required=True, help="The server to ask (env BERTH_URL).")
@token_option
def stats(name: str, window_s: float, url: str) -> None:
    """Per-variant requests, errors and latency on one server."""
    with endpoints(None, url) as client:
        report = client.stats(name, window_s)
    rows = []
    for variant, entry in report["variants"].items():
        for period in ("recent", "total"):
            figures = entry[period]
            latency = figures["latency_ms"]
            rows.append(
                {
                    "variant": variant,
                    "period": period,
                    "requests": figures["requests"],
                    "errors": figures["errors"],
                    "p50_ms": latency["p50"],
                    "p99_ms": latency["p99"],
                }
            )
    echo_table(rows, ["variant", "period", "requests", "errors", "p50_ms", "p99_ms"])


@click.group()
def entities() -> None:
    """Entity features that endpoint look-up steps read (key -> features)."""


@entities.command("put")
@click.argument("table")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--key", "key_column", required=True, help="The column holding each entity's key.")
@click.option(
    "--team",
    default=None,
    help="The team that owns TABLE when it is new (default: the platform, administrators only).",
)
@target_options
def put_entities(
    table: str, file: Path, key_column: str, team: str | None, home: Path | None, url: str | None
) -> None:
    """Load entities' features from a CSV file (one row an entity) into TABLE."""
    rows = _read_entities(file, key_column)
    with endpoints(home, url) as client:
        written = sum(client.put_entities(table, chunk, team=team) for chunk in _chunks(rows, 5000))
    click.echo(f"wrote {written} entities to {table}")


def _read_entities(file: Path, key_column: str) -> dict[str, dict[str, Any]]:
    with file.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or key_column not in reader.fieldnames:
            raise BerthError(ErrorCode.INVALID_REQUEST, f"{file}: no column {key_column!r}")
        return {row[key_column]: {k: _value(v) for k, v in row.items() if k != key_column} for row in reader}


def _value(text: str | None) -> str | int | float | None:
    """A CSV cell as a number when it reads as one, None when empty, else the text."""
    if text is None or text == "":
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) else text


def _chunks(rows: dict[str, dict[str, Any]], size: int) -> Iterator[dict[str, dict[str, Any]]]:
    items = list(rows.items())
    for start in range(0, len(items), size):
        yield dict(items[start : start + size])
