"""``berth models consumers|deprecate|deprecations|undeprecate`` and the same under ``berth endpoint``.

Who calls a model or endpoint (its team's readers), and the deprecations its maintainers announce
(docs/consumers.md). The commands are added to the ``models`` and ``endpoint`` groups in
`berth.cli.main`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from berth.cli.home import chosen_home
from berth.cli.options import cli_token, echo_json, echo_table, target_options
from berth.client.consumers import Consumers, open_consumers


@contextmanager
def _client(home: Path | None, url: str | None) -> Iterator[Consumers]:
    client = open_consumers(home=chosen_home(home, url), url=url, token=cli_token())
    try:
        yield client
    finally:
        client.close()


def _day(at: str | None) -> str:
    return at[:16].replace("T", " ") if at else "-"


def _consumer_rows(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "team": c["team"] or "-",
            "principal": c["principal"],
            "calls": c["calls"],
            "calls_30d": c["calls_30d"],
            "errors": c["errors"],
            "last_call": _day(c["last_at"]),
            "versions": ", ".join(
                f"{v['model']}:{v['version']}{' (deprecated)' if v['deprecated'] else ''}"
                for v in c["versions"]
            ),
            "since_deprecation": c["deprecated_calls"] or "-",
        }
        for c in found
    ]


def _version(v: dict[str, Any]) -> str:
    return f"{v['model']}:{v['version']}{' (deprecated)' if v['deprecated'] else ''}"


_CONSUMER_COLUMNS = [
    "team",
    "principal",
    "calls",
    "calls_30d",
    "errors",
    "last_call",
    "versions",
    "since_deprecation",
]


_DEPRECATION_COLUMNS = ["scope", "subject", "deprecated", "sunset", "by", "message", "link"]


def _deprecation_rows(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "scope": d["scope"],
            "subject": d["subject"] or "-",
            "deprecated": d["deprecated_at"][:10],
            "sunset": d["sunset_at"][:10],
            "by": d["announced_by"],
            "message": d["message"] or "-",
            "link": d["link"] or "-",
        }
        for d in found
    ]


def consumers_command(endpoint: bool) -> click.Command:
    what = "endpoint" if endpoint else "model"

    @click.command("consumers")
    @click.argument("name")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @target_options
    def consumers(name: str, as_json: bool, home: Path | None, url: str | None) -> None:
        with _client(home, url) as client:
            found = client.consumers(name, endpoint=endpoint)
        if as_json:
            echo_json(found)
        else:
            echo_table(_consumer_rows(found), _CONSUMER_COLUMNS)

    consumers.help = (
        f"Who calls the {what}: by team and principal, calls (all, last 30 days), last call, the versions"
        " that answered, and calls since a deprecation covering them (its team's readers)."
    )
    return consumers


def deprecations_command(endpoint: bool) -> click.Command:
    what = "endpoint" if endpoint else "model"

    @click.command("deprecations")
    @click.argument("name")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @target_options
    def deprecations(name: str, as_json: bool, home: Path | None, url: str | None) -> None:
        with _client(home, url) as client:
            found = client.deprecations(name, endpoint=endpoint)
        if as_json:
            echo_json(found)
        else:
            echo_table(
                _deprecation_rows(found),
                ["scope", "subject", "deprecated", "sunset", "by", "message", "link"],
            )

    deprecations.help = f"The deprecations announced for the {what}."
    return deprecations


def _subject_options(endpoint: bool) -> Callable[[Any], Any]:
    def add(fn: Any) -> Any:
        if endpoint:
            return fn
        fn = click.option("--alias", default=None, help="Deprecate this alias (answers through it).")(fn)
        return click.option("--version", "number", type=int, default=None, help="Deprecate this version.")(fn)

    return add


def deprecate_command(endpoint: bool) -> click.Command:
    what = "the endpoint" if endpoint else "a version or an alias of the model"

    @click.command("deprecate")
    @click.argument("name")
    @_subject_options(endpoint)
    @click.option("--sunset", required=True, help="When it goes away: 2027-03-01, or an ISO 8601 time (UTC).")
    @click.option("--message", default="", help="What callers should do instead.")
    @click.option("--link", default=None, help="A page about it (http or https), sent in a Link header.")
    @target_options
    def deprecate(
        name: str,
        sunset: str,
        message: str,
        link: str | None,
        home: Path | None,
        url: str | None,
        number: int | None = None,
        alias: str | None = None,
    ) -> None:
        target = f"endpoint {name}" if endpoint else _target(name, number, alias)
        with _client(home, url) as client:
            made = client.deprecate(
                name,
                version=number,
                alias=alias,
                endpoint=endpoint,
                sunset=sunset,
                message=message,
                link=link,
            )
        click.echo(f"deprecated {target}: sunset {made['sunset_at'][:10]}")
        for header, value in made["headers"].items():
            click.echo(f"  {header.title()}: {value}")

    deprecate.help = (
        f"Announce the deprecation of {what}, with its sunset date: every answer it gives carries the"
        " Deprecation and Sunset headers (maintainers of its team; audited)."
    )
    return deprecate


def undeprecate_command(endpoint: bool) -> click.Command:
    @click.command("undeprecate")
    @click.argument("name")
    @_subject_options(endpoint)
    @target_options
    def undeprecate(
        name: str, home: Path | None, url: str | None, number: int | None = None, alias: str | None = None
    ) -> None:
        with _client(home, url) as client:
            client.withdraw(name, version=number, alias=alias, endpoint=endpoint)
        target = f"endpoint {name}" if endpoint else _target(name, number, alias)
        click.echo(f"withdrew the deprecation of {target}")

    undeprecate.help = "Withdraw a deprecation announced earlier (maintainers; audited)."
    return undeprecate


def _target(name: str, number: int | None, alias: str | None) -> str:
    if number is not None:
        return f"{name} version {number}"
    return f"{name} alias {alias}" if alias is not None else name


def add_consumer_commands(group: click.Group, *, endpoint: bool) -> None:
    for make in (consumers_command, deprecations_command, deprecate_command, undeprecate_command):
        group.add_command(make(endpoint))
