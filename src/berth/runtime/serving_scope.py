"""Which models and endpoints one server loads and answers for: its serving group's (`ServingScope`).

A scope without a group selects everything (one machine, role ``all``); a scope with a group selects
what is assigned to that group and the models its endpoints call; a scope that loads nothing (the
API and gateway roles) serves nothing: every name is another group's (``not_served_here``).

A model moved to another group is handed over, not dropped: this server keeps answering for it
until a live replica of the new group reports it ready (`Handover`), so the move loses no request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from berth.core.entities import RegistrySnapshot
from berth.core.serving_groups import DEFAULT_GROUP
from berth.runtime.compiled_endpoints import referenced_models

ReadyByGroup = Callable[[], Mapping[str, frozenset[str]]]
"""What live replicas of each group have ready now (group -> names); read only during a handover."""


@dataclass(frozen=True, slots=True)
class ServingScope:
    group: str | None = None
    """None: every group."""
    loads: bool = True
    """False: nothing is served here (API and gateway roles)."""

    @property
    def everything(self) -> bool:
        return self.group is None and self.loads

    def select(self, snapshot: RegistrySnapshot) -> frozenset[str]:
        """The model and endpoint names of `snapshot` this server serves."""
        if not self.loads:
            return frozenset()
        if self.group is None:
            return frozenset(snapshot.versions) | frozenset(snapshot.endpoints)
        mine = {name for name, group in snapshot.groups.items() if group == self.group}
        for name in snapshot.endpoints.keys() & mine:
            mine |= referenced_models(snapshot.endpoints[name]) & snapshot.versions.keys()
        return frozenset(mine)


EVERYTHING: Final = ServingScope()
NOTHING_LOADED: Final = ServingScope(loads=False)


def handed_over(
    kept: frozenset[str], snapshot: RegistrySnapshot, ready: Mapping[str, frozenset[str]]
) -> frozenset[str]:
    """Of the names this server kept while they moved away, those a live replica of their new group
    now has ready (so this server may let them go)."""
    return frozenset(
        name for name in kept if name in ready.get(snapshot.groups.get(name, DEFAULT_GROUP), frozenset())
    )


def filtered(snapshot: RegistrySnapshot, names: frozenset[str]) -> RegistrySnapshot:
    """`snapshot` with only the models and endpoints `names` holds."""
    return RegistrySnapshot(
        generation=snapshot.generation,
        versions={n: v for n, v in snapshot.versions.items() if n in names},
        aliases={n: a for n, a in snapshot.aliases.items() if n in names},
        endpoints={n: e for n, e in snapshot.endpoints.items() if n in names},
        groups={n: g for n, g in snapshot.groups.items() if n in names},
    )


def elsewhere(snapshot: RegistrySnapshot, served: frozenset[str]) -> Mapping[str, str]:
    """The group of each model and endpoint of `snapshot` this server does not serve."""
    return MappingProxyType({n: g for n, g in snapshot.groups.items() if n not in served})
