"""A real berth server for the tritonclient.http suites: the shared models, served on a free port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import berth
from berth.core.settings import Settings
from tests.conftest import Trained
from tests.support.servers import server_in_thread

MAX_BODY_BYTES = 2_000_000


@pytest.fixture(scope="package")
def served(
    tmp_path_factory: pytest.TempPathFactory, lr: Trained, frame_pipeline: Trained, text_pipeline: Trained
) -> Iterator[str]:
    """The base URL of a server holding lr (v1; v2 'production'; v3 'staging'), churn, router and spare."""
    home = tmp_path_factory.mktemp("triton-http") / "home"
    berth.push(lr.model, name="lr", home=home, input_example=lr.x[:3])
    berth.push(lr.model, name="lr", home=home, input_example=lr.x[:3], aliases=["production"])
    berth.push(lr.model, name="lr", home=home, input_example=lr.x[:3], aliases=["staging"])
    berth.push(frame_pipeline.model, name="churn", home=home, input_example=frame_pipeline.x.head(3))
    berth.push(text_pipeline.model, name="router", home=home, input_example=text_pipeline.x[:2])
    berth.push(
        lr.model, name="spare", home=home, input_example=lr.x[:3]
    )  # only the repository tests touch it
    with server_in_thread(Settings(home=home, poll_interval_s=0.1, max_body_bytes=MAX_BODY_BYTES)) as url:
        yield url
