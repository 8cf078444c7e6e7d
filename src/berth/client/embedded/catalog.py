"""The catalog of a home folder opened in this process (``--home``): `LocalCatalog`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from berth.client.catalog import JsonDict
from berth.client.embedded.home import open_home
from berth.core.catalog import CatalogQuery, Viewer
from berth.wiring.workspace import Workspace

EVERYTHING = Viewer(everything=True)
"""Who holds the database sees every entry, as on a server without authentication."""


def open_local_catalog(home: str | Path | None) -> LocalCatalog:
    return LocalCatalog(open_home(home))


class LocalCatalog:
    def __init__(self, workspace: Workspace) -> None:
        self._ws = workspace

    def __enter__(self) -> LocalCatalog:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def search(self, q: str | None = None, **filters: Any) -> JsonDict:
        query = CatalogQuery(text=q, **filters)
        return self._ws.catalog_store.search(query, EVERYTHING).to_json()

    def get(self, name: str) -> JsonDict:
        return self._ws.catalog_store.detail(name).to_json(may_read=True, may_predict=True)

    def set_visibility(self, name: str, visibility: str, *, endpoint: bool = False) -> JsonDict:
        if endpoint:
            value = self._ws.catalog_store.set_endpoint_visibility(name, visibility)
        else:
            value = self._ws.store.update_model(name, visibility=visibility).visibility
        return {"name": name, "visibility": value}

    def set_contact(self, name: str, contact: str) -> JsonDict:
        return {"name": name, "contact": self._ws.store.update_model(name, contact=contact).contact}

    def close(self) -> None:
        self._ws.close()
