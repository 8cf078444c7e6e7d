"""`berth serve --grpc-port` as its own process: gRPC on uvloop, on the event loop of the REST server."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest
import tritonclient.grpc as triton

import berth
from tests.conftest import Trained
from tests.support.servers import free_port, server_process


@pytest.mark.slow
def test_serve_with_grpc_port(tmp_path: Path, lr: Trained) -> None:
    home = tmp_path / "home"
    berth.push(lr.model, name="lr", home=home, input_example=lr.x[:3])
    port = free_port()
    with server_process(home, "--grpc-port", str(port)) as url:
        client = triton.InferenceServerClient(f"127.0.0.1:{port}")
        try:
            assert client.is_server_ready()
            entry = triton.InferInput("input-0", [2, 20], "FP32")
            entry.set_data_from_numpy(lr.x[:2])
            result = client.infer("lr", [entry])
            np.testing.assert_array_equal(result.as_numpy("predict"), lr.model.predict(lr.x[:2]))
        finally:
            client.close()
        assert httpx.get(url + "/v2/health/ready").status_code == 200  # REST still answers beside it
