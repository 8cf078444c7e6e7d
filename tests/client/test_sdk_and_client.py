"""The SDK and client: ``berth.push(model, …)`` to a home or a server, ``berth.Client(url).predict``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest

import berth
from berth.core.settings import Settings
from tests.conftest import Trained
from tests.support.servers import free_port, server_in_thread


@dataclass(frozen=True)
class Boosters:
    xgb: Any
    lgbm: Any
    onnx: Any
    flipped: Any  # a logistic regression that answers the opposite of `lr`


@pytest.fixture(scope="module")
def boosters(lr: Trained) -> Boosters:
    import lightgbm
    import xgboost
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    xgb = xgboost.XGBClassifier(n_estimators=5, max_depth=2, n_jobs=1, random_state=0).fit(lr.x, lr.y)
    lgbm = lightgbm.LGBMClassifier(n_estimators=5, num_leaves=4, n_jobs=1, verbose=-1, random_state=0).fit(
        lr.x, lr.y
    )
    flipped = LogisticRegression(max_iter=1000).fit(lr.x, 1 - lr.y)
    return Boosters(xgb, lgbm, to_onnx(lr.model, lr.x[:1]), flipped)


@pytest.fixture(scope="module")
def url(
    tmp_path_factory: pytest.TempPathFactory,
    lr: Trained,
    frame_pipeline: Trained,
    text_pipeline: Trained,
    boosters: Boosters,
) -> Iterator[str]:
    """A server; pushes to it go over HTTP (``url=``)."""
    home = tmp_path_factory.mktemp("client") / "home"
    with server_in_thread(Settings(home=home, poll_interval_s=0.1)) as url:
        berth.push(frame_pipeline.model, name="churn", input_example=frame_pipeline.x.head(3), url=url)
        berth.push(text_pipeline.model, name="router", input_example=text_pipeline.x[:2], url=url)
        berth.push(lr.model, name="switch", input_example=lr.x[:2], aliases=["production"], url=url)
        berth.push(boosters.flipped, name="switch", input_example=lr.x[:2], aliases=["staging"], url=url)
        yield url


@pytest.fixture
def client(url: str) -> Iterator[berth.Client]:
    with berth.Client(url) as client:
        yield client


# -- berth.push -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "flavor"),
    [("sklearn", "sklearn"), ("xgboost", "xgboost"), ("lightgbm", "lightgbm"), ("onnx", "onnx")],
)
@pytest.mark.parametrize("to", ["home", "url"])
def test_push_each_flavor_and_predict(
    tmp_path: Path,
    url: str,
    client: berth.Client,
    lr: Trained,
    boosters: Boosters,
    kind: str,
    flavor: str,
    to: str,
) -> None:
    model = {"sklearn": lr.model, "xgboost": boosters.xgb, "lightgbm": boosters.lgbm, "onnx": boosters.onnx}[
        kind
    ]
    name = f"{kind}-{to}"
    target: dict[str, Any] = {"home": tmp_path / "home"} if to == "home" else {"url": url}
    version = berth.push(
        model,
        name=name,
        metrics={"auc": 0.9},
        params={"depth": 2},
        tags={"owner": "ml"},
        input_example=lr.x[:3],
        aliases=["production"],
        description="a test model",
        **target,
    )
    assert version.model == name
    assert version.number == 1
    assert version.flavor == flavor
    assert version.aliases == ("production",)
    assert version.metadata.metrics == {"auc": 0.9}
    assert version.metadata.params == {"depth": 2}
    assert version.metadata.tags == {"owner": "ml"}
    assert version.source == "sdk"
    assert len(version.artifact.sha256) == 64
    assert version.input_example is not None

    if to == "url":
        x = lr.x[:5]
        answer = client.predict(name, x)  # an array goes to the one input, whatever its name
        label = "output_label" if kind == "onnx" else "predict"
        assert answer[label].tolist() == (lr.model if kind == "onnx" else model).predict(x).tolist()
    else:
        registry = berth.open_registry(home=target["home"])
        try:
            stored = registry.get_version(name, "production")
        finally:
            registry.close()
        assert (stored.number, stored.flavor, stored.artifact.sha256) == (1, flavor, version.artifact.sha256)


def test_push_an_artifact_file(tmp_path: Path, url: str, client: berth.Client, lr: Trained) -> None:
    pickle_file = tmp_path / "lr.joblib"
    joblib.dump(lr.model, pickle_file)
    with pytest.raises(berth.BerthError) as refused:
        berth.push(pickle_file, name="from-file", url=url)
    assert refused.value.code is berth.ErrorCode.UNTRUSTED_ARTIFACT
    version = berth.push(
        str(pickle_file), name="from-file", trust_pickle=True, input_example=lr.x[:2], url=url
    )
    assert (version.flavor, version.trusted) == ("sklearn", True)
    assert client.predict("from-file", lr.x[:4])["predict"].tolist() == lr.model.predict(lr.x[:4]).tolist()


@pytest.mark.parametrize("to", ["home", "url"])
def test_push_a_pyfunc_folder(tmp_path: Path, url: str, client: berth.Client, to: str) -> None:
    folder = tmp_path / "doubler"
    folder.mkdir()
    (folder / "berth_pyfunc.json").write_text('{"entry": "model:Doubler"}')
    (folder / "model.py").write_text(
        "class Doubler:\n    def load(self, path):\n        pass\n\n"
        "    def predict(self, inputs):\n        return inputs * 2\n"
    )
    x = np.arange(6, dtype=np.float64).reshape(3, 2)
    name = f"doubler-{to}"
    target: dict[str, Any] = {"home": tmp_path / "home"} if to == "home" else {"url": url}
    with pytest.raises(berth.BerthError) as refused:
        berth.push(folder, name=name, input_example=x, **target)
    assert refused.value.code is berth.ErrorCode.UNTRUSTED_ARTIFACT
    version = berth.push(folder, name=name, input_example=x, trust_pickle=True, **target)
    assert (version.flavor, version.number) == ("pyfunc", 1)
    if to == "url":
        assert client.predict(name, x).to_numpy().ravel().tolist() == (x * 2).ravel().tolist()


@pytest.mark.parametrize("to", ["home", "url"])
def test_push_errors(tmp_path: Path, url: str, lr: Trained, to: str) -> None:
    target: dict[str, Any] = {"home": tmp_path / "home"} if to == "home" else {"url": url}
    cases: list[tuple[dict[str, Any], berth.ErrorCode]] = [
        ({"model": {"not": "a model"}, "name": "odd"}, berth.ErrorCode.UNSUPPORTED_FLAVOR),
        ({"model": lr.model, "name": "bad name"}, berth.ErrorCode.INVALID_NAME),
        ({"model": lr.model, "name": "ok", "aliases": ["latest"]}, berth.ErrorCode.INVALID_NAME),
        ({"model": tmp_path / "missing.skops", "name": "ok"}, berth.ErrorCode.ARTIFACT_INVALID),
    ]
    for kwargs, code in cases:
        model = kwargs.pop("model")
        with pytest.raises(berth.BerthError) as caught:
            berth.push(model, **kwargs, **target)
        assert caught.value.code is code, caught.value
    registry = berth.open_registry(**target)
    try:
        assert [m.name for m in registry.list_models(text="ok")] == []
    finally:
        registry.close()


def test_push_to_an_unreachable_server(lr: Trained) -> None:
    with pytest.raises(berth.BerthError) as caught:
        berth.push(lr.model, name="lr", url=f"http://127.0.0.1:{free_port()}")
    assert caught.value.code is berth.ErrorCode.UNAVAILABLE


# -- berth.Client ----------------------------------------------------------------------------------
def test_predict_a_dataframe(client: berth.Client, frame_pipeline: Trained) -> None:
    rows = frame_pipeline.x.iloc[10:16]
    answer = client.predict("churn", rows)
    assert isinstance(answer, pd.DataFrame)
    assert list(answer.columns) == ["predict"]
    assert answer["predict"].tolist() == frame_pipeline.model.predict(rows).tolist()


def test_predict_a_list_of_strings(client: berth.Client, text_pipeline: Trained) -> None:
    texts = ["my card was stolen", "what is my balance", "card missing"]
    answer = client.predict("router", texts)
    assert answer["predict"].tolist() == text_pipeline.model.predict(texts).tolist()


@pytest.mark.parametrize(
    ("version", "flipped"),
    [(None, False), (1, False), ("1", False), (2, True), ("staging", True), ("latest", True)],
)
def test_predict_a_version(
    client: berth.Client, lr: Trained, boosters: Boosters, version: str | int | None, flipped: bool
) -> None:
    x = lr.x[:8]
    expected = (boosters.flipped if flipped else lr.model).predict(x)
    assert client.predict("switch", x, version=version)["predict"].tolist() == expected.tolist()


def test_requested_outputs(client: berth.Client, lr: Trained) -> None:
    x = lr.x[:3]
    proba = client.predict("switch", x, outputs=["predict_proba"])
    assert list(proba.columns) == ["predict_proba_0", "predict_proba_1"]
    np.testing.assert_allclose(proba.to_numpy(), lr.model.predict_proba(x), rtol=1e-5)
    both = client.predict("switch", x, outputs=["predict", "predict_proba"], request_id="r-1")
    assert list(both.columns) == ["predict", "predict_proba_0", "predict_proba_1"]
    assert both["predict"].tolist() == lr.model.predict(x).tolist()


def test_metadata_and_readiness(client: berth.Client) -> None:
    assert client.ready() is True
    meta = client.metadata("churn")
    assert meta["name"] == "churn"
    assert meta["platform"] == "sklearn"
    assert [i["name"] for i in meta["inputs"]] == ["plan", "age", "spend"]
    assert client.metadata("switch", version="staging")["parameters"]["version"] == "2"


@pytest.mark.parametrize(
    ("call", "code"),
    [
        (lambda c, x: c.predict("ghost", x), berth.ErrorCode.MODEL_NOT_FOUND),
        (lambda c, x: c.predict("switch", x, version=9), berth.ErrorCode.VERSION_NOT_FOUND),
        (lambda c, x: c.predict("switch", x, version="canary"), berth.ErrorCode.ALIAS_NOT_FOUND),
        (lambda c, x: c.predict("switch", x, outputs=["nope"]), berth.ErrorCode.OUTPUT_NOT_FOUND),
        (lambda c, x: c.predict("switch", x[:, :3]), berth.ErrorCode.SIGNATURE_MISMATCH),
        (lambda c, x: c.predict("switch", {"x": x}), berth.ErrorCode.SIGNATURE_MISMATCH),
        (lambda c, x: c.predict("switch", x[:0]), berth.ErrorCode.EMPTY_BATCH),
        (lambda c, x: c.predict("churn", ["just", "strings"]), berth.ErrorCode.SIGNATURE_MISMATCH),
        (lambda c, x: c.metadata("ghost"), berth.ErrorCode.MODEL_NOT_FOUND),
    ],
)
def test_errors_are_berth_errors_with_the_server_code(
    client: berth.Client, lr: Trained, call: Any, code: berth.ErrorCode
) -> None:
    with pytest.raises(berth.BerthError) as caught:
        call(client, lr.x[:2])
    assert caught.value.code is code
    assert caught.value.message


def test_unreachable_server_is_unavailable(lr: Trained) -> None:
    with (
        berth.Client(f"http://127.0.0.1:{free_port()}", timeout=5) as client,
        pytest.raises(berth.BerthError) as caught,
    ):
        client.predict("lr", lr.x[:1])
    assert caught.value.code is berth.ErrorCode.UNAVAILABLE


# -- the public API ---------------------------------------------------------------------------------
def test_public_api_is_sorted_and_importable() -> None:
    assert berth.__all__ == [
        "BerthDeprecationWarning", "BerthError", "Client", "ErrorCode", "Signature", "TensorSpec",
        "__version__", "access", "catalog", "consumers", "endpoints", "features", "groups", "inbox",
        "jobs", "load_model", "monitor", "open_registry", "push", "records", "spark_udf",
    ]  # fmt: skip
    assert berth.__all__ == sorted(berth.__all__)
    assert len(set(berth.__all__)) == len(berth.__all__)
    for name in berth.__all__:
        assert hasattr(berth, name), name
        member = getattr(berth, name)
        if name != "__version__":
            assert member.__module__.startswith("berth."), name
    assert isinstance(berth.__version__, str)
    assert berth.__version__
