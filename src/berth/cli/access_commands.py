"""``berth access …``: ask another team for its model or endpoint, and answer such requests.

    berth access request churn --team marketing --reason "next-best-offer campaign"
    berth access list --mine                  # mine, with their outcome and the reason given
    berth access list --team risk --pending   # team risk's inbox (its admins)
    berth access approve 7 --expires-in 90d
    berth access deny 8 --reason "use churn-lite: churn reads salary data"
    berth access withdraw 9

With ``--url URL --token T`` as that token's principal; with ``--home DIR`` on the database
directly, as ``local:<os user>`` (who administers every team there). docs/access.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from berth.cli.home import chosen_home
from berth.cli.options import cli_token, echo_json, echo_table, target_options
from berth.cli.security_commands import expiry_options, parse_iso
from berth.client.access import Access, open_access

COLUMNS = ["id", "status", "resource_name", "owner_team", "team", "requester", "created_at"]


@contextmanager
def access_client(home: Path | None, url: str | None) -> Iterator[Access]:
    home = chosen_home(home, url)
    client = open_access(home=home, url=url, token=cli_token())
    try:
        yield client
    finally:
        client.close()


def _describe(found: dict[str, Any]) -> str:
    text = (
        f"request {found['id']}: {found['action']} on {found['resource_kind']} {found['resource_name']!r} "
        f"(team {found['owner_team']!r}) for team {found['team']!r}: {found['status']}"
    )
    if found.get("decision_reason"):
        text += f" ({found['decision_reason']})"
    if found.get("grant_expires_at"):
        text += f", until {found['grant_expires_at']}"
    return text


@click.group()
def access() -> None:
    """Access requests: ask another team for its model or endpoint; its admins approve or deny."""


@access.command("request")
@click.argument("target")
@click.option("--team", required=True, help="Your team the access is for (its predictors may call it).")
@click.option("--reason", required=True, help="Why the team needs it (the owners read it).")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON.")
@target_options
def request_access(
    target: str, team: str, reason: str, as_json: bool, home: Path | None, url: str | None
) -> None:
    """Ask for predict access to TARGET (another team's discoverable model or endpoint)."""
    with access_client(home, url) as client:
        made = client.request(target, team=team, reason=reason)
    if as_json:
        echo_json(made)
        return
    click.echo(_describe(made))


@access.command("list")
@click.option("--team", help="This team's inbox: the requests to it (its admins).")
@click.option("--mine", is_flag=True, help="Only the requests you made.")
@click.option(
    "--status", type=click.Choice(["pending", "approved", "denied", "withdrawn"]), help="Only these."
)
@click.option("--pending", is_flag=True, help="Only pending requests (--status pending).")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON.")
@target_options
def list_requests(
    team: str | None,
    mine: bool,
    status: str | None,
    pending: bool,
    as_json: bool,
    home: Path | None,
    url: str | None,
) -> None:
    """Requests, newest first: yours and those to the teams you administer (--mine, --team T: one of them)."""
    if team is not None and mine:
        raise click.UsageError("give --team or --mine, not both")
    if pending and status not in (None, "pending"):
        raise click.UsageError("--pending is --status pending")
    with access_client(home, url) as client:
        rows = client.list(
            scope="mine" if mine else "all", team=team, status="pending" if pending else status
        )
    if as_json:
        echo_json(rows)
        return
    echo_table(rows, [*COLUMNS, "decision_reason"])


@access.command("show")
@click.argument("request_id", type=click.IntRange(min=1))
@target_options
def show_request(request_id: int, home: Path | None, url: str | None) -> None:
    """One request (yours, or one to a team you administer) as JSON."""
    with access_client(home, url) as client:
        echo_json(client.get(request_id))


@access.command("approve")
@click.argument("request_id", type=click.IntRange(min=1))
@expiry_options
@click.option("--reason", default="", help="A note for the requester.")
@target_options
def approve(
    request_id: int,
    expires_in: str | None,
    expires_at: str | None,
    reason: str,
    home: Path | None,
    url: str | None,
) -> None:
    """Approve request REQUEST_ID: its team may call the target (until the expiry given)."""
    if expires_in is not None and expires_at is not None:
        raise click.UsageError("give --expires-in or --expires-at, not both")
    at = parse_iso(expires_at) if expires_at is not None else None
    with access_client(home, url) as client:
        decided = client.approve(request_id, expires_in=expires_in, expires_at=at, reason=reason)
    click.echo(_describe(decided))


@access.command("deny")
@click.argument("request_id", type=click.IntRange(min=1))
@click.option("--reason", required=True, help="Why (the requester reads it).")
@target_options
def deny(request_id: int, reason: str, home: Path | None, url: str | None) -> None:
    """Deny request REQUEST_ID, saying why."""
    with access_client(home, url) as client:
        click.echo(_describe(client.deny(request_id, reason=reason)))


@access.command("withdraw")
@click.argument("request_id", type=click.IntRange(min=1))
@target_options
def withdraw(request_id: int, home: Path | None, url: str | None) -> None:
    """Withdraw your pending request REQUEST_ID."""
    with access_client(home, url) as client:
        click.echo(_describe(client.withdraw(request_id)))
