"""The HTTP transport shared by berth's clients: one httpx client, errors rebuilt as `BerthError`."""

from __future__ import annotations

import os
import ssl
import warnings
from pathlib import Path
from typing import Any

import httpx
import orjson

from berth.core.consumers import parse_sunset_field
from berth.core.errors import BerthError, ErrorCode


class BerthDeprecationWarning(UserWarning):
    """An answer came from something its owner deprecated (a version, an alias, an endpoint): it
    carried the ``Deprecation`` and ``Sunset`` headers (docs/consumers.md). A UserWarning, so
    Python shows it by default (once per call site)."""


class Transport:
    """Sends requests to a berth server; a non-2xx answer becomes the `BerthError` the server sent."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 60.0,
        client: httpx.Client | None = None,
        token: str | None = None,
        verify: ssl.SSLContext | bool | None = None,
    ) -> None:
        """`token` (default: ``BERTH_TOKEN``) is sent as ``Authorization: Bearer``; `verify` is a CA
        bundle for a server with a private certificate (default: ``BERTH_CA_CERT``, else the system's)."""
        self.url = url.rstrip("/")
        token = token if token is not None else os.environ.get("BERTH_TOKEN")
        headers = {"authorization": f"Bearer {token}"} if token else {}
        if verify is None:
            ca = os.environ.get("BERTH_CA_CERT")
            verify = ssl.create_default_context(cafile=ca) if ca else True
        self._client = client or httpx.Client(
            base_url=self.url, timeout=timeout, headers=headers, verify=verify
        )

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise BerthError(ErrorCode.UNAVAILABLE, f"cannot reach berth at {self.url}: {exc}") from exc
        if response.is_success:
            if "deprecation" in response.headers:
                warn_deprecated(response)
            return response
        raise _error_of(response)

    def download(self, path: str, out: Path) -> int:
        """GET `path` into the file `out`, streamed (never whole in memory); the bytes written. A
        download cut short leaves no file."""
        written = 0
        try:
            with self._client.stream("GET", path) as response:
                if not response.is_success:
                    response.read()
                    raise _error_of(response)
                with out.open("wb") as file:
                    for chunk in response.iter_bytes():
                        file.write(chunk)
                        written += len(chunk)
        except httpx.TransportError as exc:
            out.unlink(missing_ok=True)
            raise BerthError(
                ErrorCode.UNAVAILABLE, f"cannot download from berth at {self.url}: {exc}"
            ) from exc
        return written

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return orjson.loads(self.request(method, path, **kwargs).content)

    def close(self) -> None:
        self._client.close()


def warn_deprecated(response: httpx.Response) -> None:
    """A `BerthDeprecationWarning` naming what answered and its sunset date."""
    headers = response.headers
    model, version = headers.get("berth-model"), headers.get("berth-model-version")
    endpoint = headers.get("berth-endpoint")
    what = f"{response.request.method} {response.request.url.path}"
    if model:
        answered = f"model {model!r} version {version}"
        what += f" (endpoint {endpoint!r}, {answered})" if endpoint else f" ({answered})"
    sunset = headers.get("sunset", "")
    try:
        when = f"on {parse_sunset_field(sunset):%Y-%m-%d}"
    except (TypeError, ValueError):
        when = f"at {sunset!r}" if sunset else "at a date not given"
    message = f"{what} answered from something deprecated: it goes away {when}"
    link = headers.get("link", "")
    if 'rel="deprecation"' in link and link.startswith("<"):
        message += f"; see {link[1 : link.index('>')]}"
    warnings.warn(message, BerthDeprecationWarning, stacklevel=4)


def _error_of(response: httpx.Response) -> BerthError:
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        body = None
    if isinstance(body, dict) and "code" in body:
        return BerthError.from_dict(body)
    code = ErrorCode.ROUTE_NOT_FOUND if response.status_code == 404 else ErrorCode.INTERNAL
    return BerthError(code, f"HTTP {response.status_code}: {response.text[:200]}")
