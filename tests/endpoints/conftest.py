"""A server with models for the endpoint tests: three versions of `lr`, a DataFrame model, a text
model, and pyfunc models that fail, are slow, are held at a gate the test opens, or serve as a custom
step."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

import berth
from berth.core.settings import Settings
from berth.core.signature import Signature, TensorSpec
from tests.conftest import Trained
from tests.endpoints.behaviours import Failing, Slow, UpperPlan
from tests.serving.slow_model import GatedModel
from tests.support.servers import server_in_thread


def push_models(home: Path, lr: Trained, frame_pipeline: Trained, text_pipeline: Trained) -> None:
    for aliases in (["production"], ["staging"], []):
        first = berth.push(lr.model, name="lr", home=home, input_example=lr.x[:3], aliases=aliases)
    one_label = Signature(
        first.signature.inputs, (TensorSpec("predict", "INT64", (-1,)),), default_outputs=("predict",)
    )
    berth.push(Failing(), name="broken", home=home, signature=one_label, trust_pickle=True)
    # 1 s a call: a p95 that `lr`'s own on a loaded machine cannot come within 3x of (the canary test)
    berth.push(Slow(delay_s=1.0), name="slow", home=home, input_example=lr.x[:3], trust_pickle=True)
    berth.push(GatedModel(), name="gated", home=home, input_example=lr.x[:3], trust_pickle=True)
    berth.push(frame_pipeline.model, name="churn", home=home, input_example=frame_pipeline.x.head(3))
    berth.push(
        UpperPlan(), name="upper-plan", home=home, trust_pickle=True, input_example=frame_pipeline.x.head(3)
    )
    berth.push(text_pipeline.model, name="router", home=home, input_example=text_pipeline.x[:2])


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, lr: Trained, frame_pipeline: Trained, text_pipeline: Trained
) -> Iterator[str]:
    home = tmp_path_factory.mktemp("endpoints") / "home"
    push_models(home, lr, frame_pipeline, text_pipeline)
    with server_in_thread(Settings(home=home, poll_interval_s=0.1)) as url:
        yield url


def rows(x: np.ndarray[Any, Any], **extra: Any) -> dict[str, Any]:
    return {
        "inputs": [
            {"name": "input-0", "shape": list(x.shape), "datatype": "FP32", "data": x.ravel().tolist()}
        ],
        **extra,
    }


def create(url: str, name: str, **spec: Any) -> httpx.Response:
    return httpx.post(f"{url}/api/v1/endpoints", json={"name": name, **spec}, timeout=30)


def delete(url: str, name: str) -> None:
    httpx.delete(f"{url}/api/v1/endpoints/{name}", timeout=30)
