"""Traffic through a real server: weighted splits, sticky keys, shadows, per-variant statistics."""

from __future__ import annotations

import asyncio
import collections
import hashlib
import time
from pathlib import Path
from typing import Any

import httpx

import berth
from berth.core.access import ANONYMOUS
from berth.core.settings import Settings
from berth.core.tensors import InferenceRequest, Tensor
from berth.runtime.traffic import sticky_fraction
from berth.runtime.variant_stats import WINDOW_S, TrafficStats
from berth.wiring.server import build_server
from tests.conftest import Trained
from tests.endpoints.conftest import create, delete, rows
from tests.serving.model_gate import GATE_OPEN, WAITING_AT_GATE

PINNED = 0.967935093  # BLAKE2b-64 of b"scoring\x00customer-42" = 0xf7ca981f1752a7c3, over 2**64


def test_sticky_hash_is_pinned() -> None:
    """The documented hash (BLAKE2b-64 of endpoint NUL key): these values must never change, or
    every customer would switch variants at an upgrade."""
    digest = hashlib.blake2b(b"scoring\x00customer-42", digest_size=8).digest()
    assert sticky_fraction("scoring", "customer-42") == int.from_bytes(digest, "big") / 2**64
    assert round(sticky_fraction("scoring", "customer-42"), 9) == PINNED
    assert sticky_fraction("scoring", "a") != sticky_fraction("other", "a")


def test_a_90_10_split_holds_over_10000_requests(tmp_path: Path, lr: Trained) -> None:
    """10,000 requests through the server's data plane (the code behind REST and gRPC), in process."""
    home = tmp_path / "home"
    for _ in range(2):
        berth.push(lr.model, name="lr", home=home, input_example=lr.x[:3])
    server = build_server(Settings(home=home))
    server.workspace.endpoints.create(
        "ab",
        {"targets": [{"target": "lr:1", "weight": 90}, {"target": "lr:2", "weight": 10}]},
        caller=ANONYMOUS,
    )
    request = InferenceRequest([Tensor("input-0", "FP32", (1, 20), lr.x[:1])])

    async def run() -> collections.Counter[str]:
        await server.start()
        try:
            return collections.Counter(
                [(await server.dataplane.infer("ab", None, request)).model_version for _ in range(10_000)]
            )
        finally:
            await server.stop()

    seen = asyncio.run(run())

    assert abs(seen["2"] / 10_000 - 0.10) <= 0.015, seen


def test_a_split_over_http_and_its_statistics(served: str, lr: Trained) -> None:
    create(served, "ab", targets=[{"target": "lr:1", "weight": 90}, {"target": "lr:2", "weight": 10}])
    body = rows(lr.x[:1])
    seen: collections.Counter[str] = collections.Counter()
    with httpx.Client(base_url=served, timeout=30) as client:
        for _ in range(1000):
            seen[client.post("/v2/models/ab/infer", json=body).headers["berth-model-version"]] += 1

    stats = httpx.get(f"{served}/api/v1/endpoints/ab/stats").json()["variants"]
    delete(served, "ab")

    assert abs(seen["2"] / 1000 - 0.10) <= 0.04, seen
    assert stats["lr:1"]["total"]["requests"] == seen["1"]
    assert stats["lr:2"]["total"]["requests"] == seen["2"]
    assert stats["lr:1"]["total"]["errors"] == 0
    assert stats["lr:1"]["recent"]["latency_ms"]["p50"] > 0


def test_sticky_keys_keep_their_variant_and_missing_keys_are_random(served: str, lr: Trained) -> None:
    create(
        served,
        "sticky",
        targets=[{"target": "lr:1", "weight": 50}, {"target": "lr:2", "weight": 50}],
        sticky={"header": "X-Customer-Id", "field": "customer_id"},
    )
    body = rows(lr.x[:1])
    with httpx.Client(base_url=served, timeout=30) as client:

        def version(**kw: object) -> str:
            answer = client.post("/v2/models/sticky/infer", **kw)  # type: ignore[arg-type]
            assert answer.status_code == 200, answer.text
            return str(answer.json()["model_version"])

        by_header = {k: version(json=body, headers={"x-customer-id": f"c{k}"}) for k in range(200)}
        again = {k: version(json=body, headers={"X-Customer-Id": f"c{k}"}) for k in range(200)}
        by_field = {k: version(json={**body, "parameters": {"customer_id": f"c{k}"}}) for k in range(200)}
        without = collections.Counter(version(json=body) for _ in range(200))
    delete(served, "sticky")

    expected = {k: "1" if sticky_fraction("sticky", f"c{k}") < 0.5 else "2" for k in range(200)}
    assert by_header == again == by_field == expected
    assert set(expected.values()) == {"1", "2"}
    assert without["1"] > 40
    assert without["2"] > 40


def test_failing_and_held_shadows_never_touch_the_caller(served: str, lr: Trained) -> None:
    create(
        served,
        "shadowed",
        targets=[{"target": "lr:1"}],
        shadows=[{"target": "broken:1"}, {"target": "gated:1"}],
    )
    body = rows(lr.x[:2])
    WAITING_AT_GATE.clear()
    GATE_OPEN.clear()  # every copy to `gated` is held until the callers are all answered
    try:
        with httpx.Client(base_url=served, timeout=30) as client:
            for _ in range(60):
                answer = client.post("/v2/models/shadowed/infer", json=body)
                assert answer.status_code == 200, answer.text
                assert answer.json()["model_name"] == "lr"
        assert WAITING_AT_GATE.wait(timeout=60), "no copy reached the held shadow"
    finally:
        GATE_OPEN.set()

    def answered(stats: dict[str, Any], variant: str) -> int:
        entry = stats.get(variant, {})
        shadow = entry.get("shadow", {})
        return (
            int(entry.get("total", {}).get("requests", 0))
            + shadow.get("dropped", 0)
            + shadow.get("paused", 0)
        )

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        stats = httpx.get(f"{served}/api/v1/endpoints/shadowed/stats").json()["variants"]
        if answered(stats, "broken:1") >= 60 and answered(stats, "gated:1") >= 60:
            break
        time.sleep(0.1)
    delete(served, "shadowed")

    assert stats["lr:1"]["total"] == stats["lr:1"]["total"] | {"requests": 60, "errors": 0}
    broken = stats["broken:1"]
    assert answered(stats, "broken:1") == 60
    assert broken["total"]["errors"] == broken["total"]["requests"] >= 20
    assert broken["shadow"]["paused"] > 0  # failing 20 times in a row paused it
    assert answered(stats, "gated:1") == 60  # held, then answered (or dropped), never in the callers' way
    assert stats["gated:1"]["total"]["errors"] == 0


def test_statistics_of_retired_variants_are_forgotten_after_the_window() -> None:
    now = [1_000_000.0]
    stats = TrafficStats(clock=lambda: now[0])
    stats.record("ep", "m:1", 0.001, True)
    stats.record("ep", "m:2", 0.001, False)

    assert stats.prune({("ep", "m:1")}) == 0  # m:2 retired, but still within the window
    now[0] += WINDOW_S + 1
    assert stats.prune({("ep", "m:1")}) == 1

    assert set(stats.report("ep")) == {"m:1"}
