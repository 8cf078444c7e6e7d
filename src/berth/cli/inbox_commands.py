"""``berth inbox …``: the messages an endpoint delivered to a team, and where they go."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from berth.cli.home import chosen_home
from berth.cli.options import cli_token, echo_json, echo_table, target_options
from berth.client.inbox import Inbox, open_inbox
from berth.core.delivery import STATUSES


@contextmanager
def inbox_client(home: Path | None, url: str | None) -> Iterator[Inbox]:
    home = chosen_home(home, url)
    client = open_inbox(home=home, url=url, token=cli_token())
    try:
        yield client
    finally:
        client.close()


@click.group()
def inbox() -> None:
    """Team inboxes: every answered row of an endpoint that delivers, in its team's inbox."""


@inbox.command("list")
@click.argument("team")
@click.option("--status", type=click.Choice(STATUSES), default=None, help="Only messages in this state.")
@click.option("--open", "only_open", is_flag=True, help="Only messages not acknowledged yet.")
@click.option("--before", type=int, default=None, help="Messages with ids below this (the next page).")
@click.option("--limit", type=click.IntRange(1, 500), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON.")
@target_options
def list_messages(
    team: str,
    status: str | None,
    only_open: bool,
    before: int | None,
    limit: int,
    as_json: bool,
    home: Path | None,
    url: str | None,
) -> None:
    """TEAM's messages, newest first."""
    with inbox_client(home, url) as client:
        page = client.list(
            team, status=status, acknowledged=False if only_open else None, before=before, limit=limit
        )
    if as_json:
        echo_json(page)
        return
    echo_table(
        [_row(m) for m in page["messages"]],
        ["id", "created_at", "label", "text", "status", "acknowledged", "rerouted"],
    )
    if page.get("next_before"):
        click.echo(f"(more: --before {page['next_before']})")


@inbox.command("ack")
@click.argument("team")
@click.argument("message_id", type=int)
@target_options
def acknowledge(team: str, message_id: int, home: Path | None, url: str | None) -> None:
    """Acknowledge message MESSAGE_ID of TEAM (idempotent)."""
    with inbox_client(home, url) as client:
        message = client.acknowledge(team, message_id)
    click.echo(f"acknowledged message {message['id']} by {message['acknowledged_by']}")


@inbox.command("reroute")
@click.argument("team")
@click.argument("message_id", type=int)
@click.option("--to", "to", required=True, help="The team the message belongs to.")
@click.option("--label", default=None, help="The right answer of the model (e.g. the category).")
@target_options
def reroute(
    team: str, message_id: int, to: str, label: str | None, home: Path | None, url: str | None
) -> None:
    """Send message MESSAGE_ID of TEAM to the team it belongs to; the right answer is sent as
    feedback for its prediction (a correction the next retrain learns from)."""
    with inbox_client(home, url) as client:
        answer = client.reroute(team, message_id, to=to, label=label)
    feedback = answer["feedback"]
    said = (
        f"feedback {feedback['label']!r} sent" if feedback["sent"] else f"no feedback: {feedback['reason']}"
    )
    click.echo(f"rerouted message {message_id} to {to} (message {answer['rerouted']['id']}); {said}")


@inbox.command("settings")
@click.argument("team")
@click.option("--webhook", default=None, help="POST every message to this URL (signed).")
@click.option("--nats-subject", default=None, help="Publish every message to berth.inbox.<stream>.<this>.")
@click.option("--rotate-secret", is_flag=True, help="Give the webhook a new signing secret.")
@click.option("--inbox-only", is_flag=True, help="Remove the webhook and the subject.")
@target_options
def settings(
    team: str,
    webhook: str | None,
    nats_subject: str | None,
    rotate_secret: bool,
    inbox_only: bool,
    home: Path | None,
    url: str | None,
) -> None:
    """Show TEAM's destinations, or set them (the options given replace them all)."""
    with inbox_client(home, url) as client:
        if webhook is None and nats_subject is None and not inbox_only and not rotate_secret:
            echo_json(client.settings(team))
            return
        if rotate_secret and webhook is None:
            webhook = client.settings(team).get("webhook_url")  # keep the URL; new secret
            if webhook is None:
                raise click.UsageError("the team has no webhook: give --webhook URL")
        answer = client.set_settings(
            team, webhook_url=webhook, nats_subject=nats_subject, rotate_secret=rotate_secret
        )
    echo_json(answer)
    if "webhook_secret" in answer:
        click.echo("the webhook's signing secret is shown once: keep it where the receiver verifies calls")


def _row(message: dict[str, Any]) -> dict[str, Any]:
    inputs = message.get("inputs") or {}
    text = next((v for v in inputs.values() if isinstance(v, str)), "")
    return {
        "id": message["id"],
        "created_at": message["created_at"][:19],
        "label": message.get("label"),
        "text": text[:50],
        "status": message["status"],
        "acknowledged": "yes" if message.get("acknowledged_at") else "",
        "rerouted": message.get("rerouted_to")
        or (f"from {message['rerouted_from']}" if message.get("rerouted_from") else ""),
    }
