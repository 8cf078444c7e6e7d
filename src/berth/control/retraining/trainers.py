"""Registered trainers: entry points of the ``berth.trainers`` group, by name.

An entry point names a factory (usually a class) taking the job's ``trainer_options`` (a dict) and
returning a `Trainer` (a package imports the contract from `berth.extensions`). Only installed
entry points can be named: a job's parameters never name arbitrary code.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any, Final, cast

from berth.core.errors import BerthError, ErrorCode
from berth.core.training import Trainer

ENTRY_POINT_GROUP: Final = "berth.trainers"


def trainer_names(group: str = ENTRY_POINT_GROUP) -> list[str]:
    return sorted({entry.name for entry in entry_points(group=group)})


def load_trainer(name: str, options: Mapping[str, Any], group: str = ENTRY_POINT_GROUP) -> Trainer:
    """The trainer registered as `name`, built with `options` (INVALID_JOB_PARAMS when there is no such
    trainer or it refuses the options)."""
    found = [entry for entry in entry_points(group=group) if entry.name == name]
    if not found:
        known = ", ".join(trainer_names(group)) or "none"
        message = f"no trainer {name[:80]!r} is installed; installed trainers: {known}"
        raise BerthError(ErrorCode.INVALID_JOB_PARAMS, message)
    factory = found[0].load()
    try:
        return cast(Trainer, factory(dict(options)))
    except (TypeError, ValueError) as exc:
        message = f"trainer {name!r} refused its options: {exc}"
        raise BerthError(ErrorCode.INVALID_JOB_PARAMS, message) from exc
