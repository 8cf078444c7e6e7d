"""The endpoint API's bodies state core's limits of an endpoint spec (one definition, in core)."""

from __future__ import annotations

from berth.core.endpoints import (
    MAX_CANARY_STEPS,
    MAX_SHADOWS,
    MAX_STICKY_NAME_LENGTH,
    MAX_TARGET_LENGTH,
    MAX_TARGETS,
)
from berth.core.entities import MAX_NAME_LENGTH
from berth.core.security import MAX_TEAM_NAME_LENGTH
from berth.server.rest.endpoint_schemas import EndpointCreate, WeightsBody


def test_the_bodies_limits_are_cores() -> None:
    schema = EndpointCreate.model_json_schema()
    body, parts = schema["properties"], schema["$defs"]
    optional = 0  # `X | None` fields: the first of anyOf is X

    assert body["targets"]["maxItems"] == MAX_TARGETS
    assert body["shadows"]["maxItems"] == MAX_SHADOWS
    assert parts["TargetWeight"]["properties"]["target"]["maxLength"] == MAX_TARGET_LENGTH
    assert parts["ShadowBody"]["properties"]["target"]["maxLength"] == MAX_TARGET_LENGTH
    assert parts["CanaryBody"]["properties"]["target"]["maxLength"] == MAX_TARGET_LENGTH
    assert parts["CanaryBody"]["properties"]["steps"]["anyOf"][optional]["maxItems"] == MAX_CANARY_STEPS
    sticky = parts["StickyBody"]["properties"]
    for key in ("header", "field"):
        assert sticky[key]["anyOf"][optional]["maxLength"] == MAX_STICKY_NAME_LENGTH
    assert body["name"]["maxLength"] == MAX_NAME_LENGTH
    assert body["team"]["maxLength"] == MAX_TEAM_NAME_LENGTH
    assert WeightsBody.model_json_schema()["properties"]["weights"]["maxProperties"] == MAX_TARGETS
