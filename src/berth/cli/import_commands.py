"""``berth import mlflow``: copy model versions from another registry into berth."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from berth.cli.options import registry, target_options
from berth.client.sdk import current_user


@click.group("import")
def import_group() -> None:
    """Copy models from another registry into berth."""


@import_group.command("mlflow")
@click.argument("model_uri")
@click.option(
    "--tracking-uri",
    envvar="MLFLOW_TRACKING_URI",
    required=True,
    help="The MLflow tracking server, http(s)://host:port (env MLFLOW_TRACKING_URI); credentials "
    "from MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME/PASSWORD.",
)
@click.option("--name", help="The berth model name (default: the MLflow model's name).")
@click.option("--team", default="default", show_default=True, help="Owning team (for a new model).")
@click.option(
    "--alias", "aliases", multiple=True, help="Point this berth alias at the new version (repeatable)."
)
@click.option(
    "--trust-pickle",
    is_flag=True,
    help="Allow a pickled model (or skops types berth does not allow by itself).",
)
@target_options
def mlflow(
    model_uri: str,
    tracking_uri: str,
    name: str | None,
    team: str,
    aliases: tuple[str, ...],
    trust_pickle: bool,
    home: Path | None,
    url: str | None,
) -> None:
    """Copy MODEL_URI (models:/NAME/VERSION or models:/NAME@ALIAS) from an MLflow Model Registry
    into berth as a new version, with its run's metrics and params, its tags and its description.

    The model's files are downloaded through the tracking server's artifact proxy and pushed like
    `berth push DIR`: served by berth's own runtimes (sklearn, xgboost, lightgbm, onnx)."""
    from berth.client.mlflow_import import MlflowRegistry, ModelRef, credentials_from_env, import_version

    ref = ModelRef.parse(model_uri)
    with (
        tempfile.TemporaryDirectory(prefix="berth-mlflow-") as work,
        MlflowRegistry(tracking_uri, headers=credentials_from_env()) as source,
        registry(home, url) as reg,
    ):
        version = import_version(
            reg,
            source,
            ref,
            workdir=Path(work),
            name=name,
            team=team,
            aliases=aliases,
            trusted=trust_pickle,
            pushed_by=current_user(),
        )
    sha = version.artifact.sha256[:12]
    click.echo(
        f"imported {model_uri} as {version.model} version {version.number} [{version.flavor}, sha256 {sha}]"
    )
