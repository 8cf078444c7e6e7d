"""No byte of a hostile model file runs on the server (issue 12, item 1).

Each file of the corpus (`tests.security.hostile_artifacts`) is pushed through a real server
(REST upload by a maintainer) and through the SDK's embedded registry (``berth.push(home=)``):
files that would run code are refused with ``untrusted_artifact`` unless a maintainer trusts
them (then the ``version.trust`` audit event exists), files that would crash, hang or escape a
parser are refused with ``artifact_invalid`` even when trusted, and the marker their payload
would create never appears. A version recorded untrusted under older rules is checked again when
it is loaded. Real fitted models of every kind the repo uses still load untrusted.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pytest

import berth
from berth.core.entities import NewVersion
from berth.core.errors import BerthError
from berth.core.settings import Settings
from berth.core.signature import Signature, TensorSpec
from berth.storage.sql_registry import open_registry_store
from berth.wiring.implementations import open_artifacts
from tests.security import hostile_artifacts as corpus
from tests.security.conftest import World

ALL = corpus.CODE_PAYLOADS + corpus.MALFORMED + corpus.ESCAPING_ARCHIVES


EXAMPLE = {"inputs": [{"name": "input-0", "shape": [1, 2], "datatype": "FP64", "data": [0.0, 1.0]}]}


def _upload(world: World, name: str, path: Path, *, trust: bool, who: str = "alice") -> httpx.Response:
    metadata = {"team": "alpha", "trust_pickle": trust, "input_example": EXAMPLE}
    with path.open("rb") as artifact:
        return httpx.post(
            f"{world.url}/api/v1/models/{name}/versions",
            headers=world.auth(who),
            files={"artifact": (path.name, artifact, "application/octet-stream")},
            data={"metadata": orjson.dumps(metadata).decode()},
            timeout=120,
        )


def _trust_events(world: World, name: str) -> list[dict[str, Any]]:
    events = httpx.get(
        f"{world.url}/api/v1/audit", headers=world.auth("root"), params={"action": "version.trust"}
    ).json()
    return [e for e in events if e["resource_name"].startswith(f"{name}:")]


def _alive(world: World) -> None:
    assert httpx.get(f"{world.url}/v2/health/live", timeout=10).status_code == 200


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "payload-ran"


@pytest.mark.parametrize("hostile", corpus.CODE_PAYLOADS, ids=lambda h: h.name)
def test_code_in_a_file_never_runs_without_a_maintainers_trust(
    world: World, tmp_path: Path, marker: Path, hostile: corpus.Hostile
) -> None:
    path = hostile.build(tmp_path, marker)
    refused = _upload(world, f"h-{hostile.name}", path, trust=False)
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] in hostile.codes
    with pytest.raises(BerthError) as raised:
        berth.push(path, name="hostile", home=tmp_path / "home", team="alpha")
    assert raised.value.code.value in hostile.codes
    assert not marker.exists()
    assert not _trust_events(world, f"h-{hostile.name}")


@pytest.mark.parametrize("hostile", corpus.MALFORMED + corpus.ESCAPING_ARCHIVES, ids=lambda h: h.name)
def test_a_file_that_would_crash_hang_or_escape_is_refused_even_when_trusted(
    world: World, tmp_path: Path, marker: Path, hostile: corpus.Hostile
) -> None:
    path = hostile.build(tmp_path, marker)
    for trust, codes in ((False, corpus.REFUSED), (True, hostile.codes)):
        refused = _upload(world, f"m-{hostile.name}", path, trust=trust)
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] in codes, refused.text
    with pytest.raises(BerthError) as raised:
        berth.push(path, name="malformed", home=tmp_path / "home", team="alpha", trust_pickle=True)
    assert raised.value.code.value in hostile.codes
    _alive(world)  # the server process survived: no segfault, no abort, no endless loop
    assert not marker.exists()
    assert not list(tmp_path.parent.rglob("escaped.py"))
    assert not Path("/tmp/berth-absolute.py").exists()


def test_a_maintainers_trust_is_the_audited_path(world: World, tmp_path: Path, marker: Path) -> None:
    path = corpus.pyfunc_code(tmp_path, marker)
    for who in ("dave", "carol", "erin"):  # a reader, another team's predictor, nobody
        assert _upload(world, "trusted-code", path, trust=True, who=who).status_code in (403, 404)
    assert not marker.exists()
    pushed = _upload(world, "trusted-code", path, trust=True)
    assert pushed.status_code == 201, pushed.text
    assert pushed.json()["trusted"] is True
    assert marker.exists()  # the maintainer trusted it: it ran, and the audit trail says who allowed it
    assert [(e["actor"], e["resource_name"]) for e in _trust_events(world, "trusted-code")] == [
        ("alice", "trusted-code:1")
    ]


def test_a_skops_file_outside_the_allow_list_needs_a_maintainers_audited_trust(
    world: World, tmp_path: Path
) -> None:
    import skops.io
    from sklearn.neighbors import KNeighborsClassifier

    x = np.random.default_rng(0).random((40, 2))
    model = KNeighborsClassifier(algorithm="kd_tree").fit(x, (x[:, 0] > 0.5).astype(int))
    path = tmp_path / "knn.skops"
    skops.io.dump(model, path)  # a KD tree: native indices berth does not check, so not on the list
    refused = _upload(world, "knn-kd", path, trust=False)
    assert (refused.status_code, refused.json()["code"]) == (422, "untrusted_artifact")
    assert "KDTree" in refused.json()["error"]
    assert not _trust_events(world, "knn-kd")
    pushed = _upload(world, "knn-kd", path, trust=True)
    assert pushed.status_code == 201, pushed.text
    assert pushed.json()["trusted"] is True
    assert [e["actor"] for e in _trust_events(world, "knn-kd")] == ["alice"]


def test_trust_asked_for_a_file_that_needs_none_is_not_recorded(world: World, tmp_path: Path) -> None:
    import skops.io
    from sklearn.linear_model import LogisticRegression

    path = tmp_path / "plain.skops"
    skops.io.dump(LogisticRegression().fit(np.eye(2), [0, 1]), path)
    pushed = _upload(world, "plain-trusted", path, trust=True)
    assert pushed.status_code == 201, pushed.text
    assert pushed.json()["trusted"] is False  # truthful: loading it relies on nobody's word
    assert not _trust_events(world, "plain-trusted")


def _wait_for_version(world: World, name: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        answer = httpx.get(f"{world.url}/api/v1/models/{name}/versions/1", headers=world.auth("alice"))
        if answer.status_code == 200:
            return
        time.sleep(0.1)
    raise AssertionError(f"{name} never appeared")


@pytest.mark.parametrize(
    "build", [corpus.skops_constructor_runs_source, corpus.skops_numpy_writes_file], ids=lambda b: b.__name__
)
def test_an_untrusted_version_stored_under_older_rules_is_checked_again_at_load(
    world: World, tmp_path: Path, marker: Path, build: corpus.Builder
) -> None:
    """A row written before this fix (the file stored, the version marked untrusted) is refused
    when the server loads it, and its payload does not run."""
    path = build(tmp_path, marker)
    name = f"old-{build.__name__}".replace("_", "-")
    artifacts = open_artifacts(Settings(home=world.home))
    with path.open("rb") as source:
        ref = artifacts.put(source, filename=path.name)
    store = open_registry_store(world.database_url)
    try:
        signature = Signature(
            inputs=(TensorSpec("input-0", "FP64", (-1, 2)),), outputs=(TensorSpec("predict", "INT64", (-1,)),)
        )
        new = NewVersion(flavor="sklearn", artifact=ref, signature=signature, pushed_by="alice")
        store.create_version(name, new, team="alpha")
    finally:
        store.close()
    _wait_for_version(world, name)
    deadline = time.monotonic() + 60
    while True:  # the registry view this server loads from catches up with its next poll
        loaded = httpx.post(f"{world.url}/v2/repository/models/{name}/load", headers=world.auth("alice"))
        if loaded.status_code != 404 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert loaded.status_code == 422, loaded.text
    assert loaded.json()["code"] == "untrusted_artifact"
    answer = httpx.post(f"{world.url}/v2/models/{name}/infer", headers=world.auth("alice"), json={
        "inputs": [{"name": "input-0", "shape": [1, 2], "datatype": "FP64", "data": [0.0, 1.0]}]
    })  # fmt: skip
    assert answer.status_code in (409, 422, 503), answer.text
    assert not marker.exists()


def _real_models() -> dict[str, tuple[Any, Any]]:
    """Fitted models of every scikit-learn kind the repo's tests, demo and benches use, each with
    an input example."""
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.decomposition import TruncatedSVD
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        GradientBoostingClassifier,
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression, Ridge, SGDClassifier
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import FunctionTransformer, LabelEncoder, OneHotEncoder, StandardScaler

    rng = np.random.default_rng(0)
    x = rng.random((120, 4))
    y = (x[:, 0] * 3).astype(int)
    frame = pd.DataFrame({"a": x[:, 0], "b": rng.choice(["p", "q", "r"], 120), "c": x[:, 1]})
    texts = np.array(["good film", "bad plot", "great cast", "awful pacing"] * 30)
    labels = np.array([1, 0, 1, 0] * 30)
    text_svd = make_pipeline(TfidfVectorizer(), TruncatedSVD(2), SGDClassifier())
    columns = ColumnTransformer(
        [("num", StandardScaler(), ["a", "c"]), ("cat", OneHotEncoder(handle_unknown="ignore"), ["b"])]
    )
    return {
        "logistic-regression": (LogisticRegression(max_iter=500).fit(x, y), x[:2]),
        "sgd": (SGDClassifier(loss="log_loss", random_state=0).fit(x, y), x[:2]),
        "sgd-hinge": (SGDClassifier(random_state=0).fit(x, y), x[:2]),
        "ridge": (Ridge().fit(x, x[:, 0]), x[:2]),
        "random-forest": (RandomForestClassifier(5, random_state=0).fit(x, y), x[:2]),
        "random-forest-regressor": (RandomForestRegressor(3, random_state=0).fit(x, x[:, 0]), x[:2]),
        "extra-trees": (ExtraTreesClassifier(3, random_state=0).fit(x, y), x[:2]),
        "gradient-boosting": (GradientBoostingClassifier(n_estimators=3).fit(x, y), x[:2]),
        "hist-gb": (HistGradientBoostingClassifier(max_iter=5).fit(x, y), x[:2]),
        "hist-gb-regressor": (HistGradientBoostingRegressor(max_iter=5).fit(x, x[:, 0]), x[:2]),
        "column-transformer": (
            Pipeline([("cols", columns), ("lr", LogisticRegression())]).fit(frame, labels), frame[:2]
        ),
        "tfidf": (make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(texts, labels), texts[:2]),
        "tfidf-svd-sgd": (text_svd.fit(texts, labels), texts[:2]),
        "log1p": (make_pipeline(FunctionTransformer(np.log1p), LogisticRegression()).fit(x, y), x[:2]),
        "label-encoder": (LabelEncoder().fit(["ham", "spam", "eggs"]), np.array(["ham", "eggs"])),
    }  # fmt: skip


REAL_MODELS = _real_models()


@pytest.mark.parametrize("kind", sorted(REAL_MODELS))
def test_real_fitted_models_still_load_untrusted(world: World, kind: str) -> None:
    model, example = REAL_MODELS[kind]
    name = f"real-{kind}"
    version = berth.push(
        model, name=name, team="alpha", input_example=example, url=world.url, token=world.tokens["alice"]
    )
    assert version.trusted is False
    loaded = httpx.post(f"{world.url}/v2/repository/models/{name}/load", headers=world.auth("alice"))
    assert loaded.status_code == 200, loaded.text
    assert not _trust_events(world, name)
