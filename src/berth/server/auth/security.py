"""A server's security, built from settings: stores, the access table, authentication, limits, TLS.

`open_security` applies the start-up rules: without authentication a server binds only to a
loopback address unless ``allow_insecure_bind`` forces it; a TLS certificate needs its key. The
process that listens says so loudly when authentication is off (`check_bind`, called where
``berth serve`` starts); a server built to answer in-process (``berth predict --home``) does not.
"""

from __future__ import annotations

import ipaddress
import logging
from concurrent.futures import Executor
from dataclasses import dataclass

from fastapi import FastAPI
from starlette.types import ASGIApp

from berth.core.errors import BerthError, ErrorCode
from berth.core.settings import Settings
from berth.server.auth.access_cache import AccessCache
from berth.server.auth.asgi_layer import AuthLayer
from berth.server.auth.authentication import Authenticator
from berth.server.auth.oidc import JwtVerifier
from berth.server.auth.permissions import Guard, public_paths
from berth.server.auth.rate_limit import RateLimiter
from berth.server.grpc.server import GrpcSecurity
from berth.storage.audit_store import SqlAuditStore
from berth.storage.security_protocols import AccessRequestStore, AuditStore, SecurityStore
from berth.storage.security_store import SqlSecurityStore
from berth.storage.sql_access_requests import SqlAccessRequestStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Security:
    store: SecurityStore
    audit: AuditStore
    cache: AccessCache | None
    authenticator: Authenticator
    guard: Guard
    limiter: RateLimiter | None
    tls: tuple[bytes, bytes] | None
    requests: AccessRequestStore

    async def start(self) -> None:
        if self.cache is not None:
            await self.cache.start()

    async def stop(self) -> None:
        if self.cache is not None:
            await self.cache.stop()

    def close(self) -> None:
        self.audit.close()
        self.store.close()

    def grpc(self) -> GrpcSecurity:
        return GrpcSecurity(self.authenticator, self.guard, self.limiter, self.tls)

    def asgi_layer(self, inner: ASGIApp, app: FastAPI) -> ASGIApp:
        return AuthLayer(
            inner, self.authenticator, self.guard, public_paths=public_paths(app), limiter=self.limiter
        )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def refuse_open_bind(settings: Settings) -> None:
    """Refuse to serve without authentication beyond this machine, unless forced."""
    if settings.auth_methods or is_loopback(settings.host) or settings.allow_insecure_bind:
        return
    raise BerthError(
        ErrorCode.INVALID_REQUEST,
        f"refusing to serve on {settings.host} without authentication: set BERTH_AUTH=tokens "
        "(and create a token with `berth token create --admin`), or bind to 127.0.0.1, or force "
        "it with BERTH_ALLOW_INSECURE_BIND=true",
    )


def check_bind(settings: Settings) -> None:
    """`refuse_open_bind`; else, without authentication, warn loudly (a process about to listen)."""
    refuse_open_bind(settings)
    if settings.auth_methods:
        return
    if not is_loopback(settings.host):
        log.warning(
            "!!! AUTHENTICATION IS OFF on %s (forced): anyone who can reach it may do anything", settings.host
        )
        return
    log.warning(
        "!!! AUTHENTICATION IS OFF: every caller on this machine may push, move aliases and predict. "
        "Set BERTH_AUTH=tokens to turn it on (docs/security.md)."
    )


def _tls(settings: Settings) -> tuple[bytes, bytes] | None:
    if settings.tls_cert is None and settings.tls_key is None:
        return None
    if settings.tls_cert is None or settings.tls_key is None:
        raise BerthError(ErrorCode.INVALID_REQUEST, "TLS needs both BERTH_TLS_CERT and BERTH_TLS_KEY")
    try:
        return settings.tls_key.read_bytes(), settings.tls_cert.read_bytes()
    except OSError as exc:
        raise BerthError(
            ErrorCode.INVALID_REQUEST, f"cannot read the TLS certificate or key: {exc}"
        ) from None


def _jwt(settings: Settings) -> JwtVerifier | None:
    if "oidc" not in settings.auth_methods:
        return None
    if not settings.oidc_issuer or not settings.oidc_jwks:
        raise BerthError(
            ErrorCode.INVALID_REQUEST, "BERTH_AUTH=oidc needs BERTH_OIDC_ISSUER and BERTH_OIDC_JWKS"
        )
    return JwtVerifier(
        issuer=settings.oidc_issuer,
        audience=settings.oidc_audience,
        jwks=settings.oidc_jwks,
        principal_claim=settings.oidc_principal_claim,
    )


def open_security(settings: Settings, executor: Executor) -> Security:
    refuse_open_bind(settings)
    tls = _tls(settings)
    store = SqlSecurityStore(settings.resolved_database_url)
    audit = SqlAuditStore(store.engine)
    try:
        jwt = _jwt(settings)
        cache = (
            AccessCache(store, executor, refresh_s=settings.auth_refresh_s) if settings.auth_methods else None
        )
    except BaseException:
        store.close()
        raise
    authenticator = Authenticator(cache, tokens="tokens" in settings.auth_methods, jwt=jwt)
    limiter = (
        RateLimiter(settings.rate_limit_rps, settings.rate_limit_burst) if settings.rate_limit_rps else None
    )
    requests = SqlAccessRequestStore(store.engine)
    return Security(store, audit, cache, authenticator, Guard(cache), limiter, tls, requests)
