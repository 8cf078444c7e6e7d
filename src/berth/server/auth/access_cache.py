"""The access table a server holds in memory: token hashes, roles, grants and model teams.

Requests never touch the database to be authenticated or authorized: a token is looked up by its
sha256 in the table, its expiry compared with the clock. The table is reloaded whenever the
registry's or the security change counter moves, checked every ``auth_refresh_s`` (0.5 s by
default, at most 1 s), so a revoked token stops working on every replica within a second; a change
made through this server reloads it at once. A model the table does not know yet (pushed a moment
ago elsewhere) reloads it too, at most every `MISS_RELOAD_S`.

Grants may expire: the table keeps when each one does, and the earliest of them (`next_expiry`).
Every read of the table (`current`) compares that with the clock, and once it has passed the table
is replaced by itself less the expired grants, with the principals and allowed sets worked out
from it forgotten: a grant stops counting at its expiry on every replica, with no database change
and no reload; until then a read costs one comparison more.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
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
        self._current: AccessSnapshot | None = None
        self._next_expiry = math.inf
        self._principals: dict[str, Principal] = {}
        self._allowed: dict[tuple[str, Action], frozenset[str]] = {}
        self._names: dict[str, str] = {}
        """identity (uid) -> the model or endpoint name it holds now."""
        self._consumer_teams: dict[tuple[str, str], str] = {}
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

    @property
    def current(self) -> AccessSnapshot | None:
        """The table in use (replaced whole on every reload, and when a grant in it expires)."""
        if self._next_expiry < math.inf and self._next_expiry <= time.time():
            self._expire()
        return self._current

    def _expire(self) -> None:
        current = self._current
        if current is not None:
            self._apply(current.without_expired(time.time()), loaded=False)

    def _apply(self, snapshot: AccessSnapshot, *, loaded: bool = True) -> None:
        self._current = snapshot
        self._next_expiry = snapshot.next_expiry
        self._principals = {}
        self._allowed = {}
        self._consumer_teams = {}
        self._names = {uid: name for name, uid in snapshot.identities.items()}
        if loaded:
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
        current = self.current
        if current is None:
            raise BerthError(ErrorCode.UNAVAILABLE, "the access table is not loaded yet")
        return current

    # -- who is calling -------------------------------------------------------------------------
    def principal(self, name: str) -> Principal:
        """The principal called `name` with its roles and grants as of the current table."""
        if self._next_expiry < math.inf and self._next_expiry <= time.time():
            self._expire()
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
        principal and action for the current table (the fast path's test is then one look-up, and a
        clock comparison: a grant that expires forgets them)."""
        if self._next_expiry < math.inf and self._next_expiry <= time.time():
            self._expire()
        key = (principal.name, action)
        models = self._allowed.get(key)
        if models is None:
            # the principal as of this table (one a request carries may predate a grant's expiry)
            current = self.principal(principal.name)
            snapshot = self.snapshot
            found = snapshot.discoverable
            models = frozenset(
                m
                for m, team in snapshot.model_teams.items()
                if allowed(current, action, Resource.model(m, team, discoverable=m in found))
            )
            if len(self._allowed) > 100_000:
                self._allowed.clear()
            self._allowed[key] = models
        return models

    def consumer_team(self, principal: Principal, name: str) -> str:
        """The team a call of `principal` to the model or endpoint `name` counts for: the owner
        team when the principal is a member of it, else the team of the principal whose grant lets
        it in ('' when neither: a platform administrator, or a name the table does not know)."""
        key = (principal.name, name)
        team = self._consumer_teams.get(key)
        if team is None:
            team = self._consumer_team(principal, name)
            if len(self._consumer_teams) > 100_000:
                self._consumer_teams.clear()
            self._consumer_teams[key] = team
        return team

    def _consumer_team(self, principal: Principal, name: str) -> str:
        snapshot = self.current
        if snapshot is None:
            return ""
        owner = snapshot.model_teams.get(name)
        if owner is not None and owner in principal.roles:
            return owner
        uid = snapshot.identities.get(name)
        granted = sorted(
            team
            for team, role in principal.roles.items()
            if role >= Role.PREDICTOR and uid is not None and uid in snapshot.grants.get(team, ())
        )
        return granted[0] if granted else ""

    # -- what is called -------------------------------------------------------------------------
    def model_team(self, name: str) -> str | None:
        return self.snapshot.model_teams.get(name)

    def discoverable(self, name: str) -> bool:
        """Whether the model or endpoint `name` is discoverable, as of the current table."""
        return name in self.snapshot.discoverable

    async def model_team_fresh(self, name: str) -> str | None:
        """`model_team`, reloading the table first when it does not know `name` (rate-limited)."""
        team = self.model_team(name)
        if team is None and await self.reload_if_due():
            team = self.model_team(name)
        return team

    async def reload_if_due(self) -> bool:
        """Reload the table when the last load is older than `MISS_RELOAD_S`; whether it did.

        What a name the table does not know costs; a name hidden from the caller is made to cost
        the same (`Guard.authorize`), so the time of a NOT_FOUND does not tell the two apart."""
        if time.monotonic() - self._last_load <= MISS_RELOAD_S:
            return False
        await self.refresh()
        return True

    def team_exists(self, name: str) -> bool:
        return name in self.snapshot.teams
