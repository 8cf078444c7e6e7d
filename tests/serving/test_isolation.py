"""A slow model never stalls requests to a fast one: predictions run off the event loop, one batch
per version at a time, so the fast model keeps its latency while the slow one works."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import httpx
import numpy as np
import pytest

import berth
from berth.core.settings import Settings
from berth.runtime.batching import BatchingConfig
from berth.wiring.server import build_server
from tests.conftest import Trained
from tests.serving.model_gate import GATE_OPEN, WAITING_AT_GATE
from tests.serving.slow_model import GatedModel
from tests.support.servers import server_in_thread


def test_a_slow_model_does_not_stall_a_fast_one(tmp_path: Path, lr: Trained) -> None:
    """While every call to the slow model is held inside its predict, the fast model keeps
    answering: were it queued behind the slow one (one event loop, one shared thread), none of
    its requests would come back until the gate opened."""
    home = tmp_path / "home"
    berth.push(lr.model, name="fast", home=home, input_example=lr.x[:2])
    berth.push(GatedModel(), name="slow", home=home, input_example=np.zeros((1, 3)), trust_pickle=True)
    fast_body = {
        "inputs": [{"name": "input-0", "shape": [1, 20], "datatype": "FP32", "data": lr.x[0].tolist()}]
    }
    slow_body = {
        "inputs": [{"name": "input-0", "shape": [1, 3], "datatype": "FP64", "data": [1.0, 2.0, 3.0]}]
    }
    with server_in_thread(Settings(home=home, poll_interval_s=0.2)) as url:
        slow_answers: list[int] = []

        def call_slow() -> None:
            with httpx.Client(base_url=url, timeout=120) as client:
                slow_answers.append(client.post("/v2/models/slow/infer", json=slow_body).status_code)

        slow_callers = [threading.Thread(target=call_slow) for _ in range(6)]
        WAITING_AT_GATE.clear()
        GATE_OPEN.clear()
        try:
            for caller in slow_callers:
                caller.start()
            assert WAITING_AT_GATE.wait(timeout=60), "the slow model was never called"
            with httpx.Client(base_url=url, timeout=60) as client:
                for _ in range(20):
                    answer = client.post("/v2/models/fast/infer", json=fast_body)
                    assert answer.status_code == 200, answer.text
            assert slow_answers == []  # every slow call was still held while the fast ones answered
        finally:
            GATE_OPEN.set()
        for caller in slow_callers:
            caller.join()
    assert slow_answers == [200] * 6


def test_a_version_can_carry_its_own_batching(tmp_path: Path, lr: Trained) -> None:
    """Pushed with batching off, a version runs each request alone; another version keeps the defaults."""
    home = tmp_path / "home"
    plain = berth.push(lr.model, name="lr", home=home, input_example=lr.x[:2])
    unbatched = berth.push(
        lr.model, name="lr", home=home, input_example=lr.x[:2], batching={"enabled": False}
    )
    small = berth.push(lr.model, name="lr", home=home, input_example=lr.x[:2], batching={"max_batch_size": 3})
    assert "batching" not in plain.runtime_config
    assert unbatched.runtime_config["batching"] == {"enabled": False}
    assert small.runtime_config["batching"] == {"max_batch_size": 3}
    with pytest.raises(berth.BerthError) as refused:
        berth.push(lr.model, name="lr", home=home, input_example=lr.x[:2], batching={"max_batch_size": 0})
    assert refused.value.code is berth.ErrorCode.INVALID_REQUEST
    server = build_server(Settings(home=home, batching=True, max_batch_size=64))

    async def batchers() -> list[BatchingConfig]:
        await server.reconciler.sync()
        configs = []
        for number in ("1", "2", "3"):
            loaded = await server.pool.get(server.dataplane.resolve("lr", number))
            configs.append(loaded.batcher.config)
        await server.stop()
        return configs

    default, off, small = asyncio.run(batchers())
    assert default == BatchingConfig(enabled=True, max_batch_size=64)
    assert off.enabled is False
    assert small.max_batch_size == 3
