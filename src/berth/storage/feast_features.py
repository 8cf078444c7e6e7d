"""The ``feast+http://host:port/FEAST_VIEW`` feature source: Feast's feature server, over HTTP.

berth does not import Feast (its SDK pins pandas < 3): it calls the feature server that
``feast serve`` runs, ``POST /get-online-features``, once per request and entity key name for all
the views and keys that go to that server. FEAST_VIEW (the URI's path) is the view's name in Feast
(default: the berth view's name); the berth view's ``entity`` is Feast's join key, sent as text
unless the URI says ``?key_type=int64``. A key none of whose features is found (``NOT_FOUND``,
or, as Feast 0.67 answers an unknown key, null with no event time) is not found;
``event_timestamps`` give each row's age. Feast views are written through Feast (``feast
materialize``, push sources), not through berth.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

import httpx

from berth.core.errors import BerthError, ErrorCode
from berth.core.features import FeatureView
from berth.storage.feature_protocols import StoredRow, ViewRead

_NOT_FOUND: Final = "NOT_FOUND"
_TIMEOUT_S: Final = 30.0


def feast_view_name(view: FeatureView) -> str:
    path = urlsplit(view.source).path.strip("/")
    return path or view.name


class FeastFeatures:
    def __init__(self, uri: str) -> None:
        parts = urlsplit(uri)
        scheme = parts.scheme.removeprefix("feast+")
        self._base = f"{scheme}://{parts.netloc}"
        self._int_keys = parse_qs(parts.query).get("key_type", ["string"])[0] == "int64"
        self._clients: dict[asyncio.AbstractEventLoop, httpx.AsyncClient] = {}

    def _client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = httpx.AsyncClient(base_url=self._base, timeout=_TIMEOUT_S)
            self._clients[loop] = client
        return client

    async def read(self, reads: Sequence[ViewRead]) -> list[dict[str, StoredRow]]:
        by_entity: dict[str, list[int]] = {}
        for index, r in enumerate(reads):
            by_entity.setdefault(r.view.entity, []).append(index)
        answers: list[dict[str, StoredRow]] = [{} for _ in reads]
        calls = [self._call(entity, [reads[i] for i in indices]) for entity, indices in by_entity.items()]
        for indices, found in zip(by_entity.values(), await asyncio.gather(*calls), strict=True):
            for i, rows in zip(indices, found, strict=True):
                answers[i] = rows
        return answers

    async def _call(self, entity: str, reads: list[ViewRead]) -> list[dict[str, StoredRow]]:
        keys = list(dict.fromkeys(k for r in reads for k in r.keys))
        refs = [(r, f, f"{feast_view_name(r.view)}:{f}") for r in reads for f in r.features]
        body = {
            "features": list(dict.fromkeys(ref for _, _, ref in refs)),
            "entities": {entity: [int(k) if self._int_keys else k for k in keys]},
            "full_feature_names": True,
        }
        with _unavailable():
            response = await self._client().post("/get-online-features", json=body)
        if response.status_code != 200:
            raise BerthError(
                ErrorCode.FEATURES_UNAVAILABLE,
                f"feast answered {response.status_code}: {response.text[:300]}",
            )
        columns = _columns(response.json())
        answers: list[dict[str, StoredRow]] = []
        for r in reads:
            found: dict[str, StoredRow] = {}
            for row, key in enumerate(keys):
                if key not in set(r.keys):
                    continue
                values: dict[str, Any] = {}
                present, newest = False, None
                for feature in r.features:
                    value, status, at = columns[f"{feast_view_name(r.view)}__{feature}"][row]
                    if status != _NOT_FOUND and (value is not None or at is not None):
                        present = True
                        values[feature] = value
                        newest = at if newest is None or (at is not None and at > newest) else newest
                if present:
                    found[key] = StoredRow(values, newest)
            answers.append(found)
        return answers

    async def warm(self) -> None:
        with _unavailable():
            await self._client().get("/health")  # Feast's feature server: 200 once it serves

    def write(
        self, view: FeatureView, rows: Mapping[str, Mapping[str, Any]], at: float | Mapping[str, float]
    ) -> int:
        raise BerthError(
            ErrorCode.INVALID_REQUEST,
            f"view {view.name!r} is served by Feast: write it through Feast (materialize, push sources)",
        )

    def close(self) -> None:
        pass

    async def aclose(self) -> None:
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()


@contextmanager
def _unavailable() -> Iterator[None]:
    """A call's transport error as FEATURES_UNAVAILABLE (the view's `on_unavailable` decides)."""
    try:
        yield
    except httpx.HTTPError as exc:
        raise BerthError(ErrorCode.FEATURES_UNAVAILABLE, f"feast: {type(exc).__name__}: {exc}") from exc


def _columns(doc: Any) -> dict[str, list[tuple[Any, str, float | None]]]:
    """Feature name -> per row (value, status, unix time) from Feast's answer."""
    try:
        names = doc["metadata"]["feature_names"]
        results = doc["results"]
        columns = {}
        for name, result in zip(names, results, strict=True):
            stamps = result.get("event_timestamps") or [None] * len(result["values"])
            columns[str(name).replace(":", "__")] = [
                (value, str(status), _stamp(at))
                for value, status, at in zip(result["values"], result["statuses"], stamps, strict=True)
            ]
        return columns
    except (KeyError, TypeError, ValueError) as exc:
        raise BerthError(
            ErrorCode.FEATURES_UNAVAILABLE, f"feast answered an unexpected shape: {exc}"
        ) from exc


def _stamp(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    at = datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return at if at > 0 else None
