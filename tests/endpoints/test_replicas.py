"""Two `berth serve` replicas on one PostgreSQL registry: an endpoint change made through one is
served by the other within 2 s (LISTEN/NOTIFY: the replicas poll only every 30 s here), sticky keys
pick the same variant on both and after a restart, and changes under load fail no request."""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import berth
from berth.runtime.traffic import sticky_fraction
from tests.conftest import Trained
from tests.endpoints.conftest import rows
from tests.support.postgres import fresh_postgres_database
from tests.support.servers import server_process

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@contextlib.contextmanager
def replicas(tmp_path: Path, database_url: str, count: int = 2) -> Iterator[list[str]]:
    env = {
        "BERTH_ARTIFACT_URI": (tmp_path / "shared-artifacts").resolve().as_uri(),
        "BERTH_POLL_INTERVAL_S": "30",  # only notifications can make them converge within 2 s
    }
    with contextlib.ExitStack() as stack:
        urls = []
        for index in range(count):
            home = tmp_path / f"replica-{index}" / "home"
            home.parent.mkdir(exist_ok=True)
            urls.append(stack.enter_context(server_process(home, "--database-url", database_url, env=env)))
        yield urls


@pytest.fixture
def database_url() -> Iterator[str]:
    with fresh_postgres_database() as url:
        yield url


def converge_time(url: str, endpoint: str, check: Callable[[dict[str, Any]], bool], limit_s: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < limit_s:
        answer = httpx.get(f"{url}/api/v1/endpoints/{endpoint}", timeout=5)
        if answer.status_code == 200 and check(answer.json()):
            return time.monotonic() - start
        time.sleep(0.02)
    raise AssertionError(f"{url} did not converge on {endpoint} within {limit_s}s")


def wait_loaded(urls: list[str], model: str, version: int) -> None:
    """Wait until every replica has loaded the version (a cold first load imports the libraries,
    which takes seconds: the 2 s bound is about changes between loaded versions)."""
    deadline = time.monotonic() + 60
    for url in urls:
        while httpx.get(f"{url}/v2/models/{model}/versions/{version}/ready").status_code != 200:
            assert time.monotonic() < deadline, f"{url} did not load {model} v{version}"
            time.sleep(0.05)


def serving_revision(revision: int) -> Callable[[dict[str, Any]], bool]:
    return lambda e: (e.get("serving") or {}).get("revision") == revision


def test_replicas_converge_within_two_seconds_and_agree_on_sticky_keys(
    tmp_path: Path, database_url: str, lr: Trained
) -> None:
    with replicas(tmp_path, database_url) as (a, b):
        for aliases in (["production"], []):
            berth.push(lr.model, name="lr", url=a, input_example=lr.x[:3], aliases=aliases)
        wait_loaded([a, b], "lr", 2)
        created = httpx.post(
            f"{a}/api/v1/endpoints",
            json={
                "name": "shared",
                "targets": [{"target": "lr:1", "weight": 50}, {"target": "lr:2", "weight": 50}],
                "sticky": {"header": "x-customer-id"},
            },
        )
        assert created.status_code == 201, created.text
        first = converge_time(b, "shared", serving_revision(1), 2.0)
        httpx.patch(f"{a}/api/v1/endpoints/shared/weights", json={"weights": {"lr:1": 0}}).raise_for_status()
        second = converge_time(b, "shared", serving_revision(2), 2.0)
        httpx.post(f"{b}/api/v1/endpoints/shared/rollback", json={}).raise_for_status()
        third = converge_time(a, "shared", serving_revision(3), 2.0)

        def versions(url: str) -> dict[int, str]:
            with httpx.Client(base_url=url, timeout=30) as client:
                return {
                    k: client.post(
                        "/v2/models/shared/infer", json=rows(lr.x[:1]), headers={"x-customer-id": f"k{k}"}
                    ).headers["berth-model-version"]
                    for k in range(100)
                }

        on_a, on_b = versions(a), versions(b)

    assert max(first, second, third) < 2.0
    expected = {k: "1" if sticky_fraction("shared", f"k{k}") < 0.5 else "2" for k in range(100)}
    assert on_a == on_b == expected

    with replicas(tmp_path, database_url, count=1) as (restarted,):  # a restart keeps the mapping
        again = {
            k: httpx.post(
                f"{restarted}/v2/models/shared/infer", json=rows(lr.x[:1]), headers={"x-customer-id": f"k{k}"}
            ).headers["berth-model-version"]
            for k in range(100)
        }
    assert again == expected


class Load:
    """Threads sending requests round-robin to the replicas, recording (start, end, status, version)."""

    def __init__(self, urls: list[str], endpoint: str, body: dict[str, Any], threads: int = 6) -> None:
        self._urls = urls
        self._endpoint = endpoint
        self._body = body
        self._stop = threading.Event()
        self.results: list[tuple[float, float, int, str]] = []
        self._threads = [threading.Thread(target=self._run, args=(i,)) for i in range(threads)]

    def _run(self, index: int) -> None:
        clients = [httpx.Client(base_url=u, timeout=30) for u in self._urls]
        turn = itertools.cycle(clients[index % len(clients) :] + clients[: index % len(clients)])
        try:
            while not self._stop.is_set():
                start = time.monotonic()
                answer = next(turn).post(f"/v2/models/{self._endpoint}/infer", json=self._body)
                version = answer.headers.get("berth-model-version", "")
                self.results.append((start, time.monotonic(), answer.status_code, version))
        finally:
            for client in clients:
                client.close()

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()


def test_alias_moves_and_a_canary_under_load_fail_nothing(
    tmp_path: Path, database_url: str, lr: Trained
) -> None:
    with replicas(tmp_path, database_url) as urls:
        a, b = urls
        for aliases in (["production"], [], []):
            berth.push(lr.model, name="lr", url=a, input_example=lr.x[:3], aliases=aliases)
        wait_loaded(urls, "lr", 3)
        httpx.post(
            f"{a}/api/v1/endpoints", json={"name": "busy", "targets": [{"target": "lr@production"}]}
        ).raise_for_status()
        converge_time(b, "busy", serving_revision(1), 2.0)
        changes: list[tuple[float, float, set[str]]] = [(0.0, 0.0, {"1"})]
        with Load(urls, "busy", rows(lr.x[:2])) as load:
            time.sleep(0.5)
            for move in range(10):
                target = 2 if move % 2 == 0 else 1
                began = time.monotonic()
                httpx.put(
                    f"{a}/api/v1/models/lr/aliases/production", json={"version": target}
                ).raise_for_status()
                changes.append((began, time.monotonic(), {str(target)}))
                time.sleep(0.3)
            began = time.monotonic()
            httpx.post(
                f"{b}/api/v1/endpoints/busy/canary", json={"target": "lr:3", "steps": [20], "interval_s": 600}
            ).raise_for_status()
            changes.append((began, time.monotonic(), {"1", "3"}))
            time.sleep(0.5)
            began = time.monotonic()
            httpx.post(f"{a}/api/v1/endpoints/busy/rollback", json={}).raise_for_status()
            changes.append((began, time.monotonic(), {"1"}))
            time.sleep(0.5)

    results = load.results
    assert len(results) > 200
    assert {status for _, _, status, _ in results} == {200}
    lag = 2.0  # a replica follows a change made through another within 2 s
    for start, end, _, version in results:
        assert _was_live(changes, version, start - lag, end), (start, end, version)
    assert {v for *_, v in results} == {"1", "2", "3"}


def _was_live(changes: list[tuple[float, float, set[str]]], version: str, start: float, end: float) -> bool:
    """Whether `version` was live at some moment of [start, end]. A change takes effect between its
    call's start and answer, so a live set counts from its call's start to the next call's answer."""
    for index, (began, _, live) in enumerate(changes):
        until = changes[index + 1][1] if index + 1 < len(changes) else float("inf")
        if version in live and began <= end and start <= until:
            return True
    return False
