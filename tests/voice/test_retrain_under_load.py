"""A retrain promotes a new champion while clients hammer feedback-router: no request fails, and the
answers come from the new version within 2 s of the promotion (``berth-model-version``)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import httpx
import pytest
from the_voice.data import Split

from berth.control.retraining.job import run_retrain_job
from berth.core.settings import Settings
from berth.wiring.workspace import Workspace
from tests.support.servers import server_in_thread
from tests.voice.conftest import BASE_ROWS
from tests.voice.records import CorrectedRecords

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # trains in process and in the worker

CLIENTS = 4
SWITCH_LIMIT_S = 2.0


@dataclass(frozen=True)
class Answer:
    started: float
    status: int
    version: str


class Hammer:
    """Client threads calling the endpoint in a loop until stopped."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.answers: list[Answer] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,)) for i in range(CLIENTS)]

    def __enter__(self) -> Hammer:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def _run(self, index: int) -> None:
        body = {
            "inputs": [
                {"name": "text", "datatype": "BYTES", "shape": [1], "data": [f"where is my card {index}"]}
            ]
        }
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    answer = client.post("/v2/models/feedback-router/infer", json=body)
                    seen = Answer(started, answer.status_code, answer.headers.get("berth-model-version", ""))
                except httpx.HTTPError:
                    seen = Answer(started, 0, "")
                with self._lock:
                    self.answers.append(seen)

    def wait_for(self, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while len(self.answers) < count:
            assert time.monotonic() < deadline, "the endpoint did not answer"
            time.sleep(0.05)


@dataclass
class PromotionClock:
    workspace: Workspace
    promoted_at: float | None = None

    def progress(self, fraction: float, message: str = "") -> None:
        if message.startswith("promoted: "):  # reported right after the alias moved
            self.promoted_at = time.monotonic()


def test_a_promotion_under_load_fails_no_request_and_switches_within_two_seconds(
    voice_settings: Settings, workspace: Workspace, analyst_truth: Split
) -> None:
    records = CorrectedRecords("feedback-router", analyst_truth.texts, analyst_truth.categories)
    params = {
        "model": "voice-classifier",
        "trainer": "voice",
        "endpoint": "feedback-router",
        "trainer_options": {"base_rows": BASE_ROWS},
    }
    clock = PromotionClock(workspace)
    with server_in_thread(voice_settings) as url, Hammer(url) as hammer:
        hammer.wait_for(20)
        result = run_retrain_job(params, clock, records, actor="retrain under load")
        assert result["promoted"], result["reason"]
        promoted_at = clock.promoted_at
        assert promoted_at is not None
        while time.monotonic() < promoted_at + SWITCH_LIMIT_S + 1.0:
            time.sleep(0.05)

    failed = [a for a in hammer.answers if a.status != 200]
    assert not failed, f"{len(failed)} of {len(hammer.answers)} requests failed: {failed[:3]}"
    before = [a for a in hammer.answers if a.started < promoted_at - 0.5]
    late = [a for a in hammer.answers if a.started >= promoted_at + SWITCH_LIMIT_S]
    assert before
    assert {a.version for a in before} == {"1"}
    assert late, "no request was made after the switch window"
    assert {a.version for a in late} == {"2"}
