"""``berth records …`` and ``berth feedback …``: what was predicted, and the truth given back."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from berth.cli.home import chosen_home
from berth.cli.options import cli_token, echo_json, echo_table, target_options
from berth.client.records import Records, open_records
from berth.core.errors import BerthError, ErrorCode

FEEDBACK_CHUNK = 1000
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@contextmanager
def records_client(home: Path | None, url: str | None) -> Iterator[Records]:
    home = chosen_home(home, url)
    client = open_records(home=home, url=url, token=cli_token())
    try:
        yield client
    finally:
        client.close()


def parse_since(text: str | None) -> str | None:
    """``15m``, ``2h``, ``7d`` (that long ago) or an ISO 8601 time, as an ISO 8601 time."""
    if text is None:
        return None
    unit = _UNITS.get(text[-1:])
    if unit is not None and text[:-1].isdigit():
        return (datetime.now(UTC) - timedelta(seconds=int(text[:-1]) * unit)).isoformat()
    return text


def filter_options(fn: Any) -> Any:
    for name, help_text in reversed(
        [
            ("--endpoint", "The endpoint (or model name) called."),
            ("--model", "The model that answered."),
            ("--variant", "The variant that answered (e.g. churn:3)."),
            ("--entity", "The entity key (a customer, an account)."),
            ("--since", "From: 15m, 2h, 7d ago, or an ISO 8601 time."),
            ("--until", "To (exclusive): an ISO 8601 time."),
        ]
    ):
        fn = click.option(name, default=None, help=help_text)(fn)
    fn = click.option(
        "--version", "version_number", type=int, default=None, help="The version that answered."
    )(fn)
    return fn


def _filters(
    endpoint: str | None,
    model: str | None,
    variant: str | None,
    entity: str | None,
    since: str | None,
    until: str | None,
    version_number: int | None,
) -> dict[str, Any]:
    return {
        "endpoint": endpoint,
        "model": model,
        "version": version_number,
        "variant": variant,
        "entity_key": entity,
        "start": parse_since(since),
        "end": until,
    }


@click.group()
def records() -> None:
    """Prediction records: what every model answered, with the feedback it got."""


@records.command("list")
@filter_options
@click.option(
    "--feedback/--no-feedback", "has_feedback", default=None, help="Only with (or without) feedback."
)
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option(
    "--needs-review",
    is_flag=True,
    help="Those awaiting a correction, the most instructive first (uncertain, spread over categories).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON.")
@target_options
def list_records(
    endpoint: str | None,
    model: str | None,
    variant: str | None,
    entity: str | None,
    since: str | None,
    until: str | None,
    version_number: int | None,
    has_feedback: bool | None,
    limit: int,
    needs_review: bool,
    as_json: bool,
    home: Path | None,
    url: str | None,
) -> None:
    """The newest records first (--needs-review: those a correction would teach most)."""
    filters = _filters(endpoint, model, variant, entity, since, until, version_number)
    if needs_review:
        filters["order"] = "needs_review"
    with records_client(home, url) as client:
        page = client.list(limit=limit, has_feedback=has_feedback, **filters)
    if as_json:
        echo_json(page)
        return
    echo_table(
        [_row(r) for r in page["records"]],
        ["prediction_id", "recorded_at", "endpoint", "variant", "outputs", "feedback"],
    )
    if page.get("next_cursor"):
        click.echo(f"(more: --json gives the cursor {page['next_cursor']})")


def _row(record: dict[str, Any]) -> dict[str, Any]:
    outputs = ", ".join(f"{k}={_short(v.get('data'))}" for k, v in record["outputs"].items())
    fb = record.get("feedback")
    truth = "" if fb is None else (fb["label"] if fb["label"] is not None else fb["value"])
    return {
        "prediction_id": record["prediction_id"],
        "recorded_at": record["recorded_at"][:23],
        "endpoint": record["endpoint"],
        "variant": record["variant"] or f"{record['model']}:{record['version']}",
        "outputs": outputs[:60],
        "feedback": truth,
    }


def _short(data: Any) -> str:
    if isinstance(data, list) and len(data) == 1:
        return str(data[0])
    return json.dumps(data)[:30]


@records.command("show")
@click.argument("prediction_id")
@target_options
def show(prediction_id: str, home: Path | None, url: str | None) -> None:
    """Every record of one prediction id (its shadow answers too), as JSON."""
    with records_client(home, url) as client:
        echo_json(client.get(prediction_id))


@records.command("export")
@filter_options
@click.option(
    "--feedback/--no-feedback", "has_feedback", default=None, help="Only with (or without) feedback."
)
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="The Parquet file to write."
)
@target_options
def export(
    endpoint: str | None,
    model: str | None,
    variant: str | None,
    entity: str | None,
    since: str | None,
    until: str | None,
    version_number: int | None,
    has_feedback: bool | None,
    out: Path,
    home: Path | None,
    url: str | None,
) -> None:
    """Export the selected records (with their feedback) to a Parquet file."""
    filters = _filters(endpoint, model, variant, entity, since, until, version_number)
    with records_client(home, url) as client:
        info = client.export(out, has_feedback=has_feedback, **filters)
    click.echo(f"exported {info['rows']} records to {out} (export {info['id']})")


@records.command("delete")
@click.option("--entity", required=True, help="The entity key whose data is erased everywhere.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@target_options
def delete(entity: str, yes: bool, home: Path | None, url: str | None) -> None:
    """Erase an entity (right to be forgotten): its records, feedback, journal lines and export rows."""
    if not yes:
        click.confirm(f"erase every record and feedback of entity {entity!r}?", abort=True)
    with records_client(home, url) as client:
        report = client.erase(entity)
    click.echo(
        f"erased entity {entity!r}: {report['records']} records, {report['feedback']} feedback, "
        f"{report['export_rows']} export rows"
    )


@click.group()
def feedback() -> None:
    """Ground truth for predictions: idempotent, the last one sent for an id wins."""


@feedback.command("send")
@click.argument("prediction_id")
@click.option("--label", default=None, help="The true class.")
@click.option("--value", type=float, default=None, help="The true value (regression).")
@click.option("--observed-at", default=None, help="When the truth was observed (ISO 8601; default now).")
@target_options
def send(
    prediction_id: str,
    label: str | None,
    value: float | None,
    observed_at: str | None,
    home: Path | None,
    url: str | None,
) -> None:
    """The truth for one prediction."""
    item: dict[str, Any] = {"prediction_id": prediction_id, "label": label, "value": value}
    if observed_at:
        item["observed_at"] = observed_at
    with records_client(home, url) as client:
        report = client.feedback([item])
    _echo_report(report)


@feedback.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@target_options
def import_file(path: Path, home: Path | None, url: str | None) -> None:
    """Feedback from a CSV (columns prediction_id, label or value, optional observed_at) or a
    JSON-lines file of the same fields; sent in chunks, with progress."""
    items = list(_read_items(path))
    if not items:
        raise click.UsageError(f"{path} holds no feedback")
    stored = 0
    unknown: list[str] = []
    with records_client(home, url) as client, click.progressbar(length=len(items), label="feedback") as bar:
        for start in range(0, len(items), FEEDBACK_CHUNK):
            chunk = items[start : start + FEEDBACK_CHUNK]
            report = client.feedback(chunk)
            stored += report["stored"]
            unknown += report["unknown"]
            bar.update(len(chunk))
    click.echo(f"stored {stored}, unknown {len(unknown)}")
    for pid in unknown[:20]:
        click.echo(f"  unknown prediction id: {pid}")
    _refuse_unknown(unknown)


def _read_items(path: Path) -> Iterator[dict[str, Any]]:
    if path.suffix in {".jsonl", ".ndjson", ".json"}:
        with path.open(encoding="utf-8") as lines:
            for n, line in enumerate(lines, 1):
                if line.strip():
                    try:
                        item = json.loads(line)
                    except ValueError as exc:
                        raise BerthError(ErrorCode.INVALID_REQUEST, f"{path}:{n}: not JSON: {exc}") from None
                    if not isinstance(item, dict):
                        raise BerthError(ErrorCode.INVALID_REQUEST, f"{path}:{n}: expected a JSON object")
                    yield item
        return
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            item = {k: v for k, v in row.items() if k and v not in (None, "")}
            if "value" in item:
                try:
                    item["value"] = float(item["value"])
                except ValueError:
                    raise BerthError(
                        ErrorCode.INVALID_REQUEST, f"value {item['value']!r} is not a number"
                    ) from None
            yield item


def _echo_report(report: dict[str, Any]) -> None:
    click.echo(f"stored {report['stored']}, unknown {len(report['unknown'])}")
    for pid in report["unknown"]:
        click.echo(f"  unknown prediction id: {pid}")
    _refuse_unknown(report["unknown"])


def _refuse_unknown(unknown: list[str]) -> None:
    """Feedback for a prediction id nobody recorded is not stored: the command fails (not found)."""
    if unknown:
        raise BerthError(
            ErrorCode.RECORD_NOT_FOUND,
            f"{len(unknown)} prediction id(s) unknown (not recorded, or not yet moved in from the journal):"
            " their feedback was not stored",
            unknown=len(unknown),
        )
