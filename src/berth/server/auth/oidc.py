"""JWTs of an OpenID Connect identity provider: signatures checked with the issuer's cached keys.

The keys (a JWKS) come from a URL or a file, read at start and again, in the background, when a
token names a key id the cache does not hold (at most every `JWKS_REFETCH_S`; that token is refused,
the next ones signed with the new key pass). A verified token is cached
by its sha256 until it expires, so a caller reusing its JWT costs a dictionary look-up. Accepted
algorithms are asymmetric only (RS256/384/512, ES256/384, PS256, EdDSA): ``none`` and HMAC
(whose key would be public here) are refused.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, Final

import jwt

from berth.core.errors import BerthError, ErrorCode
from berth.server.auth.access_cache import unauthenticated

log = logging.getLogger(__name__)

ALGORITHMS: Final = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256", "EdDSA"]
JWKS_REFETCH_S: Final = 30.0
LEEWAY_S: Final = 30
MAX_CACHED: Final = 100_000


class JwtVerifier:
    def __init__(self, *, issuer: str, audience: str | None, jwks: str, principal_claim: str = "sub") -> None:
        self._issuer = issuer
        self._audience = audience
        self._source = jwks
        self._claim = principal_claim
        self._keys: dict[str, Any] = {}
        self._fetched_at = 0.0
        self._verified: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self._fetching = False
        self._load_keys()

    def _load_keys(self) -> None:
        try:
            if self._source.startswith(("https://", "http://")):
                with urllib.request.urlopen(self._source, timeout=10) as response:
                    document = json.loads(response.read())
            else:
                document = json.loads(Path(self._source).read_text())
            key_set = jwt.PyJWKSet.from_dict(document)
        except (OSError, ValueError, jwt.exceptions.PyJWTError) as exc:
            raise BerthError(
                ErrorCode.UNAVAILABLE, f"cannot read the OIDC keys from {self._source}: {exc}"
            ) from None
        self._keys = {key.key_id or "": key for key in key_set.keys}
        self._fetched_at = time.monotonic()

    def _key(self, kid: str) -> Any:
        key = self._keys.get(kid)
        if key is None and len(self._keys) == 1 and not kid:
            key = next(iter(self._keys.values()))
        if key is None:
            self._refetch_soon()
            raise unauthenticated(f"invalid token: unknown signing key {kid!r}")
        return key

    def _refetch_soon(self) -> None:
        """Fetch the keys again in the background (never on the event loop: the issuer may be slow),
        at most every `JWKS_REFETCH_S`; a token signed with a rotated key works once they are in."""
        with self._lock:
            if self._fetching or time.monotonic() - self._fetched_at <= JWKS_REFETCH_S:
                return
            self._fetching = True
        threading.Thread(target=self._refetch, name="berth-jwks", daemon=True).start()

    def _refetch(self) -> None:
        try:
            self._load_keys()
        except BerthError as exc:
            log.warning("%s", exc.message)
            self._fetched_at = time.monotonic()  # try again after the interval, not at once
        finally:
            self._fetching = False

    def verify(self, token: str) -> tuple[str, float]:
        """The principal a valid JWT names and when it expires; UNAUTHENTICATED (with the reason)
        for any other."""
        digest = hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()
        cached = self._verified.get(digest)
        if cached is not None:
            if cached[1] > time.time():
                return cached
            del self._verified[digest]
            raise unauthenticated("token expired")
        try:
            header = jwt.get_unverified_header(token)
            algorithm = header.get("alg")
            if algorithm not in ALGORITHMS:
                raise unauthenticated(f"invalid token: algorithm {algorithm!r} is not accepted")
            key = self._key(str(header.get("kid") or ""))
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[str(algorithm)],
                audience=self._audience,
                issuer=self._issuer,
                leeway=LEEWAY_S,
                options={"require": ["exp", "iss", self._claim]},
            )
        except jwt.ExpiredSignatureError:
            raise unauthenticated("token expired") from None
        except jwt.PyJWTError as exc:
            raise unauthenticated(f"invalid token: {exc}") from None
        principal = claims.get(self._claim)
        if not isinstance(principal, str) or not principal:
            raise unauthenticated(f"invalid token: claim {self._claim!r} is not a name")
        if len(self._verified) >= MAX_CACHED:
            self._verified.clear()
        self._verified[digest] = verified = (principal, float(claims["exp"]))
        return verified
