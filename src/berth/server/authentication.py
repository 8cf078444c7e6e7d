"""Authentication: who a request's ``Authorization: Bearer …`` credential says it is.

Two kinds of credentials, by shape: berth API tokens (``berth_…``), looked up by sha256 in the
in-memory access table, and JWTs of the configured OIDC issuer (three dot-separated parts),
verified with the issuer's cached keys (`berth.server.oidc`). Both name a principal whose roles
come from the access table. Errors are UNAUTHENTICATED with the reason, never a server error.
"""

from __future__ import annotations

from typing import Final

from berth.core.access import ANONYMOUS, Principal
from berth.core.security import TOKEN_PREFIX
from berth.server.access_cache import AccessCache, unauthenticated
from berth.server.oidc import JwtVerifier

MAX_CREDENTIAL_BYTES: Final = 8192


class Authenticator:
    """Turns an Authorization header into a `Principal` (ANONYMOUS when authentication is off)."""

    def __init__(self, cache: AccessCache | None, *, tokens: bool, jwt: JwtVerifier | None) -> None:
        self.cache = cache
        self._tokens = tokens
        self._jwt = jwt
        self.enabled = cache is not None and (tokens or jwt is not None)

    def authenticate(self, authorization: str | None) -> Principal:
        if not self.enabled or self.cache is None:
            return ANONYMOUS
        if authorization is None or not authorization.strip():
            raise unauthenticated("missing credentials: send 'Authorization: Bearer <token>'")
        if len(authorization) > MAX_CREDENTIAL_BYTES:
            raise unauthenticated(f"Authorization header longer than {MAX_CREDENTIAL_BYTES} bytes")
        scheme, _, credential = authorization.strip().partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential or any(c.isspace() for c in credential):
            raise unauthenticated("malformed Authorization header: expected 'Bearer <token>'")
        if credential.startswith(TOKEN_PREFIX):
            if not self._tokens:
                raise unauthenticated("API tokens are not accepted here: send a JWT of the identity provider")
            return self.cache.token_principal(credential)
        if self._jwt is not None and credential.count(".") == 2:
            return self.cache.principal(self._jwt.verify(credential))
        raise unauthenticated("invalid token")
