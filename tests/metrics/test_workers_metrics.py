"""Two worker processes: whichever answers a scrape, its figures are the sum of both workers'."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

import berth
from tests.conftest import Trained
from tests.metrics.scrape import scrape, value
from tests.support.servers import server_process

REQUESTS = 40


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
        for _ in range(REQUESTS):  # new connections: the kernel spreads them over the workers
            with httpx.Client(base_url=url, timeout=30) as fresh:
                assert fresh.post("/v2/models/lr/infer", json=body).status_code == 200
        [shared] = list(run_dir.glob("berth-metrics-*"))  # the run's folder of metric files
        assert len(list(shared.glob("counter_*.db"))) == 2  # one file per worker
        for _ in range(6):  # each scrape on a new connection: either worker answers
            samples = scrape(url)
            assert value(samples, "berth_requests_total", model="lr", code="ok") == REQUESTS
            assert value(samples, "berth_request_duration_seconds_count", model="lr") == REQUESTS
            assert value(samples, "berth_batch_size_sum", model="lr") == 2 * REQUESTS
            assert value(samples, "berth_models_loaded") == 2  # each worker holds its own copy
    assert not list(run_dir.glob("berth-metrics-*"))  # removed when the run ends
