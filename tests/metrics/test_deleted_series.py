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
from berth.server.metrics.server_metrics import ServerMetrics
from tests.conftest import Trained
from tests.metrics.scrape import Samples, scrape, value
from tests.support.servers import server_in_thread, server_process


def _body(lr: Trained) -> dict[str, Any]:
    x = lr.x[:1]
    return {"inputs": [{"name": "input-0", "shape": [1, 20], "datatype": "FP32", "data": x.ravel().tolist()}]}


def _named(samples: Samples, name: str) -> list[str]:
    return [sample for sample, labels in samples if ("endpoint", name) in labels or ("model", name) in labels]


def _until(check: Callable[[], bool], limit_s: float = 60.0) -> None:
    deadline = time.monotonic() + limit_s
    while not check():
        assert time.monotonic() < deadline, "not within the time limit"
        time.sleep(0.1)


def _create(url: str, name: str) -> None:
    answer = httpx.post(f"{url}/api/v1/endpoints", json={"name": name, "targets": [{"target": "lr:1"}]})
    assert answer.status_code == 201, answer.text


def _every_worker(url: str, workers: int, check: Callable[[list[str]], bool]) -> None:
    """Wait until each of the `workers` workers has answered, on a fresh connection (either
    worker may accept it), with a routing table whose endpoint names pass `check`: then every
    worker has reconciled the change, whichever of them answers the next request or scrape."""
    latest: dict[int, bool] = {}

    def passed() -> bool:
        serving = httpx.get(f"{url}/api/v1/serving").json()
        latest[serving["worker"]] = check(serving["endpoints"])
        return len(latest) == workers and all(latest.values())

    _until(passed, limit_s=60.0)


def _call(url: str, name: str, body: dict[str, Any], times: int) -> None:
    assert httpx.post(f"{url}/v2/models/{name}/infer", json=body).status_code == 200
    for _ in range(times - 1):
        with httpx.Client(base_url=url, timeout=30) as fresh:  # either worker may answer
            assert fresh.post(f"/v2/models/{name}/infer", json=body).status_code == 200


def _delete_and_recreate(url: str, body: dict[str, Any], workers: int, scrapes: int) -> None:
    _create(url, "doomed")
    _create(url, "kept")
    _every_worker(url, workers, lambda served: {"doomed", "kept"} <= set(served))
    _call(url, "doomed", body, 5)
    _call(url, "kept", body, 2)
    assert value(scrape(url), "berth_requests_total", endpoint="doomed", code="ok") >= 5

    assert httpx.delete(f"{url}/api/v1/endpoints/doomed").status_code == 200
    _every_worker(url, workers, lambda served: "doomed" not in served)
    _until(lambda: all(not _named(scrape(url), "doomed") for _ in range(scrapes)))
    for _ in range(scrapes):  # whichever worker answers
        samples = scrape(url)
        assert _named(samples, "doomed") == []
        assert value(samples, "berth_requests_total", endpoint="kept", code="ok") == 2

    _create(url, "doomed")  # the name again, for someone else: it inherits no figures
    _every_worker(url, workers, lambda served: "doomed" in served)
    _call(url, "doomed", body, 1)
    for _ in range(scrapes):
        samples = scrape(url)
        assert value(samples, "berth_requests_total", endpoint="doomed", code="ok") == 1
        assert value(samples, "berth_request_duration_seconds_count", endpoint="doomed") == 1


def test_a_deleted_endpoints_series_leave_metrics(tmp_path: Path, lr: Trained) -> None:
    home = tmp_path / "home"
    berth.push(lr.model, name="lr", home=home, input_example=lr.x[:2])
    with server_in_thread(Settings(home=home, poll_interval_s=0.1)) as url:
        _delete_and_recreate(url, _body(lr), workers=1, scrapes=1)


@pytest.mark.slow
def test_a_deleted_endpoints_series_leave_every_workers_metrics(tmp_path: Path, lr: Trained) -> None:
    home = tmp_path / "home"
    berth.push(lr.model, name="lr", home=home, input_example=lr.x[:2])
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    env = {"TMPDIR": str(run_dir), "BERTH_POLL_INTERVAL_S": "0.1"}
    with server_process(home, "--workers", "2", env=env) as url:
        _delete_and_recreate(url, _body(lr), workers=2, scrapes=6)


def _count(metrics: ServerMetrics, endpoint: str) -> float:
    return sum(
        sample.value
        for family in metrics.families.requests.collect()
        for sample in family.samples
        if sample.name == "berth_requests_total" and sample.labels["endpoint"] == endpoint
    )


def test_a_name_deleted_and_made_again_between_two_reconciliations_starts_from_nothing() -> None:
    """A worker that never saw the gap (both changes within one poll) still tells the two apart."""
    metrics = ServerMetrics()
    metrics.names_served({"doomed": "endpoint@2026-12-06T07:00:00+00:00", "lr": ""})
    rest = metrics.requests("rest")
    for _ in range(3):
        observation = rest.start()
        assert observation is not None
        observation.endpoint, observation.model, observation.version = "doomed", "lr", "1"
        rest.finish(observation)
    assert _count(metrics, "doomed") == 3

    metrics.names_served({"doomed": "endpoint@2026-12-06T07:00:01+00:00", "lr": ""})
    assert _count(metrics, "doomed") == 0
    observation = rest.start()
    assert observation is not None
    observation.endpoint, observation.model, observation.version = "doomed", "lr", "1"
    rest.finish(observation)
    assert _count(metrics, "doomed") == 1
