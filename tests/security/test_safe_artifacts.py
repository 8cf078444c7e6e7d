"""Artifacts are safe: a malicious pickle is never unpickled without a maintainer's explicit trust
(which the audit trail records), a tampered artifact is refused on load and on download, and an
archive that escapes its folder is refused."""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from berth.client.registry import RemoteRegistry
from berth.core.entities import PushRequest
from tests.conftest import Trained
from tests.security.conftest import World


class Payload:
    """Unpickling this makes a folder: the proof that a pickle was loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.mkdir, (str(self.marker),))


def _upload(world: World, who: str, name: str, path: Path, metadata: dict[str, Any]) -> httpx.Response:
    with path.open("rb") as artifact:
        return httpx.post(
            f"{world.url}/api/v1/models/{name}/versions",
            headers=world.auth(who),
            files={"artifact": (path.name, artifact, "application/octet-stream")},
            data={"metadata": orjson.dumps({"team": "alpha", **metadata}).decode()},
            timeout=60,
        )


@pytest.mark.parametrize("filename", ["evil.pkl", "evil.joblib", "evil.skops", "evil.zip"])
def test_a_malicious_pickle_is_never_unpickled_without_trust(
    world: World, tmp_path: Path, filename: str
) -> None:
    marker = tmp_path / "pwned"
    artifact = tmp_path / filename
    artifact.write_bytes(pickle.dumps(Payload(marker)))
    refused = _upload(world, "alice", "evil", artifact, {})
    assert refused.status_code in (400, 422), refused.text
    assert refused.json()["code"] in ("untrusted_artifact", "artifact_invalid", "unsupported_flavor")
    assert not marker.exists()


def test_only_a_maintainer_may_trust_a_pickle(world: World, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    artifact = tmp_path / "evil.pkl"
    artifact.write_bytes(pickle.dumps(Payload(marker)))
    for who in ("dave", "carol", "erin"):  # a reader, another team's predictor, nobody
        refused = _upload(world, who, "evil", artifact, {"trust_pickle": True})
        assert refused.status_code in (403, 404), (who, refused.text)
        assert not marker.exists()
    audit = httpx.get(
        f"{world.url}/api/v1/audit", headers=world.auth("root"), params={"action": "version.trust"}
    ).json()
    assert not [e for e in audit if e["resource_name"].startswith("evil:")]


def test_a_trusted_pickle_is_recorded_in_the_audit_trail(world: World, lr: Trained, tmp_path: Path) -> None:
    import joblib

    artifact = tmp_path / "model.joblib"
    joblib.dump(lr.model, artifact)
    pushed = _upload(world, "alice", "trusted-pickle", artifact, {"trust_pickle": True})
    assert pushed.status_code == 201, pushed.text
    assert pushed.json()["trusted"] is True
    events = httpx.get(
        f"{world.url}/api/v1/audit",
        headers=world.auth("root"),
        params={"resource_type": "version", "resource_name": "trusted-pickle:1"},
    ).json()
    assert [(e["actor"], e["action"]) for e in events] == [
        ("alice", "version.push"),
        ("alice", "version.trust"),
    ]


def test_a_tampered_artifact_is_refused(world: World, lr: Trained) -> None:
    registry = RemoteRegistry(world.url, token=world.tokens["alice"])
    try:
        version = registry.push_object(
            lr.model, PushRequest(name="tamper-me", team="alpha", input_example=lr.x[:2])
        )
    finally:
        registry.close()
    [stored] = [p for p in world.home.rglob(version.artifact.sha256) if p.is_file()]
    stored.chmod(0o644)
    stored.write_bytes(stored.read_bytes()[:-16] + b"\0" * 16)  # same size, different bytes
    h = world.auth("alice")
    with httpx.Client(base_url=world.url, headers=h, timeout=60) as http:
        http.post("/v2/repository/models/tamper-me/unload")
        loaded = http.post("/v2/repository/models/tamper-me/load")
        assert (loaded.status_code, loaded.json()["code"]) == (422, "artifact_integrity")
        downloaded = http.get(f"/api/v1/models/tamper-me/versions/{version.number}/artifact")
        assert (downloaded.status_code, downloaded.json()["code"]) == (422, "artifact_integrity")
        answer = http.post("/v2/models/tamper-me/infer", json=world.infer_body())
        assert answer.status_code in (409, 422, 503), answer.text  # never served from tampered bytes


def test_an_archive_escaping_its_folder_is_refused(world: World, tmp_path: Path) -> None:
    archive = tmp_path / "model.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("MLmodel", "flavor: pyfunc\n")
        out.writestr("../../escaped.py", "raise SystemExit('escaped')\n")
    refused = _upload(world, "alice", "escape", archive, {"trust_pickle": True})
    assert refused.status_code in (400, 422), refused.text
    assert not list(tmp_path.parent.parent.rglob("escaped.py"))
