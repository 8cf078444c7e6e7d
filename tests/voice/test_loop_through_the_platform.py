"""The retraining loop through the platform itself: texts answered by feedback-router are recorded,
an analyst corrects them through the feedback API, a `retrain` job enqueued through the job API is
run by a worker, and the endpoint answers from the promoted champion."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from the_voice.data import Split

from berth.control.jobs.runner import Worker, WorkerConfig
from berth.control.jobs.triggers import TriggerEvaluator
from berth.core.settings import Settings
from berth.wiring.workspace import open_workspace
from tests.support.servers import server_in_thread
from tests.voice.conftest import BASE_ROWS

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # trains in process and in the worker


def _route(client: httpx.Client, text: str) -> tuple[str, str]:
    body = {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": [text]}]}
    answer = client.post("/v2/models/feedback-router/infer", json=body)
    assert answer.status_code == 200, answer.text
    return answer.headers["berth-prediction-id"], answer.headers["berth-model-version"]


def _wait_for(check: Any, timeout_s: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def test_corrections_sent_as_feedback_retrain_and_promote_a_better_champion(
    voice_settings: Settings, voice_home: Path, analyst_truth: Split
) -> None:
    truth = analyst_truth.sample(600, seed=3)
    with server_in_thread(voice_settings) as url, httpx.Client(base_url=url, timeout=60) as client:
        answered = [
            (_route(client, text), label) for text, label in zip(truth.texts, truth.categories, strict=True)
        ]
        assert {version for (_, version), _ in answered} == {"1"}
        items = [{"prediction_id": pid, "label": label, "source": "analyst"} for (pid, _), label in answered]
        stored = client.post("/api/v1/feedback", json={"feedback": items}).json()
        assert stored["stored"] == len(items), stored["unknown"][:5]

        job = client.post(
            "/api/v1/jobs",
            json={
                "kind": "retrain",
                "params": {
                    "model": "voice-classifier",
                    "trainer": "voice",
                    "endpoint": "feedback-router",
                    "trainer_options": {"base_rows": BASE_ROWS},
                },
            },
        )
        assert job.status_code in (200, 201), job.text
        job_id = job.json()["id"]

        workspace = open_workspace(voice_settings)
        worker = Worker(
            workspace.jobs.store,
            workspace.jobs.kinds,
            workspace,
            voice_home,
            WorkerConfig("test-worker", lease_s=30.0, poll_s=0.1, grace_s=5.0),
            TriggerEvaluator(workspace.jobs.store, None, lambda: datetime.now(UTC)),
        )
        stop = threading.Event()
        thread = threading.Thread(target=worker.run, args=(stop,))
        thread.start()
        try:
            done = _wait_for(
                lambda: (
                    (j := client.get(f"/api/v1/jobs/{job_id}").json())["status"] in ("succeeded", "failed")
                    and j
                ),
                timeout_s=600,
            )
        finally:
            stop.set()
            thread.join(timeout=60)
            workspace.close()
        assert done["status"] == "succeeded", done.get("error")
        assert done["progress"] == 1.0
        result = done["result"]
        assert result["promoted"] is True, result["reason"]
        assert result["corrections"] == len(items)

        history = client.get("/api/v1/models/voice-classifier/aliases/champion/history").json()
        assert f"retrain job {job_id}" in str(history)
        new = str(result["challenger"]["version"])
        assert _wait_for(lambda: _route(client, "I lost my card")[1] == new, timeout_s=60)
