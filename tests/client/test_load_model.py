"""`berth.load_model`: a registered version in this process, from a server or a home, answering what
the model answers, its artifact verified by sha256 and cached by it, under the server's trust rules."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import joblib
import numpy as np
import pytest

import berth
from berth.core.settings import Settings
from berth.runtime.local_model import open_local_model
from tests.conftest import Trained
from tests.support.servers import server_in_thread


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, frame_pipeline: Trained, lr: Trained) -> Path:
    home = tmp_path_factory.mktemp("load-model") / "home"
    berth.push(frame_pipeline.model, name="churn", home=home, input_example=frame_pipeline.x.head(3),
               aliases=["production"])  # fmt: skip
    berth.push(lr.model, name="lr", home=home, input_example=lr.x[:2])
    pickle_file = home.parent / "lr.joblib"
    joblib.dump(lr.model, pickle_file)
    berth.push(pickle_file, name="pickled", home=home, trust_pickle=True, input_example=lr.x[:2])
    return home


@pytest.fixture(scope="module")
def url(home: Path) -> Iterator[str]:
    with server_in_thread(Settings(home=home, poll_interval_s=0.1)) as url:
        yield url


@pytest.mark.parametrize("where", ["url", "home"])
def test_a_version_answers_like_the_model(
    where: str, url: str, home: Path, tmp_path: Path, frame_pipeline: Trained, lr: Trained
) -> None:
    at = {"url": url} if where == "url" else {"home": home}
    with berth.load_model("churn@production", cache_dir=tmp_path, **at) as churn:  # type: ignore[arg-type]
        assert (churn.name, churn.version) == ("churn", 1)
        assert [s.name for s in churn.signature.inputs] == ["plan", "age", "spend"]
        extra = frame_pipeline.x.assign(customer="c")  # columns the model does not take are left out
        answer = churn.predict(extra, outputs=["predict", "predict_proba"])
        assert list(answer.columns) == ["predict", "predict_proba_0", "predict_proba_1"]
        assert np.array_equal(answer["predict"].to_numpy(), frame_pipeline.model.predict(frame_pipeline.x))
        assert np.allclose(
            answer.iloc[:, 1:].to_numpy(), frame_pipeline.model.predict_proba(frame_pipeline.x)
        )
    numbers = berth.load_model("lr:1", cache_dir=tmp_path, **at)  # type: ignore[arg-type]
    assert np.array_equal(numbers.predict(lr.x)["predict"].to_numpy(), lr.model.predict(lr.x))


def test_the_artifact_is_cached_by_sha256_and_verified_on_every_use(url: str, tmp_path: Path) -> None:
    first = berth.load_model("churn", url=url, cache_dir=tmp_path)
    cached = tmp_path / "sha256" / first.sha256[:2] / first.sha256
    assert cached.is_file()
    cached.write_bytes(b"tampered")  # a damaged copy is dropped and fetched again
    again = berth.load_model("churn", url=url, cache_dir=tmp_path)
    assert again.sha256 == first.sha256
    assert len(cached.read_bytes()) > len(b"tampered")
    with pytest.raises(berth.BerthError) as caught:
        berth.load_model("churn", url=url, cache_dir=tmp_path, sha256="0" * 64)
    assert caught.value.code is berth.ErrorCode.ARTIFACT_INTEGRITY


def test_a_pickle_loads_only_with_the_trust_it_was_pushed_with(url: str, tmp_path: Path, lr: Trained) -> None:
    trusted = berth.load_model("pickled", url=url, cache_dir=tmp_path)
    assert np.array_equal(trusted.predict(lr.x)["predict"].to_numpy(), lr.model.predict(lr.x))
    path = tmp_path / "sha256" / trusted.sha256[:2] / trusted.sha256
    untrusted = replace(trusted.registry_version, trusted=False)  # what a registry that did not trust it says
    with pytest.raises(berth.BerthError) as caught:
        open_local_model(untrusted, path)
    assert caught.value.code is berth.ErrorCode.UNTRUSTED_ARTIFACT


def test_bad_references_and_missing_models_are_berth_errors(url: str, tmp_path: Path) -> None:
    errors = berth.ErrorCode
    cases = [
        ("churn@", errors.INVALID_NAME),
        ("churn:0", errors.INVALID_NAME),
        ("nobody", errors.MODEL_NOT_FOUND),
    ]
    for reference, code in cases:
        with pytest.raises(berth.BerthError) as caught:
            berth.load_model(reference, url=url, cache_dir=tmp_path)
        assert caught.value.code is code, reference
