"""An MLflow model folder uploaded as a zip (what the client sends for ``berth push DIR --url``) is
recognised by the server, under the same rules as any upload: the caller's team, trust for a
pickle, and a hostile archive or ``MLmodel`` refused with a 4xx, never unpacked outside its folder."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path
from typing import Any

import httpx
import orjson
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from tests.conftest import Trained
from tests.security.conftest import World
from tests.support.mlflow_folders import mlmodel, write_folder, write_mlmodel, zip_folder


@pytest.fixture(scope="module")
def frame_model(lr: Trained) -> tuple[Any, pd.DataFrame]:
    frame = pd.DataFrame(lr.x[:, :4].astype("float64"), columns=["a", "b", "c", "d"])
    return LogisticRegression(max_iter=300).fit(frame, lr.y), frame


def _upload(world: World, who: str, name: str, archive: Path, **metadata: Any) -> httpx.Response:
    with archive.open("rb") as artifact:
        return httpx.post(
            f"{world.url}/api/v1/models/{name}/versions",
            headers=world.auth(who),
            files={"artifact": (archive.name, artifact, "application/octet-stream")},
            data={"metadata": orjson.dumps({"team": "alpha", **metadata}).decode()},
            timeout=60,
        )


def test_an_uploaded_mlflow_zip_is_served_with_its_signature(
    world: World, frame_model: tuple[Any, pd.DataFrame], tmp_path: Path
) -> None:
    model, frame = frame_model
    archive = zip_folder(write_folder(tmp_path / "m", model, frame.head(3)), tmp_path / "m.zip")

    pushed = _upload(world, "alice", "alpha-mlflow", archive)

    assert pushed.status_code == 201, pushed.text
    assert pushed.json()["flavor"] == "sklearn"
    assert [i["name"] for i in pushed.json()["signature"]["inputs"]] == ["a", "b", "c", "d"]


def test_another_teams_principal_may_not_push_into_alpha(
    world: World, frame_model: tuple[Any, pd.DataFrame], tmp_path: Path
) -> None:
    archive = zip_folder(write_folder(tmp_path / "m", frame_model[0]), tmp_path / "m.zip")

    refused = _upload(world, "bob", "alpha-model", archive)

    # another team's model is not disclosed: not found, as if it did not exist
    assert (refused.status_code, refused.json()["code"]) == (404, "model_not_found")


def test_a_pickled_mlflow_model_needs_a_maintainers_trust(
    world: World, frame_model: tuple[Any, pd.DataFrame], tmp_path: Path
) -> None:
    archive = zip_folder(write_folder(tmp_path / "p", frame_model[0], pickled=True), tmp_path / "p.zip")

    untrusted = _upload(world, "alice", "alpha-pickled", archive)
    reader = _upload(world, "dave", "alpha-pickled", archive, trust_pickle=True)
    trusted = _upload(world, "alice", "alpha-pickled", archive, trust_pickle=True)

    assert (untrusted.status_code, untrusted.json()["code"]) == (422, "untrusted_artifact")
    assert reader.status_code == 403, reader.text
    assert trusted.status_code == 201, trusted.text
    assert trusted.json()["trusted"] is True


def _symlink_member(archive: Path) -> None:
    with zipfile.ZipFile(archive, "a") as out:
        info = zipfile.ZipInfo("model.skops")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        out.writestr(info, "/etc/passwd")


@pytest.mark.parametrize(
    "hostile",
    ["traversal", "symlink", "bomb", "mlmodel-escape", "custom-pyfunc"],
)
def test_a_hostile_mlflow_zip_is_refused_with_a_4xx(
    world: World, frame_model: tuple[Any, pd.DataFrame], tmp_path: Path, hostile: str
) -> None:
    folder = write_folder(tmp_path / "h", frame_model[0])
    extra: dict[str, bytes] = {}
    if hostile == "traversal":
        extra["../../escaped.txt"] = b"escaped"
    elif hostile == "bomb":
        extra["padding.bin"] = bytes(4 * 1024 * 1024)  # compresses ~1000:1
    elif hostile == "mlmodel-escape":
        write_mlmodel(folder, mlmodel("../../../../etc/passwd"))
    elif hostile == "custom-pyfunc":
        write_mlmodel(folder, {"flavors": {"python_function": {"loader_module": "mlflow.pyfunc.model"}}})
    if hostile == "symlink":
        (folder / "model.skops").unlink()
    archive = zip_folder(folder, tmp_path / "h.zip", extra)
    if hostile == "symlink":
        _symlink_member(archive)

    refused = _upload(world, "alice", "alpha-hostile", archive, trust_pickle=True)

    assert 400 <= refused.status_code < 500, refused.text
    assert refused.json()["code"] in ("artifact_invalid", "unsupported_flavor")
    assert not list(tmp_path.parent.rglob("escaped.txt"))
