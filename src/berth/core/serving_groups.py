"""Serving groups: which replicas load which models and endpoints.

Every model and endpoint belongs to one serving group (``default`` unless assigned). A replica
started with ``berth serve --role data --group risk`` loads only what is assigned to ``risk`` (and
the models its endpoints call); ``berth serve`` without a group serves everything, as one machine
does. Replicas report what they have ready (`ReplicaStatus`); the gateway routes each request to a
replica that has its model ready, preferring the assigned group, and a replica gives up a model
moved elsewhere only once a replica of the new group has it ready.

Group names are DNS labels (they name Kubernetes Deployments and Services).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from berth.core.errors import BerthError, ErrorCode

DEFAULT_GROUP: Final = "default"
MAX_GROUP_LENGTH: Final = 40
_GROUP: Final = re.compile(rf"^[a-z0-9](?:[a-z0-9-]{{0,{MAX_GROUP_LENGTH - 2}}}[a-z0-9])?$")


def check_group_name(group: str) -> str:
    """A serving group's name: a DNS label of lower-case letters, digits and '-', at most 40."""
    if not isinstance(group, str) or not _GROUP.match(group):
        raise BerthError(
            ErrorCode.INVALID_NAME,
            f"invalid serving group {group!r}: use lower-case letters, digits and '-' (at most "
            f"{MAX_GROUP_LENGTH}), starting and ending with a letter or digit",
        )
    return group


class Role(StrEnum):
    """What a `berth serve` process does."""

    ALL = "all"
    """Everything, in one process: the embedded default."""
    DATA = "data"
    """The data plane: inference (REST, /v1, gRPC) for the models of its group."""
    API = "api"
    """The management API and the web app; loads no model."""
    GATEWAY = "gateway"
    """The one address callers use: inference to a replica of the owning group, the rest to the API."""
    MONITOR = "monitor"
    """Prediction records into the record store (the record stream's drainer, or the journal's
    ingester) and the alert rules; health endpoints only."""

    @property
    def serves(self) -> bool:
        """Whether it answers inference itself."""
        return self in (Role.ALL, Role.DATA)

    @property
    def manages(self) -> bool:
        """Whether it serves the management API and the web app."""
        return self in (Role.ALL, Role.API)


@dataclass(frozen=True, slots=True, kw_only=True)
class Assignment:
    """The serving group of a model or endpoint."""

    name: str
    kind: str
    """``model`` or ``endpoint``."""
    group: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplicaStatus:
    """What one serving replica reports, every heartbeat: who it is, where it answers, what it has ready."""

    replica_id: str
    role: Role
    group: str | None
    """None: it serves every group (role ``all``)."""
    url: str
    started_at: datetime
    heartbeat_at: datetime
    ready: frozenset[str]
    """The names of the models and endpoints it answers for now."""
    grpc_url: str | None = None
    """``host:port`` of its gRPC port (Open Inference Protocol V2); None: it serves no gRPC."""
