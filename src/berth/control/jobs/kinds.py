"""The job kinds a process knows: berth's built-ins and those installed packages register.

A package registers a kind (a `JobKind` from `berth.extensions`, or a plain ``run(params, ctx)``
function) under the entry-point group ``berth.jobs`` in its ``pyproject.toml``::

    [project.entry-points."berth.jobs"]
    retrain-voice = "the_voice.jobs:RETRAIN"
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Final

from berth.control.jobs.kind import JobKind
from berth.core.errors import BerthError, ErrorCode
from berth.core.jobs import JsonObject, check_kind_name, check_params

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP: Final = "berth.jobs"


class JobKinds:
    """The kinds this process knows, by name."""

    def __init__(self, kinds: Iterable[JobKind]) -> None:
        self._kinds: dict[str, JobKind] = {}
        for kind in kinds:
            check_kind_name(kind.name)
            if kind.name in self._kinds:
                log.warning("job kind %r registered twice: keeping the first", kind.name)
                continue
            self._kinds[kind.name] = kind

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._kinds))

    def get(self, name: str) -> JobKind:
        kind = self._kinds.get(name)
        if kind is None:
            raise BerthError(
                ErrorCode.UNKNOWN_JOB_KIND,
                f"unknown job kind {str(name)[:80]!r}; known kinds: {', '.join(self.names()) or 'none'}",
                kind=str(name)[:80],
            )
        return kind

    def checked_params(self, name: str, params: Any) -> JsonObject:
        """`params` checked as JSON and by the kind (UNKNOWN_JOB_KIND, INVALID_JOB_PARAMS)."""
        kind = self.get(name)
        try:
            checked = kind.check_params(check_params(params))
        except BerthError:
            raise
        except Exception as exc:  # a kind's check that breaks on odd input still means "bad params"
            raise BerthError(
                ErrorCode.INVALID_JOB_PARAMS, f"{name}: parameters refused: {type(exc).__name__}: {exc}"
            ) from None
        return check_params(checked)

    def check_inputs(self, name: str, params: JsonObject, home: Path) -> None:
        """The kind's check that the inputs `params` name are in `home` (JOB_INPUT_NOT_FOUND)."""
        check = self.get(name).check_inputs
        if check is not None:
            check(params, home)


def discover_kinds(group: str = ENTRY_POINT_GROUP) -> list[JobKind]:
    """The kinds installed packages register under `group`; a broken one is logged and skipped."""
    found = []
    for entry in entry_points(group=group):
        try:
            loaded = entry.load()
        except Exception:
            log.exception("job kind %r (%s) failed to load", entry.name, entry.value)
            continue
        if isinstance(loaded, JobKind):
            found.append(loaded)
        elif callable(loaded):
            found.append(JobKind(entry.name, loaded))
        else:
            log.error("job kind %r (%s) is neither a JobKind nor a function", entry.name, entry.value)
    return found
