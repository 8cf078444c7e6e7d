"""Several worker processes share the REST and gRPC ports of one `berth serve`."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import numpy as np
import pytest
import tritonclient.grpc as grpcclient

import berth
from tests.conftest import Trained
from tests.support.servers import free_port, server_process


@pytest.mark.slow
def test_two_workers_answer_rest_and_grpc(tmp_path: Path, lr: Trained) -> None:
    home = tmp_path / "home"
    berth.push(lr.model, name="lr", home=home, input_example=lr.x[:2])
    grpc_port = free_port()
    with server_process(home, "--workers", "2", "--grpc-port", str(grpc_port)) as url:
        x = lr.x[:3]
        body = {
            "inputs": [{"name": "input-0", "shape": [3, 20], "datatype": "FP32", "data": x.ravel().tolist()}]
        }
        assert len(_worker_pids(home)) == 2
        for _ in range(20):  # new connections, spread over the workers by the kernel
            with httpx.Client(base_url=url, timeout=30) as fresh:
                answer = fresh.post("/v2/models/lr/infer", json=body)
            assert answer.status_code == 200, answer.text
            assert answer.json()["outputs"][0]["data"] == lr.model.predict(x).tolist()
        triton = grpcclient.InferenceServerClient(f"127.0.0.1:{grpc_port}")
        try:
            tensor = grpcclient.InferInput("input-0", [3, 20], "FP32")
            tensor.set_data_from_numpy(x.astype(np.float32))
            result = triton.infer("lr", [tensor])
            assert result.as_numpy("predict").tolist() == lr.model.predict(x).tolist()
        finally:
            triton.close()
    assert os.environ.get("BERTH_WORKERS") is None  # the test's environment was not touched


def _worker_pids(home: Path) -> list[int]:
    """The worker processes started by the `berth serve` of `home` (its children that run Python)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"serve" in argv and str(home).encode() in argv:
            children = (entry / "task" / entry.name / "children").read_text().split()
            return [int(c) for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]
    return []
