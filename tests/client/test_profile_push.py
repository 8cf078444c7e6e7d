"""``berth.push(..., reference=sample)`` stores the version's reference profile, embedded or remote,
and the profile route refuses what is not a profile with a clear 4xx."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import berth
from berth.client.sdk import open_registry
from berth.control.monitoring.profile import FeatureKind, Profile
from berth.control.monitoring.profiling import build_profile
from berth.core.errors import BerthError, ErrorCode
from berth.core.settings import Settings
from tests.support.servers import server_in_thread

RNG = np.random.default_rng(7)
X = RNG.normal(size=(300, 3))
Y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
MODEL = LogisticRegression().fit(X, Y)


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with server_in_thread(Settings(home=tmp_path_factory.mktemp("profiles") / "home")) as url:
        yield url


def test_an_embedded_push_stores_the_profile_of_an_array_sample(tmp_path: Path) -> None:
    version = berth.push(
        MODEL,
        name="arrays",
        input_example=X[:2],
        reference=X,
        reference_outputs=MODEL.predict(X),
        home=tmp_path,
    )

    registry = open_registry(home=tmp_path)
    try:
        profile = Profile.from_json(registry.get_profile("arrays", version.number))
    finally:
        registry.close()
    name = version.signature.inputs[0].name
    assert sorted(profile.inputs) == [f"{name}[0]", f"{name}[1]", f"{name}[2]"]
    assert profile.rows == 300
    assert {p.kind for p in profile.inputs.values()} == {FeatureKind.NUMERIC}
    assert list(profile.outputs) == [version.signature.outputs[0].name]
    assert profile.outputs[version.signature.outputs[0].name].kind is FeatureKind.CATEGORICAL


def test_a_remote_push_stores_the_profile_of_a_frame_through_the_route(url: str) -> None:
    frame = pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2]})
    model = LogisticRegression().fit(frame, Y)

    version = berth.push(model, name="frames", input_example=frame.head(2), reference=frame, url=url)

    registry = open_registry(url=url)
    try:
        stored = registry.get_profile("frames", version.number)
    finally:
        registry.close()
    assert sorted(Profile.from_json(stored).inputs) == ["a", "b", "c"]
    assert Profile.from_json(stored).outputs == {}


def test_a_bad_reference_is_refused_before_anything_is_pushed(tmp_path: Path) -> None:
    with pytest.raises(BerthError) as caught:
        berth.push(MODEL, name="never", input_example=X[:2], reference={"a": [1, 2], "b": [1]}, home=tmp_path)

    assert caught.value.code is ErrorCode.INVALID_REQUEST
    registry = open_registry(home=tmp_path)
    try:
        assert registry.list_models() == []
    finally:
        registry.close()


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "invalid_json"),
        (b"[1, 2]", 400, "invalid_request"),
        (b'{"format": 99, "built_at": "2024-01-01T00:00:00+00:00", "inputs": {}}', 400, "invalid_request"),
        (b'{"format": 1, "built_at": "yesterday", "inputs": {}}', 400, "invalid_request"),
        (
            b'{"format": 1, "built_at": "2024-01-01", "inputs": {"x": {"kind": "numeric"}}}',
            400,
            "invalid_request",
        ),
        (b" " * (5 * 1024 * 1024), 413, "payload_too_large"),
    ],
)
def test_the_profile_route_refuses_what_is_not_a_profile(
    url: str, body: bytes, status: int, code: str
) -> None:
    berth.push(MODEL, name="target", input_example=X[:2], url=url)

    answer = httpx.put(f"{url}/api/v1/models/target/versions/1/profile", content=body, timeout=30)

    assert answer.status_code == status
    assert answer.json()["code"] == code


def test_the_profile_route_answers_404_for_what_does_not_exist(url: str) -> None:
    berth.push(MODEL, name="bare", input_example=X[:2], url=url)
    good = build_profile(X).to_json()

    missing_profile = httpx.get(f"{url}/api/v1/models/bare/versions/1/profile")
    missing_version = httpx.put(f"{url}/api/v1/models/bare/versions/9/profile", json=good)
    missing_model = httpx.get(f"{url}/api/v1/models/nobody/versions/1/profile")

    assert (missing_profile.status_code, missing_profile.json()["code"]) == (404, "profile_not_found")
    assert (missing_version.status_code, missing_version.json()["code"]) == (404, "version_not_found")
    assert missing_model.status_code == 404


def test_a_profile_put_over_rest_reads_back_the_same(url: str) -> None:
    berth.push(MODEL, name="roundtrip", input_example=X[:2], url=url)
    profile = build_profile({"text": ["a cat sat", "a dog ran", "the end"] * 20}, kinds={"text": "text"})

    put = httpx.put(f"{url}/api/v1/models/roundtrip/versions/1/profile", json=profile.to_json())
    got = httpx.get(f"{url}/api/v1/models/roundtrip/versions/1/profile")

    assert put.status_code == 200
    assert put.json()["inputs"] == 1
    assert Profile.from_json(got.json()) == profile
