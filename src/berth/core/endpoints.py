"""Endpoints: what callers call. A name, a traffic policy and a pipeline, as plain immutable values.

An endpoint's *spec* is its whole desired state; every change stores a new revision of it, so a
rollback is "put the previous spec back". The spec's JSON form is what the REST API, the CLI and
the SDK exchange (``EndpointSpec.from_json`` / ``to_json``); structural mistakes are refused here
with INVALID_ENDPOINT. Whether targets exist and pipelines parse is checked against the registry
by ``berth.control.endpoints`` before a spec is stored.

Traffic (documented in docs/endpoints.md):
- ``targets``: ``model@alias``, ``model:version`` or a bare ``model`` (its 'production' alias, else
  its latest version), each with a relative weight (any non-negative numbers with a positive sum).
- ``sticky``: a request header and/or a request field whose value always picks the same variant.
- ``canary``: one more target that gets ``weight`` percent of the traffic, raised step by step
  while its error rate and latency stay close to the stable targets', rolled back otherwise.
- ``shadows``: targets that get a copy of the traffic, whose answers are never returned.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Final

from berth.core.delivery import DeliverySpec
from berth.core.entities import check_alias_name, check_model_name
from berth.core.errors import BerthError, ErrorCode

# The spec's limits, defined here once: the API's request bodies (berth.server.rest.endpoint_schemas)
# state the same ones for its documentation and its first check.
MAX_TARGETS: Final = 16
"""The most weighted targets (and the most weights one change sets)."""
MAX_SHADOWS: Final = 4
MAX_CANARY_STEPS: Final = 20
MAX_CANARY_INTERVAL_S: Final = 86_400.0
MAX_TARGET_LENGTH: Final = 260
"""The longest target text: a model name, '@' or ':', and an alias or a version number fit in it."""
MAX_STICKY_NAME_LENGTH: Final = 128
"""The longest sticky header or field name."""
_HEADER_NAME: Final = re.compile(rf"^[A-Za-z0-9][A-Za-z0-9_-]{{0,{MAX_STICKY_NAME_LENGTH - 1}}}$")
_FIELD_NAME: Final = re.compile(rf"^[A-Za-z_][A-Za-z0-9_.-]{{0,{MAX_STICKY_NAME_LENGTH - 1}}}$")


def _invalid(message: str, **details: Any) -> BerthError:
    return BerthError(ErrorCode.INVALID_ENDPOINT, message, **details)


def check_endpoint_name(name: str) -> str:
    """An endpoint name follows the model-name rules (the two share ``/v2/models/{name}``)."""
    try:
        return check_model_name(name)
    except BerthError as exc:
        raise BerthError(ErrorCode.INVALID_NAME, exc.message.replace("model name", "endpoint name")) from None


@dataclass(frozen=True, slots=True)
class TargetRef:
    """One model reference: ``model@alias``, ``model:number`` or ``model`` (its default target)."""

    model: str
    version: int | None = None
    alias: str | None = None

    @classmethod
    def parse(cls, text: object) -> TargetRef:
        if not isinstance(text, str) or not text:
            raise _invalid(f"a target must be a string like 'model@alias' or 'model:3', got {text!r}")
        if len(text) > MAX_TARGET_LENGTH:
            raise _invalid(f"a target has at most {MAX_TARGET_LENGTH} characters, got {len(text)}")
        if "@" in text:
            model, alias = text.split("@", 1)
            return cls(_model(model, text), alias=_alias(alias, text))
        if ":" in text:
            model, number = text.split(":", 1)
            if not (number.isascii() and number.isdigit()) or not 0 < int(number) < 2**31:
                raise _invalid(f"target {text!r}: the version after ':' must be a positive number")
            return cls(_model(model, text), version=int(number))
        return cls(_model(text, text))

    @property
    def reference(self) -> str | None:
        """The version reference as the routing table reads it (None: the model's default)."""
        if self.version is not None:
            return str(self.version)
        return self.alias

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.model}:{self.version}"
        if self.alias is not None:
            return f"{self.model}@{self.alias}"
        return self.model


def _model(name: str, text: str) -> str:
    try:
        return check_model_name(name)
    except BerthError:
        raise _invalid(f"target {text!r}: {name!r} is not a valid model name") from None


def _alias(alias: str, text: str) -> str:
    try:
        return check_alias_name(alias)
    except BerthError as exc:
        raise _invalid(f"target {text!r}: {exc.message}") from None


@dataclass(frozen=True, slots=True)
class WeightedTarget:
    target: TargetRef
    weight: float


@dataclass(frozen=True, slots=True)
class StickyKey:
    """Where a request's sticky key is read: a header (first), else a request parameter or a
    one-row input of that name. A request without a key gets a random variant."""

    header: str | None = None
    field: str | None = None


@dataclass(frozen=True, slots=True)
class CanaryPolicy:
    """A canary: `target` gets `steps[step]` percent of the traffic; after `interval_s` seconds and
    at least `min_requests` answers at a step with its error rate at most `max_error_rate_increase`
    above the stable targets' and its p95 latency at most `max_latency_ratio` times theirs, it moves
    to the next step; after the last step it is promoted (it becomes the only target). Otherwise it
    is rolled back (removed). `step_started_at` is kept by the server that moves it."""

    target: TargetRef
    steps: tuple[float, ...] = (5.0, 25.0, 50.0)
    interval_s: float = 60.0
    min_requests: int = 100
    max_error_rate_increase: float = 0.02
    max_latency_ratio: float = 2.0
    step: int = 0
    step_started_at: datetime | None = None

    @property
    def weight(self) -> float:
        """The percent of the traffic the canary gets now."""
        return self.steps[self.step]

    @property
    def last_step(self) -> bool:
        return self.step >= len(self.steps) - 1


@dataclass(frozen=True, slots=True)
class ShadowTarget:
    """A target that gets a copy of `fraction` of the requests; its answers are never returned."""

    target: TargetRef
    fraction: float = 1.0


@dataclass(frozen=True, slots=True)
class EndpointSpec:
    targets: tuple[WeightedTarget, ...]
    sticky: StickyKey | None = None
    canary: CanaryPolicy | None = None
    shadows: tuple[ShadowTarget, ...] = ()
    pipeline: Mapping[str, Any] = field(default_factory=dict)
    deliver: DeliverySpec | None = None
    """Where answered rows are delivered: the team inboxes (`berth.core.delivery`)."""

    def referenced(self) -> list[TargetRef]:
        """Every target the spec names: weighted, canary and shadows."""
        refs = [t.target for t in self.targets]
        if self.canary is not None:
            refs.append(self.canary.target)
        refs.extend(s.target for s in self.shadows)
        return refs

    def without_canary(self) -> EndpointSpec:
        return replace(self, canary=None)

    @classmethod
    def from_json(cls, body: object) -> EndpointSpec:
        """Parse and structurally check a spec; INVALID_ENDPOINT names the first problem."""
        data = _mapping(body, "the endpoint spec")
        _known(data, {"targets", "sticky", "canary", "shadows", "pipeline", "deliver"}, "the endpoint spec")
        targets = tuple(_weighted(item, i) for i, item in enumerate(_list(data.get("targets"), "targets")))
        if not targets:
            raise _invalid("an endpoint needs at least one target in 'targets'")
        if len(targets) > MAX_TARGETS:
            raise _invalid(f"at most {MAX_TARGETS} targets")
        if sum(t.weight for t in targets) <= 0:
            raise _invalid("the target weights must sum to a positive number")
        sticky = _sticky(data["sticky"]) if data.get("sticky") is not None else None
        canary = _canary(data["canary"]) if data.get("canary") is not None else None
        shadows = tuple(
            _shadow(item, i) for i, item in enumerate(_list(data.get("shadows", []), "shadows", empty=True))
        )
        if len(shadows) > MAX_SHADOWS:
            raise _invalid(f"at most {MAX_SHADOWS} shadows")
        pipeline = data.get("pipeline")
        if pipeline is None:
            pipeline = {}
        if not isinstance(pipeline, Mapping):
            raise _invalid("'pipeline' must be an object with 'pre' and/or 'post' step lists")
        deliver = DeliverySpec.from_json(data["deliver"]) if data.get("deliver") is not None else None
        spec = cls(targets, sticky, canary, shadows, dict(pipeline), deliver)
        _check_distinct(spec)
        return spec

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "targets": [{"target": str(t.target), "weight": t.weight} for t in self.targets]
        }
        if self.sticky is not None:
            body["sticky"] = {
                k: v for k, v in (("header", self.sticky.header), ("field", self.sticky.field)) if v
            }
        if self.canary is not None:
            c = self.canary
            body["canary"] = {
                "target": str(c.target),
                "steps": list(c.steps),
                "interval_s": c.interval_s,
                "min_requests": c.min_requests,
                "max_error_rate_increase": c.max_error_rate_increase,
                "max_latency_ratio": c.max_latency_ratio,
                "step": c.step,
                "weight": c.weight,
                "step_started_at": c.step_started_at.isoformat() if c.step_started_at else None,
            }
        if self.shadows:
            body["shadows"] = [{"target": str(s.target), "fraction": s.fraction} for s in self.shadows]
        if self.pipeline:
            body["pipeline"] = dict(self.pipeline)
        if self.deliver is not None:
            body["deliver"] = self.deliver.to_json()
        return body


def _weighted(item: object, index: int) -> WeightedTarget:
    data = _mapping(item, f"targets[{index}]")
    _known(data, {"target", "weight"}, f"targets[{index}]")
    weight = _number(data.get("weight", 1), f"targets[{index}].weight", minimum=0.0)
    return WeightedTarget(TargetRef.parse(data.get("target")), weight)


def _shadow(item: object, index: int) -> ShadowTarget:
    data = _mapping(item, f"shadows[{index}]")
    _known(data, {"target", "fraction"}, f"shadows[{index}]")
    fraction = _number(data.get("fraction", 1.0), f"shadows[{index}].fraction", minimum=0.0, maximum=1.0)
    return ShadowTarget(TargetRef.parse(data.get("target")), fraction)


def _sticky(item: object) -> StickyKey:
    data = _mapping(item, "sticky")
    _known(data, {"header", "field"}, "sticky")
    header, name = data.get("header"), data.get("field")
    if header is None and name is None:
        raise _invalid("'sticky' needs a 'header' and/or a 'field' to read the key from")
    if header is not None and (not isinstance(header, str) or not _HEADER_NAME.match(header)):
        raise _invalid(f"sticky.header {header!r} is not a valid header name")
    if name is not None and (not isinstance(name, str) or not _FIELD_NAME.match(name)):
        raise _invalid(f"sticky.field {name!r} is not a valid field name")
    return StickyKey(header.lower() if isinstance(header, str) else None, name)


_CANARY_KEYS: Final = {
    "target",
    "steps",
    "interval_s",
    "min_requests",
    "max_error_rate_increase",
    "max_latency_ratio",
    "step",
    "weight",
    "step_started_at",
}


def _canary(item: object) -> CanaryPolicy:
    data = _mapping(item, "canary")
    _known(data, _CANARY_KEYS, "canary")
    defaults = CanaryPolicy(TargetRef("x"))
    steps_raw = _list(data.get("steps", list(defaults.steps)), "canary.steps")
    if len(steps_raw) > MAX_CANARY_STEPS:
        raise _invalid(f"canary.steps has at most {MAX_CANARY_STEPS} steps")
    steps = tuple(
        _number(s, f"canary.steps[{i}]", minimum=0.0, maximum=100.0) for i, s in enumerate(steps_raw)
    )
    if any(s <= 0 for s in steps) or any(b <= a for a, b in itertools.pairwise(steps)):
        raise _invalid("canary.steps must be increasing percentages above 0 and at most 100")
    step = data.get("step", 0)
    if not isinstance(step, int) or isinstance(step, bool) or not 0 <= step < len(steps):
        raise _invalid(f"canary.step must be an index into canary.steps (0..{len(steps) - 1})")
    started = data.get("step_started_at")
    return CanaryPolicy(
        target=TargetRef.parse(data.get("target")),
        steps=steps,
        interval_s=_number(
            data.get("interval_s", defaults.interval_s),
            "canary.interval_s",
            minimum=0.0,
            maximum=MAX_CANARY_INTERVAL_S,
        ),
        min_requests=int(
            _number(data.get("min_requests", defaults.min_requests), "canary.min_requests", minimum=0.0)
        ),
        max_error_rate_increase=_number(
            data.get("max_error_rate_increase", defaults.max_error_rate_increase),
            "canary.max_error_rate_increase",
            minimum=0.0,
            maximum=1.0,
        ),
        max_latency_ratio=_number(
            data.get("max_latency_ratio", defaults.max_latency_ratio), "canary.max_latency_ratio", minimum=1.0
        ),
        step=step,
        step_started_at=_datetime(started) if started is not None else None,
    )


def _check_distinct(spec: EndpointSpec) -> None:
    seen: set[str] = set()
    for ref in spec.referenced():
        key = str(ref)
        if key in seen:
            raise _invalid(f"target {key!r} is named twice (a variant is one target)")
        seen.add(key)


def _mapping(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _invalid(f"{what} must be an object")
    return value


def _list(value: object, what: str, *, empty: bool = False) -> Sequence[Any]:
    if not isinstance(value, list):
        raise _invalid(f"'{what}' must be a list")
    if not value and not empty:
        raise _invalid(f"'{what}' must not be empty")
    return value


def _known(data: Mapping[str, Any], allowed: set[str], what: str) -> None:
    unknown = sorted(str(k) for k in data if k not in allowed)
    if unknown:
        raise _invalid(f"unknown field {unknown[0]!r} in {what}; allowed: {sorted(allowed)}")


def _number(value: object, what: str, *, minimum: float, maximum: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _invalid(f"{what} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number) or not minimum <= number <= maximum:
        bound = f"between {minimum:g} and {maximum:g}" if math.isfinite(maximum) else f"at least {minimum:g}"
        raise _invalid(f"{what} must be a finite number {bound}, got {value!r}")
    return number


def _datetime(value: object) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if parsed.tzinfo is not None:
                return parsed
    raise _invalid(f"canary.step_started_at must be an ISO 8601 time with a time zone, got {value!r}")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A stored endpoint: its spec at `revision` (1 when created, one more at every change)."""

    name: str
    team: str
    description: str
    spec: EndpointSpec
    revision: int
    created_at: datetime
    updated_at: datetime
    updated_by: str

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "team": self.team,
            "description": self.description,
            "revision": self.revision,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "updated_by": self.updated_by,
            **self.spec.to_json(),
        }


class EndpointChange:
    """What kind of change an endpoint revision is (kept in its history)."""

    CREATE: Final = "create"
    UPDATE: Final = "update"
    ROLLBACK: Final = "rollback"
    CANARY_START: Final = "canary_start"
    CANARY_STEP: Final = "canary_step"
    CANARY_PROMOTE: Final = "canary_promote"
    CANARY_ROLLBACK: Final = "canary_rollback"
    DELETE: Final = "delete"


@dataclass(frozen=True, slots=True)
class EndpointEvent:
    """One change of an endpoint: the spec before (None when created) and after (None when deleted)."""

    endpoint: str
    revision: int
    kind: str
    spec_before: EndpointSpec | None
    spec_after: EndpointSpec | None
    actor: str
    reason: str
    at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "revision": self.revision,
            "kind": self.kind,
            "before": self.spec_before.to_json() if self.spec_before else None,
            "after": self.spec_after.to_json() if self.spec_after else None,
            "actor": self.actor,
            "reason": self.reason,
            "at": self.at.isoformat(),
        }
