"""Feedback sent right after a prediction, before the ingester moved its record from the journal
to the database: the service waits for the ingester to catch up instead of answering "unknown"."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

import berth
from berth.core.settings import Settings
from berth.storage.journal import JournalWriter, catch_up_with_journal, segments
from tests.conftest import Trained
from tests.support.servers import server_in_thread

SLOW_INGEST_S = 4.0
"""The ingester's interval in these tests: well past the moment the feedback arrives."""


@pytest.fixture(scope="module")
def slow_ingester(tmp_path_factory: pytest.TempPathFactory, lr: Trained) -> Iterator[str]:
    home = tmp_path_factory.mktemp("catch-up") / "home"
    berth.push(lr.model, name="lr", home=home, input_example=lr.x[:3])
    settings = Settings(home=home, poll_interval_s=0.1, ingest_interval_s=SLOW_INGEST_S)
    with server_in_thread(settings) as url:
        yield url


def infer(url: str, x: np.ndarray, pid: str) -> None:
    body = {
        "id": pid,
        "inputs": [
            {"name": "input-0", "shape": list(x.shape), "datatype": "FP32", "data": x.ravel().tolist()}
        ],
    }
    answer = httpx.post(f"{url}/v2/models/lr/infer", json=body, timeout=30)
    assert answer.status_code == 200, answer.text


def test_feedback_right_after_the_prediction_is_stored(slow_ingester: str, lr: Trained) -> None:
    pids = [f"fresh-{i}" for i in range(3)]
    for i, pid in enumerate(pids):
        infer(slow_ingester, lr.x[i : i + 1], pid)
    sent = httpx.post(
        f"{slow_ingester}/api/v1/feedback",
        json={"feedback": [{"prediction_id": p, "label": "1"} for p in pids]},
        timeout=60,
    )
    assert sent.status_code == 200, sent.text
    assert sent.json()["stored"] == len(pids), sent.json()


def test_feedback_for_an_id_never_answered_is_still_unknown(slow_ingester: str, lr: Trained) -> None:
    infer(slow_ingester, lr.x[:1], "answered-once")
    sent = httpx.post(
        f"{slow_ingester}/api/v1/feedback",
        json={"feedback": [{"prediction_id": "never-answered", "label": "1"}]},
        timeout=60,
    )
    assert sent.status_code == 200, sent.text
    assert sent.json()["stored"] == 0
    assert sent.json()["unknown"] == ["never-answered"]


def test_an_empty_journal_needs_no_wait(tmp_path: Path) -> None:
    calls: list[int] = []

    def ingested() -> dict[str, int]:
        calls.append(1)
        return {}

    assert catch_up_with_journal(tmp_path, ingested, timeout_s=60) is False
    assert calls == []


def test_it_waits_until_the_offsets_reach_the_sizes_seen_at_the_call(tmp_path: Path) -> None:
    writer = JournalWriter(tmp_path)
    try:
        writer.append(b'{"line": 1}\n', sync=True)
        [segment] = segments(tmp_path)
        size = segment.stat().st_size
        offsets: dict[str, int] = {segment.name: 0}
        polled, caught_up = threading.Event(), threading.Event()

        def ingested() -> dict[str, int]:
            polled.set()  # the sizes to wait for were taken before the first poll
            return dict(offsets)

        def waiter() -> None:
            assert catch_up_with_journal(tmp_path, ingested, timeout_s=60) is True
            caught_up.set()

        thread = threading.Thread(target=waiter)
        thread.start()
        assert polled.wait(30)
        writer.append(b'{"line": 2}\n', sync=True)  # written after the call: not waited for
        assert not caught_up.wait(0.3)
        offsets[segment.name] = size
        assert caught_up.wait(30)
        thread.join(30)
    finally:
        writer.close()


def test_it_gives_up_at_the_timeout(tmp_path: Path) -> None:
    writer = JournalWriter(tmp_path)
    try:
        writer.append(b'{"line": 1}\n', sync=True)
        started = time.monotonic()
        assert catch_up_with_journal(tmp_path, dict, timeout_s=0.2) is True
        assert time.monotonic() - started >= 0.2
    finally:
        writer.close()
