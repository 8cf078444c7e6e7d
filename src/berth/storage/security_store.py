"""`SqlSecurityStore`: teams, members, endpoint grants, principals and API tokens (see `SecurityStore`).

Every change runs in one write transaction that also appends its audit event and bumps the
security change counter, so servers reload their in-memory access table within their refresh
interval (`berth.server.auth.access_cache`), and a change is never committed without its event.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy import Connection, Engine, Row, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL

from berth.core.access import Role, Visibility
from berth.core.audit import current_audit_context
from berth.core.errors import BerthError, ErrorCode
from berth.core.security import (
    AccessSnapshot,
    ApiToken,
    EndpointGrant,
    IssuedToken,
    Membership,
    Team,
    TokenRecord,
    check_principal_name,
    check_team_name,
    display_prefix,
    grant_expiry,
    new_token,
    token_hash,
    token_not_found,
)
from berth.storage import queries as q
from berth.storage.audit_store import record_event
from berth.storage.db import create_database_engine
from berth.storage.migrate import upgrade_database
from berth.storage.rows import checked_text
from berth.storage.schema import (
    api_tokens,
    endpoint_grants,
    endpoints,
    models,
    principals,
    registry_state,
    security_state,
    team_members,
    teams,
)
from berth.storage.transactions import database_errors, run_transaction

MAX_TOKEN_DAYS: Final = 3650


def ensure_team(conn: Connection, name: str) -> None:
    """Create team `name` (no members) in the caller's transaction unless it exists: the team a
    model or endpoint is *created* in without authentication (a server with authentication refuses
    a missing team before). Audited as ``team.create``, like `SqlSecurityStore.create_team`, and
    held to the same name rules (so no team can take a reserved owner's name, such as `PLATFORM`)."""
    check_team_name(name)
    values = {"name": name, "description": "", "created_at": q.now()}
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(teams).values(**values).on_conflict_do_nothing(index_elements=["name"])
    if conn.execute(stmt.returning(teams.c.name)).first() is not None:  # made now
        record_event(conn, "team.create", "team", name, after={"description": ""})
        _bump(conn)


def require_team(conn: Connection, name: str) -> None:
    """INVALID_REQUEST (400) unless team `name` exists: where something *moves* to (a model's or
    an endpoint's new team). Teams are never created by a move."""
    _team_row(conn, name)


def _bump(conn: Connection) -> None:
    conn.execute(update(security_state).values(generation=security_state.c.generation + 1))


def _granted_identity(conn: Connection, name: str) -> str:
    """The identity a grant on `name` is held on; MODEL_NOT_FOUND when nothing has that name."""
    uid = q.identity_of(conn, name)
    if uid is None:
        raise BerthError(ErrorCode.MODEL_NOT_FOUND, f"model {name!r} not found", model=name)
    return uid


def revoke_grants_of(conn: Connection, name: str, uid: str, reason: str) -> None:
    """Delete every grant on the identity `uid` (called `name`), each one audited: in the transaction
    that deletes what it names, so no grant outlives it."""
    held = conn.execute(
        select(endpoint_grants.c.id, teams.c.name.label("team"))
        .join(teams, teams.c.id == endpoint_grants.c.team_id)
        .where(endpoint_grants.c.target_uid == uid)
    ).all()
    if not held:
        return
    conn.execute(delete(endpoint_grants).where(endpoint_grants.c.target_uid == uid))
    for grant in held:
        record_event(
            conn,
            "grant.revoke",
            "endpoint",
            name,
            before={"team": grant.team, "role": "predictor"},
            after={"reason": reason},
        )
    _bump(conn)


def put_grant(
    conn: Connection, endpoint: str, target_uid: str, team: Row[Any], expires_at: datetime | None
) -> EndpointGrant:
    """Team `team` (its row) may call the identity `target_uid` (called `endpoint`) until
    `expires_at` (None: for good), in the caller's transaction: created (``grant.create``), or its
    expiry set when it exists with another one (``grant.update``); the security counter is bumped."""
    where = (endpoint_grants.c.target_uid == target_uid) & (endpoint_grants.c.team_id == team.id)
    existing = conn.execute(select(endpoint_grants).where(where)).first()
    if existing is not None and existing.expires_at == expires_at:
        return EndpointGrant(endpoint, team.name, existing.granted_by, existing.at, existing.expires_at)
    at = q.now()
    by = _actor(conn)
    after = {"team": team.name, "role": "predictor", "expires_at": expires_at}
    if existing is None:
        conn.execute(
            insert(endpoint_grants).values(
                endpoint=endpoint,
                target_uid=target_uid,
                team_id=team.id,
                granted_by=by,
                at=at,
                expires_at=expires_at,
            )
        )
        record_event(conn, "grant.create", "endpoint", endpoint, after=after)
    else:
        conn.execute(update(endpoint_grants).where(where).values(granted_by=by, at=at, expires_at=expires_at))
        before = {"team": team.name, "role": "predictor", "expires_at": existing.expires_at}
        record_event(conn, "grant.update", "endpoint", endpoint, before=before, after=after)
    _bump(conn)
    return EndpointGrant(endpoint, team.name, by, at, expires_at)


def team_row(conn: Connection, name: str) -> Row[Any]:
    """Team `name`'s row; INVALID_REQUEST (400) when there is no such team."""
    return _team_row(conn, name)


def _team_row(conn: Connection, name: str) -> Row[Any]:
    row = conn.execute(select(teams).where(teams.c.name == name)).first()
    if row is None:
        raise BerthError(ErrorCode.INVALID_REQUEST, f"team {name!r} does not exist", team=name)
    return row


def _token(row: Row[Any]) -> ApiToken:
    return ApiToken(
        id=int(row.id),
        principal=row.principal,
        prefix=row.prefix,
        description=row.description,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        created_by=row.created_by,
        parent_id=None if row.parent_id is None else int(row.parent_id),
    )


class SqlSecurityStore:
    """Access control in the registry database, given by URL or engine (migrated when opened)."""

    def __init__(self, url_or_engine: str | URL | Engine, *, migrate: bool = True) -> None:
        self._owns_engine = not isinstance(url_or_engine, Engine)
        self._engine = (
            url_or_engine if isinstance(url_or_engine, Engine) else create_database_engine(url_or_engine)
        )
        if migrate:
            try:
                with database_errors():
                    upgrade_database(self._engine)
            except BaseException:
                self.close()
                raise

    @property
    def engine(self) -> Engine:
        return self._engine

    # teams and members

    def create_team(self, name: str, *, description: str = "") -> Team:
        check_team_name(name)
        text = checked_text("description", description)

        def work(conn: Connection) -> Team:
            if conn.execute(select(teams.c.id).where(teams.c.name == name)).first() is not None:
                raise BerthError(ErrorCode.ALREADY_EXISTS, f"team {name!r} already exists", team=name)
            at = q.now()
            conn.execute(insert(teams).values(name=name, description=text, created_at=at))
            record_event(conn, "team.create", "team", name, after={"description": text})
            _bump(conn)
            return Team(name, text, at)

        return run_transaction(self._engine, work, write=True)

    def list_teams(self) -> list[Team]:
        def work(conn: Connection) -> list[Team]:
            rows = conn.execute(select(teams).order_by(teams.c.name))
            return [Team(r.name, r.description, r.created_at) for r in rows]

        return run_transaction(self._engine, work)

    def set_member(self, team: str, principal: str, role: Role) -> Membership:
        """Give `principal` `role` in `team` (replacing the role it had there)."""
        check_team_name(team)
        check_principal_name(principal)
        role = Role(role)

        def work(conn: Connection) -> Membership:
            row = _team_row(conn, team)
            where = (team_members.c.team_id == row.id) & (team_members.c.principal == principal)
            current = conn.execute(select(team_members.c.role).where(where)).scalar_one_or_none()
            if current is None:
                conn.execute(
                    insert(team_members).values(team_id=row.id, principal=principal, role=role.label)
                )
            else:
                conn.execute(update(team_members).where(where).values(role=role.label))
            record_event(
                conn,
                "member.set",
                "team",
                team,
                before=None if current is None else {"principal": principal, "role": current},
                after={"principal": principal, "role": role.label},
            )
            _bump(conn)
            return Membership(team, principal, role)

        return run_transaction(self._engine, work, write=True)

    def remove_member(self, team: str, principal: str) -> None:
        check_team_name(team)
        check_principal_name(principal)

        def work(conn: Connection) -> None:
            row = _team_row(conn, team)
            where = (team_members.c.team_id == row.id) & (team_members.c.principal == principal)
            current = conn.execute(select(team_members.c.role).where(where)).scalar_one_or_none()
            if current is None:
                raise BerthError(
                    ErrorCode.INVALID_REQUEST, f"{principal!r} is not a member of team {team!r}", team=team
                )
            conn.execute(delete(team_members).where(where))
            record_event(
                conn, "member.remove", "team", team, before={"principal": principal, "role": current}
            )
            _bump(conn)

        run_transaction(self._engine, work, write=True)

    def list_members(self, team: str) -> list[Membership]:
        check_team_name(team)

        def work(conn: Connection) -> list[Membership]:
            row = _team_row(conn, team)
            stmt = (
                select(team_members)
                .where(team_members.c.team_id == row.id)
                .order_by(team_members.c.principal)
            )
            return [Membership(team, m.principal, Role.parse(m.role)) for m in conn.execute(stmt)]

        return run_transaction(self._engine, work)

    def set_admin(self, principal: str, admin: bool) -> None:
        """Make `principal` a platform administrator (or not)."""
        check_principal_name(principal)

        def work(conn: Connection) -> None:
            before = _principal_admin(conn, principal)
            conn.execute(update(principals).where(principals.c.name == principal).values(admin=admin))
            record_event(
                conn,
                "principal.admin",
                "principal",
                principal,
                before={"admin": before},
                after={"admin": admin},
            )
            _bump(conn)

        run_transaction(self._engine, work, write=True)

    # endpoint grants

    def grant_endpoint(
        self,
        endpoint: str,
        team: str,
        *,
        expires_in_s: float | None = None,
        expires_at: datetime | None = None,
    ) -> EndpointGrant:
        """Let the members of `team` call `endpoint` as predictors (INVALID_REQUEST: no such team;
        MODEL_NOT_FOUND: no model or endpoint of that name), until `expires_at` or for
        `expires_in_s` seconds (neither: for good). The grant is on the endpoint's identity: it is
        deleted with the endpoint and never passes to a later holder of the name. Granting again
        sets the expiry (renewing an expired grant, or making one permanent)."""
        check_team_name(team)
        check_team_name(endpoint)  # endpoint and model names follow the same rule

        def work(conn: Connection) -> EndpointGrant:
            row = _team_row(conn, team)
            target = _granted_identity(conn, endpoint)
            expiry = grant_expiry(q.now(), expires_in_s=expires_in_s, expires_at=expires_at)
            return put_grant(conn, endpoint, target, row, expiry)

        return run_transaction(self._engine, work, write=True)

    def revoke_grant(self, endpoint: str, team: str) -> None:
        check_team_name(team)

        def work(conn: Connection) -> None:
            row = _team_row(conn, team)
            target = _granted_identity(conn, endpoint)
            where = (endpoint_grants.c.target_uid == target) & (endpoint_grants.c.team_id == row.id)
            if conn.execute(delete(endpoint_grants).where(where)).rowcount == 0:
                raise BerthError(
                    ErrorCode.INVALID_REQUEST, f"team {team!r} holds no grant on {endpoint!r}", team=team
                )
            record_event(
                conn, "grant.revoke", "endpoint", endpoint, before={"team": team, "role": "predictor"}
            )
            _bump(conn)

        run_transaction(self._engine, work, write=True)

    def list_grants(self, endpoint: str | None = None) -> list[EndpointGrant]:
        """The grants on what `endpoint` names now (every grant when None)."""

        def work(conn: Connection) -> list[EndpointGrant]:
            stmt = (
                select(endpoint_grants, teams.c.name.label("team"))
                .join(teams, teams.c.id == endpoint_grants.c.team_id)
                .order_by(endpoint_grants.c.endpoint, teams.c.name)
            )
            if endpoint is not None:
                stmt = stmt.where(endpoint_grants.c.target_uid == q.identity_of(conn, endpoint))
            return [
                EndpointGrant(r.endpoint, r.team, r.granted_by, r.at, r.expires_at)
                for r in conn.execute(stmt)
            ]

        return run_transaction(self._engine, work)

    # tokens

    def create_token(
        self,
        principal: str,
        *,
        expires_days: float = 90,
        description: str = "",
        admin: bool = False,
        parent_id: int | None = None,
        not_after: datetime | None = None,
    ) -> IssuedToken:
        """A new token for `principal` (created as a principal when new; made a platform admin when
        `admin`), valid `expires_days` days. The returned secret is never stored: only its sha256.

        `parent_id`: the token the caller authenticated with. The new token never outlives it
        (its expiry is capped at the parent's) and is revoked with it; a parent that is revoked
        or expired by now mints nothing (UNAUTHENTICATED). `not_after`: a further cap (the
        expiry of the JWT a caller authenticated with). Neither: a root token (``--home``)."""
        check_principal_name(principal)
        if not 0 < expires_days <= MAX_TOKEN_DAYS:
            raise BerthError(ErrorCode.INVALID_REQUEST, f"a token expires in 0 to {MAX_TOKEN_DAYS} days")
        text = checked_text("description", description)
        secret = new_token()

        def work(conn: Connection) -> IssuedToken:
            at = q.now()
            expires_at = at + timedelta(days=expires_days)
            if not_after is not None:
                expires_at = min(expires_at, not_after)
            if parent_id is not None:
                expires_at = min(expires_at, _live_parent_expiry(conn, parent_id, at))
            if expires_at <= at:
                raise BerthError(ErrorCode.UNAUTHENTICATED, "the credential minting this token has expired")
            before = _principal_admin(conn, principal)
            if admin and not before:
                conn.execute(update(principals).where(principals.c.name == principal).values(admin=True))
                record_event(
                    conn,
                    "principal.admin",
                    "principal",
                    principal,
                    before={"admin": False},
                    after={"admin": True},
                )
            by = _actor(conn)
            values = {
                "principal": principal,
                "token_hash": token_hash(secret),
                "prefix": display_prefix(secret),
                "description": text,
                "created_at": at,
                "expires_at": expires_at,
                "revoked_at": None,
                "created_by": by,
                "parent_id": parent_id,
            }
            token_id = conn.execute(
                insert(api_tokens).values(**values).returning(api_tokens.c.id)
            ).scalar_one()
            token = _token(conn.execute(select(api_tokens).where(api_tokens.c.id == token_id)).one())
            record_event(
                conn,
                "token.create",
                "token",
                str(token.id),
                after={
                    "principal": principal,
                    "prefix": token.prefix,
                    "expires_at": token.expires_at,
                    "parent_id": parent_id,
                },
            )
            _bump(conn)
            return IssuedToken(token, secret)

        return run_transaction(self._engine, work, write=True)

    def get_token(self, token_id: int) -> ApiToken:
        def work(conn: Connection) -> ApiToken:
            row = conn.execute(select(api_tokens).where(api_tokens.c.id == token_id)).first()
            if row is None:
                raise token_not_found(token_id)
            return _token(row)

        return run_transaction(self._engine, work)

    def list_tokens(self, principal: str | None = None) -> list[ApiToken]:
        def work(conn: Connection) -> list[ApiToken]:
            stmt = select(api_tokens).order_by(api_tokens.c.id)
            if principal is not None:
                stmt = stmt.where(api_tokens.c.principal == principal)
            return [_token(r) for r in conn.execute(stmt)]

        return run_transaction(self._engine, work)

    def revoke_token(self, token_id: int) -> ApiToken:
        """Revoke a token and every token minted with it, transitively (at once in this process;
        within a refresh interval on every server), one audit event each."""

        def work(conn: Connection) -> ApiToken:
            row = conn.execute(select(api_tokens).where(api_tokens.c.id == token_id)).first()
            if row is None:
                raise token_not_found(token_id)
            at = q.now()
            revoked = 0
            for token, parent in _with_descendants(conn, token_id):
                done = conn.execute(
                    update(api_tokens)
                    .where((api_tokens.c.id == token) & api_tokens.c.revoked_at.is_(None))
                    .values(revoked_at=at)
                    .returning(api_tokens.c.principal)
                ).first()
                if done is not None:
                    after: dict[str, Any] = {"principal": done.principal}
                    if parent is not None:
                        after["with_parent"] = parent
                    record_event(conn, "token.revoke", "token", str(token), after=after)
                    revoked += 1
            if revoked:
                _bump(conn)
            return _token(conn.execute(select(api_tokens).where(api_tokens.c.id == token_id)).one())

        return run_transaction(self._engine, work, write=True)

    # what servers hold in memory

    def generations(self) -> tuple[int, int]:
        """(registry change counter, security change counter): one cheap read."""

        def work(conn: Connection) -> tuple[int, int]:
            registry = conn.execute(select(registry_state.c.generation)).scalar_one()
            security = conn.execute(select(security_state.c.generation)).scalar_one()
            return int(registry), int(security)

        return run_transaction(self._engine, work)

    def access_snapshot(self) -> AccessSnapshot:
        """Tokens, admins, memberships, grants and model teams, read in one transaction."""
        return run_transaction(self._engine, _load_access, snapshot=True)

    def close(self) -> None:
        if self._owns_engine:
            self._engine.dispose()


def _actor(conn: Connection) -> str:
    context = current_audit_context()
    return context.actor if context is not None else ""


def _live_parent_expiry(conn: Connection, parent_id: int, at: datetime) -> datetime:
    """When token `parent_id` expires, read in the minting transaction (its stored expiry is
    already capped by its own parent's); UNAUTHENTICATED when it, or any ancestor, is revoked."""
    seen: set[int] = set()
    current: int | None = parent_id
    expires_at: datetime | None = None
    while current is not None and current not in seen:
        seen.add(current)
        row = conn.execute(
            select(api_tokens.c.expires_at, api_tokens.c.revoked_at, api_tokens.c.parent_id).where(
                api_tokens.c.id == current
            )
        ).first()
        if row is None or row.revoked_at is not None:
            raise BerthError(ErrorCode.UNAUTHENTICATED, "token revoked")
        expires_at = row.expires_at if expires_at is None else min(expires_at, row.expires_at)
        current = row.parent_id
    assert expires_at is not None
    return expires_at


def _with_descendants(conn: Connection, token_id: int) -> list[tuple[int, int | None]]:
    """(token, its parent) for `token_id` and every token minted with it, transitively."""
    found: list[tuple[int, int | None]] = [(token_id, None)]
    seen = {token_id}
    level = [token_id]
    while level:
        children = conn.execute(
            select(api_tokens.c.id, api_tokens.c.parent_id).where(api_tokens.c.parent_id.in_(level))
        ).all()
        level = [int(c.id) for c in children if int(c.id) not in seen]
        seen.update(level)
        found.extend((int(c.id), int(c.parent_id)) for c in children if int(c.id) in level)
    return found


def _principal_admin(conn: Connection, name: str) -> bool:
    """Whether `name` is a platform admin; creates the principal (not admin) when it is new."""
    admin = conn.execute(select(principals.c.admin).where(principals.c.name == name)).scalar_one_or_none()
    if admin is None:
        conn.execute(insert(principals).values(name=name, admin=False, created_at=q.now()))
        return False
    return bool(admin)


def _load_access(conn: Connection) -> AccessSnapshot:
    registry = int(conn.execute(select(registry_state.c.generation)).scalar_one())
    security = int(conn.execute(select(security_state.c.generation)).scalar_one())
    tokens = _effective_tokens(
        conn.execute(
            select(
                api_tokens.c.id,
                api_tokens.c.parent_id,
                api_tokens.c.token_hash,
                api_tokens.c.principal,
                api_tokens.c.expires_at,
                api_tokens.c.revoked_at,
            )
        ).all()
    )
    admins = frozenset(conn.execute(select(principals.c.name).where(principals.c.admin.is_(True))).scalars())
    team_names = {int(r.id): r.name for r in conn.execute(select(teams.c.id, teams.c.name))}
    memberships: dict[str, dict[str, Role]] = {}
    for r in conn.execute(select(team_members.c.team_id, team_members.c.principal, team_members.c.role)):
        memberships.setdefault(r.principal, {})[team_names[int(r.team_id)]] = Role.parse(r.role)
    grants: dict[str, set[str]] = {}
    expiries: dict[tuple[str, str], float] = {}
    now = q.now().timestamp()
    query = select(endpoint_grants.c.target_uid, endpoint_grants.c.team_id, endpoint_grants.c.expires_at)
    for g in conn.execute(query):
        team = team_names[int(g.team_id)]
        expires = None if g.expires_at is None else _unix(g.expires_at)
        if expires is not None and expires <= now:
            continue  # expired: counts for nothing (listed until revoked or renewed)
        grants.setdefault(team, set()).add(g.target_uid)
        if expires is not None:
            expiries[team, g.target_uid] = expires
    model_teams: dict[str, str] = {}
    identities: dict[str, str] = {}
    discoverable: set[str] = set()
    # models and endpoints share one namespace: an endpoint is authorized like a model of its team
    for table in (models, endpoints):
        for e in conn.execute(select(table.c.name, table.c.team, table.c.uid, table.c.visibility)):
            model_teams[e.name] = e.team
            identities[e.name] = e.uid
            if e.visibility == Visibility.DISCOVERABLE:
                discoverable.add(e.name)
    return AccessSnapshot(
        registry_generation=registry,
        security_generation=security,
        tokens=tokens,
        admins=admins,
        memberships=memberships,
        grants={team: frozenset(e) for team, e in grants.items()},
        model_teams=model_teams,
        identities=identities,
        teams=frozenset(team_names.values()),
        discoverable=frozenset(discoverable),
        grant_expiries=expiries,
        next_expiry=min(expiries.values(), default=math.inf),
    )


def _effective_tokens(rows: Sequence[Any]) -> dict[str, TokenRecord]:
    """token hash -> the token as authentication must see it: expired when any ancestor is,
    revoked when any ancestor is (whatever a racing revocation left in its own row)."""
    by_id = {int(r.id): r for r in rows}
    resolved: dict[int, tuple[float, bool]] = {}

    def effective(token_id: int) -> tuple[float, bool]:
        chain: list[Any] = []
        current: int | None = token_id
        while current is not None and current not in resolved:
            row = by_id.get(current)
            if row is None or row in chain:
                break
            chain.append(row)
            current = None if row.parent_id is None else int(row.parent_id)
        # past the root: nothing inherited; stopped at a missing parent or a cycle: fail closed
        inherited = (math.inf, False) if current is None else resolved.get(current, (0.0, True))
        for row in reversed(chain):
            inherited = (min(inherited[0], _unix(row.expires_at)), inherited[1] or row.revoked_at is not None)
            resolved[int(row.id)] = inherited
        return resolved[token_id]

    tokens = {}
    for r in rows:
        expires_at, revoked = effective(int(r.id))
        tokens[r.token_hash] = TokenRecord(r.principal, expires_at, revoked, int(r.id))
    return tokens


def _unix(at: datetime) -> float:
    return at.astimezone(UTC).timestamp()


def open_security_store(url: str | URL) -> SqlSecurityStore:
    return SqlSecurityStore(url)
