"""Triton's own clients work against a server with authentication: the token goes in `headers`."""

from __future__ import annotations

import numpy as np
import pytest
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http
from tritonclient.utils import InferenceServerException

from tests.security.conftest import World


def test_tritonclient_grpc_with_a_token(world: World) -> None:
    client = triton_grpc.InferenceServerClient(world.grpc_address)
    try:
        assert client.is_server_live()  # public
        carol = {"authorization": f"Bearer {world.tokens['carol']}"}
        inputs = [triton_grpc.InferInput("input-0", [1, 20], "FP32")]
        inputs[0].set_data_from_numpy(np.asarray(world.x[:1], dtype=np.float32))
        answer = client.infer("beta-model", inputs, headers=carol)
        assert answer.get_response().model_name == "beta-model"
        with pytest.raises(InferenceServerException, match="missing credentials"):
            client.infer("beta-model", inputs)
        with pytest.raises(InferenceServerException, match="not found"):
            client.infer("beta-model", inputs, headers={"authorization": f"Bearer {world.tokens['dave']}"})
    finally:
        client.close()


def test_tritonclient_http_with_a_token(world: World) -> None:
    client = triton_http.InferenceServerClient(world.url.removeprefix("http://"))
    try:
        bob = {"authorization": f"Bearer {world.tokens['bob']}"}
        assert client.get_model_metadata("beta-model", headers=bob)["name"] == "beta-model"
        inputs = [triton_http.InferInput("input-0", [1, 20], "FP32")]
        inputs[0].set_data_from_numpy(np.asarray(world.x[:1], dtype=np.float32), binary_data=True)
        assert client.infer("beta-model", inputs, headers=bob).get_response()["model_name"] == "beta-model"
        with pytest.raises(InferenceServerException, match="missing credentials"):
            client.get_model_metadata("beta-model")
    finally:
        client.close()
