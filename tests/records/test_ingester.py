"""The journal ingester as a real process: exactly once through crashes, one worker per journal,
segments deleted once their writer is gone, records of erased entities dropped."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from berth.core.records import RecordQuery
from berth.core.tensors import Tensor
from berth.dataplane.recording import Pending, encode_pending
from berth.storage.journal import JournalWriter, segments, segments_before, wait_for_journal_before
from berth.storage.sql_records import SqlRecordStore
from tests.records.helpers import all_records, eventually


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'berth.db'}"


@pytest.fixture
def store(database_url: str) -> Iterator[SqlRecordStore]:
    opened = SqlRecordStore(database_url)
    yield opened
    opened.close()


def pending(pid: str, entity: str | None = None, at: float | None = None) -> Pending:
    x = Tensor("x", "FP32", (1, 3), np.array([[1.0, 2.0, 3.0]], dtype=np.float32))
    y = Tensor("label", "BYTES", (1,), np.array([b"yes"], dtype=object))
    return Pending(
        prediction_id=pid,
        at=at or time.time(),
        endpoint="churn",
        model="churn",
        version=1,
        variant="",
        inputs=[x],
        model_inputs=None,
        outputs=[y],
        latency_s=0.001,
        entity_key=entity,
        shadow_of=None,
    )


def write(writer: JournalWriter, pids: list[str], entity: str | None = None) -> None:
    writer.append(b"".join(encode_pending(pending(p, entity)) for p in pids), sync=False)


def start_ingester(journal: Path, url: str, *, parent: int | None = None) -> subprocess.Popen[bytes]:
    """The monitor process a server starts (ingestion; alert rules off), on this journal and database."""
    argv = [sys.executable, "-m", "berth.wiring.monitor_process"]
    if parent is not None:
        argv += ["--parent-pid", str(parent)]
    env = {
        **os.environ,
        "BERTH_HOME": str(journal.parent / "home"),
        "BERTH_DATABASE_URL": url,
        "BERTH_JOURNAL_DIR": str(journal),
        "BERTH_INGEST_INTERVAL_S": "0.05",
        "BERTH_ALERT_INTERVAL_S": "0",
    }
    return subprocess.Popen(argv, env=env)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        process.wait(30)


def ids(store: SqlRecordStore) -> Counter[str]:
    return Counter(r.record.prediction_id for r in all_records(store))


def test_records_move_to_the_database_and_finished_segments_are_deleted(
    tmp_path: Path, database_url: str, store: SqlRecordStore
) -> None:
    journal = tmp_path / "journal"
    writer = JournalWriter(journal)
    write(writer, [f"a{i}" for i in range(10)])
    live = writer.segment
    ingester = start_ingester(journal, database_url)
    try:
        assert eventually(lambda: store.count(RecordQuery()), lambda n: n == 10) == 10
        assert segments(journal) == [live]  # its writer still holds it
        write(writer, ["a10"])
        assert eventually(lambda: store.count(RecordQuery()), lambda n: n == 11) == 11
        writer.close()
        assert eventually(lambda: segments(journal), lambda s: s == []) == []
        assert eventually(store.journal_positions, lambda p: p == {}) == {}
        [stored] = store.get("a3")
        assert stored.record.inputs == {"x": {"datatype": "FP32", "shape": [1, 3], "data": [1.0, 2.0, 3.0]}}
        assert stored.record.outputs == {"label": {"datatype": "BYTES", "shape": [1], "data": ["yes"]}}
    finally:
        stop(ingester)
        writer.close()


def test_a_killed_ingester_loses_and_duplicates_nothing(
    tmp_path: Path, database_url: str, store: SqlRecordStore
) -> None:
    journal = tmp_path / "journal"
    writer = JournalWriter(journal)
    expected = [f"r{i}" for i in range(30_000)]
    for start in range(0, len(expected), 1000):
        write(writer, expected[start : start + 1000])
    writer.close()
    with segments(journal)[0].open("ab") as f:
        f.write(b"0123abcd {torn")  # a dead writer's last line

    first = start_ingester(journal, database_url)
    try:
        eventually(lambda: store.count(RecordQuery()), lambda n: n > 0, timeout_s=60)
    finally:
        first.kill()
        first.wait()
    partial = store.count(RecordQuery())
    second = start_ingester(journal, database_url)
    try:
        eventually(lambda: segments(journal), lambda s: s == [], timeout_s=120)
    finally:
        stop(second)

    counted = ids(store)
    assert 0 < partial <= len(expected)
    assert sorted(counted) == sorted(expected)
    assert set(counted.values()) == {1}


def test_only_one_ingester_works_and_another_takes_over_when_it_dies(
    tmp_path: Path, database_url: str, store: SqlRecordStore
) -> None:
    journal = tmp_path / "journal"
    writer = JournalWriter(journal)
    first = start_ingester(journal, database_url)
    second = start_ingester(journal, database_url)
    try:
        write(writer, ["x1"])
        eventually(lambda: store.count(RecordQuery()), lambda n: n == 1)
        first.kill()
        first.wait()
        write(writer, ["x2"])
        eventually(lambda: store.count(RecordQuery()), lambda n: n == 2)
        writer.close()
        eventually(lambda: segments(journal), lambda s: s == [])
    finally:
        for process in (first, second):
            stop(process)
    assert ids(store) == Counter({"x1": 1, "x2": 1})


def test_an_ingester_drains_and_exits_when_its_parent_dies(
    tmp_path: Path, database_url: str, store: SqlRecordStore
) -> None:
    journal = tmp_path / "journal"
    writer = JournalWriter(journal)
    write(writer, ["p1", "p2"])
    writer.close()
    parent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    # the ingester's parent is this test process, not `parent`: to it, its server is gone
    ingester = start_ingester(journal, database_url, parent=parent.pid)
    try:
        assert ingester.wait(30) == 0
        assert store.count(RecordQuery()) == 2
    finally:
        parent.kill()
        parent.wait()
        stop(ingester)


def test_records_of_an_erased_entity_left_in_the_journal_never_land(
    tmp_path: Path, database_url: str, store: SqlRecordStore
) -> None:
    journal = tmp_path / "journal"
    writer = JournalWriter(journal)
    write(writer, ["before-1", "before-2"], entity="c1")
    write(writer, ["other"], entity="c2")
    writer.close()
    erased_at = datetime.now(UTC)
    store.erase_entity("c1", erased_at)
    assert segments_before(journal, erased_at) != []

    ingester = start_ingester(journal, database_url)
    try:
        assert wait_for_journal_before(journal, erased_at, timeout_s=30) is True
    finally:
        stop(ingester)

    assert ids(store) == Counter({"other": 1})
    assert segments_before(journal, erased_at) == []
