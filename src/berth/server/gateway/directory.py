"""Where each model and endpoint is served now: the gateway's view of the serving groups.

Refreshed from the registry database every poll (two reads: the assignments, and the replicas that
sent a heartbeat within the time to live). A name goes to a live replica that reports it ready,
replicas of its assigned group first; during a move that is the old group until the new one has it
ready, so a move loses no request. A replica the gateway could not connect to is left out until it
sends a newer heartbeat; so is a replica, for one name, that answered it no longer serves that name
(it let a moved model go after the gateway's last refresh).
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from berth.core.errors import BerthError, ErrorCode
from berth.core.serving_groups import DEFAULT_GROUP, ReplicaStatus
from berth.storage.sql_serving_groups import SqlServingGroups

_TEMPLATE_FIELD: Final = re.compile(r"\{group\}")


@dataclass(frozen=True, slots=True)
class DirectoryView:
    groups: dict[str, str] = field(default_factory=dict)
    """name -> assigned group."""
    replicas: tuple[ReplicaStatus, ...] = ()


class GroupDirectory:
    def __init__(
        self,
        groups: SqlServingGroups,
        *,
        ttl: timedelta,
        url_template: str | None = None,
        grpc_template: str | None = None,
    ) -> None:
        self._groups = groups
        self._ttl = ttl
        self._template = url_template
        self._grpc_template = grpc_template
        self._view = DirectoryView()
        self._loaded = False
        self._down: dict[str, datetime] = {}
        """URL -> the heartbeat it had when a connection to it failed."""
        self._lacking: dict[tuple[str, str], datetime] = {}
        """(URL, name) -> the heartbeat it had when it answered that it does not serve the name."""
        self._turn = itertools.count()
        self.refreshed_at = float("-inf")
        """`time.monotonic()` when the last refresh started."""
        self.marked_at = float("-inf")
        """`time.monotonic()` when a replica was last marked down or lacking a name."""

    @property
    def loaded(self) -> bool:
        return self._loaded

    def refresh(self) -> None:
        """Read the assignments and the live replicas (blocking: call it off the event loop)."""
        started = time.monotonic()
        assignments = {a.name: a.group for a in self._groups.assignments()}
        replicas = tuple(self._groups.replicas(live_within=self._ttl))
        self._view = DirectoryView(assignments, replicas)
        current = {r.url: r.heartbeat_at for r in replicas}
        self._down = {url: at for url, at in self._down.items() if current.get(url) == at}
        self._lacking = {key: at for key, at in self._lacking.items() if current.get(key[0]) == at}
        self._loaded = True
        self.refreshed_at = started

    def mark_down(self, url: str) -> None:
        """A connection to `url` failed: leave it out until it sends a newer heartbeat."""
        for replica in self._view.replicas:
            if replica.url == url:
                self._down[url] = replica.heartbeat_at
        self.marked_at = time.monotonic()

    def mark_lacking(self, url: str, name: str) -> None:
        """`url` answered that it does not serve `name`: send `name` elsewhere until `url` sends a
        newer heartbeat."""
        for replica in self._view.replicas:
            if replica.url == url:
                self._lacking[(url, name)] = replica.heartbeat_at
        self.marked_at = time.monotonic()

    def candidates(self, name: str) -> list[str]:
        """The URLs to send a request for `name` to, in the order to try them (MODEL_NOT_FOUND for a
        name the registry does not know, NO_SERVING_REPLICA when no live replica has it ready)."""
        chosen = self._chosen(name, lambda r: r.url)
        if self._template is not None:
            groups = list(dict.fromkeys(r.group or DEFAULT_GROUP for r in chosen))
            return [_TEMPLATE_FIELD.sub(g, self._template) for g in groups]
        return list(_rotated([r.url for r in chosen], next(self._turn)))

    def grpc_candidates(self, name: str) -> list[str]:
        """The gRPC addresses (``host:port``) to send a call for `name` to, in the order to try
        them; as `candidates`, of the replicas that serve gRPC. Each address is marked down or
        lacking by the URL of its replica (`url_of`)."""
        chosen = self._chosen(name, lambda r: r.grpc_url)
        if self._grpc_template is not None:
            groups = list(dict.fromkeys(r.group or DEFAULT_GROUP for r in chosen))
            return [_TEMPLATE_FIELD.sub(g, self._grpc_template) for g in groups]
        return list(_rotated([r.grpc_url or "" for r in chosen], next(self._turn)))

    def url_of(self, grpc_url: str) -> str:
        """The REST URL of the replica with this gRPC address (the address itself when none has it:
        a group's template address)."""
        for replica in self._view.replicas:
            if replica.grpc_url == grpc_url:
                return replica.url
        return grpc_url

    def any_replicas(self, *, grpc: bool) -> list[str]:
        """One address of each live group's replicas (REST URLs, or gRPC addresses; the group's
        template address where one is set)."""
        template = self._grpc_template if grpc else self._template
        found: dict[str | None, str] = {}
        for replica in self._view.replicas:
            address = replica.grpc_url if grpc else replica.url
            if address is not None and replica.url not in self._down:
                group = replica.group or DEFAULT_GROUP
                found.setdefault(group, address if template is None else _TEMPLATE_FIELD.sub(group, template))
        return list(found.values())

    def _chosen(self, name: str, address: Callable[[ReplicaStatus], str | None]) -> list[ReplicaStatus]:
        view = self._view
        group = view.groups.get(name)
        if group is None:
            raise BerthError(ErrorCode.MODEL_NOT_FOUND, f"model or endpoint {name!r} not found", model=name)
        ready = [
            r
            for r in view.replicas
            if name in r.ready
            and address(r) is not None
            and r.url not in self._down
            and (r.url, name) not in self._lacking
        ]
        own = [r for r in ready if r.group == group]
        chosen = own or ready
        if not chosen:
            raise BerthError(
                ErrorCode.NO_SERVING_REPLICA,
                f"no live replica of serving group {group!r} has {name!r} ready",
                model=name,
                group=group,
            )
        return chosen


def _rotated(urls: list[str], turn: int) -> Iterator[str]:
    start = turn % len(urls)
    yield from urls[start:]
    yield from urls[:start]
