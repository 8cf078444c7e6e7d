"""Authentication: who a request's ``Authorization: Bearer …`` credential says it is.

Two kinds of credentials, by shape: berth API tokens (``berth_…``), looked up by sha256 in the
in-memory access table, and JWTs of the configured OIDC issuer (three dot-separated parts),
verified with the issuer's cached keys (`berth.server.auth.oidc`). Both name a principal whose roles
come from the access table. Errors are UNAUTHENTICATED with the reason, never a server error.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import replace
from typing import Final

from berth.core.access import ANONYMOUS, Principal
from berth.core.security import TOKEN_PREFIX
from berth.server.auth.access_cache import AccessCache, unauthenticated
from berth.server.auth.oidc import JwtVerifier

MAX_CREDENTIAL_BYTES: Final = 8192
MAX_REMEMBERED: Final = 100_000
_B64TOKEN: Final = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
"""A bearer credential (RFC 6750 b64token): also every berth token and every JWT."""


class Authenticator:
    """Turns an Authorization header into a `Principal` (ANONYMOUS when authentication is off)."""

    def __init__(self, cache: AccessCache | None, *, tokens: bool, jwt: JwtVerifier | None) -> None:
        self.cache = cache
        self._tokens = tokens
        self._jwt = jwt
        self.enabled = cache is not None and (tokens or jwt is not None)
        self._recent: dict[bytes | str, tuple[Principal, float, object]] = {}
        """header -> (principal, valid until, the access table it was checked against)."""

    def authenticate(self, authorization: bytes | str | None) -> Principal:
        """The principal of an Authorization header value; UNAUTHENTICATED with the reason."""
        cache = self.cache
        if not self.enabled or cache is None:
            return ANONYMOUS
        if authorization is None:
            raise unauthenticated("missing credentials: send 'Authorization: Bearer <token>'")
        recent = self._recent.get(authorization)  # a caller reusing its credential: one look-up
        if recent is not None and recent[2] is cache.current and recent[1] > time.time():
            return recent[0]
        text = authorization.decode("latin-1") if isinstance(authorization, bytes) else authorization
        principal, valid_until = self._authenticate(text)
        if len(self._recent) >= MAX_REMEMBERED:
            self._recent.clear()
        self._recent[authorization] = (principal, valid_until, cache.current)
        return principal

    def _authenticate(self, authorization: str) -> tuple[Principal, float]:
        if self.cache is None:
            return ANONYMOUS, math.inf
        if not authorization.strip():
            raise unauthenticated("missing credentials: send 'Authorization: Bearer <token>'")
        if len(authorization) > MAX_CREDENTIAL_BYTES:
            raise unauthenticated(f"Authorization header longer than {MAX_CREDENTIAL_BYTES} bytes")
        scheme, _, credential = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or _B64TOKEN.fullmatch(credential) is None:
            raise unauthenticated("malformed Authorization header: expected 'Bearer <token>'")
        if credential.startswith(TOKEN_PREFIX):
            if not self._tokens:
                raise unauthenticated("API tokens are not accepted here: send a JWT of the identity provider")
            return self.cache.token_principal(credential)
        if self._jwt is not None and credential.count(".") == 2:
            name, expires_at = self._jwt.verify(credential)
            principal = replace(self.cache.principal(name), credential_expires_at=expires_at)
            return principal, expires_at
        raise unauthenticated("invalid token")
