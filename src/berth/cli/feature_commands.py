"""``berth features …``: feature views from the command line (docs/features.md)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from berth.cli.home import chosen_home
from berth.cli.job_commands import progress_bar
from berth.cli.options import cli_token, echo_json, echo_table, target_options
from berth.cli.record_commands import parse_since, records_client
from berth.client.features import Features, open_features

PUT_CHUNK = 5000


@contextmanager
def _client(home: Path | None, url: str | None) -> Iterator[Features]:
    client = open_features(home=chosen_home(home, url), url=url, token=cli_token())
    try:
        yield client
    finally:
        client.close()


@click.group("features")
def features() -> None:
    """Feature views: features of entities (customers, accounts) that endpoints look up by key."""


@features.command("create")
@click.argument("name")
@click.option("--entity", required=True, help="The entity key's name (e.g. customer_id).")
@click.option(
    "--feature",
    "feature_specs",
    multiple=True,
    required=True,
    help="NAME:DTYPE (float64, int64, string, bool).",
)
@click.option(
    "--source", default="embedded:", show_default=True, help="embedded:, redis://…, feast+http://…."
)
@click.option("--ttl", "ttl_s", type=float, default=None, help="Serve values at most this old (seconds).")
@click.option("--on-miss", type=click.Choice(["null", "defaults", "refuse"]), default="null")
@click.option("--on-unavailable", type=click.Choice(["fail", "defaults"]), default="fail", show_default=True)
@click.option("--default", "default_specs", multiple=True, help="NAME=VALUE (a JSON value).")
@click.option("--budget-ms", type=float, default=50.0, help="The look-up's latency budget (default 50).")
@click.option("--description", default="")
@click.option(
    "--offline",
    default=None,
    help="The view's history: a Parquet file or folder (a path in the berth home, or s3://...).",
)
@click.option(
    "--timestamp-field",
    default="event_timestamp",
    show_default=True,
    help="The history's event-time column (a timestamp, or unix seconds).",
)
@click.option("--team", default="default", show_default=True, help="The team that owns the view.")
@target_options
def create(
    name: str,
    entity: str,
    feature_specs: tuple[str, ...],
    source: str,
    ttl_s: float | None,
    on_miss: str,
    on_unavailable: str,
    default_specs: tuple[str, ...],
    budget_ms: float,
    description: str,
    offline: str | None,
    timestamp_field: str,
    team: str,
    home: Path | None,
    url: str | None,
) -> None:
    """Define feature view NAME."""
    spec = {
        "name": name,
        "entity": entity,
        "features": dict(_pair(s, ":") for s in feature_specs),
        "source": source,
        "ttl_s": ttl_s,
        "on_miss": on_miss,
        "on_unavailable": on_unavailable,
        "defaults": {k: _json_value(v) for k, v in (_pair(s, "=") for s in default_specs)},
        "budget_ms": budget_ms,
        "description": description,
        "offline": offline,
        "timestamp_field": timestamp_field,
    }
    with _client(home, url) as client:
        view = client.create_view(spec, team=team)
    click.echo(f"created feature view {view['name']} ({len(view['features'])} features, {view['source']})")


@features.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@target_options
def list_views(as_json: bool, home: Path | None, url: str | None) -> None:
    """The feature views (those the caller may read)."""
    with _client(home, url) as client:
        found = client.views()
    if as_json:
        echo_json(found)
        return
    rows = [
        {
            "name": v["name"],
            "team": v["team"],
            "entity": v["entity"],
            "features": len(v["features"]),
            "source": v["source"],
            "ttl_s": v["ttl_s"] if v["ttl_s"] is not None else "-",
            "on_miss": v["on_miss"],
            "on_unavailable": v["on_unavailable"],
        }
        for v in found
    ]
    echo_table(rows, ["name", "team", "entity", "features", "source", "ttl_s", "on_miss", "on_unavailable"])


@features.command("show")
@click.argument("name")
@target_options
def show(name: str, home: Path | None, url: str | None) -> None:
    """A view's definition (JSON)."""
    with _client(home, url) as client:
        echo_json(client.view(name))


@features.command("update")
@click.argument("name")
@click.argument("changes")
@target_options
def update(name: str, changes: str, home: Path | None, url: str | None) -> None:
    """Change a view: CHANGES is a JSON object, e.g. '{"ttl_s": 3600, "budget_ms": 20}'."""
    with _client(home, url) as client:
        echo_json(client.update_view(name, json.loads(changes)))


@features.command("delete")
@click.argument("name")
@target_options
def delete(name: str, home: Path | None, url: str | None) -> None:
    """Delete a view no endpoint reads (its values stay in its store)."""
    with _client(home, url) as client:
        client.delete_view(name)
    click.echo(f"deleted feature view {name}")


@features.command("put")
@click.argument("name")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--key", "key_column", default=None, help="The key column (default: the view's entity).")
@target_options
def put(name: str, file: Path, key_column: str | None, home: Path | None, url: str | None) -> None:
    """Write FILE (.csv or .parquet, one row an entity) into view NAME, with a progress bar.

    Columns that are features of the view are written (typed by the view); others are ignored."""
    with _client(home, url) as client:
        view = client.view(name)
        key_column = key_column or view["entity"]
        table = _read_table(file, key_column, view["features"])
        ignored = [c for c in table.column_names if c != key_column and c not in view["features"]]
        if ignored:
            click.echo(f"ignored columns (not features of {name}): {', '.join(ignored[:10])}", err=True)
        columns = [c for c in table.column_names if c in view["features"]]
        written = 0
        with click.progressbar(length=table.num_rows, label=f"writing {name}", file=sys.stderr) as bar:
            for batch in table.to_batches(max_chunksize=PUT_CHUNK):
                data = batch.to_pydict()
                keys = data[key_column]
                rows = {
                    str(k): {c: data[c][i] for c in columns}
                    for i, k in enumerate(keys)
                    if k is not None and k != ""
                }
                written += client.put(name, rows)
                bar.update(batch.num_rows)
    click.echo(f"wrote {written} entities to {name}")


@features.command("get")
@click.argument("name")
@click.argument("keys", nargs=-1, required=True)
@target_options
def get(name: str, keys: tuple[str, ...], home: Path | None, url: str | None) -> None:
    """The stored values of KEYS in view NAME (JSON; no TTL or default applied)."""
    with _client(home, url) as client:
        echo_json(client.read(name, keys))


@features.command("training-set")
@click.argument("endpoint")
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="The Parquet file to write."
)
@click.option("--start", default=None, help="From: 15m, 2h, 7d ago, or an ISO 8601 time.")
@click.option("--end", default=None, help="To (exclusive): an ISO 8601 time.")
@click.option("--with-feedback-only", is_flag=True, help="Only predictions that got feedback.")
@click.option(
    "--join",
    "joins",
    multiple=True,
    help="VIEW[:f1,f2,...]: add the view's features as of each prediction's time, from its offline "
    "history (columns VIEW.feature; repeatable).",
)
@click.option(
    "--join-key",
    "join_keys",
    multiple=True,
    help="The column holding each row's key (default: the view's entity); once for every --join, "
    "or once per --join in order.",
)
@target_options
def training_set(
    endpoint: str,
    out: Path,
    start: str | None,
    end: str | None,
    with_feedback_only: bool,
    joins: tuple[str, ...],
    join_keys: tuple[str, ...],
    home: Path | None,
    url: str | None,
) -> None:
    """A training set from ENDPOINT's records: one row per predicted row, the model inputs as served
    (feature values as they were read), features joined as of each prediction, the prediction and
    the feedback label."""
    specs = _joins(joins, join_keys)
    with records_client(home, url) as client:
        written = client.training_set(
            out,
            endpoint,
            start=parse_since(start),
            end=end,
            with_feedback_only=with_feedback_only,
            join=specs,
        )
    click.echo(f"wrote {written['rows']} rows ({written['records']} predictions) to {out}")


def _joins(joins: tuple[str, ...], keys: tuple[str, ...]) -> list[dict[str, Any]]:
    if keys and len(keys) not in (1, len(joins)):
        raise click.BadParameter("give --join-key once, or once per --join", param_hint="--join-key")
    specs = []
    for index, text in enumerate(joins):
        view, _, names = text.partition(":")
        if not view:
            raise click.BadParameter(f"expected VIEW[:f1,f2,...], got {text!r}", param_hint="--join")
        features = [n for n in names.split(",") if n] or None
        key = keys[0] if len(keys) == 1 else keys[index] if keys else None
        specs.append({"view": view, "features": features, "key": key})
    return specs


@features.command("materialize")
@click.argument("name")
@click.option("--as-of", default=None, help="Values as of this time: ISO 8601 (default: now).")
@click.option("--since", default=None, help="Only history rows from: 15m, 2h, 7d ago, or an ISO 8601 time.")
@click.option("--wait", is_flag=True, help="Wait for the job, with a progress bar on stderr.")
@target_options
def materialize(
    name: str, as_of: str | None, since: str | None, wait: bool, home: Path | None, url: str | None
) -> None:
    """Write each entity's latest values from view NAME's offline history into its online store: a
    job (``berth worker`` runs it)."""
    with _client(home, url) as client:
        job = client.materialize(name, as_of=parse_since(as_of), since=parse_since(since))
        click.echo(f"job {job['id']} queued (features-materialize {name})")
        if not wait:
            return
        pause = 0.1
        while job["status"] in ("queued", "running"):
            click.echo(
                f"\r{progress_bar(job['progress'])} {job['progress_message']}".ljust(100), nl=False, err=True
            )
            time.sleep(pause)
            pause = min(pause * 2, 1.0)
            job = client.materialize_job(name, int(job["id"]))
        click.echo(f"\r{progress_bar(job['progress'])} {job['progress_message']}".ljust(100), err=True)
    if job["status"] != "succeeded":
        raise click.ClickException(f"job {job['id']} {job['status']}: {job.get('error')}")
    result = job.get("result") or {}
    click.echo(f"wrote {result.get('entities')} entities to {name} (as of {result.get('as_of')})")


def _pair(text: str, sep: str) -> tuple[str, str]:
    name, found, value = text.partition(sep)
    if not found or not name:
        raise click.BadParameter(f"expected NAME{sep}VALUE, got {text!r}")
    return name, value


def _json_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _read_table(file: Path, key_column: str, dtypes: dict[str, str]) -> Any:
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    arrow = {"float64": pa.float64(), "int64": pa.int64(), "string": pa.string(), "bool": pa.bool_()}
    if file.suffix.lower() == ".parquet":
        table = pq.read_table(file)
    elif file.suffix.lower() in (".csv", ".gz"):
        types = {key_column: pa.string(), **{n: arrow[d] for n, d in dtypes.items()}}
        table = pcsv.read_csv(
            file, convert_options=pcsv.ConvertOptions(column_types=types, strings_can_be_null=True)
        )
    else:
        raise click.BadParameter(f"{file.name}: use a .csv or .parquet file", param_hint="FILE")
    if key_column not in table.column_names:
        raise click.BadParameter(f"{file.name} has no column {key_column!r}", param_hint="--key")
    return table
