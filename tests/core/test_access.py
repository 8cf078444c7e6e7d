"""The one authorization decision: roles, actions, grants, and 404 for what one may not see."""

from __future__ import annotations

import pytest

from berth.core.access import (
    ANONYMOUS,
    REQUIRED_ROLE,
    SERVER,
    Action,
    Principal,
    Resource,
    Role,
    allowed,
    authorize,
)
from berth.core.errors import BerthError, ErrorCode

MODEL = Resource.model("churn", "risk")
TEAM_ACTIONS = [a for a in Action if a not in (Action.CONNECT, Action.ADMIN)]


def _outcome(principal: Principal, action: Action, resource: Resource) -> str:
    try:
        authorize(principal, action, resource)
    except BerthError as error:
        return error.code.value
    return "ok"


@pytest.mark.parametrize("role", list(Role))
def test_each_role_holds_the_rights_of_the_roles_below(role: Role) -> None:
    member = Principal("ann", roles={"risk": role})
    for action in TEAM_ACTIONS:
        expected = "ok" if role >= REQUIRED_ROLE[action] else "forbidden"
        assert _outcome(member, action, MODEL) == expected, (role, action)
    assert _outcome(member, Action.ADMIN, SERVER) == "forbidden"
    assert _outcome(member, Action.CONNECT, SERVER) == "ok"


def test_the_roles_table() -> None:
    needed = {action.value: REQUIRED_ROLE[action].label for action in TEAM_ACTIONS}
    assert needed == {
        "discover": "reader",
        "read": "reader",
        "describe": "reader",
        "predict": "predictor",
        "push": "maintainer",
        "trust": "maintainer",
        "alias": "maintainer",
        "update": "maintainer",
        "endpoint": "maintainer",
        "feedback": "maintainer",
        "load": "maintainer",
        "delete": "maintainer",
        "manage": "admin",
    }


def test_another_teams_model_is_not_found_not_forbidden() -> None:
    outsider = Principal("bob", roles={"fraud": Role.ADMIN})
    for action in TEAM_ACTIONS:
        assert _outcome(outsider, action, MODEL) == ErrorCode.MODEL_NOT_FOUND.value
    missing = Resource.model("ghost", None)
    assert _outcome(outsider, Action.READ, missing) == _outcome(
        outsider, Action.READ, Resource.model("ghost", "x")
    )


def test_a_grant_gives_predictions_on_one_endpoint_only() -> None:
    caller = Principal("bob", roles={"fraud": Role.PREDICTOR}, granted=frozenset({"churn"}))
    assert allowed(caller, Action.PREDICT, MODEL)
    assert allowed(caller, Action.DESCRIBE, MODEL)
    assert _outcome(caller, Action.READ, MODEL) == "forbidden"  # it knows the endpoint exists
    assert _outcome(caller, Action.PUSH, MODEL) == "forbidden"
    assert _outcome(caller, Action.PREDICT, Resource.model("other", "risk")) == "model_not_found"


def test_admins_and_the_anonymous_caller_of_a_server_without_auth() -> None:
    root = Principal("root", admin=True)
    for action in Action:
        assert allowed(root, action, MODEL)
        assert allowed(ANONYMOUS, action, MODEL)
    assert _outcome(root, Action.READ, Resource.model("ghost", None)) == "model_not_found"


def test_teams_and_unknown_roles() -> None:
    admin = Principal("ann", roles={"risk": Role.ADMIN})
    assert allowed(admin, Action.MANAGE, Resource.of_team("risk"))
    assert _outcome(admin, Action.MANAGE, Resource.of_team("fraud")) == "forbidden"
    assert _outcome(admin, Action.MANAGE, Resource.of_team("ghost", exists=False)) == "invalid_request"
    assert Role.parse("Maintainer") is Role.MAINTAINER
    with pytest.raises(BerthError, match="unknown role 'owner'"):
        Role.parse("owner")


DISCOVERABLE = Resource.model("churn", "risk", discoverable=True)


def test_a_discoverable_model_is_discovered_by_every_principal_but_not_read_or_called() -> None:
    stranger = Principal("bob", roles={"marketing": Role.ADMIN})
    assert _outcome(stranger, Action.DISCOVER, DISCOVERABLE) == "ok"
    # its existence is public: every other right is refused as forbidden, never as "not found"
    for action in TEAM_ACTIONS:
        if action is not Action.DISCOVER:
            assert _outcome(stranger, action, DISCOVERABLE) == "forbidden", action


def test_a_private_model_is_not_found_for_a_stranger_even_to_discover() -> None:
    stranger = Principal("bob", roles={"marketing": Role.ADMIN})
    for action in TEAM_ACTIONS:
        assert _outcome(stranger, action, MODEL) == "model_not_found", action


def test_a_granted_team_discovers_a_private_model_it_may_call() -> None:
    grantee = Principal("bob", roles={"marketing": Role.PREDICTOR}, granted=frozenset({"churn"}))
    assert _outcome(grantee, Action.DISCOVER, MODEL) == "ok"
    assert _outcome(grantee, Action.PREDICT, MODEL) == "ok"
    assert _outcome(grantee, Action.READ, MODEL) == "forbidden"


def test_a_missing_model_is_not_discovered_whatever_the_flag_says() -> None:
    stranger = Principal("bob", roles={"marketing": Role.ADMIN})
    missing = Resource.model("ghost", None, discoverable=True)
    assert _outcome(stranger, Action.DISCOVER, missing) == "model_not_found"
