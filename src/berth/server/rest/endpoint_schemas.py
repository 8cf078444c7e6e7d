"""Bodies of the endpoint and entity API (pydantic for the documentation and the first check;
`berth.core.endpoints` checks the meaning and `EndpointService` checks against the registry).

The spec's limits are core's (`berth.core.endpoints`, `berth.core.entities`): stated here too, so
the OpenAPI schema shows them. The bodies do not hand the spec to core's parser themselves: a
body refused here is ``invalid_request``, one core refuses ``invalid_endpoint``, and clients see
(and tests pin) which is which."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from berth.core.delivery import MAX_COLUMN_LENGTH
from berth.core.endpoints import (
    MAX_CANARY_STEPS,
    MAX_SHADOWS,
    MAX_STICKY_NAME_LENGTH,
    MAX_TARGET_LENGTH,
    MAX_TARGETS,
)
from berth.core.entities import MAX_NAME_LENGTH
from berth.core.security import MAX_TEAM_NAME_LENGTH

_NAME = Field(min_length=1, max_length=MAX_NAME_LENGTH, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_TARGET = Field(
    min_length=1,
    max_length=MAX_TARGET_LENGTH,
    description="'model@alias', 'model:version' or 'model' (its default)",
)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Change(_Body):
    """Who makes a change and why (kept in the endpoint's history)."""

    actor: str = Field("", max_length=256)
    reason: str = Field("", max_length=1024)


class TargetWeight(_Body):
    target: str = _TARGET
    weight: float = Field(1.0, ge=0, description="relative weight (the weights need a positive sum)")


class ShadowBody(_Body):
    target: str = _TARGET
    fraction: float = Field(1.0, ge=0, le=1, description="share of the requests copied to it")


class StickyBody(_Body):
    header: str | None = Field(
        None, max_length=MAX_STICKY_NAME_LENGTH, description="request header holding the key"
    )
    field: str | None = Field(
        None, max_length=MAX_STICKY_NAME_LENGTH, description="request parameter or one-row input"
    )


class CanaryBody(_Body):
    target: str = _TARGET
    steps: list[float] | None = Field(
        None, max_length=MAX_CANARY_STEPS, description="percentages, increasing"
    )
    interval_s: float | None = Field(None, ge=0, description="seconds at each step before the next")
    min_requests: int | None = Field(None, ge=0, description="answers needed to judge a step")
    max_error_rate_increase: float | None = Field(None, ge=0, le=1)
    max_latency_ratio: float | None = Field(None, ge=1)


class DeliverBody(_Body):
    by: str = Field(
        min_length=1, max_length=MAX_COLUMN_LENGTH, description="the answer column naming the team"
    )
    label: str | None = Field(
        None,
        min_length=1,
        max_length=MAX_COLUMN_LENGTH,
        description="the answer column the model predicts (what a reroute corrects); default: 'by'",
    )


class SpecBody(_Body):
    targets: list[TargetWeight] = Field(min_length=1, max_length=MAX_TARGETS)
    sticky: StickyBody | None = None
    canary: CanaryBody | None = None
    shadows: list[ShadowBody] = Field(default_factory=list, max_length=MAX_SHADOWS)
    pipeline: dict[str, Any] = Field(
        default_factory=dict, description="{'pre': [steps], 'post': [steps]}; see docs/pipelines.md"
    )
    deliver: DeliverBody | None = Field(
        None, description="deliver every answered row to its team's inbox; see docs/endpoints.md"
    )

    def spec_json(self) -> dict[str, Any]:
        body = self.model_dump(
            include={"targets", "sticky", "canary", "shadows", "pipeline", "deliver"}, exclude_none=True
        )
        return body


class EndpointCreate(SpecBody):
    name: str = _NAME
    team: str = Field("default", min_length=1, max_length=MAX_TEAM_NAME_LENGTH)
    description: str = Field("", max_length=10_000)
    actor: str = Field("", max_length=256)
    reason: str = Field("", max_length=1024)


class EndpointReplace(SpecBody):
    expected_revision: int | None = Field(
        None, ge=1, description="refuse (409) unless the endpoint is still at this revision"
    )
    team: str | None = Field(None, min_length=1, max_length=MAX_TEAM_NAME_LENGTH)
    description: str | None = Field(None, max_length=10_000)
    actor: str = Field("", max_length=256)
    reason: str = Field("", max_length=1024)


class WeightsBody(Change):
    weights: dict[str, float] = Field(
        min_length=1, max_length=MAX_TARGETS, description="target -> weight; a new target is added"
    )


class CanaryStart(CanaryBody):
    actor: str = Field("", max_length=256)
    reason: str = Field("", max_length=1024)

    def canary_json(self) -> dict[str, Any]:
        return self.model_dump(exclude={"actor", "reason"}, exclude_none=True)


class EntitiesPut(_Body):
    entities: dict[str, dict[str, str | int | float | bool | None]] = Field(
        description="entity key -> features (feature name -> value)"
    )
    team: str | None = Field(
        None,
        min_length=1,
        max_length=128,
        description="the team that owns the table when it is new (a maintainer of it may write it); "
        "none: the platform's (administrators only). An existing table keeps its owner.",
    )
