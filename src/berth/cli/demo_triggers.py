"""The triggers the installed demos ask for (e.g. The Voice's retrain every N corrections), made in
the demo's home before it serves.

Idempotent: a trigger of the same name that does the same (kind, parameters, condition) is kept
with its state (a corrections trigger's count goes on from its last firing across restarts); one
that differs, e.g. another ``--retrain-after``, is replaced.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from berth.control.jobs.service import JobService
from berth.core.errors import BerthError, ErrorCode
from berth.core.jobs import TriggerSpec

CREATED_BY = "berth demo"


def install_triggers(service: JobService, bodies: list[dict[str, Any]]) -> list[str]:
    """Make the triggers `bodies` describe (their JSON form); the names of those added or replaced."""
    changed = []
    for body in bodies:
        spec = TriggerSpec.from_json(body, created_by=CREATED_BY).checked()
        spec = replace(spec, params=service.kinds.checked_params(spec.kind, spec.params))
        existing = _existing(service, spec.name)
        if existing is not None and _same(existing, spec):
            continue
        if existing is not None:
            service.delete_trigger(spec.name)
        service.add_trigger(spec)
        changed.append(spec.name)
    return changed


def _existing(service: JobService, name: str) -> TriggerSpec | None:
    try:
        return service.get_trigger(name).spec
    except BerthError as exc:
        if exc.code is ErrorCode.TRIGGER_NOT_FOUND:
            return None
        raise


def _same(a: TriggerSpec, b: TriggerSpec) -> bool:
    return (
        a.kind,
        a.params,
        a.every_s,
        a.corrections_endpoint,
        a.corrections_count,
        a.alert_rule,
        a.enabled,
    ) == (
        b.kind,
        b.params,
        b.every_s,
        b.corrections_endpoint,
        b.corrections_count,
        b.alert_rule,
        b.enabled,
    )
