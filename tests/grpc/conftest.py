"""A real berth server with gRPC on a free port, serving small real models, for the gRPC suites."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import berth
from berth.core.settings import Settings
from tests.conftest import Trained
from tests.support.servers import free_port, server_in_thread

MAX_MESSAGE_BYTES = 200_000


@dataclass(frozen=True)
class Served:
    rest_url: str
    grpc_address: str


@pytest.fixture(scope="session")
def counts(lr: Trained) -> Trained:
    """Logistic regression on 20 integer features: an INT64 tensor in."""
    x = np.rint(lr.x * 10).astype(np.int64)
    return Trained(LogisticRegression(max_iter=1000).fit(x, lr.y), x, lr.y)


@pytest.fixture(scope="package")
def served(
    tmp_path_factory: pytest.TempPathFactory,
    lr: Trained,
    counts: Trained,
    frame_pipeline: Trained,
    text_pipeline: Trained,
) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("grpc") / "home"
    berth.push(lr.model, name="lr", home=home, input_example=lr.x[:3])
    berth.push(lr.model, name="lr", home=home, input_example=lr.x[:3], aliases=["production"])
    berth.push(lr.model, name="lr", home=home, input_example=lr.x[:3], aliases=["staging"])
    berth.push(counts.model, name="counts", home=home, input_example=counts.x[:3])
    berth.push(frame_pipeline.model, name="churn", home=home, input_example=frame_pipeline.x.head(3))
    berth.push(text_pipeline.model, name="router", home=home, input_example=text_pipeline.x[:2])
    port = free_port()
    settings = Settings(home=home, poll_interval_s=0.1, max_body_bytes=MAX_MESSAGE_BYTES, grpc_port=port)
    with server_in_thread(settings) as url:
        yield Served(rest_url=url, grpc_address=f"127.0.0.1:{port}")
