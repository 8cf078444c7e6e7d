"""The flavors berth knows, discovered through the ``berth.flavors`` entry-point group.

A `FlavorCatalog` instantiates each flavor once; the composition root builds one and hands it to
whatever packages or loads models (there is no module-level registry).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from berth.core.errors import BerthError, ErrorCode
from berth.runtime.flavors.base import Flavor

ENTRY_POINT_GROUP = "berth.flavors"
_SUFFIX = re.compile(r"\.[a-z0-9][a-z0-9_-]{0,31}(\.[a-z0-9][a-z0-9_-]{0,31})?")

_log = logging.getLogger(__name__)


def discover_flavors(group: str = ENTRY_POINT_GROUP) -> list[Flavor]:
    """One instance of every flavor declared in the entry-point `group`, by name; a flavor that
    fails to import or declares malformed file suffixes is logged and left out."""
    flavors: list[Flavor] = []
    for point in sorted(entry_points(group=group), key=lambda p: p.name):
        try:
            flavors.append(check_flavor(point.load()()))
        except Exception:
            _log.exception("flavor %r (%s) could not be loaded; it is left out", point.name, point.value)
    return flavors


def check_flavor(flavor: Flavor) -> Flavor:
    """`flavor`, once its `file_suffixes` are checked (ValueError: not a tuple of lower-case suffixes
    such as ``".onnx"`` or ``".tar.gz"``)."""
    suffixes = getattr(flavor, "file_suffixes", None)
    well_formed = isinstance(suffixes, tuple) and all(
        isinstance(s, str) and _SUFFIX.fullmatch(s) for s in suffixes
    )
    if not well_formed:
        raise ValueError(
            f"flavor {getattr(flavor, 'name', flavor)!r}: file_suffixes must be a tuple of lower-case "
            f"suffixes with their dot, such as ('.onnx',); got {suffixes!r}"
        )
    return flavor


class FlavorCatalog:
    """Flavors by name, and the flavor of a model object or of an artifact file."""

    def __init__(self, flavors: Iterable[Flavor] | None = None) -> None:
        found = discover_flavors() if flavors is None else list(flavors)
        self._flavors: dict[str, Flavor] = {}
        for flavor in found:
            if flavor.name in self._flavors:
                raise BerthError(ErrorCode.CONFLICT, f"two flavors are named {flavor.name!r}")
            self._flavors[flavor.name] = check_flavor(flavor)

    def names(self) -> tuple[str, ...]:
        """The names of the flavors, sorted."""
        return tuple(sorted(self._flavors))

    def file_suffixes(self) -> tuple[str, ...]:
        """Every suffix the flavors declare for their files, longest first (so ``.tar.gz`` is
        tried before ``.gz``)."""
        found = {suffix for flavor in self._flavors.values() for suffix in flavor.file_suffixes}
        return tuple(sorted(found, key=lambda s: (-len(s), s)))

    def get(self, name: str) -> Flavor:
        """The flavor called `name` (UNSUPPORTED_FLAVOR when there is none)."""
        try:
            return self._flavors[name]
        except KeyError:
            raise BerthError(
                ErrorCode.UNSUPPORTED_FLAVOR,
                f"unknown flavor {name!r}; supported: {', '.join(self.names())}",
            ) from None

    def for_object(self, obj: Any) -> Flavor:
        """The flavor that packages the model object `obj`."""
        for flavor in self._flavors.values():
            if flavor.matches_object(obj):
                return flavor
        raise BerthError(
            ErrorCode.UNSUPPORTED_FLAVOR,
            f"no flavor packages a {type(obj).__module__}.{type(obj).__qualname__} (is it fitted?); "
            f"supported: {', '.join(self.names())} (wrap anything else in a pyfunc class)",
        )

    def for_file(self, path: Path) -> Flavor:
        """The flavor of the artifact file (or folder) at `path`, by extension and content."""
        if not path.exists():
            raise BerthError(ErrorCode.ARTIFACT_INVALID, f"{path} does not exist")
        for flavor in self._flavors.values():
            if flavor.matches_file(path):
                return flavor
        supported = "; ".join(
            f"{'/'.join(self._flavors[name].file_suffixes) or 'no file suffix'} ({name})"
            for name in self.names()
        )
        raise BerthError(
            ErrorCode.UNSUPPORTED_FLAVOR,
            f"{path.name} is not a model file berth recognises; supported: {supported}",
        )
