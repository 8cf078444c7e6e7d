"""``berth group``: which serving group serves each model and endpoint, and moving them (docs/scaling.md)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from berth.cli.home import chosen_home
from berth.cli.options import cli_token, echo_json, echo_table, target_options
from berth.client.groups import Groups, open_groups


@contextmanager
def groups_client(home: Path | None, url: str | None) -> Iterator[Groups]:
    home = chosen_home(home, url)
    client = open_groups(home=home, url=url, token=cli_token())
    try:
        yield client
    finally:
        client.close()


@click.group()
def group() -> None:
    """Serving groups: the replicas of a group load only its models (berth serve --role data --group G)."""


@group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON.")
@target_options
def list_groups(home: Path | None, url: str | None, as_json: bool) -> None:
    """Every model and endpoint with its serving group, then the live replicas."""
    with groups_client(home, url) as client:
        overview = client.overview()
    if as_json:
        echo_json(overview)
        return
    echo_table(overview["assignments"], ["name", "kind", "group"])
    click.echo("")
    replicas = [{**r, "ready": len(r["ready"])} for r in overview["replicas"]]
    echo_table(replicas, ["replica_id", "role", "group", "url", "ready"])


@group.command("assign")
@click.argument("name")
@click.argument("group_name", metavar="GROUP")
@click.option("--reason", default="", help="Why (kept in the audit trail).")
@target_options
def assign(home: Path | None, url: str | None, name: str, group_name: str, reason: str) -> None:
    """Move model or endpoint NAME to serving group GROUP (loaded there before it is let go here)."""
    with groups_client(home, url) as client:
        done = client.assign(name, group_name, reason=reason)
    click.echo(f"{done['kind']} {done['name']} -> serving group {done['group']}")
