"""The catalog as the CLI and the SDK see it: embedded (a home folder) or remote (a server URL).

Both answer with the JSON of the REST API (``/api/v1/catalog``), so a script gets the same dicts
whichever it talks to. A remote catalog lists what the token's principal may find (its teams',
what was granted to it, every discoverable model and endpoint); the embedded one acts as the
holder of the database and lists everything.

    import berth
    catalog = berth.catalog(url="http://127.0.0.1:8080")
    page = catalog.search("churn", task="classification", sort="usage")
    entry = catalog.get(page["entries"][0]["name"])      # card, signature, versions, access
    catalog.set_visibility("churn", "discoverable")      # a maintainer of its team
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias
from urllib.parse import quote

from berth.client.transport import Transport

if TYPE_CHECKING:
    from berth.client.embedded.catalog import LocalCatalog

JsonDict = dict[str, Any]

# What both implementations take: the remote one here, the embedded one
# (`berth.client.embedded.catalog`) when a home is opened. mypy checks each call against both.
Catalog: TypeAlias = "RemoteCatalog | LocalCatalog"


def open_catalog(
    *, home: str | Path | None = None, url: str | None = None, token: str | None = None
) -> Catalog:
    """The catalog of the server at `url` (called with `token`, default ``BERTH_TOKEN``), else of
    the embedded registry in `home`."""
    url = url or (None if home is not None else os.environ.get("BERTH_URL"))
    if url:
        return RemoteCatalog(url, token=token)
    from berth.client.embedded.catalog import open_local_catalog

    return open_local_catalog(home)


def search_params(
    q: str | None,
    *,
    team: str | None = None,
    flavor: str | None = None,
    task: str | None = None,
    visibility: str | None = None,
    kind: str | None = None,
    sort: str = "name",
    limit: int = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    """A search's parameters as the REST API takes them (None: not given)."""
    given = {
        "q": q,
        "team": team,
        "flavor": flavor,
        "task": task,
        "visibility": visibility,
        "kind": kind,
        "sort": sort,
        "limit": limit,
        "cursor": cursor,
    }
    return {k: v for k, v in given.items() if v is not None}


class RemoteCatalog:
    """The catalog behind a running server's API (``/api/v1/catalog``)."""

    def __init__(
        self, url: str, *, timeout: float = 60.0, token: str | None = None, transport: Transport | None = None
    ) -> None:
        self._http = transport or Transport(url, timeout=timeout, token=token)

    def __enter__(self) -> RemoteCatalog:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def search(self, q: str | None = None, **filters: Any) -> JsonDict:
        """One page of entries: ``{"entries", "total", "facets", "next_cursor"}``. Filters: team,
        flavor, task, visibility, kind (model, endpoint), sort (name, recent, usage), limit, cursor."""
        body: JsonDict = self._http.json("GET", "/api/v1/catalog", params=search_params(q, **filters))
        return body

    def get(self, name: str) -> JsonDict:
        """One entry with its card, signature, example request, versions and the caller's access."""
        body: JsonDict = self._http.json("GET", f"/api/v1/catalog/{_q(name)}")
        return body

    def set_visibility(self, name: str, visibility: str, *, endpoint: bool = False) -> JsonDict:
        """Make a model (or, with `endpoint`, an endpoint) private or discoverable."""
        path = f"/api/v1/{'endpoints' if endpoint else 'models'}/{_q(name)}"
        body: JsonDict = self._http.json("PATCH", path, json={"visibility": visibility})
        return {"name": body["name"], "visibility": body["visibility"]}

    def set_contact(self, name: str, contact: str) -> JsonDict:
        """Who to ask about the model `name` (shown in the catalog)."""
        body: JsonDict = self._http.json("PATCH", f"/api/v1/models/{_q(name)}", json={"contact": contact})
        return {"name": body["name"], "contact": body["contact"]}

    def close(self) -> None:
        self._http.close()


def _q(part: str) -> str:
    return quote(part, safe="")
