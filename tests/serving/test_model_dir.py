"""`berth serve --model-dir`: one model from a folder (berth-model.json + its artifact), no registry
database; `berth image folder` writes such a folder; hostile folders are refused before any load."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import httpx
import numpy as np
import orjson
import pytest
import tritonclient.grpc as grpcclient

import berth
from berth.cli.image_build import BuildOptions, build_command, build_image, check_image_name
from berth.client.sdk import open_registry
from berth.core.errors import BerthError, ErrorCode
from berth.core.model_manifest import MANIFEST_NAME, ModelManifest
from berth.core.model_refs import ModelRef
from berth.storage.model_folder import read_model_folder
from tests.conftest import Trained
from tests.support.servers import berth_executable, free_port, server_process


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory: pytest.TempPathFactory, lr: Trained) -> Path:
    """The folder of `lr` version 1 (alias production), written by `berth image folder`."""
    root = tmp_path_factory.mktemp("model-dir")
    home = root / "registry"
    berth.push(lr.model, name="lr", home=home, input_example=lr.x[:2], aliases=["production"])
    out = root / "lr"
    done = _berth("image", "folder", "lr@production", str(out), "--home", str(home))
    assert done.returncode == 0, done.stderr
    return out


def _berth(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [berth_executable(), *argv],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )


def _copy(folder: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    return copy


def _manifest(folder: Path) -> dict[str, object]:
    body: dict[str, object] = orjson.loads((folder / MANIFEST_NAME).read_bytes())
    return body


def _artifact(folder: Path) -> Path:
    return folder / str(_manifest(folder)["artifact"]["filename"])  # type: ignore[index]


def test_the_folder_holds_the_manifest_and_the_artifact_as_pushed(model_folder: Path) -> None:
    manifest = _manifest(model_folder)
    assert sorted(p.name for p in model_folder.iterdir()) == sorted(
        [MANIFEST_NAME, _artifact(model_folder).name]
    )
    assert (manifest["name"], manifest["version"], manifest["flavor"]) == ("lr", 1, "sklearn")
    assert manifest["aliases"] == ["production"]
    digest = hashlib.sha256(_artifact(model_folder).read_bytes()).hexdigest()
    assert manifest["artifact"]["sha256"] == digest  # type: ignore[index]
    assert read_model_folder(model_folder).manifest.signature.inputs[0].name == "input-0"


@pytest.mark.slow
def test_serves_the_model_over_rest_and_grpc_without_a_registry_database(
    model_folder: Path, tmp_path: Path, lr: Trained
) -> None:
    home = tmp_path / "home"
    grpc_port = free_port()
    # A platform's database in the environment is not used: the server's registry is its own.
    env = {"BERTH_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"}
    # KServe calls the model by its InferenceService's name: --model-name serves it under that one
    extra = ("--model-dir", str(model_folder), "--model-name", "fraud-isvc", "--grpc-port", str(grpc_port))
    with server_process(home, *extra, env=env) as url:
        x = lr.x[:3]
        body = {
            "inputs": [{"name": "input-0", "shape": [3, 20], "datatype": "FP32", "data": x.ravel().tolist()}]
        }
        answer = httpx.post(f"{url}/v2/models/fraud-isvc/infer", json=body, timeout=30)
        assert answer.status_code == 200, answer.text
        assert answer.json()["outputs"][0]["data"] == lr.model.predict(x).tolist()
        assert httpx.get(f"{url}/v2/models/fraud-isvc", timeout=10).json()["platform"]
        assert httpx.get(f"{url}/v2/models/lr", timeout=10).status_code == 404
        assert httpx.get(f"{url}/api/v1/models", timeout=10).status_code == 404  # no management API
        triton = grpcclient.InferenceServerClient(f"127.0.0.1:{grpc_port}")
        try:
            tensor = grpcclient.InferInput("input-0", [3, 20], "FP32")
            tensor.set_data_from_numpy(x.astype(np.float32))
            assert (
                triton.infer("fraud-isvc", [tensor]).as_numpy("predict").tolist()
                == lr.model.predict(x).tolist()
            )
        finally:
            triton.close()
        assert [p.name[:10] for p in home.iterdir()] == ["model-dir-"]
    assert list(home.iterdir()) == []  # the ephemeral registry went with the server


def _refused(folder: Path, code: ErrorCode) -> str:
    with pytest.raises(BerthError) as caught:
        read_model_folder(folder)
    assert caught.value.code is code, caught.value.message
    return caught.value.message


def test_a_folder_without_a_manifest_is_refused(model_folder: Path, tmp_path: Path) -> None:
    folder = _copy(model_folder, tmp_path)
    (folder / MANIFEST_NAME).unlink()
    assert "berth-model.json is missing" in _refused(folder, ErrorCode.MODEL_FOLDER_INVALID)
    assert "no model folder" in _refused(tmp_path / "nowhere", ErrorCode.MODEL_FOLDER_INVALID)


def test_an_artifact_whose_bytes_changed_is_refused(model_folder: Path, tmp_path: Path) -> None:
    folder = _copy(model_folder, tmp_path)
    artifact = _artifact(folder)
    data = bytearray(artifact.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, other bytes
    artifact.write_bytes(bytes(data))
    assert "hashes to" in _refused(folder, ErrorCode.ARTIFACT_INTEGRITY)
    artifact.write_bytes(bytes(data) + b"x")
    assert "bytes; the manifest says" in _refused(folder, ErrorCode.ARTIFACT_INTEGRITY)


def test_links_out_of_the_folder_are_refused(model_folder: Path, tmp_path: Path) -> None:
    folder = _copy(model_folder, tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    artifact = _artifact(folder)
    shutil.move(artifact, outside / artifact.name)
    artifact.symlink_to(outside / artifact.name)  # the right bytes, but outside the folder
    assert "leads out of the folder" in _refused(folder, ErrorCode.MODEL_FOLDER_INVALID)
    shutil.move(folder / MANIFEST_NAME, outside / MANIFEST_NAME)
    (folder / MANIFEST_NAME).symlink_to(outside / MANIFEST_NAME)
    assert "leads out of the folder" in _refused(folder, ErrorCode.MODEL_FOLDER_INVALID)


def test_a_link_inside_the_folder_is_followed(model_folder: Path, tmp_path: Path) -> None:
    folder = _copy(model_folder, tmp_path)
    artifact = _artifact(folder)
    (folder / "data").mkdir()
    shutil.move(artifact, folder / "data" / artifact.name)
    artifact.symlink_to(Path("data") / artifact.name)  # as Kubernetes volumes lay files out
    assert read_model_folder(folder).manifest.name == "lr"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"artifact": {"filename": "../lr.skops", "sha256": "0" * 64, "size": 1}}, "plain file name"),
        ({"artifact": {"filename": MANIFEST_NAME, "sha256": "0" * 64, "size": 1}}, "plain file name"),
        ({"name": "../../etc"}, "invalid model name"),
        ({"format": "berth-model/99"}, "unknown manifest format"),
        ({"version": "1"}, "'version' must be a int"),
        ({"trusted": "yes"}, "'trusted' must be true or false"),
        ({"signature": None}, "'signature' must be an object"),
        ({"aliases": ["1bad"]}, "invalid alias"),
        ({"metadata": {"metrics": {"accuracy": "high"}}}, "'metadata.metrics' must map names to numbers"),
        ({"metadata": {"tags": []}}, "'metadata.tags' must be an object"),
        ({"runtime_config": ["batching"]}, "must be objects"),
    ],
)
def test_a_manifest_is_validated_field_by_field(
    model_folder: Path, tmp_path: Path, change: dict[str, object], message: str
) -> None:
    folder = _copy(model_folder, tmp_path)
    (folder / MANIFEST_NAME).write_bytes(orjson.dumps({**_manifest(folder), **change}))
    assert message in _refused(folder, ErrorCode.MODEL_FOLDER_INVALID)


def test_a_manifest_that_is_not_json_is_refused(model_folder: Path, tmp_path: Path) -> None:
    folder = _copy(model_folder, tmp_path)
    (folder / MANIFEST_NAME).write_text("{not json")
    assert "is not JSON" in _refused(folder, ErrorCode.MODEL_FOLDER_INVALID)


def test_serve_refuses_hostile_folders_and_settings_before_it_starts(
    model_folder: Path, tmp_path: Path
) -> None:
    folder = _copy(model_folder, tmp_path)
    home = tmp_path / "home"
    _artifact(folder).write_bytes(b"not the model")
    done = _berth("serve", "--home", str(home), "--model-dir", str(folder))
    assert (done.returncode, "error [artifact_integrity]" in done.stderr) == (1, True), done.stderr
    done = _berth("serve", "--home", str(home), "--model-dir", str(model_folder), "--auth", "tokens")
    assert (done.returncode, "no API token can exist" in done.stderr) == (1, True), done.stderr
    trusted = tmp_path / "trusted"
    shutil.copytree(model_folder, trusted)
    (trusted / MANIFEST_NAME).write_bytes(orjson.dumps({**_manifest(trusted), "trusted": True}))
    done = _berth("serve", "--home", str(home), "--model-dir", str(trusted))
    assert (done.returncode, "error [untrusted_artifact]" in done.stderr) == (1, True), done.stderr
    unknown = tmp_path / "unknown"
    shutil.copytree(model_folder, unknown)
    (unknown / MANIFEST_NAME).write_bytes(orjson.dumps({**_manifest(unknown), "flavor": "cobol"}))
    done = _berth("serve", "--home", str(home), "--model-dir", str(unknown))
    assert (done.returncode, "error [unsupported_flavor]" in done.stderr) == (1, True), done.stderr
    assert not home.exists() or list(home.iterdir()) == []


@pytest.mark.parametrize(
    ("text", "name", "ref"),
    [
        ("lr@production", "lr", "production"),
        ("lr:3", "lr", "3"),
        ("lr", "lr", None),
        ("a.b-c_d:07", "a.b-c_d", "7"),
    ],
)
def test_model_references(text: str, name: str, ref: str | None) -> None:
    assert ModelRef.parse(text) == ModelRef(name, ref)


@pytest.mark.parametrize("text", ["../x@prod", "-rf", "lr@1bad", "lr:0", "lr:x", "lr@", "$(id)"])
def test_hostile_model_references_are_refused(text: str) -> None:
    with pytest.raises(BerthError) as caught:
        ModelRef.parse(text)
    assert caught.value.code is ErrorCode.INVALID_NAME


@pytest.mark.parametrize(
    "name", ["berth-model-lr:1", "localhost/berth:latest", "registry.io:5000/team/lr:v1.2"]
)
def test_image_names(name: str) -> None:
    assert check_image_name(name) == name


@pytest.mark.parametrize("name", ["--rm", "Upper/case", "lr:", "a b", "lr:1;id", ""])
def test_hostile_image_names_are_refused(name: str) -> None:
    with pytest.raises(BerthError) as caught:
        check_image_name(name)
    assert caught.value.code is ErrorCode.INVALID_NAME


def test_the_build_tool_gets_an_argument_list(model_folder: Path, tmp_path: Path) -> None:
    manifest = read_model_folder(model_folder).manifest
    argv = build_command(
        "/usr/bin/buildah",
        tmp_path,
        tag="berth-model-lr:1",
        base="localhost/berth:latest",
        manifest=manifest,
        storage_driver="vfs",
    )
    assert argv[:6] == ["/usr/bin/buildah", "--storage-driver", "vfs", "bud", "--format", "docker"]
    assert "BERTH_IMAGE=localhost/berth:latest" in argv
    assert argv[-1] == str(tmp_path)
    assert f"io.berth.model.sha256={manifest.sha256}" in argv


def test_image_build_without_buildah_or_podman_says_so(
    tmp_path: Path, lr: Trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "registry"
    berth.push(lr.model, name="lr", home=home, input_example=lr.x[:2])
    bare = tmp_path / "bin"
    bare.mkdir()
    monkeypatch.setenv("PATH", str(bare))  # neither tool on it
    registry = open_registry(home=home)
    try:
        with pytest.raises(BerthError) as caught:
            build_image(registry, ModelRef.parse("lr:1"), BuildOptions())
    finally:
        registry.close()
    assert caught.value.code is ErrorCode.IMAGE_BUILD_FAILED
    assert "neither buildah nor podman is installed" in caught.value.message


def test_a_manifest_round_trips(model_folder: Path) -> None:
    manifest = read_model_folder(model_folder).manifest
    assert ModelManifest.from_dict(orjson.loads(orjson.dumps(manifest.to_dict()))) == manifest


@pytest.mark.slow
def test_image_folder_from_a_running_server_is_the_registry_version(tmp_path: Path, lr: Trained) -> None:
    home = tmp_path / "home"
    pushed = berth.push(lr.model, name="lr", home=home, input_example=lr.x[:2], aliases=["production"])
    out = tmp_path / "from-server"
    with server_process(home) as url:
        done = _berth("image", "folder", "lr@production", str(out), "--url", url)
    assert done.returncode == 0, done.stderr
    manifest = read_model_folder(out).manifest
    assert (manifest.name, manifest.version, manifest.aliases) == ("lr", 1, ("production",))
    assert (manifest.sha256, manifest.signature) == (pushed.artifact.sha256, pushed.signature)
    done = _berth("image", "folder", "lr@production", str(out), "--home", str(home))
    assert (done.returncode, "is not empty" in done.stderr) == (1, True), done.stderr
