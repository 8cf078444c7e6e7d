"""``berth token …``, ``berth team …``, ``berth audit …``: access control from the command line.

With ``--home DIR`` (or no target) they work on the registry database directly, which is how the
first admin token is made; with ``--url URL --token T`` they call a server's API as that token.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from berth.cli.home import chosen_home
from berth.cli.options import cli_token, echo_json, echo_table, target_options
from berth.client.sdk import current_user
from berth.client.security import SecurityAdmin, open_security_admin
from berth.core.audit import AuditQuery
from berth.core.security import parse_duration


@contextmanager
def _admin(home: Path | None, url: str | None) -> Iterator[SecurityAdmin]:
    home = chosen_home(home, url)
    admin = open_security_admin(home=home, url=url, token=cli_token(), actor=current_user())
    try:
        yield admin
    finally:
        admin.close()


@click.group()
def token() -> None:
    """API tokens: create (shown once), list, revoke."""


@token.command("create")
@click.option("--principal", help="Whose token (default: the caller; locally: 'admin').")
@click.option("--admin", "make_admin", is_flag=True, help="Make the principal a platform admin.")
@click.option("--expires-days", type=click.FloatRange(min=0.001, max=3650), default=90, show_default=True)
@click.option("--description", default="", help="What the token is for.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole answer as JSON.")
@target_options
def token_create(
    principal: str | None,
    make_admin: bool,
    expires_days: float,
    description: str,
    as_json: bool,
    home: Path | None,
    url: str | None,
) -> None:
    """Create a token and print it, once: it is stored only as a hash."""
    with _admin(home, url) as admin:
        created = admin.create_token(
            principal, expires_days=expires_days, description=description, admin=make_admin
        )
    if as_json:
        echo_json(created)
        return
    click.echo(created["token"])
    click.echo(
        f"token {created['id']} for {created['principal']!r}, expires {created['expires_at']}: "
        "shown once, store it now (send it as 'Authorization: Bearer <token>' or BERTH_TOKEN)",
        err=True,
    )


@token.command("list")
@click.option("--principal", help="Only this principal's tokens.")
@target_options
def token_list(principal: str | None, home: Path | None, url: str | None) -> None:
    """Tokens (their prefixes, never the tokens)."""
    with _admin(home, url) as admin:
        rows = admin.list_tokens(principal)
    echo_table(rows, ["id", "principal", "prefix", "expires_at", "revoked_at", "description"])


@token.command("revoke")
@click.argument("token_id", type=int)
@target_options
def token_revoke(token_id: int, home: Path | None, url: str | None) -> None:
    """Revoke a token: every server refuses it within a second."""
    with _admin(home, url) as admin:
        revoked = admin.revoke_token(token_id)
    click.echo(f"token {revoked['id']} of {revoked['principal']!r} revoked at {revoked['revoked_at']}")


@click.group()
def team() -> None:
    """Teams, their members' roles, and endpoint grants to other teams."""


@team.command("create")
@click.argument("name")
@click.option("--description", default="")
@target_options
def team_create(name: str, description: str, home: Path | None, url: str | None) -> None:
    with _admin(home, url) as admin:
        admin.create_team(name, description)
    click.echo(f"team {name!r} created")


@team.command("list")
@target_options
def team_list(home: Path | None, url: str | None) -> None:
    with _admin(home, url) as admin:
        echo_table(admin.list_teams(), ["name", "description", "created_at"])


@team.command("add-member")
@click.argument("name")
@click.argument("principal")
@click.option("--role", required=True, help="reader, predictor, maintainer or admin.")
@target_options
def team_add_member(name: str, principal: str, role: str, home: Path | None, url: str | None) -> None:
    """Give PRINCIPAL a role in team NAME (replacing its role there)."""
    with _admin(home, url) as admin:
        member = admin.set_member(name, principal, role)
    click.echo(f"{member['principal']!r} is {member['role']} in team {member['team']!r}")


@team.command("remove-member")
@click.argument("name")
@click.argument("principal")
@target_options
def team_remove_member(name: str, principal: str, home: Path | None, url: str | None) -> None:
    with _admin(home, url) as admin:
        admin.remove_member(name, principal)
    click.echo(f"{principal!r} removed from team {name!r}")


@team.command("members")
@click.argument("name")
@target_options
def team_members(name: str, home: Path | None, url: str | None) -> None:
    with _admin(home, url) as admin:
        echo_table(admin.list_members(name), ["principal", "role"])


def expiry_options(fn: click.decorators.FC) -> click.decorators.FC:
    """``--expires-in 30d`` or ``--expires-at ISO``: when a grant stops counting (neither: never)."""
    fn = click.option(
        "--expires-at", help="Expires at this time: ISO 8601 (2027-03-31T00:00:00Z; no zone: UTC)."
    )(fn)
    fn = click.option("--expires-in", help="Expires this long from now: 90s, 15m, 12h, 30d, 2w.")(fn)
    return fn


def grant_expiry_options(expires_in: str | None, expires_at: str | None) -> dict[str, Any]:
    """The keyword arguments `expiry_options` give a grant: at most one of the two."""
    if expires_in is not None and expires_at is not None:
        raise click.UsageError("give --expires-in or --expires-at, not both")
    return {
        "expires_in_s": parse_duration(expires_in).total_seconds() if expires_in is not None else None,
        "expires_at": parse_iso(expires_at) if expires_at is not None else None,
    }


def parse_iso(text: str) -> datetime:
    """An ISO 8601 time (``Z`` or an offset; none: UTC)."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{text[:40]!r} is not an ISO 8601 time") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@team.command("grant")
@click.argument("name")
@click.option("--endpoint", required=True, help="The endpoint (a model name) the team may call.")
@expiry_options
@target_options
def team_grant(
    name: str,
    endpoint: str,
    expires_in: str | None,
    expires_at: str | None,
    home: Path | None,
    url: str | None,
) -> None:
    """Let team NAME call ENDPOINT (predictor access to that endpoint alone), for good or until an
    expiry (granting again sets the expiry: renews it, or makes it permanent)."""
    expiry = grant_expiry_options(expires_in, expires_at)
    with _admin(home, url) as admin:
        granted = admin.grant(endpoint, name, **expiry)
    until = f" until {granted['expires_at']}" if granted.get("expires_at") else ""
    click.echo(f"team {name!r} may call {endpoint!r}{until}")


@team.command("grants")
@click.option("--endpoint", required=True, help="The endpoint (a model name).")
@target_options
def team_grants(endpoint: str, home: Path | None, url: str | None) -> None:
    """The teams granted ENDPOINT, and when each grant expires."""
    with _admin(home, url) as admin:
        rows = admin.list_grants(endpoint)
    echo_table(
        [{**g, "expires_at": g.get("expires_at") or "never"} for g in rows],
        ["team", "granted_by", "at", "expires_at", "expired"],
    )


@team.command("revoke-grant")
@click.argument("name")
@click.option("--endpoint", required=True)
@target_options
def team_revoke_grant(name: str, endpoint: str, home: Path | None, url: str | None) -> None:
    with _admin(home, url) as admin:
        admin.revoke_grant(endpoint, name)
    click.echo(f"team {name!r} may no longer call {endpoint!r}")


def _query(
    actor: str | None,
    action: str | None,
    resource: str | None,
    since: datetime | None,
    limit: int = 1000,
) -> AuditQuery:
    kind, _, name = (resource or "").partition(":")
    return AuditQuery(
        actor=actor,
        action=action,
        resource_type=kind or None,
        resource_name=name or None,
        since=since.astimezone() if since else None,
        limit=limit,
    )


def audit_filters(fn: click.decorators.FC) -> click.decorators.FC:
    fn = click.option("--since", type=click.DateTime(), help="From this time (local time).")(fn)
    fn = click.option("--resource", help="TYPE:NAME, e.g. model:churn or alias:churn@production.")(fn)
    fn = click.option("--action", help="An action (alias.set) or a prefix ending in '.' (alias.).")(fn)
    fn = click.option("--actor", help="Only this principal's actions.")(fn)
    return fn


@click.group()
def audit() -> None:
    """The audit trail: every change, who made it, when, before and after."""


@audit.command("list")
@audit_filters
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
@target_options
def audit_list(
    actor: str | None,
    action: str | None,
    resource: str | None,
    since: datetime | None,
    limit: int,
    home: Path | None,
    url: str | None,
) -> None:
    with _admin(home, url) as admin:
        events = admin.audit(_query(actor, action, resource, since, limit))
    echo_table(
        [{**e, "resource": f"{e['resource_type']}:{e['resource_name']}"} for e in events],
        ["id", "at", "actor", "action", "resource"],
    )


@audit.command("export")
@audit_filters
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True)
@target_options
def audit_export(
    actor: str | None,
    action: str | None,
    resource: str | None,
    since: datetime | None,
    fmt: str,
    home: Path | None,
    url: str | None,
) -> None:
    """Every matching event to standard output, as JSON lines or CSV."""
    with _admin(home, url) as admin:
        for chunk in admin.export_audit(_query(actor, action, resource, since), fmt):
            sys.stdout.buffer.write(chunk)
    sys.stdout.buffer.flush()
