"""Two `berth serve` processes on one PostgreSQL registry, sharing an artifact folder or sharing no
disk at all (artifacts in S3-compatible object storage, each server with its own cache): a push
through one server's management API and an alias move through the other are served by both."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import httpx
import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

import berth
from tests.e2e.helpers import infer, served_version, tensor_request, wait_for
from tests.support.postgres import fresh_postgres_database
from tests.support.s3 import S3Server
from tests.support.servers import server_process

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

X, Y = make_classification(n_samples=200, n_features=4, n_informative=3, n_redundant=0, random_state=9)
X = X.astype(np.float32)


def _artifact_settings(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    if request.param == "shared-folder":
        return {"BERTH_ARTIFACT_URI": (tmp_path / "shared-artifacts").resolve().as_uri()}
    server: S3Server = request.getfixturevalue("s3_server")
    return {
        "BERTH_ARTIFACT_URI": f"s3://{server.new_bucket()}/models",
        "BERTH_S3_ENDPOINT_URL": server.endpoint_url,
    }


@pytest.fixture(params=["shared-folder", pytest.param("s3", marks=pytest.mark.s3)])
def two_servers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    with fresh_postgres_database() as database_url:
        env = {**_artifact_settings(request, tmp_path), "BERTH_POLL_INTERVAL_S": "0.1"}
        homes = [tmp_path / name / "home" for name in ("a", "b")]
        with contextlib.ExitStack() as stack:
            for home in homes:
                home.parent.mkdir()
            urls = [
                stack.enter_context(server_process(home, "--database-url", database_url, env=env))
                for home in homes
            ]
            yield urls[0], urls[1]


CONVERGED_WITHIN_S = 60.0
"""Generous: that both servers converge is tested here, not how fast (tests/endpoints/test_replicas.py
times that on a quiet machine); a loaded CI machine can take seconds to load a model."""


def serves(url: str, number: str) -> bool:
    return served_version(url, "shared", tensor_request(X[:5])) == number


def test_push_and_alias_move_reach_both_servers(two_servers: tuple[str, str]) -> None:
    a, b = two_servers
    first = LogisticRegression().fit(X, Y)
    second = LogisticRegression().fit(X, 1 - Y)

    v1 = berth.push(first, name="shared", url=a, input_example=X[:2])
    v2 = berth.push(second, name="shared", url=a, input_example=X[:2], aliases=["production"])
    assert (v1.number, v2.number) == (1, 2)

    body = tensor_request(X[:5])
    for url in (a, b):
        wait_for(f"{url} serves shared v2", partial(serves, url, "2"), CONVERGED_WITHIN_S)
        answer = infer(url, "shared", body).json()
        assert answer["outputs"][0]["data"] == second.predict(X[:5]).tolist()
        pinned = infer(url, "shared", body, "1").json()
        assert pinned["outputs"][0]["data"] == first.predict(X[:5]).tolist()

    moved = httpx.put(
        f"{b}/api/v1/models/shared/aliases/production", json={"version": 1, "reason": "rollback"}
    )
    assert moved.status_code == 200, moved.text
    for url in (a, b):
        wait_for(f"{url} serves shared v1", partial(serves, url, "1"), CONVERGED_WITHIN_S)
        assert infer(url, "shared", body).json()["outputs"][0]["data"] == first.predict(X[:5]).tolist()
    history = httpx.get(f"{a}/api/v1/models/shared/aliases/production/history").json()
    assert [(e["from_version"], e["to_version"]) for e in history] == [(None, 2), (2, 1)]
