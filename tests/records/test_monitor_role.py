"""``berth serve --role monitor`` on the default journal sink: the monitor as a process of its own,
with no parent, ingesting a journal folder it shares with the processes that wrote it, with health
endpoints on ``--port``; it stops on SIGTERM."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import numpy as np

from berth.core.settings import Settings
from berth.core.tensors import Tensor
from berth.dataplane.recording import Pending, encode_pending
from berth.storage.journal import JournalWriter
from berth.storage.sql_records import SqlRecordStore
from tests.records.helpers import all_records, eventually
from tests.support.servers import server_process


def pending(pid: str) -> Pending:
    return Pending(
        prediction_id=pid,
        at=time.time(),
        endpoint="churn",
        model="churn",
        version=1,
        variant="",
        inputs=[Tensor("x", "FP64", (1, 2), np.array([[1.0, 2.0]]))],
        model_inputs=None,
        outputs=[Tensor("label", "INT64", (1,), np.array([1]))],
        latency_s=0.001,
        entity_key=None,
        shadow_of=None,
    )


def test_the_monitor_role_ingests_the_journal_without_a_parent(tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = Settings(home=home)
    writer = JournalWriter(settings.resolved_journal_dir)
    writer.append(b"".join(encode_pending(pending(f"p{i}")) for i in range(20)), sync=True)
    writer.close()  # the writer is gone (as a dead replica's is): its segment can be finished

    with server_process(home, "--role", "monitor") as url:
        assert httpx.get(f"{url}/healthz").status_code == 200
        assert httpx.get(f"{url}/readyz").json() == {"ready": True}
        store = SqlRecordStore(settings.resolved_database_url)
        try:
            found = eventually(lambda: all_records(store), lambda r: len(r) == 20)
        finally:
            store.close()
        assert httpx.get(f"{url}/v2/models/churn").status_code == 404  # health only

    assert sorted(r.record.prediction_id for r in found) == sorted(f"p{i}" for i in range(20))
    assert list(settings.resolved_journal_dir.glob("*.jrnl")) == []  # ingested and deleted
