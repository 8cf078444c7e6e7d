"""``berth catalog …``: search every team's models and endpoints, read an entry, set visibility.

Also ``berth models visibility|contact`` and ``berth endpoint visibility`` (attached to those
groups in `berth.cli.main`), which change what the catalog shows of a model or endpoint.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from berth.cli.home import chosen_home
from berth.cli.options import cli_token, echo_json, echo_table, target_options
from berth.client.catalog import Catalog, open_catalog

VISIBILITY = click.Choice(["private", "discoverable"])


@contextmanager
def _catalog(home: Path | None, url: str | None) -> Iterator[Catalog]:
    client = open_catalog(home=chosen_home(home, url), url=url, token=cli_token())
    try:
        yield client
    finally:
        client.close()


@click.group()
def catalog() -> None:
    """Find models and endpoints of every team (yours, granted to you, or discoverable)."""


@catalog.command("search")
@click.argument("query", required=False)
@click.option("--team", help="Only this team's entries.")
@click.option("--flavor", help="Only models of this flavor (sklearn, xgboost, onnx …).")
@click.option("--task", help="Only models of this task (classification, regression, text …).")
@click.option("--visibility", type=VISIBILITY, help="Only private or only discoverable entries.")
@click.option("--kind", type=click.Choice(["model", "endpoint"]), help="Only models or only endpoints.")
@click.option(
    "--sort", type=click.Choice(["name", "recent", "usage"]), default="name", show_default=True, help="Order."
)
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True, help="Entries per page.")
@click.option("--cursor", help="The next page: the cursor the previous one printed.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole page as JSON (with facets).")
@target_options
def search(
    query: str | None,
    team: str | None,
    flavor: str | None,
    task: str | None,
    visibility: str | None,
    kind: str | None,
    sort: str,
    limit: int,
    cursor: str | None,
    as_json: bool,
    home: Path | None,
    url: str | None,
) -> None:
    """Search the catalog: every word of QUERY must appear in a name, description, card, tag or
    metric name."""
    filters: dict[str, Any] = {"team": team, "flavor": flavor, "task": task, "visibility": visibility}
    filters |= {"kind": kind, "sort": sort, "limit": limit, "cursor": cursor}
    with _catalog(home, url) as client:
        page = client.search(query, **{k: v for k, v in filters.items() if v is not None})
    if as_json:
        echo_json(page)
        return
    rows = [
        {
            "name": e["name"],
            "kind": e["kind"],
            "team": e["team"],
            "visibility": e["visibility"],
            "task": e.get("task") or "-",
            "card": f"{e['card']['filled']}/{e['card']['total']}" if "card" in e else "-",
            "calls_30d": e["calls_30d"],
            "description": e["description"],
        }
        for e in page["entries"]
    ]
    echo_table(rows, ["name", "kind", "team", "visibility", "task", "card", "calls_30d", "description"])
    click.echo(
        f"{page['total']} found"
        + (f"; next page: --cursor {page['next_cursor']}" if page["next_cursor"] else "")
    )


@catalog.command("show")
@click.argument("name")
@target_options
def show(name: str, home: Path | None, url: str | None) -> None:
    """One entry as JSON: owner, contact, card and its completeness, signature, an example
    request, versions, and whether you may read or call it."""
    with _catalog(home, url) as client:
        echo_json(client.get(name))


def _set_visibility(
    name: str, visibility: str, home: Path | None, url: str | None, *, endpoint: bool
) -> None:
    with _catalog(home, url) as client:
        done = client.set_visibility(name, visibility, endpoint=endpoint)
    click.echo(f"{'endpoint' if endpoint else 'model'} {done['name']} is {done['visibility']}")


@click.command("visibility")
@click.argument("name")
@click.argument("visibility", type=VISIBILITY)
@target_options
def model_visibility(name: str, visibility: str, home: Path | None, url: str | None) -> None:
    """Make model NAME private (its team only) or discoverable (in every team's catalog)."""
    _set_visibility(name, visibility, home, url, endpoint=False)


@click.command("visibility")
@click.argument("name")
@click.argument("visibility", type=VISIBILITY)
@target_options
def endpoint_visibility(name: str, visibility: str, home: Path | None, url: str | None) -> None:
    """Make endpoint NAME private (its team only) or discoverable (in every team's catalog)."""
    _set_visibility(name, visibility, home, url, endpoint=True)


@click.command("contact")
@click.argument("name")
@click.argument("contact")
@target_options
def model_contact(name: str, contact: str, home: Path | None, url: str | None) -> None:
    """Set who to ask about model NAME (shown in the catalog)."""
    with _catalog(home, url) as client:
        done = client.set_contact(name, contact)
    click.echo(f"model {done['name']}: contact {done['contact'] or '(none)'}")
