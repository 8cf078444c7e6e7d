"""A TorchScript module and a torch.export program served by a real server, over REST and gRPC
(Triton's own client): the answers equal torch's in this process, concurrent calls are batched,
bad tensors get a 400 with a stable code, and a pickle named ``.pt`` is refused at upload."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import numpy as np
import pytest
import tritonclient.grpc as triton

import berth
from berth.core.errors import BerthError, ErrorCode
from berth.core.settings import Settings
from tests.e2e.helpers import assert_error, infer, tensor_request
from tests.metrics.scrape import delta, scrape
from tests.support.servers import free_port, server_in_thread

X = np.random.default_rng(3).normal(size=(7, 4)).astype(np.float32)


@dataclass(frozen=True)
class Served:
    url: str
    grpc: str
    torch: ModuleType
    models: dict[str, Any]


@pytest.fixture(scope="module")
def served(torch: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    from tests.support.torch_models import MLP, Slow

    home = tmp_path_factory.mktemp("torch") / "home"
    mlp, slow = MLP().eval(), Slow().eval()
    program = torch.export.export(
        mlp, (torch.zeros(2, 4),), dynamic_shapes={"x": {0: torch.export.Dim("batch")}}
    )
    berth.push(torch.jit.script(mlp), name="scripted", home=home, input_example=X[:2])
    berth.push(program, name="exported", home=home)
    berth.push(slow, name="slow", home=home, input_example=X[:2], batching={"max_latency_ms": 20})
    port = free_port()
    with server_in_thread(Settings(home=home, poll_interval_s=0.1, grpc_port=port)) as url:
        yield Served(url, f"127.0.0.1:{port}", torch, {"scripted": mlp, "exported": mlp, "slow": slow})


def torch_answer(served: Served, name: str, x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    with served.torch.no_grad():
        return np.asarray(served.models[name](served.torch.from_numpy(x)).numpy())


def output_of(response: httpx.Response) -> np.ndarray[Any, Any]:
    assert response.status_code == 200, response.text
    (output,) = response.json()["outputs"]
    assert output["name"] == "output-0"
    return np.asarray(output["data"], dtype=np.float32).reshape(output["shape"])


@pytest.mark.parametrize(("name", "input_name"), [("scripted", "input-0"), ("exported", "x")])
def test_rest_answers_like_torch(served: Served, name: str, input_name: str) -> None:
    metadata = httpx.get(f"{served.url}/v2/models/{name}").json()
    assert metadata["platform"] == "pytorch"
    assert metadata["inputs"] == [{"name": input_name, "datatype": "FP32", "shape": [-1, 4]}]

    answer = output_of(infer(served.url, name, tensor_request(X, name=input_name)))

    np.testing.assert_allclose(answer, torch_answer(served, name, X), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("name", "input_name"), [("scripted", "input-0"), ("exported", "x")])
def test_grpc_answers_like_torch(served: Served, name: str, input_name: str) -> None:
    client = triton.InferenceServerClient(served.grpc)
    try:
        tensor = triton.InferInput(input_name, list(X.shape), "FP32")
        tensor.set_data_from_numpy(X)
        result = client.infer(name, [tensor])
        metadata = client.get_model_metadata(name, as_json=True)
    finally:
        client.close()

    np.testing.assert_allclose(
        result.as_numpy("output-0"), torch_answer(served, name, X), rtol=1e-5, atol=1e-6
    )
    assert metadata["inputs"] == [{"name": input_name, "datatype": "FP32", "shape": ["-1", "4"]}]


def test_concurrent_calls_are_batched(served: Served) -> None:
    requests = 24
    before = scrape(served.url)

    def call(i: int) -> np.ndarray[Any, Any]:
        rows = X[i % 7 : i % 7 + 1 + i % 3]
        return output_of(infer(served.url, "slow", tensor_request(rows)))

    with ThreadPoolExecutor(max_workers=requests) as pool:
        answers = list(pool.map(call, range(requests)))

    after = scrape(served.url)
    for i, answer in enumerate(answers):  # each caller gets its own rows back
        rows = X[i % 7 : i % 7 + 1 + i % 3]
        np.testing.assert_allclose(answer, torch_answer(served, "slow", rows), rtol=1e-5, atol=1e-6)
    calls = delta(before, after, "berth_batch_size_count", model="slow")
    assert delta(before, after, "berth_batch_size_sum", model="slow") == sum(
        len(X[i % 7 : i % 7 + 1 + i % 3]) for i in range(requests)
    )
    assert calls < requests  # some requests shared a predict call


def test_bad_tensors_are_a_400_with_a_stable_code(served: Served) -> None:
    wrong_width = tensor_request(X[:, :3], name="x")
    assert_error(infer(served.url, "exported", wrong_width), 400, "signature_mismatch", "invalid_tensor")
    text = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "BYTES", "data": ["a", "b", "c", "d"]}]}
    assert_error(
        infer(served.url, "exported", text),
        400,
        "signature_mismatch",
        "unsupported_datatype",
        "invalid_tensor",
    )
    assert_error(infer(served.url, "scripted", tensor_request(X, name="x")), 400, "signature_mismatch")


def test_a_pickle_named_pt_is_refused_at_upload(served: Served, tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    served.torch.save(served.models["scripted"], path)  # torch.save: a pickle of the module

    with pytest.raises(BerthError) as caught:
        berth.push(path, name="hostile", url=served.url, trust_pickle=True)

    assert caught.value.code is ErrorCode.UNTRUSTED_ARTIFACT
    assert httpx.get(f"{served.url}/v2/models/hostile").status_code == 404
