"""A deleted endpoint's series leave /metrics, with one worker and with several (multiprocess files).

The reconciler tells the metrics which names it serves; every series labelled with a name that
went away is removed from every family, zeroed in the worker's files, and hidden from every
scrape. A re-created name starts from nothing: it never inherits the old one's figures.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

import berth
from berth.core.settings import Settings
from tests.conftest import Trained
from tests.metrics.scrape import Samples, scrape, value
from tests.support.servers import server_in_thread, server_process


def _body(lr: Trained) -> dict[str, Any]:
    x = lr.x[:1]
    return {"inputs": [{"name": "input-0", "shape": [1, 20], "datatype": "FP32", "data": x.ravel().tolist()}]}


def _named(samples: Samples, name: str) -> list[str]:
    return [sample for sample, labels in samples if ("endpoint", name) in labels or ("model", name) in labels]


def _until(check: Callable[[], bool], limit_s: float = 20.0) -> None:
    deadline = time.monotonic() + limit_s
    while not check():
        assert time.monotonic() < deadline, "not within the time limit"
        time.sleep(0.1)


def _create(url: str, name: str) -> None:
    answer = httpx.post(f"{url}/api/v1/endpoints", json={"name": name, "targets": [{"target": "lr:1"}]})
    assert answer.status_code == 201, answer.text


def _known_everywhere(url: str, name: str) -> bool:
    """Readiness on fresh connections, which either worker may accept; probes count no inference."""
    return all(httpx.get(f"{url}/v2/models/{name}/ready").status_code == 200 for _ in range(12))


def _call(url: str, name: str, body: dict[str, Any], times: int) -> None:
    _until(lambda: _known_everywhere(url, name))
    assert httpx.post(f"{url}/v2/models/{name}/infer", json=body).status_code == 200
    for _ in range(times - 1):
        with httpx.Client(base_url=url, timeout=30) as fresh:  # either worker may answer
            assert fresh.post(f"/v2/models/{name}/infer", json=body).status_code == 200


def _delete_and_recreate(url: str, body: dict[str, Any], scrapes: int) -> None:
    _create(url, "doomed")
    _create(url, "kept")
    _call(url, "doomed", body, 5)
    _call(url, "kept", body, 2)
    assert value(scrape(url), "berth_requests_total", endpoint="doomed", code="ok") >= 5

    assert httpx.delete(f"{url}/api/v1/endpoints/doomed").status_code == 200
    _until(lambda: all(not _named(scrape(url), "doomed") for _ in range(scrapes)))
    for _ in range(scrapes):  # whichever worker answers
        samples = scrape(url)
        assert _named(samples, "doomed") == []
        assert value(samples, "berth_requests_total", endpoint="kept", code="ok") == 2

    _create(url, "doomed")  # the name again, for someone else: it inherits no figures
    _call(url, "doomed", body, 1)
    for _ in range(scrapes):
        samples = scrape(url)
        assert value(samples, "berth_requests_total", endpoint="doomed", code="ok") == 1
        assert value(samples, "berth_request_duration_seconds_count", endpoint="doomed") == 1


def test_a_deleted_endpoints_series_leave_metrics(tmp_path: Path, lr: Trained) -> None:
    home = tmp_path / "home"
    berth.push(lr.model, name="lr", home=home, input_example=lr.x[:2])
    with server_in_thread(Settings(home=home, poll_interval_s=0.1)) as url:
        _delete_and_recreate(url, _body(lr), scrapes=1)


@pytest.mark.slow
def test_a_deleted_endpoints_series_leave_every_workers_metrics(tmp_path: Path, lr: Trained) -> None:
    home = tmp_path / "home"
    berth.push(lr.model, name="lr", home=home, input_example=lr.x[:2])
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    env = {"TMPDIR": str(run_dir), "BERTH_POLL_INTERVAL_S": "0.1"}
    with server_process(home, "--workers", "2", env=env) as url:
        _delete_and_recreate(url, _body(lr), scrapes=6)
