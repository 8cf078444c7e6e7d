"""Feature views as the CLI and the SDK see them (docs/features.md).

    import berth
    f = berth.features(url="http://127.0.0.1:8080")
    f.create_view({"name": "customers", "entity": "customer_id",
                   "features": {"age": "int64", "euribor3m": "float64"},
                   "source": "redis://127.0.0.1:6379/0", "ttl_s": 86400}, team="marketing")
    f.put("customers", {"c-1": {"age": 41, "euribor3m": 4.86}})
    f.stream("customers", (("c-2", {"age": 35, "euribor3m": 1.3}),))   # an update feed
    f.read("customers", ["c-1"])

Both implementations answer with the REST API's JSON; the embedded one
(`berth.client.embedded.features`) is imported only when a home is opened.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias
from urllib.parse import quote

import orjson

from berth.client.transport import Transport

if TYPE_CHECKING:
    from berth.client.embedded.features import LocalFeatures

JsonDict = dict[str, Any]
Features: TypeAlias = "RemoteFeatures | LocalFeatures"


def open_features(
    *, home: str | Path | None = None, url: str | None = None, token: str | None = None
) -> Features:
    """The feature views of the server at `url` (called with `token`, default ``BERTH_TOKEN``),
    else of the embedded registry in `home`."""
    url = url or (None if home is not None else os.environ.get("BERTH_URL"))
    if url:
        return RemoteFeatures(url, token=token)
    from berth.client.embedded.features import open_local_features

    return open_local_features(home)


class RemoteFeatures:
    """Feature views behind a running server's API (``/api/v1/features``)."""

    def __init__(
        self, url: str, *, timeout: float = 60.0, token: str | None = None, transport: Transport | None = None
    ) -> None:
        self._http = transport or Transport(url, timeout=timeout, token=token)

    def create_view(self, spec: Mapping[str, Any], *, team: str = "default") -> JsonDict:
        result: JsonDict = self._http.json("POST", "/api/v1/features/views", json={**spec, "team": team})
        return result

    def views(self) -> list[JsonDict]:
        result: list[JsonDict] = self._http.json("GET", "/api/v1/features/views")
        return result

    def view(self, name: str) -> JsonDict:
        result: JsonDict = self._http.json("GET", _path(name))
        return result

    def update_view(self, name: str, changes: Mapping[str, Any]) -> JsonDict:
        result: JsonDict = self._http.json("PATCH", _path(name), json=dict(changes))
        return result

    def delete_view(self, name: str) -> bool:
        return bool(self._http.json("DELETE", _path(name))["deleted"])

    def put(self, name: str, values: Mapping[str, Mapping[str, Any]]) -> int:
        """Insert or replace the values of each key (at most 10,000 a call)."""
        body = {"values": {k: dict(v) for k, v in values.items()}}
        return int(self._http.json("PUT", f"{_path(name)}/values", json=body)["written"])

    def stream(self, name: str, rows: Iterable[tuple[str, Mapping[str, Any]]]) -> int:
        """Send `rows` (key, values) as one streamed request, written as they arrive."""

        def lines() -> Iterator[bytes]:
            for key, values in rows:
                yield orjson.dumps({"key": key, "values": dict(values)}) + b"\n"

        headers = {"content-type": "application/x-ndjson"}
        response = self._http.json("POST", f"{_path(name)}/stream", content=lines(), headers=headers)
        return int(response["written"])

    def read(self, name: str, keys: Iterable[str]) -> JsonDict:
        """key -> {"values", "updated_at"} for the keys stored (no TTL or default applied)."""
        result: JsonDict = self._http.json("POST", f"{_path(name)}/read", json={"keys": list(keys)})
        return dict(result["values"])

    def materialize(
        self, name: str, *, as_of: str | None = None, since: str | None = None, chunk_rows: int = 5000
    ) -> JsonDict:
        """Enqueue a ``features-materialize`` job of view `name` (times: ISO 8601 or unix seconds);
        the job's JSON (``id``, ``status``, ``progress``...)."""
        body = {"as_of": as_of, "since": since, "chunk_rows": chunk_rows}
        result: JsonDict = self._http.json(
            "POST", f"{_path(name)}/materialize", json={k: v for k, v in body.items() if v is not None}
        )
        return result

    def materialize_job(self, name: str, job_id: int) -> JsonDict:
        """A materialize job of view `name`, as it is now."""
        result: JsonDict = self._http.json("GET", f"{_path(name)}/materialize/{int(job_id)}")
        return result

    def close(self) -> None:
        self._http.close()


def _path(name: str) -> str:
    return f"/api/v1/features/views/{quote(name, safe='')}"
