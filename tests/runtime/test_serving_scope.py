"""What a server of a serving group selects from the registry, and when it lets a moved model go."""

from __future__ import annotations

from datetime import UTC, datetime

from berth.core.endpoints import Endpoint, EndpointSpec
from berth.core.entities import RegistrySnapshot
from berth.runtime.serving_scope import EVERYTHING, NOTHING_LOADED, ServingScope, elsewhere, handed_over

NOW = datetime.now(UTC)


def _endpoint(name: str, *targets: str) -> Endpoint:
    spec = EndpointSpec.from_json({"targets": [{"target": t, "weight": 1} for t in targets]})
    return Endpoint(name, "default", "", spec, 1, NOW, NOW, "x")


SNAPSHOT = RegistrySnapshot(
    generation=3,
    versions={"churn": {}, "fraud": {}, "limits": {}},
    aliases={"churn": {}, "fraud": {}, "limits": {}},
    endpoints={"scoring": _endpoint("scoring", "limits@production")},
    groups={"churn": "default", "fraud": "risk", "limits": "default", "scoring": "risk"},
)


def test_a_group_selects_its_models_its_endpoints_and_the_models_they_call() -> None:
    assert ServingScope(group="risk").select(SNAPSHOT) == {"fraud", "scoring", "limits"}
    assert ServingScope(group="default").select(SNAPSHOT) == {"churn", "limits"}
    assert ServingScope(group="empty").select(SNAPSHOT) == frozenset()


def test_no_group_selects_everything_and_a_scope_that_loads_nothing_selects_nothing() -> None:
    assert EVERYTHING.select(SNAPSHOT) == {"churn", "fraud", "limits", "scoring"}
    assert NOTHING_LOADED.select(SNAPSHOT) == frozenset()


def test_the_rest_is_named_with_its_group() -> None:
    assert dict(elsewhere(SNAPSHOT, frozenset({"churn", "limits"}))) == {"fraud": "risk", "scoring": "risk"}


def test_a_moved_model_is_let_go_only_once_its_new_group_has_it_ready() -> None:
    kept = frozenset({"fraud", "scoring"})

    assert handed_over(kept, SNAPSHOT, {}) == frozenset()
    assert handed_over(kept, SNAPSHOT, {"default": frozenset({"fraud"})}) == frozenset()
    assert handed_over(kept, SNAPSHOT, {"risk": frozenset({"fraud"})}) == {"fraud"}
