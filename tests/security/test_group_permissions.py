"""Serving groups are the platform's: only a platform admin reads the assignments and replicas or
moves a model or endpoint to another group; a team's maintainer, even of the model moved, may not
(moving capacity between teams is an operator's decision), and nothing is moved by a refused call."""

from __future__ import annotations

import httpx
import pytest

from tests.security.conftest import World


@pytest.mark.parametrize("who", ["alice", "dave", "bob", "carol", "erin"])
def test_a_team_principal_may_not_read_or_move_groups(world: World, who: str) -> None:
    listed = httpx.get(f"{world.url}/api/v1/groups", headers=world.auth(who))
    moved = httpx.put(
        f"{world.url}/api/v1/groups/assignments/alpha-model",
        json={"group": "elsewhere", "reason": "mine"},
        headers=world.auth(who),
    )

    assert (listed.status_code, listed.json()["code"]) == (403, "forbidden")
    assert (moved.status_code, moved.json()["code"]) == (403, "forbidden")
    groups = httpx.get(f"{world.url}/api/v1/groups", headers=world.auth("root")).json()
    assert {a["name"]: a["group"] for a in groups["assignments"]}["alpha-model"] == "default"


def test_without_a_credential_nothing_is_read_or_moved(world: World) -> None:
    listed = httpx.get(f"{world.url}/api/v1/groups")
    moved = httpx.put(f"{world.url}/api/v1/groups/assignments/alpha-model", json={"group": "elsewhere"})

    assert listed.status_code == moved.status_code == 401


def test_the_platform_admin_moves_and_the_move_is_audited(world: World) -> None:
    moved = httpx.put(
        f"{world.url}/api/v1/groups/assignments/beta-model",
        json={"group": "risk", "reason": "own capacity"},
        headers=world.auth("root"),
    )
    back = httpx.put(
        f"{world.url}/api/v1/groups/assignments/beta-model",
        json={"group": "default", "reason": "back"},
        headers=world.auth("root"),
    )

    assert moved.status_code == back.status_code == 200, moved.text
    audit = httpx.get(
        f"{world.url}/api/v1/audit",
        params={"action": "group.", "resource_name": "beta-model"},
        headers=world.auth("root"),
    ).json()
    assert [(e["actor"], e["after"]["group"]) for e in audit] == [("root", "risk"), ("root", "default")]
