"""The access table a server holds in memory: token hashes, roles, grants and model teams.

Requests never touch the database to be authenticated or authorized: a token is looked up by its
sha256 in the table, its expiry compared with the clock. The table is reloaded whenever the
registry's or the security change counter moves, checked every ``auth_refresh_s`` (0.5 s by
default, at most 1 s), so a revoked token stops working on every replica within a second; a change
made through this server reloads it at once. A model the table does not know yet (pushed a moment
ago elsewhere) reloads it too, at most every `MISS_RELOAD_S`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from concurrent.futures import Executor
from dataclasses import replace
from typing import Final

from berth.core.access import Action, Principal, Resource, Role, allowed
from berth.core.errors import BerthError, ErrorCode
from berth.core.security import AccessSnapshot, token_hash
from berth.storage.security_protocols import SecurityStore

log = logging.getLogger(__name__)

MISS_RELOAD_S: Final = 0.1


def unauthenticated(reason: str) -> BerthError:
    return BerthError(ErrorCode.UNAUTHENTICATED, reason)


class AccessCache:
    def __init__(self, store: SecurityStore, executor: Executor, *, refresh_s: float) -> None:
        self._store = store
        self._executor = executor
        self._refresh_s = refresh_s
        self.current: AccessSnapshot | None = None
        """The table in use (replaced whole on every reload)."""
        self._principals: dict[str, Principal] = {}
        self._allowed: dict[tuple[str, Action], frozenset[str]] = {}
        self._names: dict[str, str] = {}
        """identity (uid) -> the model or endpoint name it holds now."""
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._last_load = 0.0

    async def start(self) -> None:
        await self.refresh()
        self._task = asyncio.create_task(self._poll_forever(), name="berth-access-refresh")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def refresh(self) -> None:
        """Reload the table from the database now."""
        async with self._lock:
            loop = asyncio.get_running_loop()
            self._apply(await loop.run_in_executor(self._executor, self._store.access_snapshot))

    def load_now(self) -> None:
        """Reload synchronously (before an event loop runs, and in tests)."""
        self._apply(self._store.access_snapshot())

    def _apply(self, snapshot: AccessSnapshot) -> None:
        self.current = snapshot
        self._principals = {}
        self._allowed = {}
        self._names = {uid: name for name, uid in snapshot.identities.items()}
        self._last_load = time.monotonic()

    async def _poll_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self._refresh_s)
            try:
                counters = await loop.run_in_executor(self._executor, self._store.generations)
                current = self.current
                if current is None or counters != (current.registry_generation, current.security_generation):
                    await self.refresh()
            except BerthError as exc:  # the database is away: keep the last table, try again
                log.warning("cannot refresh the access table: %s", exc.message)

    @property
    def snapshot(self) -> AccessSnapshot:
        if self.current is None:
            raise BerthError(ErrorCode.UNAVAILABLE, "the access table is not loaded yet")
        return self.current

    # -- who is calling -------------------------------------------------------------------------
    def principal(self, name: str) -> Principal:
        """The principal called `name` with its roles and grants as of the current table."""
        cached = self._principals.get(name)
        if cached is not None:
            return cached
        snapshot = self.snapshot
        roles = snapshot.memberships.get(name, {})
        # grants are held on identities: one made on an endpoint since deleted names nothing, even
        # when another endpoint or model has taken its name
        granted = frozenset(
            self._names[uid]
            for team, role in roles.items()
            if role >= Role.PREDICTOR
            for uid in snapshot.grants.get(team, ())
            if uid in self._names
        )
        principal = Principal(name, roles=dict(roles), granted=granted, admin=name in snapshot.admins)
        self._principals[name] = principal
        return principal

    def token_principal(self, token: str) -> tuple[Principal, float]:
        """The owner of API token `token` (carrying the token's id and expiry, which tokens it
        mints inherit) and when the token expires (unix time); UNAUTHENTICATED when it is unknown,
        revoked or expired, itself or through the token it was created with."""
        record = self.snapshot.tokens.get(token_hash(token))
        if record is None:
            raise unauthenticated("invalid token")
        if record.revoked:
            raise unauthenticated("token revoked")
        if record.expires_at <= time.time():
            raise unauthenticated("token expired")
        principal = replace(
            self.principal(record.principal), token_id=record.id, credential_expires_at=record.expires_at
        )
        return principal, record.expires_at

    def allowed_models(self, principal: Principal, action: Action) -> frozenset[str]:
        """Every model `principal` may do `action` on, as `authorize` decides, worked out once per
        principal and action for the current table (the fast path's test is then one look-up)."""
        key = (principal.name, action)
        models = self._allowed.get(key)
        if models is None:
            teams = self.snapshot.model_teams
            models = frozenset(
                m for m, team in teams.items() if allowed(principal, action, Resource.model(m, team))
            )
            if len(self._allowed) > 100_000:
                self._allowed.clear()
            self._allowed[key] = models
        return models

    # -- what is called -------------------------------------------------------------------------
    def model_team(self, name: str) -> str | None:
        return self.snapshot.model_teams.get(name)

    async def model_team_fresh(self, name: str) -> str | None:
        """`model_team`, reloading the table first when it does not know `name` (rate-limited)."""
        team = self.model_team(name)
        if team is None and time.monotonic() - self._last_load > MISS_RELOAD_S:
            await self.refresh()
            team = self.model_team(name)
        return team

    def team_exists(self, name: str) -> bool:
        return name in self.snapshot.teams
