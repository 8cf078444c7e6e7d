"""Consumers and deprecations as the CLI and the SDK see them (docs/consumers.md).

    import berth
    c = berth.consumers(url="http://127.0.0.1:8080")
    c.consumers("churn")                        # who calls it: team, principal, calls, versions
    c.deprecate("churn", version=1, sunset="2027-03-01", message="use version 2")
    c.deprecate("scoring", endpoint=True, sunset="2027-03-01")

Both implementations answer with the REST API's JSON; the embedded one
(`berth.client.embedded.consumers`) is imported only when a home is opened.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias
from urllib.parse import quote

from berth.client.transport import Transport
from berth.core.errors import BerthError, ErrorCode

if TYPE_CHECKING:
    from berth.client.embedded.consumers import LocalConsumers

JsonDict = dict[str, Any]

# What both implementations take. mypy checks each call against both.
Consumers: TypeAlias = "RemoteConsumers | LocalConsumers"


def open_consumers(
    *, home: str | Path | None = None, url: str | None = None, token: str | None = None
) -> Consumers:
    """The consumers and deprecations of the server at `url` (called with `token`, default
    ``BERTH_TOKEN``), else of the embedded registry in `home`."""
    url = url or (None if home is not None else os.environ.get("BERTH_URL"))
    if url:
        return RemoteConsumers(url, token=token)
    from berth.client.embedded.consumers import open_local_consumers

    return open_local_consumers(home)


def deprecation_target(version: int | str | None, alias: str | None, endpoint: bool) -> tuple[str, str]:
    """(scope, subject) of what a deprecation names: exactly one of a version, an alias, the endpoint."""
    given = [x for x in (version is not None, alias is not None, endpoint) if x]
    if len(given) != 1:
        raise BerthError(
            ErrorCode.INVALID_REQUEST, "name exactly one of a version, an alias, or the endpoint itself"
        )
    if endpoint:
        return "endpoint", ""
    return ("version", str(version)) if version is not None else ("alias", str(alias))


def moment_text(value: datetime | str | int | float | None) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, datetime) else str(value)


class RemoteConsumers:
    """Consumers and deprecations behind a running server's API (``/api/v1``)."""

    def __init__(
        self, url: str, *, timeout: float = 60.0, token: str | None = None, transport: Transport | None = None
    ) -> None:
        self._http = transport or Transport(url, timeout=timeout, token=token)

    def __enter__(self) -> RemoteConsumers:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def consumers(self, name: str, *, endpoint: bool = False) -> list[JsonDict]:
        """Who calls the model (or endpoint) `name`, by team and principal (its team's readers)."""
        result: list[JsonDict] = self._http.json("GET", f"{_base(name, endpoint)}/consumers")
        return result

    def deprecations(self, name: str, *, endpoint: bool = False) -> list[JsonDict]:
        result: list[JsonDict] = self._http.json("GET", f"{_base(name, endpoint)}/deprecations")
        return result

    def deprecate(
        self,
        name: str,
        *,
        sunset: datetime | str | int | float,
        version: int | str | None = None,
        alias: str | None = None,
        endpoint: bool = False,
        message: str = "",
        link: str | None = None,
        deprecated_at: datetime | str | None = None,
    ) -> JsonDict:
        """Announce that a version or alias of model `name` (or the endpoint `name`) goes away on
        `sunset` (an ISO 8601 date or time, or Unix seconds); its callers' answers say so."""
        scope, subject = deprecation_target(version, alias, endpoint)
        body: JsonDict = {"sunset": moment_text(sunset), "message": message, "link": link}
        if deprecated_at is not None:
            body["deprecated_at"] = moment_text(deprecated_at)
        if not endpoint:
            body |= {"scope": scope, "subject": subject}
        result: JsonDict = self._http.json("POST", f"{_base(name, endpoint)}/deprecations", json=body)
        return result

    def withdraw(
        self, name: str, *, version: int | str | None = None, alias: str | None = None, endpoint: bool = False
    ) -> JsonDict:
        """Withdraw a deprecation announced earlier."""
        scope, subject = deprecation_target(version, alias, endpoint)
        path = f"{_base(name, endpoint)}/deprecations"
        if not endpoint:
            path += f"/{scope}/{quote(subject, safe='')}"
        result: JsonDict = self._http.json("DELETE", path)
        return result

    def close(self) -> None:
        self._http.close()


def _base(name: str, endpoint: bool) -> str:
    return f"/api/v1/{'endpoints' if endpoint else 'models'}/{quote(name, safe='')}"
