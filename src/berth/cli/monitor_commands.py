"""``berth monitor NAME`` and ``berth alert …``: how an endpoint is doing, and what to be told about."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from berth.cli.home import chosen_home
from berth.cli.options import cli_token, echo_json, echo_table, read_json_arg, target_options
from berth.cli.record_commands import parse_since
from berth.client.monitor import Monitor, open_monitor


@contextmanager
def monitor_client(home: Path | None, url: str | None) -> Iterator[Monitor]:
    home = chosen_home(home, url)
    client = open_monitor(home=home, url=url, token=cli_token())
    try:
        yield client
    finally:
        client.close()


@click.command("monitor")
@click.argument("name")
@click.option("--since", default="24h", show_default=True, help="From: 15m, 2h, 7d ago, or an ISO 8601 time.")
@click.option("--until", default=None, help="To: an ISO 8601 time (default now).")
@click.option(
    "--bucket",
    "bucket_s",
    type=int,
    default=None,
    help="Bucket width in seconds (default: about 48 buckets).",
)
@click.option(
    "--compare", nargs=2, default=None, metavar="A B", help="Compare two variants' accuracy (A/B test)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON.")
@target_options
def monitor(
    name: str,
    since: str,
    until: str | None,
    bucket_s: int | None,
    compare: tuple[str, str] | None,
    as_json: bool,
    home: Path | None,
    url: str | None,
) -> None:
    """Traffic, latency, errors, accuracy from feedback, drift, staleness and the quality of the
    served features (an endpoint's features steps) of an endpoint or model."""
    with monitor_client(home, url) as client:
        if compare:
            result = client.compare(name, compare[0], compare[1], start=parse_since(since), end=until)
            echo_json(result) if as_json else _echo_comparison(result)
            return
        view = client.snapshot(name, start=parse_since(since), end=until, bucket_s=bucket_s)
    if as_json:
        echo_json(view)
        return
    _echo_view(view)


def _echo_view(view: dict[str, Any]) -> None:
    window = view["window"]
    click.echo(
        f"{view['name']}: {window['start'][:19]} → {window['end'][:19]} (buckets of {window['bucket_s']} s)"
    )
    traffic = {k: sum(v) for k, v in view["traffic"]["series"].items()}
    errors = {k: sum(v) for k, v in view.get("errors", {}).get("series", {}).items()}
    click.echo(f"traffic: {sum(traffic.values())} answered " + _pairs(traffic))
    click.echo(f"errors:  {sum(errors.values())} " + _pairs(errors))
    latency = view["latency"]["series"]
    click.echo("latency (last bucket with data): " + _last_latency(latency))
    accuracy = view["accuracy"]
    if accuracy["overall"]:
        click.echo(f"{accuracy['metric']} from feedback:")
        echo_table(
            [
                {"variant": k, "n": v["n"], accuracy["metric"]: _num(v["value"])}
                for k, v in accuracy["overall"].items()
            ],
            ["variant", "n", accuracy["metric"]],
        )
    else:
        click.echo("accuracy: no feedback in this window")
    drift = view["drift"]
    click.echo(
        f"drift: {drift['status']}" + (f" (version {drift['version']})" if drift.get("version") else "")
    )
    if drift["features"]:
        echo_table(
            [
                {
                    "feature": f["feature"],
                    "test": f["test"],
                    "statistic": _num(f["statistic"]),
                    "threshold": _num(f["threshold"]),
                    "drifted": "DRIFT" if f["drifted"] else "",
                }
                for f in drift["features"]
            ],
            ["feature", "test", "statistic", "threshold", "drifted"],
        )
    stale = view["staleness"]
    if stale.get("version_age_s") is not None:
        data_age = stale.get("data_age_s")
        click.echo(
            f"staleness: version {stale['version_age_s'] / 86400:.1f} days old"
            + ("" if data_age is None else f", data {data_age / 86400:.1f} days old")
        )
    for served in view.get("features", []):
        _echo_served_view(served)
    for alert in view["alerts"]:
        click.echo(f"alert {alert['kind']} {alert['fired_at'][:19]} {alert['rule']}: {alert['message']}")


def _echo_served_view(served: dict[str, Any]) -> None:
    fresh = served["freshness"]
    line = f"features of view {served['view']} ({served['source']}, by {served['key']}): "
    if fresh["status"] != "ok":
        line += f"freshness {fresh['status']}"
    else:
        age = fresh["age_s"]
        line += (
            f"{fresh['entities']} entities served, {_share(fresh['missing_share'])} not in the store, "
            f"{_share(fresh['stale_share'])} older than the TTL, age p95 {_num(age['p95'])} s"
        )
    click.echo(line)
    lookups = served.get("lookups")
    if lookups and lookups["rows"]:
        click.echo(
            f"  at serving time: {lookups['rows']} rows looked up, {_share(lookups['hit_share'])} hit, "
            f"{_share(lookups['miss_share'])} missed, {_share(lookups['stale_share'])} stale, "
            f"{_share(lookups['unavailable_share'])} unavailable"
        )
    echo_table(
        [
            {
                "feature": f["feature"],
                "rows": f["rows"],
                "null rate": _share(f["null_rate"]),
                "drift": "-" if f.get("drift") is None else f["drift"]["status"],
            }
            for f in served["features"]
        ],
        ["feature", "rows", "null rate", "drift"],
    )


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _echo_comparison(result: dict[str, Any]) -> None:
    click.echo(f"{result['a']} vs {result['b']} ({result['metric']}): {result['verdict']}")
    if result.get("difference") is not None:
        click.echo(
            f"  a={_num(result['value_a'])} (n={result['n_a']})  "
            f"b={_num(result['value_b'])} (n={result['n_b']})  "
            f"b-a={_num(result['difference'])}  95% CI [{_num(result['ci_low'])}, {_num(result['ci_high'])}]"
        )


def _pairs(counts: dict[str, int]) -> str:
    return "(" + ", ".join(f"{k}: {v}" for k, v in counts.items()) + ")" if counts else ""


def _last_latency(series: dict[str, list[float | None]]) -> str:
    for i in range(len(series["p50"]) - 1, -1, -1):
        if series["p50"][i] is not None:
            return " ".join(f"{k}={1000 * (series[k][i] or 0):.1f} ms" for k in ("p50", "p95", "p99"))
    return "no data"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


@click.group()
def alert() -> None:
    """Alert rules on drift, accuracy, error rate, latency and staleness; the alert log."""


@alert.command("add")
@click.argument("rule_json")
@target_options
def add(rule_json: str, home: Path | None, url: str | None) -> None:
    """Add a rule, given as JSON (inline or @file): name, target, metric, op, threshold, window_s,
    min_samples, webhook_url; for the feature_* metrics, view (one served view) and feature (one of
    its features). The answer holds the webhook's signing secret (whsec_...), shown once."""
    with monitor_client(home, url) as client:
        echo_json(client.add_rule(read_json_arg(rule_json)))


@alert.command("list")
@click.option("--target", default=None)
@target_options
def list_rules(target: str | None, home: Path | None, url: str | None) -> None:
    """The rules and their state."""
    with monitor_client(home, url) as client:
        rows = [r | {"watches": _watches(r)} for r in client.rules(target)]
    echo_table(rows, ["name", "target", "metric", "watches", "op", "threshold", "window_s", "state"])


def _watches(rule: dict[str, Any]) -> str:
    """What of the target a rule watches: a view (and feature) it names, or the whole target."""
    return "/".join(part for part in (rule.get("view"), rule.get("feature")) if part) or "-"


@alert.command("delete")
@click.argument("name")
@target_options
def delete(name: str, home: Path | None, url: str | None) -> None:
    with monitor_client(home, url) as client:
        client.delete_rule(name)
    click.echo(f"deleted alert rule {name}")


@alert.command("log")
@click.option("--target", default=None)
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@target_options
def log(target: str | None, limit: int, home: Path | None, url: str | None) -> None:
    """The alert log, newest first."""
    with monitor_client(home, url) as client:
        rows = client.events(target, limit)
    echo_table(
        [r | {"delivered": (r.get("delivery") or {}).get("delivered", "")} for r in rows],
        ["fired_at", "rule", "kind", "value", "delivered", "message"],
    )
