"""Hot reload against a real `berth serve` process: pushes and alias moves are served without a
restart, a version whose artifact fails its sha256 check never takes traffic, and requests in
flight while versions change never fail."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import skops.io
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

import berth
from berth.core.entities import Version
from tests.e2e.helpers import (
    assert_error,
    berth_cli,
    infer,
    served_version,
    server_pid,
    tensor_request,
    wait_for,
)
from tests.support.servers import server_process

pytestmark = pytest.mark.slow

MODEL = "scorer"
SERVER_ENV = {"BERTH_POLL_INTERVAL_S": "0.1"}
X, Y = make_classification(n_samples=300, n_features=4, n_informative=3, n_redundant=0, random_state=5)
X = X.astype(np.float32)
PROBE = X[:6]
OUTPUTS = [{"name": "predict"}, {"name": "predict_proba"}]
PACE_S = 0.002  # between two requests of one load thread: a light load


@dataclass(frozen=True)
class Variants:
    """Four logistic regressions whose answers (and artifact bytes) all differ."""

    models: dict[int, LogisticRegression]

    def answer(self, number: int) -> tuple[list[Any], np.ndarray[Any, Any]]:
        model = self.models[number]
        return model.predict(PROBE).tolist(), model.predict_proba(PROBE)


@pytest.fixture(scope="module")
def variants() -> Variants:
    return Variants(
        {
            1: LogisticRegression().fit(X, Y),
            2: LogisticRegression().fit(X, 1 - Y),  # the opposite labels: v2 is easy to tell apart
            3: LogisticRegression(C=0.01).fit(X, Y),
            4: LogisticRegression(C=0.1).fit(X[:150], Y[:150]),
        }
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def push(home: Path, model: LogisticRegression, **kwargs: Any) -> Version:
    return berth.push(model, name=MODEL, home=home, input_example=X[:3], **kwargs)


def push_with_cli(home: Path, model: LogisticRegression, folder: Path) -> None:
    """`berth push` from a process of its own: a skops file and an OIP example file."""
    artifact = folder / "model.skops"
    skops.io.dump(model, artifact)
    example = folder / "example.json"
    example.write_text(json.dumps(tensor_request(X[:3])))
    berth_cli("push", str(artifact), "--name", MODEL, "--home", str(home), "--example", str(example))


def assert_answer(response: httpx.Response, variants: Variants, number: int) -> None:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_version"] == str(number)
    labels, proba = variants.answer(number)
    outputs = {o["name"]: o for o in body["outputs"]}
    assert outputs["predict"]["data"] == labels
    np.testing.assert_allclose(
        np.asarray(outputs["predict_proba"]["data"]).reshape(proba.shape), proba, rtol=1e-5, atol=1e-6
    )


def wait_served(url: str, number: int, ref: str | None = None) -> None:
    wait_for(
        f"{MODEL}@{ref or '(default)'} served by v{number}",
        lambda: served_version(url, MODEL, tensor_request(PROBE), ref) == str(number),
    )


@pytest.fixture
def server(home: Path, variants: Variants) -> Iterator[str]:
    push(home, variants.models[1])
    with server_process(home, env=SERVER_ENV) as url:
        yield url


def test_push_and_alias_moves_are_served_without_restart(
    server: str, home: Path, variants: Variants, tmp_path: Path
) -> None:
    pid = server_pid(server)
    assert_answer(infer(server, MODEL, tensor_request(PROBE, outputs=OUTPUTS)), variants, 1)

    push_with_cli(home, variants.models[2], tmp_path)
    wait_served(server, 2)
    assert_answer(infer(server, MODEL, tensor_request(PROBE, outputs=OUTPUTS)), variants, 2)
    assert_answer(infer(server, MODEL, tensor_request(PROBE, outputs=OUTPUTS), "1"), variants, 1)

    berth_cli("alias", "set", MODEL, "production", "1", "--home", str(home), "--reason", "rollback")
    wait_served(server, 1)
    assert_answer(infer(server, MODEL, tensor_request(PROBE, outputs=OUTPUTS)), variants, 1)
    assert_answer(infer(server, MODEL, tensor_request(PROBE, outputs=OUTPUTS), "production"), variants, 1)
    assert_answer(infer(server, MODEL, tensor_request(PROBE, outputs=OUTPUTS), "latest"), variants, 2)
    assert server_pid(server) == pid


def test_tampered_artifact_never_replaces_the_serving_version(
    server: str, home: Path, variants: Variants
) -> None:
    pid = server_pid(server)
    berth_cli("alias", "set", MODEL, "production", "1", "--home", str(home))
    assert push(home, variants.models[2]).number == 2
    v3 = push(home, variants.models[3])
    assert v3.number == 3
    assert push(home, variants.models[4]).number == 4
    # v4 is the latest now, so the server loads it and unloads v3: the next load of v3 reads its file.
    wait_served(server, 4, "latest")
    wait_for(
        "v3 unloaded",
        lambda: httpx.get(f"{server}/v2/models/{MODEL}/versions/3/ready").status_code == 400,
    )
    sha256 = v3.artifact.sha256
    stored = home / "artifacts" / "sha256" / sha256[:2] / sha256
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte: the bytes no longer hash to v3's sha256
    stored.write_bytes(bytes(data))

    berth_cli("alias", "set", MODEL, "production", "3", "--home", str(home))
    failed = wait_for("v3 marked failed", lambda: _failure(server, 3))
    assert failed["code"] == "artifact_integrity"

    for _ in range(5):
        assert_answer(infer(server, MODEL, tensor_request(PROBE, outputs=OUTPUTS)), variants, 1)
        assert_answer(infer(server, MODEL, tensor_request(PROBE, outputs=OUTPUTS), "production"), variants, 1)
        direct = infer(server, MODEL, tensor_request(PROBE), "3")
        assert_error(direct, 422, "artifact_integrity", "model_load_failed")
    assert httpx.get(f"{server}/v2/health/live").json() == {"live": True}
    assert httpx.get(f"{server}/v2/health/ready").status_code == 200
    assert server_pid(server) == pid

    # Putting production back on a good version is served as usual.
    berth_cli("alias", "set", MODEL, "production", "4", "--home", str(home))
    wait_served(server, 4)
    assert_answer(infer(server, MODEL, tensor_request(PROBE, outputs=OUTPUTS)), variants, 4)


def _failure(url: str, number: int) -> dict[str, Any] | None:
    loaded = httpx.get(f"{url}/api/v1/serving").json()["loaded"]
    for row in loaded:
        if row["model"] == MODEL and row["version"] == number and row["state"] == "failed":
            error: dict[str, Any] = row["error"]
            return error
    return None


class Load:
    """A few threads calling the model's default version, lightly paced, until told to stop (bounded:
    at most `cap` requests per thread, and never past `limit_s` seconds)."""

    def __init__(self, url: str, threads: int = 4, cap: int = 20_000, limit_s: float = 120.0) -> None:
        self._url = url
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._cap = cap
        self._deadline = time.monotonic() + limit_s
        self.versions: Counter[str] = Counter()
        self.failures: list[str] = []
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def _run(self) -> None:
        oip = tensor_request(PROBE[:2])
        v1 = {"instances": PROBE[:2].tolist()}
        with httpx.Client(base_url=self._url, timeout=30) as client:
            for count in range(self._cap):
                if self._stop.wait(PACE_S) or time.monotonic() > self._deadline:
                    return
                try:  # OIP and the TF-Serving shape in turn
                    version = self._call(client, count % 2 == 1, oip, v1)
                except Exception as exc:  # anything at all is a failed request, reported by the test
                    with self._lock:
                        self.failures.append(f"{type(exc).__name__}: {exc}")
                else:
                    with self._lock:
                        self.versions[version] += 1

    @staticmethod
    def _call(client: httpx.Client, tf_shape: bool, oip: Any, v1: Any) -> str:
        """One request; the version that answered it (raises on anything but a 200)."""
        if tf_shape:
            response = client.post(f"/v1/models/{MODEL}:predict", json=v1)
        else:
            response = client.post(f"/v2/models/{MODEL}/infer", json=oip)
        if response.status_code != 200:
            raise AssertionError(f"{response.status_code} {response.text}")
        if tf_shape:
            return response.headers["berth-model-version"]
        return str(response.json()["model_version"])

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.versions.values()) + len(self.failures)


def test_no_failed_requests_while_versions_change(server: str, home: Path, variants: Variants) -> None:
    with Load(server) as load:
        wait_for("load running", lambda: load.total >= 20)
        push(home, variants.models[2])
        wait_served(server, 2)
        berth_cli("alias", "set", MODEL, "production", "1", "--home", str(home))
        wait_served(server, 1)
        push(home, variants.models[3], aliases=["production"])
        wait_served(server, 3)
        berth_cli("alias", "set", MODEL, "production", "2", "--home", str(home))
        wait_served(server, 2)
        seen = load.total
        wait_for("load still running", lambda: load.total >= seen + 20)

    assert load.failures == []
    assert set(load.versions) >= {"1", "2"}, load.versions
    # What nothing serves any more was unloaded: production (v2) and latest (v3) stay in memory.
    wait_for("only served versions loaded", lambda: _loaded(server) == {2, 3})


def _loaded(url: str) -> set[int]:
    rows = httpx.get(f"{url}/api/v1/serving").json()["loaded"]
    return {row["version"] for row in rows if row["model"] == MODEL and row["state"] == "ready"}
