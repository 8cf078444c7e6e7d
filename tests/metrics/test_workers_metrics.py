"""Two worker processes: whichever answers a scrape, its figures are the sum of both workers'."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

import berth
from tests.conftest import Trained
from tests.metrics.scrape import scrape, value
from tests.support.servers import server_process

MIN_REQUESTS = 20


@pytest.mark.slow
def test_two_workers_counts_add_up(tmp_path: Path, lr: Trained) -> None:
    home = tmp_path / "home"
    berth.push(lr.model, name="lr", home=home, input_example=lr.x[:2])
    body = {
        "inputs": [
            {"name": "input-0", "shape": [2, 20], "datatype": "FP32", "data": lr.x[:2].ravel().tolist()}
        ]
    }
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with server_process(home, "--workers", "2", env={"TMPDIR": str(run_dir)}) as url:
        [shared] = list(run_dir.glob("berth-metrics-*"))  # the run's folder of metric files
        sent = 0
        deadline = time.monotonic() + 60
        # new connections, until both workers have answered some (a worker writes its counter file
        # when it counts its first request): the kernel decides which worker accepts each one
        while sent < MIN_REQUESTS or len(list(shared.glob("counter_*.db"))) < 2:
            assert time.monotonic() < deadline, "one worker answered every request for 60 s"
            with httpx.Client(base_url=url, timeout=30) as fresh:
                assert fresh.post("/v2/models/lr/infer", json=body).status_code == 200
            sent += 1
        for _ in range(6):  # each scrape on a new connection: either worker answers
            samples = scrape(url)
            assert value(samples, "berth_requests_total", model="lr", code="ok") == sent
            assert value(samples, "berth_request_duration_seconds_count", model="lr") == sent
            assert value(samples, "berth_batch_size_sum", model="lr") == 2 * sent
            assert value(samples, "berth_models_loaded") == 2  # each worker holds its own copy
    assert not list(run_dir.glob("berth-metrics-*"))  # removed when the run ends
