"""The process collector's series on /metrics: memory, CPU, open files; per worker with several."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from berth.core.settings import Settings
from tests.metrics.scrape import scrape, value
from tests.support.servers import server_in_thread, server_process

PROCESS_SERIES = (
    "process_resident_memory_bytes",
    "process_virtual_memory_bytes",
    "process_cpu_seconds_total",
    "process_open_fds",
    "process_max_fds",
    "process_start_time_seconds",
)


def families(url: str) -> dict[str, str]:
    """Family name -> type, as a scrape declares them."""
    text = httpx.get(f"{url}/metrics", timeout=30).text
    return {f.name: f.type for f in text_string_to_metric_families(text)}


def test_one_process_shows_its_memory_cpu_and_open_files(tmp_path: Path) -> None:
    with server_in_thread(Settings(home=tmp_path / "home")) as url:
        samples = scrape(url)
        types = families(url)
    for name in PROCESS_SERIES:
        assert value(samples, name) > 0, name
    assert value(samples, "process_open_fds") <= value(samples, "process_max_fds")
    assert value(samples, "process_start_time_seconds") <= time.time()
    assert types["process_cpu_seconds"] == "counter"
    assert types["process_resident_memory_bytes"] == "gauge"
    # the server runs in this process here: the series are its own, without a pid label
    assert [labels for (name, labels) in samples if name == "process_resident_memory_bytes"] == [frozenset()]


@pytest.mark.slow
def test_two_workers_each_show_their_own_process_series(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with server_process(tmp_path / "home", "--workers", "2", env={"TMPDIR": str(run_dir)}) as url:
        deadline = time.monotonic() + 60
        while True:  # each worker writes its series when it starts, then every second
            samples = scrape(url)
            pids = {
                dict(labels).get("pid")
                for (name, labels), bytes_held in samples.items()
                if name == "process_resident_memory_bytes" and bytes_held > 0
            }
            if len(pids) == 2:
                break
            assert time.monotonic() < deadline, f"process series of {pids}, not of two workers"
            time.sleep(0.1)
        types = families(url)
    assert None not in pids
    assert str(os.getpid()) not in pids
    for pid in pids:
        assert pid is not None
        for name in PROCESS_SERIES:
            assert value(samples, name, pid=pid) > 0, (name, pid)
    assert types["process_cpu_seconds"] == "counter"
