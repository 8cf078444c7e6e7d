"""The routing table: which version a model reference is served by, held in memory.

A reference is what a caller writes after a model name: a version number ("3"), an alias
("production"), "latest", or nothing (the model's 'production' alias when it has one, else its
latest version). Symbolic references (aliases, latest, nothing) point at the version that is
*served*: the reconciler moves them only once the new target has loaded, so a version that fails
to load leaves the old one serving. The table is immutable; the reconciler swaps it whole.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from berth.core.entities import LATEST, PRODUCTION, Version
from berth.core.errors import BerthError, ErrorCode

if TYPE_CHECKING:
    from berth.runtime.compiled_endpoints import EndpointRoute


@dataclass(frozen=True, slots=True)
class ModelRoutes:
    """One model's versions (as in the registry) and the served target of each symbolic reference."""

    versions: Mapping[int, Version]
    aliases: Mapping[str, int]
    latest: int | None

    def default_target(self) -> int | None:
        return self.aliases.get(PRODUCTION, self.latest)


@dataclass(frozen=True, slots=True)
class RoutingTable:
    generation: int = -1
    models: Mapping[str, ModelRoutes] = field(default_factory=lambda: MappingProxyType({}))
    endpoints: Mapping[str, EndpointRoute] = field(default_factory=lambda: MappingProxyType({}))
    elsewhere: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """The serving group of each model and endpoint this server does not serve (another group's)."""

    def endpoint(self, name: str) -> EndpointRoute:
        route = self.endpoints.get(name)
        if route is None:
            self._not_here(name)
            raise BerthError(ErrorCode.ENDPOINT_NOT_FOUND, f"endpoint {name!r} not found", endpoint=name)
        return route

    def model(self, name: str) -> ModelRoutes:
        routes = self.models.get(name)
        if routes is None:
            self._not_here(name)
            raise BerthError(ErrorCode.MODEL_NOT_FOUND, f"model {name!r} not found", model=name)
        return routes

    def _not_here(self, name: str) -> None:
        group = self.elsewhere.get(name)
        if group is not None:
            raise BerthError(
                ErrorCode.NOT_SERVED_HERE,
                f"{name!r} is served by serving group {group!r}, not by this server: call the gateway",
                model=name,
                group=group,
            )

    def resolve(self, name: str, ref: str | None) -> Version:
        """The version serving `name` at `ref`; MODEL/VERSION/ALIAS_NOT_FOUND when there is none."""
        routes = self.model(name)
        if ref is None or ref == "":
            number = routes.default_target()
        elif ref.isascii() and ref.isdigit():
            number = int(ref)
        elif ref == LATEST:
            number = routes.latest
        else:
            number = routes.aliases.get(ref)
            if number is None:
                raise BerthError(
                    ErrorCode.ALIAS_NOT_FOUND, f"model {name!r} has no alias {ref!r}", model=name, alias=ref
                )
        version = routes.versions.get(number) if number is not None else None
        if version is None:
            raise BerthError(
                ErrorCode.VERSION_NOT_FOUND,
                f"model {name!r} has no version {ref if ref else 'to serve'}",
                model=name,
                version=ref,
            )
        return version
