"""A model in a container: one verified registry version baked into an image of berth.

`berth image build MODEL@ALIAS` resolves the reference, downloads the artifact, writes a model
folder (`berth.storage.model_folder`: the artifact and ``berth-model.json``, its sha256 checked
against the registry's) into a fresh build context next to a four-line Containerfile ``FROM`` the
berth image, and runs buildah (else podman) on it. The image serves the model with
``berth serve --model-dir /opt/berth/model``. Every argument the build tool gets is a list item,
never a shell string; the model name and the tag are validated first (docs/image.md).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from berth.client.registry import Registry
from berth.core.errors import BerthError, ErrorCode
from berth.core.model_manifest import ModelManifest
from berth.core.model_refs import ModelRef
from berth.storage.model_folder import ModelFolder, write_model_folder

MODEL_DIR: Final = "/opt/berth/model"
"""Where a model image keeps its model folder."""
DEFAULT_BASE: Final = "localhost/berth:latest"
"""The berth image a model image is built from (`make image` tags it)."""
BUILD_TOOLS: Final = ("buildah", "podman")
_IMAGE_NAME: Final = re.compile(
    r"^[a-z0-9][a-z0-9._-]{0,127}(:[0-9]{1,5})?(/[a-z0-9][a-z0-9._-]{0,127}){0,8}"
    r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$"
)
"""host[:port]/path/name[:tag], each part starting with a letter or digit (never read as an option)."""


def export_model_folder(registry: Registry, ref: ModelRef, out: Path) -> ModelFolder:
    """Write the model folder of the version `ref` names at `out` (new or empty), verified."""
    version = registry.get_version(ref.name, ref.ref)
    manifest = ModelManifest.of_version(version)
    with tempfile.TemporaryDirectory(prefix="berth-download-") as folder:
        artifact = registry.download_artifact(version, Path(folder) / manifest.filename)
        return write_model_folder(manifest, artifact, out)


def default_tag(manifest: ModelManifest) -> str:
    """``berth-model-<name>:<version>``, the name lowercased (image names are)."""
    return f"berth-model-{manifest.name.lower()}:{manifest.version}"


def check_image_name(name: str) -> str:
    """An image name (with an optional tag) a build tool takes as it is, never as an option."""
    if not _IMAGE_NAME.match(name):
        raise BerthError(
            ErrorCode.INVALID_NAME,
            f"invalid image name {name!r}: lowercase letters, digits, '.', '_', '-' and '/', "
            "an optional :tag",
        )
    return name


def containerfile(manifest: ModelManifest, *, trust: bool) -> str:
    """The model image's Containerfile: the berth image plus the folder; nothing runs at build."""
    command = ["serve", "--model-dir", MODEL_DIR]  # address and ports: the berth image's BERTH_* settings
    if trust:
        command.append("--trust-pickle")
    return "\n".join(
        [
            f"ARG BERTH_IMAGE={DEFAULT_BASE}",
            "FROM ${BERTH_IMAGE}",
            f"COPY model/ {MODEL_DIR}/",
            "# API tokens live in a registry database, which a one-model server has none of: use",
            "# BERTH_AUTH=oidc, or authenticate in front and set BERTH_ALLOW_INSECURE_BIND=true",
            "# (docs/image.md).",
            "ENV BERTH_AUTH=off",
            f"CMD {json.dumps(command)}",
            "",
        ]
    )


def build_tool(chosen: str | None) -> str:
    """The path of buildah (else podman), or of the one chosen; IMAGE_BUILD_FAILED when missing."""
    for tool in (chosen,) if chosen else BUILD_TOOLS:
        if tool not in BUILD_TOOLS:
            raise BerthError(ErrorCode.INVALID_REQUEST, f"unknown build tool {tool!r}: buildah or podman")
        path = shutil.which(tool)
        if path is not None:
            return path
    raise BerthError(
        ErrorCode.IMAGE_BUILD_FAILED,
        (f"{chosen} is not installed" if chosen else "neither buildah nor podman is installed")
        + ": install one (Debian: apt-get install buildah) or write the model folder with "
        "`berth image folder` and build the image elsewhere",
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildOptions:
    """How `berth image build` builds: the image's tag (default from the model), the berth image it
    starts from, the build tool and its storage driver, and whether a version needing trust may go in."""

    tag: str | None = None
    base: str = DEFAULT_BASE
    tool: str | None = None
    storage_driver: str | None = None
    trust: bool = False


def build_command(
    tool: str,
    context: Path,
    *,
    tag: str,
    base: str,
    manifest: ModelManifest,
    storage_driver: str | None = None,
) -> list[str]:
    """The build tool's argument list (buildah bud / podman build)."""
    labels = {
        "org.opencontainers.image.title": f"berth model {manifest.name}",
        "org.opencontainers.image.description": f"{manifest.name} version {manifest.version} "
        f"({manifest.flavor}) served by berth over OIP v2",
        "org.opencontainers.image.base.name": base,
        "io.berth.model.name": manifest.name,
        "io.berth.model.version": str(manifest.version),
        "io.berth.model.flavor": manifest.flavor,
        "io.berth.model.sha256": manifest.sha256,
    }
    argv = [tool]
    if storage_driver is not None:
        argv += ["--storage-driver", storage_driver]
    # docker format: OCI images drop the HEALTHCHECK the berth image declares
    argv += ["bud" if Path(tool).name == "buildah" else "build", "--format", "docker"]
    argv += ["--file", str(context / "Containerfile"), "--tag", tag]
    argv += ["--build-arg", f"BERTH_IMAGE={base}"]
    for key, value in labels.items():
        argv += ["--label", f"{key}={value}"]
    return [*argv, str(context)]


def build_image(registry: Registry, ref: ModelRef, options: BuildOptions) -> tuple[str, ModelManifest]:
    """Build the model image of `ref`; its tag and manifest. IMAGE_BUILD_FAILED when the tool fails."""
    base = check_image_name(options.base)
    program = build_tool(options.tool)
    with tempfile.TemporaryDirectory(prefix="berth-image-") as folder:
        context = Path(folder)
        model = export_model_folder(registry, ref, context / "model")
        manifest = model.manifest
        if manifest.trusted and not options.trust:
            raise BerthError(
                ErrorCode.UNTRUSTED_ARTIFACT,
                f"{manifest.name} version {manifest.version} needs trust to load (a pickle or "
                "code): build it with --trust-pickle to serve it that way",
            )
        image = check_image_name(options.tag or default_tag(manifest))
        (context / "Containerfile").write_text(containerfile(manifest, trust=manifest.trusted))
        _readable(context / "model")
        argv = build_command(
            program, context, tag=image, base=base, manifest=manifest, storage_driver=options.storage_driver
        )
        try:
            done = subprocess.run(argv, check=False)  # a list of validated names: no shell
        except OSError as exc:
            raise BerthError(ErrorCode.IMAGE_BUILD_FAILED, f"cannot run {program}: {exc}") from None
        if done.returncode != 0:
            raise BerthError(
                ErrorCode.IMAGE_BUILD_FAILED,
                f"{Path(program).name} exited with status {done.returncode} building {image}",
                status=done.returncode,
            )
    return image, manifest


def _readable(folder: Path) -> None:
    """The model folder readable by the image's non-root user (temporary folders are private)."""
    folder.chmod(0o755)
    for path in folder.iterdir():
        path.chmod(0o644)
