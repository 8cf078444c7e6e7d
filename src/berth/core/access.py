"""Who may do what: roles, actions, principals, resources, and the one `authorize` function.

Every transport (REST routes, the inference fast path, gRPC, the CLI through the REST API, the UI)
asks the same question, ``authorize(principal, action, resource)``, and gets the same answer: it
returns, or raises FORBIDDEN, or raises the resource's NOT_FOUND error when the principal may not
even know the resource exists (a model of another team looks exactly like a missing model).

Roles are per team and ordered: reader < predictor < maintainer < admin (each holds the rights of
the ones below). A platform administrator holds every right on every team. A team may grant another
team predictor access to one endpoint (a model name is an endpoint too): the members of the grantee
team with at least the predictor role may then call it and read its inference metadata.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Final

from berth.core.errors import BerthError, ErrorCode


class Role(IntEnum):
    """A principal's role in a team; a higher role holds every right of the lower ones."""

    READER = 1
    PREDICTOR = 2
    MAINTAINER = 3
    ADMIN = 4

    @classmethod
    def parse(cls, name: str) -> Role:
        """The role called `name` (reader, predictor, maintainer, admin); INVALID_REQUEST otherwise."""
        try:
            return cls[str(name).upper()]
        except KeyError:
            known = ", ".join(r.name.lower() for r in cls)
            raise BerthError(
                ErrorCode.INVALID_REQUEST, f"unknown role {name!r}: use one of {known}"
            ) from None

    @property
    def label(self) -> str:
        return self.name.lower()


class Action(StrEnum):
    """What a request does. `REQUIRED_ROLE` says which team role each one needs."""

    CONNECT = "connect"
    """Anything an authenticated principal may do on its own: server metadata, its own tokens."""
    DISCOVER = "discover"
    """See a model's or endpoint's catalog entry: anyone who may read or call it, and every
    authenticated principal when it is discoverable (never its artifacts, records or data)."""
    READ = "read"
    """Catalog, model and version metadata, aliases and their history, artifacts, records."""
    DESCRIBE = "describe"
    """Inference metadata and readiness of a model: for those who may read it or call it."""
    PREDICT = "predict"
    """Call a model or endpoint."""
    PUSH = "push"
    """Push a version (creating the model when it is new)."""
    TRUST = "trust"
    """Push a version marked trusted: a pickle or code that runs when it is loaded."""
    ALIAS = "alias"
    """Move or delete an alias (promotion, rollback)."""
    UPDATE = "update"
    """Change a model's description, tags or team, or a version's metadata."""
    ENDPOINT = "endpoint"
    """Create or change an endpoint."""
    FEEDBACK = "feedback"
    """Send ground truth for predictions."""
    LOAD = "load"
    """Load or unload a model on the server now (the model repository extension)."""
    DELETE = "delete"
    """Delete something a team owns."""
    MANAGE = "manage"
    """A team's members and the grants of its endpoints."""
    ADMIN = "admin"
    """The platform itself: teams, the audit trail, other principals' tokens, server internals."""


REQUIRED_ROLE: Final[Mapping[Action, Role]] = {
    Action.DISCOVER: Role.READER,
    Action.READ: Role.READER,
    Action.DESCRIBE: Role.READER,
    Action.PREDICT: Role.PREDICTOR,
    Action.PUSH: Role.MAINTAINER,
    Action.TRUST: Role.MAINTAINER,
    Action.ALIAS: Role.MAINTAINER,
    Action.UPDATE: Role.MAINTAINER,
    Action.ENDPOINT: Role.MAINTAINER,
    Action.FEEDBACK: Role.MAINTAINER,
    Action.LOAD: Role.MAINTAINER,
    Action.DELETE: Role.MAINTAINER,
    Action.MANAGE: Role.ADMIN,
}
"""The team role each team-scoped action needs (CONNECT and ADMIN are not team-scoped)."""

_GRANTED: Final = frozenset({Action.PREDICT, Action.DESCRIBE, Action.DISCOVER})
"""What an endpoint grant gives the members of the grantee team."""


class Visibility(StrEnum):
    """Who may find a model or endpoint: its team (and the teams granted it), or everyone."""

    PRIVATE = "private"
    """Today's behaviour: to anyone else it does not exist (NOT_FOUND, the same as a missing one)."""
    DISCOVERABLE = "discoverable"
    """Listed in every authenticated principal's catalog (what a consumer needs to decide, never
    artifacts, records or data); calling it still needs a grant, which may be asked for."""

    @classmethod
    def parse(cls, name: str) -> Visibility:
        """The visibility called `name`; INVALID_REQUEST otherwise."""
        try:
            return cls(str(name).lower())
        except ValueError:
            known = ", ".join(v.value for v in cls)
            raise BerthError(
                ErrorCode.INVALID_REQUEST, f"unknown visibility {name!r}: use one of {known}"
            ) from None


class ResourceKind(StrEnum):
    MODEL = "model"
    ENDPOINT = "endpoint"
    TEAM = "team"
    SERVER = "server"
    ENTITY_TABLE = "entity_table"
    """Data a pipeline step reads by key (an entity table; the feature views of a feature store
    are resources of this kind too): READ to see it, UPDATE to write it, PREDICT to reference it
    from an endpoint (whose callers then read through it)."""


_GRANTABLE: Final = frozenset({ResourceKind.MODEL, ResourceKind.ENDPOINT})
"""The kinds an endpoint grant can name (grants never reach teams or data tables)."""

PLATFORM: Final = "*platform*"
"""The owner of what belongs to no team (entity tables from before they had owners): no principal
is a member of it (a team name cannot take this form), so only platform administrators hold
rights on it."""


@dataclass(frozen=True, slots=True)
class Resource:
    """What an action is done to. `team` is the owning team; None when the resource does not exist."""

    kind: ResourceKind
    name: str = ""
    team: str | None = None
    discoverable: bool = False
    """Its visibility is DISCOVERABLE: every authenticated principal knows it exists."""

    @classmethod
    def model(cls, name: str, team: str | None, *, discoverable: bool = False) -> Resource:
        return cls(ResourceKind.MODEL, name, team, discoverable)

    @classmethod
    def of_team(cls, name: str, *, exists: bool = True) -> Resource:
        return cls(ResourceKind.TEAM, name, name if exists else None)

    @classmethod
    def entity_table(cls, name: str, team: str | None) -> Resource:
        """Entity table `name` owned by `team` (`PLATFORM`: by no team; None: no such table)."""
        return cls(ResourceKind.ENTITY_TABLE, name, team)


SERVER: Final = Resource(ResourceKind.SERVER)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a name (a token's owner or a JWT subject), its roles, its endpoint grants."""

    name: str
    roles: Mapping[str, Role] = field(default_factory=dict)
    """team -> this principal's role in it."""
    granted: frozenset[str] = frozenset()
    """Endpoints (model names) other teams granted one of this principal's teams predictor access to."""
    admin: bool = False
    """A platform administrator: every right on every team."""
    authenticated: bool = True
    """False only for the principal of a server running without authentication."""
    token_id: int | None = None
    """The id of the API token this request presented (None: a JWT, or no authentication)."""
    credential_expires_at: float | None = None
    """When the presented credential (API token or JWT) expires, unix time (None: never)."""

    def role_in(self, team: str) -> Role | None:
        return self.roles.get(team)


ANONYMOUS: Final = Principal("anonymous", admin=True, authenticated=False)
"""The caller of a server started without authentication (``BERTH_AUTH=off``): allowed everything."""


def not_found(resource: Resource) -> BerthError:
    """The error a missing resource gives: the same whether it is missing or merely hidden."""
    if resource.kind is ResourceKind.TEAM:
        return BerthError(
            ErrorCode.INVALID_REQUEST, f"team {resource.name!r} does not exist", team=resource.name
        )
    if resource.kind is ResourceKind.ENTITY_TABLE:
        return BerthError(
            ErrorCode.ENTITY_TABLE_NOT_FOUND,
            f"entity table {resource.name!r} not found",
            table=resource.name,
        )
    # endpoints share the model error until endpoints have a code of their own (a model is an endpoint)
    return BerthError(ErrorCode.MODEL_NOT_FOUND, f"model {resource.name!r} not found", model=resource.name)


def forbidden(principal: Principal, action: Action, resource: Resource) -> BerthError:
    where = f"{resource.kind.value} {resource.name!r}" if resource.name else "this server"
    needed = REQUIRED_ROLE.get(action)
    why = f" (needs the {needed.label} role in team {resource.team!r})" if needed and resource.team else ""
    return BerthError(
        ErrorCode.FORBIDDEN,
        f"{principal.name!r} may not {action.value} on {where}{why}",
        action=action.value,
    )


def authorize(principal: Principal, action: Action, resource: Resource) -> None:
    """Return when `principal` may do `action` on `resource`; raise FORBIDDEN, or the resource's
    NOT_FOUND error when the principal may not see it (or it does not exist)."""
    if principal.admin:
        if resource.team is None and resource.kind is not ResourceKind.SERVER:
            raise not_found(resource)
        return
    if action is Action.CONNECT:
        return
    if action is Action.ADMIN:
        raise forbidden(principal, action, resource)
    team = resource.team
    if action is Action.DISCOVER and resource.discoverable and team is not None:
        return
    if team is None:
        if resource.kind is ResourceKind.SERVER:
            raise forbidden(principal, action, resource)
        raise not_found(resource)
    role = principal.role_in(team)
    if role is not None and role >= REQUIRED_ROLE[action]:
        return
    granted = resource.kind in _GRANTABLE and resource.name in principal.granted
    if granted and action in _GRANTED:
        return
    if role is None and not granted and not resource.discoverable and resource.kind is not ResourceKind.TEAM:
        raise not_found(resource)  # may not even read it: it does not exist for this principal
    raise forbidden(principal, action, resource)


def allowed(principal: Principal, action: Action, resource: Resource) -> bool:
    """`authorize` as a test (for filtering lists)."""
    try:
        authorize(principal, action, resource)
    except BerthError:
        return False
    return True
