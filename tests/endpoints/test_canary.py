"""Canaries through a real server: raised step by step when healthy, rolled back automatically
when their error rate or latency is worse than the stable target's, or by one command."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.conftest import Trained
from tests.endpoints.conftest import create, delete, rows


def drive(url: str, endpoint: str, body: dict[str, Any], until: Any, timeout_s: float = 60) -> list[str]:
    """Send requests until `until(endpoint json)` holds; returns the versions that answered."""
    versions: list[str] = []
    deadline = time.monotonic() + timeout_s
    with httpx.Client(base_url=url, timeout=30) as client:
        while time.monotonic() < deadline:
            for _ in range(10):
                answer = client.post(f"/v2/models/{endpoint}/infer", json=body)
                versions.append(answer.headers.get("berth-model-version", answer.json().get("code", "")))
            if until(client.get(f"/api/v1/endpoints/{endpoint}").json()):
                return versions
    raise AssertionError(f"{endpoint}: condition not reached in {timeout_s}s")


def serves_its_revision(endpoint: dict[str, Any]) -> bool:
    """Whether this server routes by the endpoint's stored revision (a change is served a moment
    after it is stored: the reconciler's next step)."""
    serving = endpoint.get("serving")
    return serving is not None and serving["revision"] == endpoint["revision"]


def kinds(url: str, endpoint: str) -> list[tuple[str, str]]:
    history = httpx.get(f"{url}/api/v1/endpoints/{endpoint}/history").json()
    return [(e["kind"], e["actor"]) for e in history]


def test_a_healthy_canary_is_raised_step_by_step_then_promoted(served: str, lr: Trained) -> None:
    create(served, "rising", targets=[{"target": "lr:1"}])
    started = httpx.post(
        f"{served}/api/v1/endpoints/rising/canary",
        json={
            "target": "lr:2",
            "steps": [10, 50],
            "interval_s": 0.5,
            "min_requests": 10,
            "max_latency_ratio": 1000,  # the same model on both sides: only noise could differ
            "actor": "dana",
        },
    )
    assert started.status_code == 200, started.text
    assert started.json()["canary"]["weight"] == 10

    versions = drive(
        served, "rising", rows(lr.x[:1]), lambda e: e["canary"] is None if "canary" in e else True
    )

    final = httpx.get(f"{served}/api/v1/endpoints/rising").json()
    delete(served, "rising")
    assert final["targets"] == [{"target": "lr:2", "weight": 100.0}]
    assert "canary" not in final
    assert kinds(served, "rising")[:4] == [
        ("create", ""),
        ("canary_start", "dana"),
        ("canary_step", "berth-canary"),
        ("canary_promote", "berth-canary"),
    ]
    assert set(versions) <= {"1", "2"}


def test_a_failing_canary_is_rolled_back_automatically(served: str, lr: Trained) -> None:
    create(served, "failing", targets=[{"target": "lr:1"}])
    httpx.post(
        f"{served}/api/v1/endpoints/failing/canary",
        json={"target": "broken:1", "steps": [30, 60], "interval_s": 60, "min_requests": 10},
    ).raise_for_status()

    drive(served, "failing", rows(lr.x[:1]), lambda e: "canary" not in e and serves_its_revision(e))

    history = httpx.get(f"{served}/api/v1/endpoints/failing/history").json()
    after = [httpx.post(f"{served}/v2/models/failing/infer", json=rows(lr.x[:1])) for _ in range(30)]
    delete(served, "failing")
    assert history[-1]["kind"] == "canary_rollback"
    assert history[-1]["actor"] == "berth-canary"
    assert "error rate" in history[-1]["reason"]
    assert {a.status_code for a in after} == {200}
    assert {a.headers["berth-model-version"] for a in after} == {"1"}


def test_a_slow_canary_is_rolled_back_on_latency(served: str, lr: Trained) -> None:
    create(served, "slowcanary", targets=[{"target": "lr:1"}])
    httpx.post(
        f"{served}/api/v1/endpoints/slowcanary/canary",
        json={"target": "slow:1", "steps": [30], "interval_s": 60, "min_requests": 5, "max_latency_ratio": 3},
    ).raise_for_status()

    drive(served, "slowcanary", rows(lr.x[:1]), lambda e: "canary" not in e)

    history = httpx.get(f"{served}/api/v1/endpoints/slowcanary/history").json()
    delete(served, "slowcanary")
    assert history[-1]["kind"] == "canary_rollback"
    assert "p95 latency" in history[-1]["reason"]


def test_rollback_is_one_call_and_takes_effect_at_once(served: str, lr: Trained) -> None:
    create(served, "oneshot", targets=[{"target": "lr:1"}])
    httpx.post(
        f"{served}/api/v1/endpoints/oneshot/canary", json={"target": "lr:3", "steps": [50], "interval_s": 600}
    ).raise_for_status()

    started = time.monotonic()
    rolled = httpx.post(
        f"{served}/api/v1/endpoints/oneshot/rollback", json={"actor": "erin", "reason": "oops"}
    )
    elapsed = time.monotonic() - started
    versions = {
        httpx.post(f"{served}/v2/models/oneshot/infer", json=rows(lr.x[:1])).headers["berth-model-version"]
        for _ in range(40)
    }
    delete(served, "oneshot")

    assert rolled.status_code == 200, rolled.text
    assert elapsed < 60.0  # at once, not at the canary's next step (600 s)
    assert versions == {"1"}
    assert kinds(served, "oneshot")[-2] == ("canary_rollback", "erin")


def test_a_second_canary_is_refused_while_one_runs(served: str) -> None:
    create(served, "twice", targets=[{"target": "lr:1"}])
    httpx.post(f"{served}/api/v1/endpoints/twice/canary", json={"target": "lr:2", "interval_s": 600})

    again = httpx.post(f"{served}/api/v1/endpoints/twice/canary", json={"target": "lr:3"})
    promoted = httpx.post(f"{served}/api/v1/endpoints/twice/promote", json={})
    no_canary = httpx.post(f"{served}/api/v1/endpoints/twice/promote", json={})
    delete(served, "twice")

    assert again.status_code == 409
    assert promoted.json()["targets"] == [{"target": "lr:2", "weight": 100.0}]
    assert no_canary.status_code == 409
