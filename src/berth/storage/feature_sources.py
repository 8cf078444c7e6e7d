"""Which servers feature views may reach: the operator's allow-list (`Settings.feature_source_allow`).

A view's source (``redis://``, ``feast+http(s)://``) and offline history (``feast+flight://``) name
a server that berth's processes connect to: reading at every request, writing on `features put`
and materialize, and at create to check the history. Views are made by team maintainers, so
without a rule any of them could point berth at any host and port inside the bank's network. Only
the servers the operator lists are reachable; ``embedded:``, a path in the home and ``s3://`` (the
batch jobs' own allow-list) reach no server of their own and are not judged here.

The rule is checked wherever a source is opened (create, serving, put, materialize, export joins),
so a view made before a server was removed from the list stops reaching it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Final
from urllib.parse import urlsplit

from berth.core.errors import BerthError, ErrorCode

NETWORK_SCHEMES: Final = MappingProxyType(
    {"redis": 6379, "feast+http": 80, "feast+https": 443, "feast+flight": None}
)
"""Schemes whose URI names a server, with the port a URI without one means (None: it must name one)."""

ANY_PORT: Final = -1


@dataclass(frozen=True, slots=True)
class FeatureSourceRules:
    """The servers views may reach: (scheme, host, port), port `ANY_PORT` for every port of a host."""

    allowed: frozenset[tuple[str, str, int]] = frozenset()

    @classmethod
    def parse(cls, text: str) -> FeatureSourceRules:
        """From comma-separated ``scheme://host[:port]`` entries (no port: every port of that host).
        ValueError names a malformed entry (the setting is refused at start)."""
        allowed: set[tuple[str, str, int]] = set()
        for raw in text.split(","):
            entry = raw.strip()
            if not entry:
                continue
            split = urlsplit(entry)
            if split.scheme not in NETWORK_SCHEMES or not split.hostname or split.path.strip("/"):
                raise ValueError(
                    f"feature_source_allow: {entry!r} is not scheme://host[:port] with a scheme of "
                    f"{', '.join(NETWORK_SCHEMES)}"
                )
            try:
                port = split.port
            except ValueError:
                raise ValueError(f"feature_source_allow: {entry!r} has an invalid port") from None
            allowed.add((split.scheme, split.hostname.lower(), ANY_PORT if port is None else port))
        return cls(frozenset(allowed))

    def check(self, uri: str, what: str) -> None:
        """Refuse (FORBIDDEN) a `uri` naming a server that is not allowed; INVALID_REQUEST when it
        names no host or port it can be judged by. URIs of other schemes pass (not a server)."""
        split = urlsplit(uri) if "://" in uri else None
        if split is None or split.scheme not in NETWORK_SCHEMES:
            return
        host = split.hostname
        try:
            port = split.port
        except ValueError:
            port = None
            host = None
        port = port if port is not None else NETWORK_SCHEMES[split.scheme]
        if not host or port is None:
            raise BerthError(
                ErrorCode.INVALID_REQUEST, f"the {what} {uri!r:.200} names no host and port berth can judge"
            )
        allowed = self.allowed
        if (split.scheme, host.lower(), port) in allowed or (split.scheme, host.lower(), ANY_PORT) in allowed:
            return
        raise BerthError(
            ErrorCode.FORBIDDEN,
            f"the {what} {split.scheme}://{host}:{port} is not a server feature views may reach: "
            "the operator lists those in the setting feature_source_allow",
            source=f"{split.scheme}://{host}:{port}",
        )
