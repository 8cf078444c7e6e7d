"""``berth push``, ``berth models …``, ``berth alias …``: the registry from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from berth.cli.options import (
    echo_json,
    echo_table,
    parse_metrics,
    parse_pairs,
    read_json_arg,
    registry,
    target_options,
)
from berth.client.sdk import current_user
from berth.core.entities import AliasEvent, PushRequest, Version, VersionMetadata
from berth.core.errors import BerthError, ErrorCode
from berth.core.model_cards import read_card
from berth.core.signature import Signature


def _load_example(path: Path) -> Any:
    """An input example from a CSV (a DataFrame) or a JSON file (an OIP request, or records)."""
    import pandas as pd

    from berth.control.examples import request_as_example

    if path.suffix.lower() == ".csv":
        return pd.read_csv(path)
    body = read_json_arg(f"@{path}")
    if isinstance(body, dict) and isinstance(body.get("inputs"), list):
        return request_as_example(body)
    if isinstance(body, list) and body and all(isinstance(r, dict) for r in body):
        return pd.DataFrame.from_records(body)
    raise BerthError(
        ErrorCode.INVALID_REQUEST, f"{path}: expected a CSV, an OIP request or a list of records"
    )


def _batching(max_batch_size: int | None, max_latency_ms: float | None, off: bool) -> dict[str, Any] | None:
    """The version's own batching settings from the push options; None when none was given."""
    given = {
        "max_batch_size": max_batch_size,
        "max_latency_ms": max_latency_ms,
        "enabled": False if off else None,
    }
    chosen = {k: v for k, v in given.items() if v is not None}
    return chosen or None


@click.command()
@click.argument("file", type=click.Path(exists=True, path_type=Path))
@click.option("--name", required=True, help="Model name (created on first push).")
@click.option("--alias", "aliases", multiple=True, help="Point this alias at the new version (repeatable).")
@click.option(
    "--trust-pickle", is_flag=True, help="Allow a pickle/joblib file or pyfunc code (runs code on load)."
)
@click.option("--metric", "metrics", multiple=True, help="k=v, a number (repeatable), e.g. accuracy=0.93.")
@click.option("--param", "params", multiple=True, help="k=v training parameter (repeatable).")
@click.option("--tag", "tags", multiple=True, help="k=v tag of the version (repeatable).")
@click.option("--team", default="default", show_default=True, help="Owning team (for a new model).")
@click.option("--description", default="", help="Model description (for a new model).")
@click.option("--docs", type=click.Path(exists=True, path_type=Path), help="Free-form Markdown docs.")
@click.option(
    "--card",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The model card: Markdown with '## Intended use' … headings, or JSON (docs/catalog.md).",
)
@click.option(
    "--visibility",
    type=click.Choice(["private", "discoverable"]),
    help="Set the model's visibility: private (its team) or discoverable (every team's catalog).",
)
@click.option("--contact", help="Set who to ask about the model (shown in the catalog).")
@click.option("--training-data", default="", help="Where the training data is (a reference).")
@click.option("--example", type=click.Path(exists=True, path_type=Path), help="Input example: CSV or JSON.")
@click.option("--signature", "signature_json", help="Signature JSON (inline or @file); default: inferred.")
@click.option("--max-batch-size", type=click.IntRange(min=1), help="This version's batch limit, in rows.")
@click.option("--max-batch-latency-ms", type=click.FloatRange(min=0), help="Most a batch waits under load.")
@click.option("--no-batching", is_flag=True, help="Run every request of this version on its own.")
@target_options
def push(
    file: Path,
    name: str,
    aliases: tuple[str, ...],
    trust_pickle: bool,
    metrics: tuple[str, ...],
    params: tuple[str, ...],
    tags: tuple[str, ...],
    team: str,
    description: str,
    docs: Path | None,
    card: Path | None,
    visibility: str | None,
    contact: str | None,
    training_data: str,
    example: Path | None,
    signature_json: str | None,
    max_batch_size: int | None,
    max_batch_latency_ms: float | None,
    no_batching: bool,
    home: Path | None,
    url: str | None,
) -> None:
    """Push FILE as a new version of a model; the flavor is detected from the file.

    FILE may be a model file, a pyfunc folder, or an MLflow model folder (with an MLmodel file:
    its sklearn, xgboost, lightgbm or onnx model is served by berth's own runtime, its signature
    and input example become the version's; docs/mlflow.md)."""
    request = PushRequest(
        name=name,
        team=team,
        description=description,
        metadata=VersionMetadata(
            metrics=parse_metrics(metrics),
            params=dict(parse_pairs(params, "--param")),
            docs=docs.read_text() if docs else "",
            training_data=training_data,
            tags=parse_pairs(tags, "--tag"),
            card=read_card(card) if card else None,
        ),
        signature=Signature.from_dict(read_json_arg(signature_json)) if signature_json else None,
        input_example=_load_example(example) if example else None,
        aliases=aliases,
        trusted=trust_pickle,
        pushed_by=current_user(),
        source="cli",
        batching=_batching(max_batch_size, max_batch_latency_ms, no_batching),
        visibility=visibility,
        contact=contact,
    )
    with registry(home, url) as reg:
        version = reg.push_file(file, request)
    suffix = f" ({', '.join(version.aliases)})" if version.aliases else ""
    sha = version.artifact.sha256[:12]
    click.echo(f"pushed {version.model} version {version.number}{suffix} [{version.flavor}, sha256 {sha}]")


@click.group()
def models() -> None:
    """List and inspect models."""


@models.command("list")
@click.option("--text", help="Search in names and descriptions.")
@click.option("--team", help="Only this team's models.")
@click.option("--tag", "tags", multiple=True, help="k=v; every one must match.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@target_options
def list_models(
    text: str | None,
    team: str | None,
    tags: tuple[str, ...],
    as_json: bool,
    home: Path | None,
    url: str | None,
) -> None:
    """List models."""
    with registry(home, url) as reg:
        found = reg.list_models(text=text, team=team, tags=parse_pairs(tags, "--tag"))
    rows = [
        {
            "name": m.name,
            "team": m.team,
            "latest": m.latest_version or "-",
            "aliases": ", ".join(f"{a}={v}" for a, v in sorted(m.aliases.items())) or "-",
            "description": m.description,
        }
        for m in found
    ]
    if as_json:
        echo_json(rows)
    else:
        echo_table(rows, ["name", "team", "latest", "aliases", "description"])


def _version_row(v: Version) -> dict[str, Any]:
    return {
        "version": v.number,
        "flavor": v.flavor,
        "aliases": ", ".join(v.aliases) or "-",
        "metrics": ", ".join(f"{k}={val:g}" for k, val in sorted(v.metadata.metrics.items())) or "-",
        "pushed_by": v.pushed_by or "-",
        "created": v.created_at.strftime("%Y-%m-%d %H:%M"),
        "sha256": v.artifact.sha256[:12],
    }


@models.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@target_options
def show_model(name: str, as_json: bool, home: Path | None, url: str | None) -> None:
    """Show a model and its versions."""
    with registry(home, url) as reg:
        model = reg.get_model(name)
        versions = reg.list_versions(name)
    if as_json:
        echo_json({"model": _model_dict(model), "versions": [_version_row(v) for v in versions]})
        return
    click.echo(f"{model.name}  (team {model.team})")
    if model.description:
        click.echo(f"  {model.description}")
    click.echo(f"  aliases: {', '.join(f'{a} -> v{v}' for a, v in sorted(model.aliases.items())) or '-'}")
    echo_table(
        [_version_row(v) for v in versions],
        ["version", "flavor", "aliases", "metrics", "pushed_by", "created", "sha256"],
    )


def _model_dict(model: Any) -> dict[str, Any]:
    fields = ("name", "team", "description", "tags", "latest_version", "aliases", "visibility", "contact")
    return {f: getattr(model, f) for f in (*fields, "task", "created_at", "updated_at")}


@models.command("version")
@click.argument("name")
@click.argument("ref", required=False)
@target_options
def show_version(name: str, ref: str | None, home: Path | None, url: str | None) -> None:
    """Show one version (number, alias or 'latest'; default: production, else latest) as JSON."""
    with registry(home, url) as reg:
        v = reg.get_version(name, ref)
    echo_json(
        {
            **_version_row(v),
            "model": v.model,
            "signature": v.signature.to_dict(),
            "metadata": {
                "metrics": v.metadata.metrics,
                "params": v.metadata.params,
                "feature_importance": v.metadata.feature_importance,
                "docs": v.metadata.docs,
                "training_data": v.metadata.training_data,
                "tags": v.metadata.tags,
                "card": v.metadata.card,
            },
            "sha256": v.artifact.sha256,
            "input_example": v.input_example,
            "classes": v.classes,
        }
    )


@click.group()
def alias() -> None:
    """Move aliases (production, staging, …) and read their history."""


def _event_line(e: AliasEvent) -> str:
    before = f"v{e.from_version}" if e.from_version is not None else "(new)"
    after = f"v{e.to_version}" if e.to_version is not None else "(deleted)"
    who = f" by {e.actor}" if e.actor else ""
    why = f" ({e.reason})" if e.reason else ""
    return f"{e.at.strftime('%Y-%m-%d %H:%M:%S')}  {e.model}@{e.alias}: {before} -> {after}{who}{why}"


@alias.command("set")
@click.argument("name")
@click.argument("alias_name", metavar="ALIAS")
@click.argument("version", type=int)
@click.option("--reason", default="", help="Why (kept in the history).")
@target_options
def set_alias(
    name: str, alias_name: str, version: int, reason: str, home: Path | None, url: str | None
) -> None:
    """Point ALIAS of model NAME at VERSION (rollback = set it back)."""
    with registry(home, url) as reg:
        event = reg.set_alias(name, alias_name, version, actor=current_user(), reason=reason)
    click.echo(_event_line(event))


@alias.command("delete")
@click.argument("name")
@click.argument("alias_name", metavar="ALIAS")
@click.option("--reason", default="", help="Why (kept in the history).")
@target_options
def delete_alias(name: str, alias_name: str, reason: str, home: Path | None, url: str | None) -> None:
    """Remove ALIAS from model NAME."""
    with registry(home, url) as reg:
        event = reg.delete_alias(name, alias_name, actor=current_user(), reason=reason)
    click.echo(_event_line(event))


@alias.command("history")
@click.argument("name")
@click.argument("alias_name", metavar="ALIAS", required=False)
@target_options
def alias_history(name: str, alias_name: str | None, home: Path | None, url: str | None) -> None:
    """Every move of ALIAS (or of every alias) of model NAME, oldest first."""
    with registry(home, url) as reg:
        events = reg.alias_history(name, alias_name)
    for event in events:
        click.echo(_event_line(event))
    if not events:
        click.echo("(no history)")
