"""Model folders on disk: written by `berth image build`, read by `berth serve --model-dir`.

A folder is input from outside berth's stores (a KServe storage initializer, a volume, an image
layer), so reading it trusts nothing: the manifest and the artifact must be regular files that
resolve inside the folder (a symbolic link that points out of it is refused), the manifest is
bounded and validated field by field (`berth.core.model_manifest`), and the artifact's size and
sha256 must be what the manifest says before anything loads it.
"""

from __future__ import annotations

import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

import orjson

from berth.core.errors import BerthError, ErrorCode
from berth.core.model_manifest import MANIFEST_NAME, MAX_MANIFEST_BYTES, ModelManifest
from berth.storage.artifacts import file_sha256


@dataclass(frozen=True, slots=True)
class ModelFolder:
    """A verified model folder: its manifest and the artifact file it names."""

    manifest: ModelManifest
    artifact: Path


def read_model_folder(folder: Path) -> ModelFolder:
    """The folder's manifest and artifact, verified (MODEL_FOLDER_INVALID, or ARTIFACT_INTEGRITY when
    the artifact's bytes are not the ones the manifest names)."""
    try:
        root = folder.resolve(strict=True)
    except (OSError, RuntimeError):
        raise _invalid(f"no model folder at {folder}") from None
    if not root.is_dir():
        raise _invalid(f"{folder} is not a folder")
    manifest_path = _inside(root, MANIFEST_NAME)
    if manifest_path.stat().st_size > MAX_MANIFEST_BYTES:
        raise _invalid(f"{MANIFEST_NAME} is larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        body = orjson.loads(manifest_path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise _invalid(f"{MANIFEST_NAME} is not JSON: {exc}") from None
    manifest = ModelManifest.from_dict(body)
    artifact = _inside(root, manifest.filename)
    size = artifact.stat().st_size
    if size != manifest.size:
        raise BerthError(
            ErrorCode.ARTIFACT_INTEGRITY,
            f"{manifest.filename} has {size} bytes; the manifest says {manifest.size}",
        )
    actual = file_sha256(artifact)
    if actual != manifest.sha256:
        raise BerthError(
            ErrorCode.ARTIFACT_INTEGRITY,
            f"{manifest.filename} hashes to {actual}; the manifest says {manifest.sha256}",
            expected=manifest.sha256,
            actual=actual,
        )
    return ModelFolder(manifest, artifact)


def write_model_folder(manifest: ModelManifest, artifact: Path, out: Path) -> ModelFolder:
    """Write a model folder at `out` (a new or empty folder): the artifact copied from `artifact`,
    then the manifest; read back and verified, so a copy that does not match the manifest's sha256
    leaves an error, not a folder that would fail later."""
    out.mkdir(parents=True, exist_ok=True)
    if any(out.iterdir()):
        raise BerthError(ErrorCode.INVALID_REQUEST, f"{out} is not empty")
    shutil.copyfile(artifact, out / manifest.filename)
    (out / MANIFEST_NAME).write_bytes(orjson.dumps(manifest.to_dict(), option=orjson.OPT_INDENT_2))
    return read_model_folder(out)


def _inside(root: Path, name: str) -> Path:
    """`root/name` when it is a regular file whose real path is inside `root`."""
    path = root / name
    try:
        real = path.resolve(strict=True)
    except FileNotFoundError:
        raise _invalid(f"{name} is missing from the model folder {root}") from None
    except (OSError, RuntimeError) as exc:
        raise _invalid(f"{name} in {root} cannot be read: {exc}") from None
    if not real.is_relative_to(root):
        raise _invalid(f"{name} in {root} is a link that leads out of the folder (to {real})")
    if not stat.S_ISREG(os.stat(real).st_mode):
        raise _invalid(f"{name} in {root} is not a regular file")
    return real


def _invalid(message: str) -> BerthError:
    return BerthError(ErrorCode.MODEL_FOLDER_INVALID, message)
